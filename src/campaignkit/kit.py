"""The composition root: :class:`CampaignKit` wires store, clock, policy and engine."""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pendulum

from campaignkit.access import AccessDirectory
from campaignkit.adapters.memory import InMemoryProfileStore, InMemoryStore
from campaignkit.adapters.sqlite import SQLiteProfileStore, SQLiteStore
from campaignkit.audiences import AudienceRegistry
from campaignkit.business_rules import BusinessRuleRegistry
from campaignkit.clock import Clock, SystemClock
from campaignkit.delivery.feedback import record_feedback
from campaignkit.delivery.runner import DeliverySettings
from campaignkit.delivery.unsubscribe import record_unsubscribe
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import FeedbackEvent, FeedbackRecord
from campaignkit.domain.events import DomainEvent
from campaignkit.domain.lifecycle import LifecycleRules
from campaignkit.domain.shards import Shard
from campaignkit.domain.unsubscribe import UnsubscribeResult, UnsubscribeSigner
from campaignkit.engine import LifecycleEngine, TickReport
from campaignkit.kit_arguments import (
    check_kit_arguments,
    check_listener,
    check_run_id,
    check_shard,
    check_submitter,
    check_when,
    feedback_event,
    unsubscribe_signer,
)
from campaignkit.kit_wiring import KitOptions, delivery_parts, open_postgres
from campaignkit.logs import log_events
from campaignkit.permissions import Permission, PermissionPolicy, ProductProfile, ProfilePolicy
from campaignkit.ports import AudienceSource, Channel, ProfileStore, Progress, Store
from campaignkit.scale.submit import ExecutorSubmitter, ShardSubmitter, SupportsSubmit
from campaignkit.session import UserSession
from campaignkit.testing.channels import RecordingChannel
from campaignkit.worker import DEFAULT_POLL, run_forever

if TYPE_CHECKING:
    from matplotlib.axes import Axes

logger = logging.getLogger("campaignkit")

Listener = Callable[[DomainEvent], None]
"""A domain-event subscriber."""
IdFactory = Callable[[str], str]
"""Makes a new unique id from a kind prefix such as ``"cmp"``."""


def random_ids(prefix: str) -> str:
    """The default id factory: ``<prefix>_<32 hex digits>`` from a random UUID."""
    return f"{prefix}_{uuid.uuid4().hex}"


def recording_channels() -> dict[ChannelType, Channel]:
    """A :class:`~campaignkit.testing.RecordingChannel` per channel type."""
    return {channel: RecordingChannel(channel.value) for channel in ChannelType}


