"""A worker that cannot claim a split run still delivers its free shards.

The run's lease is held a moment by whoever plans the run, folds its shards
or hands them over; shards have leases of their own. A worker whose claim of
the run loses that race must work the free shards at once, not sit idle
until its next tick (that idle start was most of the gap between 2 and 4
workers in ``bench_scale``), and whoever finishes the last shard claims the
run to end it. On SQLite and PostgreSQL, with the helpers of
``test_shards``; the clocks move by hand, nothing sleeps.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import pendulum

import campaignkit as ck
from campaignkit.delivery.shards import ShardWork
from campaignkit.domain.shards import total
from campaignkit.testing import ManualClock
from tests.integration.test_shards import (
    EMAIL,
    LEASE,
    PEOPLE,
    SMS,
    T0,
    Opener,
    Provider,
    opener,
    seed,
    settings,
    the_run,
    worker,
    world,
)

__all__ = ["opener", "world"]  # the fixtures, for pytest

SECOND = pendulum.duration(seconds=1)


def planned_by_a_head(head: ck.CampaignKit) -> tuple[str, ck.Run]:
    """Seed a campaign and let ``head`` plan its run and hand the shards to nobody."""
    assert head.runner.shards is not None
    head.runner.shards.submit = lambda run_id, number: None
    campaign_id = seed(head)
    head.tick()  # planned and handed over: no shard delivered
    head.runner.shards.submit = None
    return campaign_id, the_run(head, campaign_id)


def held_elsewhere(kit: ck.CampaignKit, run: ck.Run, until: pendulum.DateTime) -> None:
    """Another worker holds the run's lease until ``until``; the run is due now."""
    with kit.store.unit_of_work() as uow:
        current = uow.runs.get(run.id)
        uow.runs.save(
            attrs.evolve(current, lease_owner="elsewhere", lease_expires_at=until, due_at=T0)
        )


def shard_work(kit: ck.CampaignKit) -> ShardWork:
    assert kit.runner.shards is not None
    return kit.runner.shards


class Ticking(Provider):
    """A provider whose first call takes two seconds (by the test's clock)."""

    def __init__(self, log: list[tuple[str, str]], name: str, clock: ManualClock) -> None:
        super().__init__(log, name)
        self.clock = clock
        self.slow = True

    def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
        if self.slow:
            self.slow = False
            self.clock.advance(2 * SECOND)
        return super().send(messages)


def test_a_worker_shut_out_of_the_run_delivers_its_shards_and_ends_it_when_it_can(
    world: tuple[Opener, list[tuple[str, str]]],
) -> None:
    opener, log = world
    clock = ManualClock(T0)
    head_made, _ = worker(opener, log, clock)
    channels = {EMAIL: Ticking(log, "email", clock), SMS: Ticking(log, "sms", clock)}
    hand_made = opener(clock=clock, channels=channels, delivery=settings())
    with head_made as head, hand_made as hand:
        campaign_id, run = planned_by_a_head(head)
        held_elsewhere(head, run, T0 + SECOND)  # lapses while the hand delivers
        hand.tick()  # the claim fails; the shards go all the same; the run is ended after
        run = the_run(head, campaign_id)
        shards = head.shards(run.id)
    assert run.status is ck.RunStatus.SUCCEEDED
    assert run.counts == total(shards)
    assert {s.owner for s in shards} == {hand.worker_id}
    assert len(log) == len(set(log)) == 2 * PEOPLE


def test_the_run_ends_at_a_later_tick_while_another_worker_still_holds_it(
    world: tuple[Opener, list[tuple[str, str]]],
) -> None:
    opener, log = world
    clock = ManualClock(T0)
    head_made, _ = worker(opener, log, clock)
    hand_made, _ = worker(opener, log, clock)
    with head_made as head, hand_made as hand:
        campaign_id, run = planned_by_a_head(head)
        held_elsewhere(head, run, T0 + LEASE)
        hand.tick()  # every shard delivered; the run cannot be claimed to end it
        run = the_run(head, campaign_id)
        assert all(s.done for s in head.shards(run.id))
        assert not run.status.is_final
        assert run.due_at == T0 + LEASE  # due again when the other lease may lapse
        assert not shard_work(hand).work_unclaimed(run.id, clock.now(), lambda: False)
        clock.advance(LEASE)
        hand.tick()
        run = the_run(head, campaign_id)
    assert run.status is ck.RunStatus.SUCCEEDED
    assert len(log) == len(set(log)) == 2 * PEOPLE


def test_nothing_is_delivered_unclaimed_with_a_submitter_or_for_a_halted_run(
    world: tuple[Opener, list[tuple[str, str]]],
) -> None:
    opener, log = world
    clock = ManualClock(T0)
    head_made, _ = worker(opener, log, clock)
    with head_made as head:
        campaign_id, run = planned_by_a_head(head)
        work = shard_work(head)
        never = lambda: False  # noqa: E731
        work.submit = lambda run_id, number: None
        assert not work.work_unclaimed(run.id, T0, never)  # the executor's workers do it
        work.submit = None
        head.as_user("ada").stop(campaign_id)
        assert not work.work_unclaimed(run.id, T0, never)  # not LIVE: the run's path halts it
    assert log == []


def test_nothing_is_delivered_unclaimed_for_a_final_run(
    world: tuple[Opener, list[tuple[str, str]]],
) -> None:
    opener, log = world
    clock = ManualClock(T0)
    head_made, _ = worker(opener, log, clock)
    with head_made as head:
        campaign_id, run = planned_by_a_head(head)
        head.runner.unclaimable(run.id, T0, RuntimeError("the audience is gone"))
        assert the_run(head, campaign_id).status is ck.RunStatus.FAILED
        assert any(not s.done for s in head.shards(run.id))
        assert not shard_work(head).work_unclaimed(run.id, T0, lambda: False)
    assert log == []
