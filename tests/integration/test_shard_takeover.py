"""A worker busy with a run's shards takes over a shard whose lease lapses meanwhile.

A worker delivering free shards claims one after another in one tick. A
shard whose holder stalled becomes free once its lease lapses *by the
clock*, even while that tick is still going: the worker must see it at its
next claim, not only at its next tick (else a dead worker's shard waits for
the end of the run, however long that is). On SQLite and PostgreSQL, with
the helpers of ``test_shards``; the clocks move by hand, nothing sleeps.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pendulum

import campaignkit as ck
from campaignkit.concurrency import shared_units
from campaignkit.testing import ManualClock
from tests.integration.test_shards import (
    BOUND,
    EMAIL,
    LEASE,
    PEOPLE,
    SMS,
    T0,
    Opener,
    Provider,
    entries,
    opener,
    seed,
    settings,
    the_run,
    worker,
    world,
)

__all__ = ["opener", "world"]  # the fixtures, for pytest


class Advancing(Provider):
    """A :class:`Provider` that moves the clock past a lease at its first call."""

    def __init__(self, log: list[tuple[str, str]], name: str, clock: ManualClock) -> None:
        super().__init__(log, name)
        self._clock = clock
        self._moved = False

    def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
        if not self._moved:
            self._moved = True
            self._clock.advance(LEASE + pendulum.duration(seconds=1))
        return super().send(messages)


def test_a_lease_lapsing_during_a_tick_is_taken_over_in_that_tick(
    world: tuple[Opener, list[tuple[str, str]]],
) -> None:
    opener, log = world
    clock = ManualClock(T0)
    first_made, first_channels = worker(opener, log, clock)
    second_channels = {EMAIL: Advancing(log, "email", clock), SMS: Provider(log, "sms")}
    second_made = opener(clock=clock, channels=second_channels, delivery=settings())
    with first_made as first, second_made as second:
        campaign_id = seed(first)
        gate = threading.Event()
        first_channels[EMAIL].gate = gate  # the first worker stalls in its first send
        stalled = threading.Thread(target=first.tick, daemon=True)
        stalled.start()
        try:
            assert first_channels[EMAIL].inside.wait(BOUND)
            run = the_run(second, campaign_id)
            (held,) = [s for s in second.shards(run.id) if s.owner == first.worker_id]
            # one tick: the second worker's first send moves the clock past the first's
            # lease, so by the time it has no other free shard, the stalled one is free
            second.tick()
            taken = second.shards(run.id)[held.number]
            assert (taken.epoch, taken.owner, taken.done) == (2, second.worker_id, True)
        finally:
            gate.set()
            stalled.join(BOUND)
        assert not stalled.is_alive()
        second.tick()
        run = the_run(second, campaign_id)
        ledger = entries(second, run.id)
    assert run.status is ck.RunStatus.SUCCEEDED
    assert {e.state for e in ledger} <= {ck.LedgerState.SENT, ck.LedgerState.EXCLUDED}


def test_a_shard_taken_over_counts_each_member_once(
    world: tuple[Opener, list[tuple[str, str]]],
) -> None:
    # the first worker stalls in its first shard's first send, that batch's intents
    # recorded; the second takes the shard over once the lease lapsed. The members
    # the first one had decided are not counted again (as duplicates) by the second
    opener, log = world
    clock = ManualClock(T0)
    first_made, first_channels = worker(opener, log, clock)
    second_made, _ = worker(opener, log, clock)
    with first_made as first, second_made as second:
        campaign_id = seed(first)
        gate = threading.Event()
        first_channels[EMAIL].gate = gate
        stalled = threading.Thread(target=first.tick, daemon=True)
        stalled.start()
        try:
            assert first_channels[EMAIL].inside.wait(BOUND)
            clock.advance(LEASE + pendulum.duration(seconds=1))
            second.tick()
        finally:
            gate.set()
            stalled.join(BOUND)
        second.tick()
        run = the_run(second, campaign_id)
        shards = second.shards(run.id)
    assert run.status is ck.RunStatus.SUCCEEDED
    assert sorted(s.epoch for s in shards) == [1, 1, 1, 1, 2]
    for action_id, counts in run.counts.items():  # 47 profiles and one unknown member
        assert (counts.targeted, counts.sent, counts.excluded_total) == (PEOPLE + 1, PEOPLE, 1), (
            action_id,
            counts,
        )


def test_reading_shards_does_not_wait_for_the_units_delivering_them(
    postgres_dsn: str, postgres_schema: str
) -> None:
    # a monitor polling kit.shards() must neither wait for the workers' units nor
    # stop them: on PostgreSQL a unit outside shared_units() takes the schema lock
    # exclusively, behind every delivering unit and ahead of the next ones
    clock = ManualClock(T0)
    delivery = settings()
    with (
        ck.CampaignKit.postgres(
            postgres_dsn, schema=postgres_schema, clock=clock, delivery=delivery
        ) as monitor,
        ck.CampaignKit.postgres(
            postgres_dsn, schema=postgres_schema, clock=clock, delivery=delivery
        ) as working,
    ):
        campaign_id = seed(monitor)
        monitor.tick()
        run = the_run(monitor, campaign_id)
        read: list[int] = []
        with shared_units(), working.store.unit_of_work() as uow:
            assert uow.shards.for_run(run.id)  # type: ignore[attr-defined]  # a unit in progress
            reader = threading.Thread(target=lambda: read.append(len(monitor.shards(run.id))))
            reader.start()
            reader.join(BOUND / 6)
            finished = not reader.is_alive()
        reader.join(BOUND)
    assert finished, "kit.shards() waited for a delivering unit"
    assert read == [5]
