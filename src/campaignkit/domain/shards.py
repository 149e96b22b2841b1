"""Shards of a run: its frozen audience in contiguous ranges, each delivered under an epoch.

A run delivered by many workers (issue 15) first freezes its audience: the
members' profile ids are written once, in the audience's order, at positions
``0 .. size - 1``. :func:`plan_shards` splits the positions into ranges of
even sizes. A worker claims a shard (the next free one, or one whose lease
lapsed) and the claim bumps the shard's *epoch*; every later write of that
worker for the shard names the epoch it claimed, and the store refuses it once
another claim has moved the epoch on (:class:`ShardLost`). So a worker that
was killed, stalled or cut off records nothing after it lost its lease, and
the worker that took over re-sends what it left in flight with the same
idempotency keys.

Pure values and functions: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import pendulum

from campaignkit.domain.copying import evolve
from campaignkit.domain.delivery import ActionCounts, Run

DEFAULT_SHARD_SIZE = 10_000
"""Members per shard unless the settings say otherwise."""


def _frozen(value: Mapping[str, ActionCounts]) -> Mapping[str, ActionCounts]:
    return dict(value)


@attrs.frozen
class Shard:
    """One range of a run's frozen audience and who delivers it.

    Attributes:
        run_id: The run.
        number: Its place among the run's shards (0-based).
        first: The position of its first member in the frozen audience.
        end: The position after its last member.
        epoch: How many times it was claimed (0: never).
        owner: The worker that claimed it last (None: never claimed).
        lease_expires_at: When another worker may claim it (unless done).
        done: Every member has its intents recorded and each intent an outcome
            or a later attempt to wait for (QUEUED, RETRY: the run's own work).
        counts: What delivering it counted, per action id.
    """

    run_id: str
    number: int
    first: int
    end: int
    epoch: int = 0
    owner: str | None = None
    lease_expires_at: pendulum.DateTime | None = None
    done: bool = False
    counts: Mapping[str, ActionCounts] = attrs.field(factory=dict, converter=_frozen)

    @property
    def size(self) -> int:
        """How many members it holds."""
        return self.end - self.first

    def free(self, now: pendulum.DateTime) -> bool:
        """Whether a worker may claim it at ``now``: not done, and no lease in force."""
        return not self.done and (self.lease_expires_at is None or self.lease_expires_at <= now)

    def __repr__(self) -> str:
        state = "done" if self.done else f"epoch {self.epoch}, owner {self.owner}"
        return f"Shard({self.run_id} #{self.number} [{self.first}, {self.end}), {state})"


class ShardLost(Exception):
    """A worker's claim on a shard was superseded (its epoch moved on); it records nothing."""

    def __init__(self, run_id: str, number: int, epoch: int) -> None:
        super().__init__(f"shard {number} of run {run_id} is no longer held at epoch {epoch}")
        self.run_id = run_id
        self.number = number
        self.epoch = epoch


def plan_shards(run_id: str, size: int, shard_size: int) -> list[Shard]:
    """Split positions ``0 .. size - 1`` into contiguous shards of even sizes.

    There are ``ceil(size / shard_size)`` shards, and their sizes differ by at
    most one (10,001 members in shards of 10,000 make two of 5,001 and 5,000,
    not 10,000 and 1).

    Args:
        run_id: The run.
        size: How many members were frozen.
        shard_size: The most members a shard holds.

    Returns:
        The shards, in order (none for an empty audience).
    """
    if size <= 0:
        return []
    count = -(-size // shard_size)
    base, extra = divmod(size, count)
    shards = []
    first = 0
    for number in range(count):
        end = first + base + (1 if number < extra else 0)
        shards.append(Shard(run_id, number, first, end))
        first = end
    return shards


def total(shards: Sequence[Shard]) -> dict[str, ActionCounts]:
    """The counts of every shard, summed per action (a sharded run's counts)."""
    summed: dict[str, ActionCounts] = {}
    for shard in shards:
        for action_id, counts in shard.counts.items():
            before = summed.get(action_id)
            summed[action_id] = counts if before is None else before.plus(counts)
    return summed


def describe(shard: Shard) -> Mapping[str, Any]:
    """A shard's progress as plain values (for logs and ``--json``)."""
    return {
        "run_id": shard.run_id,
        "number": shard.number,
        "first": shard.first,
        "end": shard.end,
        "epoch": shard.epoch,
        "owner": shard.owner,
        "lease_expires_at": None
        if shard.lease_expires_at is None
        else shard.lease_expires_at.isoformat(),
        "done": shard.done,
        "counts": {
            action_id: {"sent": c.sent, "failed": c.failed, "excluded": c.excluded_total}
            for action_id, c in shard.counts.items()
        },
    }


def decided(shard: Shard) -> int:
    """How many members of ``shard`` have their intents recorded: where a takeover goes on.

    Every member counts once as targeted for each action, in the unit that
    records its intents and saves the shard at its epoch, so the shard's
    counts and the ledger agree: a worker taking the shard over skips exactly
    the members its last holder decided (walking them again would count them
    a second time, as duplicates). A genuine duplicate further on is still
    decided, and counted, as one.
    """
    return max((counts.targeted for counts in shard.counts.values()), default=0)


def finished(shards: Sequence[Shard]) -> bool:
    """Whether every shard is done."""
    return all(shard.done for shard in shards)


def folded(run: Run, shards: Sequence[Shard]) -> Run:
    """``run`` with its shards' work folded in: their counts summed, its audience streamed."""
    return evolve(run, counts=total(shards), position=shards[-1].end, streamed=True)


def next_lease_end(shards: Sequence[Shard]) -> pendulum.DateTime | None:
    """When the first lease of an unfinished shard lapses (None: none is leased)."""
    ends = [s.lease_expires_at for s in shards if not s.done and s.lease_expires_at is not None]
    return min(ends) if ends else None
