"""Dating and ordering: a late tick dates every transition when it was due, ticking twice does
nothing twice, several campaigns run in order; archived campaigns are purged, and custom
lifecycle rules are honoured."""

from __future__ import annotations

import pendulum
import pytest

import campaignkit as ck
from campaignkit.testing import ManualClock
from tests.factories import T0, World
from tests.unit.engine.support import SECOND, S, V, small_kit, status_at, steps, timeline

# ---------------------------------------------------------------- dating and ordering


def test_late_tick_applies_every_due_transition_dated_when_it_was_due(world: World) -> None:
    """Status changes are dated when due; the delivery happens when the tick runs.

    The one-shot run starts at the (late) tick, so completion, which never
    comes before the run has finished, is dated at that tick.
    """
    start = T0.add(days=1)
    campaign = world.draft(start=start)
    world.admin.activate(campaign.id)
    world.events.clear()

    late = T0.add(days=30)
    world.clock.set(late)
    report = world.kit.tick()

    expected = [
        (campaign.id, V.PREPARE, T0),
        (campaign.id, V.GO_LIVE, start),
        (campaign.id, V.COMPLETE, late),
    ]
    assert steps(report.events) == expected
    assert steps(world.events) == expected
    assert report.now == late
    done = world.admin.get(campaign.id)
    assert done.status is S.COMPLETED
    assert timeline(done)[-3:] == [
        (V.PREPARE, S.ACTIVATING, S.SCHEDULED, T0, "system"),
        (V.GO_LIVE, S.SCHEDULED, S.LIVE, start, "system"),
        (V.COMPLETE, S.LIVE, S.COMPLETED, late, "system"),
    ]
    assert done.went_live_at == start
    assert done.runs_finished_at == late


def test_late_tick_without_delivery_still_completes_three_days_after_going_live(
    world: World,
) -> None:
    """A run that finished on time never delays completion: the 3-day instant holds."""
    campaign = world.draft(start=T0.add(days=1))
    world.admin.activate(campaign.id)
    world.clock.set(T0.add(days=1))
    world.kit.tick()  # goes live and delivers at its start
    world.clock.set(T0.add(days=30))
    world.kit.tick()
    done = world.admin.get(campaign.id)
    assert done.history[-1].at == T0.add(days=4)
    assert done.status is S.COMPLETED


def test_ticking_twice_at_the_same_instant_does_nothing_the_second_time(world: World) -> None:
    campaign = world.draft(start=T0.add(hours=1))
    world.admin.activate(campaign.id)
    world.clock.set(T0.add(hours=2))
    first = world.kit.tick()
    before = world.admin.get(campaign.id)
    world.events.clear()

    second = world.kit.tick()

    assert len(first.events) == 2
    assert second.events == ()
    assert world.events == []
    assert world.admin.get(campaign.id) == before


def test_due_work_of_several_campaigns_runs_in_due_at_then_id_order(world: World) -> None:
    late = world.draft("Late", start=T0.add(hours=2))  # cmp_0001
    early_a = world.draft("Early A", start=T0.add(hours=1))  # cmp_0002
    early_b = world.draft("Early B", start=T0.add(hours=1))  # cmp_0003
    assert late.id < early_a.id < early_b.id
    for campaign in (early_b, early_a, late):  # activation order must not matter
        world.admin.activate(campaign.id)

    prepared = world.kit.tick()
    assert steps(prepared.events) == [
        (late.id, V.PREPARE, T0),
        (early_a.id, V.PREPARE, T0),
        (early_b.id, V.PREPARE, T0),
    ]

    world.clock.set(T0.add(days=5))
    report = world.kit.tick()

    # go-lives in (due_at, id) order; each run delivers at the tick, so the
    # completions (which wait for their runs) are dated at the tick
    assert steps(report.events) == [
        (early_a.id, V.GO_LIVE, T0.add(hours=1)),
        (early_b.id, V.GO_LIVE, T0.add(hours=1)),
        (late.id, V.GO_LIVE, T0.add(hours=2)),
        (late.id, V.COMPLETE, T0.add(days=5)),  # same instant: by id
        (early_a.id, V.COMPLETE, T0.add(days=5)),
        (early_b.id, V.COMPLETE, T0.add(days=5)),
    ]


# ---------------------------------------------------------------- archive and purge


def test_archived_campaign_is_purged_after_thirty_days(world: World) -> None:
    campaign = world.live()
    world.clock.set(T0.add(hours=1))
    world.admin.stop(campaign.id)
    world.clock.set(T0.add(days=2))
    archived = world.admin.archive(campaign.id)
    assert archived.status is S.ARCHIVED
    assert archived.due_at == T0.add(days=32)
    world.events.clear()

    assert status_at(world, campaign.id, T0.add(days=31)) is S.ARCHIVED  # 29 days later
    assert status_at(world, campaign.id, T0.add(days=32) - SECOND) is S.ARCHIVED

    world.clock.set(T0.add(days=32))
    report = world.kit.tick()

    with pytest.raises(ck.NotFound) as caught:
        world.admin.get(campaign.id)
    assert caught.value.key == campaign.id
    removed = [e for e in report.events if isinstance(e, ck.CampaignRemoved)]
    assert removed == [ck.CampaignRemoved(campaign.id, T0.add(days=32), "system", V.PURGE)]
    assert world.events == list(report.events)
    assert report.next_due_at is None


def test_custom_lifecycle_rules_are_honoured() -> None:
    clock = ManualClock(T0)
    rules = ck.LifecycleRules(
        completion_after=pendulum.duration(hours=6),
        archive_retention=pendulum.duration(days=2),
    )
    kit, ada, action = small_kit(clock, rules=rules)
    assert kit.lifecycle == rules
    campaign = ada.create_campaign(
        name="Flash", audience="vip", namespace="email", actions=[action]
    )
    ada.activate(campaign.id)
    kit.tick()

    clock.set(T0.add(hours=6) - SECOND)
    kit.tick()
    assert ada.get(campaign.id).status is S.LIVE
    clock.set(T0.add(hours=6))
    kit.tick()
    assert ada.get(campaign.id).status is S.COMPLETED

    clock.set(T0.add(days=1))
    ada.archive(campaign.id)
    clock.set(T0.add(days=3) - SECOND)
    kit.tick()
    assert ada.get(campaign.id).status is S.ARCHIVED
    clock.set(T0.add(days=3))
    report = kit.tick()
    assert steps(report.events) == [(campaign.id, V.PURGE, T0.add(days=3))]
    with pytest.raises(ck.NotFound):
        ada.get(campaign.id)