class CampaignKit:
    """Everything campaignkit needs, wired together; the entry point for hosts.

    Most hosts use :meth:`sqlite` (one file holds everything) or
    :meth:`in_memory` (tests, notebooks). Act for a user with :meth:`as_user`;
    drive time with :meth:`tick` (or :meth:`run_until` on a settable clock).

    Args:
        store: Where campaigns, runs, the ledger and access assignments live.
        clock: The only source of the current time.
        channels: One channel per channel type; by default a ``RecordingChannel``
            each, so nothing leaves the process unless a real channel is wired.
        audiences: The host's audience source; ``kit.audiences.define`` adds static ones.
        profiles: Where recipient profiles are kept (default: in memory).
        policy: The permission policy (default: :class:`ProfilePolicy` on ``access``).
        profile_permissions: A custom profile -> permissions mapping for the default policy.
        lifecycle: Lifecycle periods (3-day completion, 30-day archive
            retention) and the missed-occurrence policy.
        delivery: How runs deliver (batch size, retries, leases).
        ids: Makes ids; pass ``campaignkit.testing.SequentialIds()`` for stable ids.
        progress: Called after every batch of every run (for a progress bar).
        secret: The host secret that signs one-click unsubscribe tokens (a
            ``str`` or ``bytes`` of at least 16 bytes, kept out of ``repr``).
            Without it no message carries an unsubscribe URL. Keep it stable:
            links in mail already sent stop verifying when it changes.
        executor: Hands every shard of a run this kit plans (with
            ``DeliverySettings.shard_size``) to a ``concurrent.futures.Executor``:
            ``ProcessPoolExecutor``, Dask's ``Client.get_executor()``, loky.
            Goes with ``factory``; see docs/scale-out.md.
        factory: ``"package.module:function"``: the function of no arguments
            the executor's workers build their kit with.

    Attributes:
        unsubscribe_signer: Signs and verifies unsubscribe tokens (None
            without a ``secret``).
        shard_submitter: Where the engine hands the shards of the runs it
            plans (see :class:`~campaignkit.scale.ShardSubmitter`): an
            :class:`~campaignkit.scale.ExecutorSubmitter` when built with
            ``executor``, or one set later (``campaignkit.celery.register``);
            None: the workers that tick deliver every shard.
    """

    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        channels: Mapping[ChannelType, Channel] | None = None,
        audiences: AudienceSource | None = None,
        profiles: ProfileStore | None = None,
        policy: PermissionPolicy | None = None,
        profile_permissions: Mapping[ProductProfile, frozenset[Permission]] | None = None,
        lifecycle: LifecycleRules | None = None,
        delivery: DeliverySettings | None = None,
        ids: IdFactory = random_ids,
        progress: Progress | None = None,
        secret: str | bytes | None = None,
        executor: SupportsSubmit | None = None,
        factory: str | None = None,
    ) -> None:
        check_kit_arguments(
            store=store,
            clock=clock,
            channels=channels,
            audiences=audiences,
            profiles=profiles,
            policy=policy,
            profile_permissions=profile_permissions,
            lifecycle=lifecycle,
            delivery=delivery,
            ids=ids,
            progress=progress,
            secret=secret,
            executor=executor,
            factory=factory,
        )
        self.store = store
        self.clock = clock
        # values are typed Any on purpose: ``kit.channels[EMAIL].sent`` (a
        # RecordingChannel's attribute) must type-check in host test suites
        self.channels: dict[ChannelType, Any] = dict(
            channels if channels is not None else recording_channels()
        )
        self.profiles: ProfileStore = profiles if profiles is not None else InMemoryProfileStore()
        self.audiences = AudienceRegistry(store, self.profiles, audiences)
        self.access = AccessDirectory(store, clock)
        self.policy: PermissionPolicy = (
            policy if policy is not None else ProfilePolicy(self.access, profile_permissions)
        )
        self.lifecycle = lifecycle if lifecycle is not None else LifecycleRules()
        self.rules = BusinessRuleRegistry(store)
        self.delivery = delivery if delivery is not None else DeliverySettings()
        self.unsubscribe_signer = None if secret is None else UnsubscribeSigner(secret)
        self.ids = ids
        self.worker_id = f"worker-{uuid.uuid4().hex[:12]}"
        self._listeners: list[Listener] = []
        self._listeners_lock = threading.Lock()
        self.preflight, self.runner = delivery_parts(
            store,
            clock,
            self.audiences,
            self.profiles,
            self.channels,
            self.delivery,
            self.lifecycle,
            self.worker_id,
            progress,
            self.unsubscribe_signer,
        )
        self.shard_submitter = (
            None if executor is None or factory is None else ExecutorSubmitter(executor, factory)
        )
        self.engine = LifecycleEngine(
            store=store,
            clock=clock,
            rules=self.lifecycle,
            preflight=self.preflight,
            publish=self.publish,
            runner=self.runner,
            ids=ids,
        )

    @classmethod
    def in_memory(
        cls,
        clock: Clock | None = None,
        *,
        channels: Mapping[ChannelType, Channel] | None = None,
        policy: PermissionPolicy | None = None,
        profile_permissions: Mapping[ProductProfile, frozenset[Permission]] | None = None,
        lifecycle: LifecycleRules | None = None,
        delivery: DeliverySettings | None = None,
        ids: IdFactory = random_ids,
        progress: Progress | None = None,
        audiences: AudienceSource | None = None,
        secret: str | bytes | None = None,
    ) -> CampaignKit:
        """A kit whose store, audiences and profiles all live in memory.

        Args:
            clock: Defaults to the wall clock; tests pass a ``ManualClock``.
            channels: Channels by type (default: a ``RecordingChannel`` each).
            policy: A custom permission policy.
            profile_permissions: A custom mapping for the default profile policy.
            lifecycle: Lifecycle periods and the missed-occurrence policy.
            delivery: How runs deliver.
            ids: Id factory.
            progress: Run progress callback.
            audiences: A host audience source next to ``kit.audiences.define``.
            secret: Signs one-click unsubscribe tokens (at least 16 bytes).
        """
        return cls(
            store=InMemoryStore(),
            clock=clock if clock is not None else SystemClock(),
            channels=channels,
            audiences=audiences,
            profiles=InMemoryProfileStore(),
            policy=policy,
            profile_permissions=profile_permissions,
            lifecycle=lifecycle,
            delivery=delivery,
            ids=ids,
            progress=progress,
            secret=secret,
        )

    @classmethod
    def sqlite(
        cls,
        path: str | os.PathLike[str],
        clock: Clock | None = None,
        channels: Mapping[ChannelType, Channel] | None = None,
        *,
        policy: PermissionPolicy | None = None,
        profile_permissions: Mapping[ProductProfile, frozenset[Permission]] | None = None,
        lifecycle: LifecycleRules | None = None,
        delivery: DeliverySettings | None = None,
        ids: IdFactory = random_ids,
        progress: Progress | None = None,
        audiences: AudienceSource | None = None,
        busy_timeout: float = 10.0,
        secret: str | bytes | None = None,
        executor: SupportsSubmit | None = None,
        factory: str | None = None,
    ) -> CampaignKit:
        """The embedded default: everything in one SQLite file.

        Campaigns, versions, history, surfaces, approval policies, access,
        runs, the delivery ledger, feedback, profiles and static audiences all
        live in the file; a restarted process finds them again and resumes
        interrupted runs. Close it with :meth:`close` (or use ``with``).

        Args:
            path: The database file (created if missing), or ``":memory:"``.
            clock: Defaults to the wall clock; tests pass a ``ManualClock``.
            channels: Channels by type (default: a ``RecordingChannel`` each).
            policy: A custom permission policy.
            profile_permissions: A custom mapping for the default profile policy.
            lifecycle: Lifecycle periods and the missed-occurrence policy.
            delivery: How runs deliver.
            ids: Id factory.
            progress: Run progress callback.
            audiences: A host audience source next to ``kit.audiences.define``.
            busy_timeout: Seconds to wait for another process's write lock.
            secret: Signs one-click unsubscribe tokens (at least 16 bytes).
            executor: Runs the shards of the runs this kit plans (a
                ``concurrent.futures.Executor``); goes with ``factory``.
            factory: ``"package.module:function"`` rebuilding this kit in the
                executor's workers (see docs/scale-out.md).

        Raises:
            StorageError: the file is not a campaignkit store, or is corrupt.
            ValidationError: an argument of the wrong type (before the file is opened).
        """
        options = KitOptions(
            channels=channels,
            audiences=audiences,
            policy=policy,
            profile_permissions=profile_permissions,
            lifecycle=lifecycle,
            delivery=delivery,
            ids=ids,
            progress=progress,
            secret=secret,
            executor=executor,
            factory=factory,
        )
        check_kit_arguments(path=path, busy_timeout=busy_timeout, clock=clock, **options)
        store = SQLiteStore(path, busy_timeout=busy_timeout)
        return cls(
            store=store,
            clock=clock if clock is not None else SystemClock(),
            profiles=SQLiteProfileStore(store),
            **options,
        )

    @classmethod
    def postgres(
        cls,
        dsn: str,
        clock: Clock | None = None,
        channels: Mapping[ChannelType, Channel] | None = None,
        *,
        schema: str = "campaignkit",
        pool_size: int = 4,
        connect_timeout: float = 10.0,
        policy: PermissionPolicy | None = None,
        profile_permissions: Mapping[ProductProfile, frozenset[Permission]] | None = None,
        lifecycle: LifecycleRules | None = None,
        delivery: DeliverySettings | None = None,
        ids: IdFactory = random_ids,
        progress: Progress | None = None,
        audiences: AudienceSource | None = None,
        secret: str | bytes | None = None,
        executor: SupportsSubmit | None = None,
        factory: str | None = None,
    ) -> CampaignKit:
        """The shared production backend: everything in one PostgreSQL schema.

        Holds what :meth:`sqlite` holds (campaigns, history, access, approval
        policies, surfaces, rules, runs, the ledger, feedback, contacts,
        profiles and static audiences), in ``schema`` (created and migrated on
        open), so several processes and machines can share it. Needs the
        extra ``campaignkit[postgres]``. Close it with :meth:`close`.

        Args:
            dsn: A libpq connection string, ``postgresql://user@host:5432/dbname``.
            clock: Defaults to the wall clock; tests pass a ``ManualClock``.
            channels: Channels by type (default: a ``RecordingChannel`` each).
            schema: The schema holding every table (default ``campaignkit``).
            pool_size: The most connections the store keeps open.
            connect_timeout: Seconds to wait for the server when connecting.
            policy: A custom permission policy.
            profile_permissions: A custom mapping for the default profile policy.
            lifecycle: Lifecycle periods and the missed-occurrence policy.
            delivery: How runs deliver.
            ids: Id factory.
            progress: Run progress callback.
            audiences: A host audience source next to ``kit.audiences.define``.
            secret: Signs one-click unsubscribe tokens (at least 16 bytes).
            executor: Runs the shards of the runs this kit plans (a
                ``concurrent.futures.Executor``); goes with ``factory``.
            factory: ``"package.module:function"`` rebuilding this kit in the
                executor's workers (see docs/scale-out.md).

        Raises:
            MissingDependency: psycopg is not installed.
            StorageError: the server cannot be reached, or the schema was
                written by a newer campaignkit.
            ValidationError: an argument of the wrong type (before connecting).
        """
        options = KitOptions(
            channels=channels,
            audiences=audiences,
            policy=policy,
            profile_permissions=profile_permissions,
            lifecycle=lifecycle,
            delivery=delivery,
            ids=ids,
            progress=progress,
            secret=secret,
            executor=executor,
            factory=factory,
        )
        store, profiles = open_postgres(
            dsn, schema, pool_size, connect_timeout, clock=clock, options=options
        )
        return cls(
            store=store,
            clock=clock if clock is not None else SystemClock(),
            profiles=profiles,
            **options,
        )

    @property
    def shard_submitter(self) -> ShardSubmitter | None:
        """Where the engine hands the shards of the runs it plans (None: nowhere)."""
        return self._shard_submitter

    @shard_submitter.setter
    def shard_submitter(self, submitter: ShardSubmitter | None) -> None:
        check_submitter(submitter)
        self._shard_submitter = submitter
        assert self.runner.shards is not None
        self.runner.shards.submit = None if submitter is None else submitter.submit

    def close(self) -> None:
        """Release the store's resources (closes a SQLite or PostgreSQL connection)."""
        close = getattr(self.store, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> CampaignKit:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def as_user(self, user_id: str) -> UserSession:
        """Act as ``user_id``: every verb of the session checks the policy first.

        Raises:
            ValidationError: ``user_id`` is not a non-empty UTF-8 string of at
                most ``MAX_ID`` characters (``as_user(None)`` included).
        """
        return UserSession(self, user_id)

    def tick(self) -> TickReport:
        """Run every piece of work due at the clock's current instant (runs included)."""
        return self.engine.tick()

    def work_shard(self, run_id: str, number: int) -> bool:
        """Claim shard ``number`` of run ``run_id`` if it is free, and deliver it.

        What a worker of an executor or of Celery runs for one shard (see
        docs/scale-out.md). A shard that is done, or leased by a live worker,
        is left alone: a task delivered twice does the work once.

        Returns:
            True if this call delivered the shard to its end.

        Raises:
            ValidationError: ``run_id`` is not a string or ``number`` not a whole number.
            NotFound: there is no such run.
        """
        check_shard(run_id, number)
        assert self.runner.shards is not None
        return self.runner.shards.work_shard(run_id, number, self.clock.now())

    def shards(self, run_id: str) -> list[Shard]:
        """The shards of run ``run_id`` with their progress (none: it is delivered whole).

        Each tells its members' range, epoch, owner and lease expiry, whether it
        is done, and its counts; a sharded run's counts are their sum.

        Raises:
            ValidationError: ``run_id`` is not a string.
        """
        check_run_id(run_id, "shards")
        assert self.runner.shards is not None
        return self.runner.shards.planned(run_id)

    def run_until(self, when: pendulum.DateTime) -> TickReport:
        """Fast-forward a settable clock to ``when``, ticking at every due instant.

        Raises:
            ValidationError: ``when`` is not a time-zone aware date-time.
        """
        check_when(when)
        return self.engine.run_until(when)

    def plot_calendar(
        self,
        start: pendulum.DateTime,
        end: pendulum.DateTime,
        *,
        user: str,
        ax: Axes | None = None,
    ) -> Axes:
        """Draw the campaigns on air during ``[start, end)`` as ``user`` may see them.

        The same as ``kit.as_user(user).calendar(start, end).plot(ax)``: one row
        per campaign, its on-air span and a dot per occurrence. The user needs
        ``campaign.read``; campaigns a host policy hides from them are left out.
        matplotlib is imported on first use (``pip install 'campaignkit[notebook]'``).

        Returns:
            The matplotlib axes drawn on (a new figure's when ``ax`` is None;
            show it in a notebook with ``.figure``).

        Raises:
            PermissionDenied: ``user`` may not read campaigns.
            ValidationError: the range is not two aware date-times, end after start.
            MissingDependency: matplotlib is not installed.
        """
        return self.as_user(user).calendar(start, end).plot(ax)

    def run_forever(
        self,
        stop: threading.Event | None = None,
        *,
        poll: pendulum.Duration | float = DEFAULT_POLL,
        handle_signals: bool = True,
    ) -> None:
        """Tick on the kit's clock until stopped: the production worker loop.

        Each pass ticks, then waits until the engine's next due instant or at
        most ``poll`` (work another process adds is seen within ``poll``). When
        ``stop`` is set, or SIGTERM/SIGINT arrive (handled only in the main
        thread; the previous handlers are restored on return), the run in hand
        finishes recording its current batch, releases its lease (the next
        worker resumes it at once) and this returns. See :mod:`campaignkit.worker`.

        Args:
            stop: Set it from another thread to stop the worker.
            poll: The longest wait between two ticks (a duration, or seconds).
            handle_signals: Stop on SIGTERM and SIGINT when run in the main thread.

        Raises:
            ValidationError: ``stop`` is not a ``threading.Event`` or ``poll``
                is not a positive duration.
        """
        run_forever(self, stop, poll=poll, handle_signals=handle_signals)

    def record_feedback(self, provider_message_id: str, event: FeedbackEvent) -> FeedbackRecord:
        """Record what a provider reported about a message it accepted.

        An unsubscribe withdraws the recipient's consent for that channel; a
        hard bounce suppresses the address for future marketing sends. Counts
        appear in reports.

        Raises:
            NotFound: no delivered message has this provider id.
            ValidationError: ``provider_message_id`` is not a UTF-8 string, or
                ``event`` is not a ``FeedbackEvent`` (or its value).
        """
        kind = feedback_event(provider_message_id, event)
        return record_feedback(
            self.store, self.profiles, provider_message_id, kind, now=self.clock.now()
        )

    def unsubscribe(self, url_or_token: str) -> UnsubscribeResult:
        """Honour a one-click unsubscribe: verify its token, then withdraw consent.

        Call it from the host's handler of the surface's ``unsubscribe_url``
        (RFC 8058: mailbox providers POST ``List-Unsubscribe=One-Click`` to the
        URL; a person following the link in the mail arrives with a GET).
        The signature is checked in constant time; a valid token records the
        UNSUBSCRIBED feedback under the message's run and action (reports
        count it) and withdraws the profile's consent for the channel, so
        later marketing sends exclude the profile (``no_consent``).

        Idempotent: a profile with no consent left on the channel (the same
        link POSTed twice) changes nothing and counts nothing again. A proof's
        token verifies but changes nothing. No domain event is published
        (feedback has none).

        Args:
            url_or_token: The full unsubscribe URL (its ``token`` query
                parameter is read) or the bare token.

        Returns:
            What the token named, and whether this call recorded anything.

        Raises:
            ValidationError: the kit has no ``secret``; or ``url_or_token`` is
                not a string, is too long, or holds no valid token (tampered
                with, truncated, signed with another secret): nothing is changed.
        """
        token = unsubscribe_signer(self.unsubscribe_signer).verify(url_or_token)
        return record_unsubscribe(self.store, self.profiles, token, now=self.clock.now())

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every domain event after it is committed.

        Returns:
            A function that unsubscribes the listener.

        Raises:
            ValidationError: ``listener`` is not callable.
        """
        check_listener(listener)
        with self._listeners_lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._listeners_lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def publish(self, events: Sequence[DomainEvent]) -> None:
        """Deliver committed events to the subscribers.

        A listener that raises is logged and skipped: the change is committed
        already and the other listeners still hear about it. Each event is
        logged first on ``campaignkit.lifecycle`` (:mod:`campaignkit.logs`).
        """
        log_events(events)
        with self._listeners_lock:
            listeners = list(self._listeners)
        for event in events:
            for listener in listeners:
                try:
                    listener(event)
                except Exception:
                    logger.exception("campaignkit event listener %r failed on %r", listener, event)

    def __repr__(self) -> str:
        return f"CampaignKit(store={self.store!r}, clock={self.clock!r})"
