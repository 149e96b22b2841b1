"""How runs deliver: batch size, retries, leases, the proof cap and render limits."""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable
from typing import Any, Final

import attrs
import pendulum

from campaignkit.delivery.render import RenderLimits
from campaignkit.delivery.sandbox import check_limits
from campaignkit.domain import checks
from campaignkit.domain.proofs import check_cap

MAX_BATCH_SIZE: Final = 100_000
"""The largest ``batch_size`` (a batch is held in memory and written in one transaction)."""
MAX_ATTEMPTS: Final = 1_000
"""The largest ``max_attempts``."""
MAX_RETRY_DELAY: Final = pendulum.duration(days=30)
"""The longest ``retry_base`` and ``retry_cap``."""
MAX_LEASE: Final = pendulum.duration(days=1)
"""The longest ``lease`` (a crashed worker's run waits this long before another takes it)."""
MAX_SHARD_SIZE: Final = 10_000_000
"""The largest ``shard_size`` (a shard's member ids are read a batch at a time)."""


def _duration(maximum: pendulum.Duration) -> Callable[[object, attrs.Attribute[Any], Any], None]:
    def check(_instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        problems: list[str] = []
        name = attribute.name
        if not isinstance(value, datetime.timedelta):
            problems.append(
                f"{name} must be a duration such as pendulum.duration(seconds=30), "
                f"not {checks.describe(value)}"
            )
        else:
            seconds = value.total_seconds()
            if not (math.isfinite(seconds) and 0 < seconds <= maximum.total_seconds()):
                problems.append(
                    f"{name} is {seconds:g} seconds; it must be more than 0 and at most "
                    f"{maximum.in_words()}"
                )
        checks.raise_if(problems, "delivery settings")

    return check


def _whole(maximum: int) -> Callable[[object, attrs.Attribute[Any], Any], None]:
    def check(_instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        problems: list[str] = []
        checks.whole_number(problems, attribute.name, value, minimum=1, maximum=maximum)
        checks.raise_if(problems, "delivery settings")

    return check


def _optional_whole(maximum: int) -> Callable[[object, attrs.Attribute[Any], Any], None]:
    whole = _whole(maximum)

    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None:
            whole(instance, attribute, value)

    return check


def _flag(_instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    problems: list[str] = []
    checks.boolean(problems, attribute.name, value)
    checks.raise_if(problems, "delivery settings")


@attrs.frozen
class DeliverySettings:
    """How runs deliver.

    Attributes:
        batch_size: Audience members per batch (one intent and one outcome
            transaction each).
        max_attempts: Sends per message before a transient failure becomes final.
        retry_base: Backoff before the first retry (doubles each time, with jitter).
        retry_cap: The longest backoff.
        lease: How long a worker owns a run after each renewal (every batch,
            and every third of a lease while it delivers); another worker may
            resume a run whose worker died once this has passed by the clock.
        heartbeat: Renew the lease from a background thread while a run is
            delivered, so a channel call slower than the lease keeps the run.
            Needs a store usable from two threads (both built-in stores are).
        proofs_per_hour: Proof messages one campaign may send in any rolling
            hour (counted from its history, so across processes).
        render_limits: The output cap and render budget of one message
            (``ck.RenderLimits``); a message beyond them is FAILED with the reason.
        pause_gc: Switch Python's cyclic garbage collector off while a batch is
            delivered (it is switched back on after; see
            ``campaignkit.delivery.collector``): about 2 µs less per message on
            large runs. Set False if the host must never have it paused.
        shard_size: Split a scheduled or recurring run's audience into shards
            of at most this many members, delivered by any number of workers
            (processes, machines) at once, each shard under its own lease
            (see ``campaignkit.domain.shards``); None (the default) delivers each
            run whole, by one worker at a time. Needs a store with shards
            (SQLite, PostgreSQL); runs with waves or rate limits are never split.

    Raises:
        ValidationError: a value of the wrong type or out of bounds (sizes and
            attempts from 1 to ``MAX_BATCH_SIZE`` / ``MAX_ATTEMPTS``, durations
            above zero and at most ``MAX_RETRY_DELAY`` / ``MAX_LEASE``), naming the setting.
    """

    batch_size: int = attrs.field(default=500, validator=_whole(MAX_BATCH_SIZE))
    max_attempts: int = attrs.field(default=5, validator=_whole(MAX_ATTEMPTS))
    retry_base: pendulum.Duration = attrs.field(
        factory=lambda: pendulum.duration(seconds=30), validator=_duration(MAX_RETRY_DELAY)
    )
    retry_cap: pendulum.Duration = attrs.field(
        factory=lambda: pendulum.duration(hours=1), validator=_duration(MAX_RETRY_DELAY)
    )
    lease: pendulum.Duration = attrs.field(
        factory=lambda: pendulum.duration(minutes=1), validator=_duration(MAX_LEASE)
    )
    heartbeat: bool = attrs.field(default=True, validator=_flag)
    proofs_per_hour: int = attrs.field(default=50, validator=check_cap)
    render_limits: RenderLimits = attrs.field(factory=RenderLimits, validator=check_limits)
    pause_gc: bool = attrs.field(default=True, validator=_flag)
    shard_size: int | None = attrs.field(default=None, validator=_optional_whole(MAX_SHARD_SIZE))
