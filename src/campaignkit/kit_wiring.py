"""What a :class:`~campaignkit.kit.CampaignKit` is built of, from its arguments.

Split from :mod:`campaignkit.kit` by concern (the kit keeps its verbs): the
arguments its constructors pass on as given (:class:`KitOptions`), the
PostgreSQL stores :meth:`CampaignKit.postgres <campaignkit.kit.CampaignKit.postgres>`
opens once its arguments are checked (:func:`open_postgres`), and the
delivery side every kit wires (:func:`delivery_parts`). The checks of the
arguments are in :mod:`campaignkit.kit_arguments`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TypedDict

from campaignkit.audiences import AudienceRegistry
from campaignkit.clock import Clock
from campaignkit.delivery.render import check_template
from campaignkit.delivery.runner import DeliverySettings, Runner
from campaignkit.delivery.shards import ShardWork
from campaignkit.domain import checks
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.lifecycle import LifecycleRules
from campaignkit.domain.unsubscribe import UnsubscribeSigner
from campaignkit.errors import MissingDependency
from campaignkit.kit_arguments import kit_argument_problems
from campaignkit.permissions import Permission, PermissionPolicy, ProductProfile
from campaignkit.ports import AudienceSource, Channel, ProfileStore, Progress, Store
from campaignkit.preflight import Preflight
from campaignkit.scale.submit import SupportsSubmit


class KitOptions(TypedDict):
    """The arguments a kit's file or server constructor passes on to ``CampaignKit`` as given.

    Each is the :class:`~campaignkit.kit.CampaignKit` argument of the same name.
    """

    channels: Mapping[ChannelType, Channel] | None
    audiences: AudienceSource | None
    policy: PermissionPolicy | None
    profile_permissions: Mapping[ProductProfile, frozenset[Permission]] | None
    lifecycle: LifecycleRules | None
    delivery: DeliverySettings | None
    ids: Callable[[str], str]
    progress: Progress | None
    secret: str | bytes | None
    executor: SupportsSubmit | None
    factory: str | None


def open_postgres(
    dsn: str,
    schema: str,
    pool_size: int,
    connect_timeout: float,
    *,
    clock: Clock | None,
    options: KitOptions,
) -> tuple[Store, ProfileStore]:
    """Check the arguments of ``CampaignKit.postgres``, then open its store and profile store.

    Args:
        dsn: A libpq connection string.
        schema: The schema holding every table.
        pool_size: The most connections the store keeps open.
        connect_timeout: Seconds to wait for the server when connecting.
        clock: The kit's clock (None: the wall clock).
        options: The kit's other arguments, checked here too.

    Returns:
        The store, and the profile store in it.

    Raises:
        MissingDependency: psycopg is not installed.
        ValidationError: every wrong argument, named (before connecting).
        StorageError: the server cannot be reached, or the schema was
            written by a newer campaignkit.
    """
    try:
        import campaignkit.adapters.postgres as postgres  # noqa: PLC0415, PLR0402 - optional; sys.modules decides
    except ImportError as exc:
        raise MissingDependency("CampaignKit.postgres()", "psycopg", "postgres") from exc
    problems = kit_argument_problems(clock=clock, **options)
    problems += postgres.store_argument_problems(dsn, schema, pool_size, connect_timeout)
    checks.raise_if(problems, "CampaignKit")
    store = postgres.PostgresStore(
        dsn, schema=schema, pool_size=pool_size, connect_timeout=connect_timeout
    )
    return store, postgres.PostgresProfileStore(store)


def delivery_parts(  # noqa: PLR0917 - the kit's collaborators, in the order it holds them
    store: Store,
    clock: Clock,
    audiences: AudienceRegistry,
    profiles: ProfileStore,
    channels: Mapping[ChannelType, Channel],
    settings: DeliverySettings,
    rules: LifecycleRules,
    worker_id: str,
    progress: Progress | None,
    signer: UnsubscribeSigner | None,
) -> tuple[Preflight, Runner]:
    """The preflight checks and the runner (with its shard work) of a kit.

    Args:
        store: The kit's store.
        clock: The kit's clock.
        audiences: The kit's audience registry.
        profiles: The kit's profile store.
        channels: The kit's channels.
        settings: How runs deliver.
        rules: The lifecycle rules.
        worker_id: This process's id in run leases.
        progress: Called after every batch, if given.
        signer: Signs unsubscribe URLs (None: the kit has no secret).

    Returns:
        The preflight and the runner.
    """
    preflight = Preflight(
        audiences,
        functools.partial(check_template, limits=settings.render_limits),
        channels,
        signing=signer is not None,
    )
    runner = Runner(
        store=store,
        clock=clock,
        audiences=audiences,
        channels=channels,
        settings=settings,
        rules=rules,
        worker_id=worker_id,
        progress=progress,
        unsubscribe=signer,
    )
    runner.shards = ShardWork(
        store, audiences, profiles, channels, settings, runner.leases, runner.plan_for
    )
    return preflight, runner
