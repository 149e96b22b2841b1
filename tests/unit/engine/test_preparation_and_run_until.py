"""Preparation failing when the audience is gone or not ready, ``run_until`` stepping through
every due instant, and the tick report telling when the engine next has work."""

from __future__ import annotations

import pendulum
import pytest

import campaignkit as ck
from campaignkit.testing import ManualClock
from tests.factories import T0, World
from tests.unit.engine.support import S, SwitchableAudiences, V, small_kit, steps

# ---------------------------------------------------------------- preparation failure


@pytest.mark.parametrize(
    ("audience_now", "reason"),
    [
        (None, "audience 'vip' does not exist"),
        (ck.AudienceStatus.NOT_READY, "audience 'vip' is not ready"),
    ],
)
def test_preparation_fails_when_the_audience_is_gone_or_not_ready(
    audience_now: ck.AudienceStatus | None, reason: str
) -> None:
    clock = ManualClock(T0)
    audiences = SwitchableAudiences()
    audiences.statuses["vip"] = ck.AudienceStatus.READY
    kit, ada, action = small_kit(clock, audiences=audiences)
    campaign = ada.create_campaign(
        name="Promo", audience="vip", namespace="email", actions=[action]
    )
    assert ada.activate(campaign.id).status is S.ACTIVATING

    audiences.statuses["vip"] = audience_now
    clock.set(T0.add(minutes=5))
    report = kit.tick()

    failed = ada.get(campaign.id)
    assert failed.status is S.FAILED
    assert failed.failure_reason is not None
    assert reason in failed.failure_reason
    assert failed.went_live_at is None
    assert failed.due_at is None
    last = failed.history[-1]
    assert (last.action, last.from_status, last.to_status, last.at, last.actor) == (
        V.PREPARE,
        S.ACTIVATING,
        S.FAILED,
        T0,
        "system",
    )
    assert reason in last.detail
    assert steps(report.events) == [(campaign.id, V.PREPARE, T0)]
    assert report.next_due_at is None


# ---------------------------------------------------------------- run_until


def test_run_until_steps_through_every_due_instant_and_stops_at_when(world: World) -> None:
    start = T0.add(days=1)
    campaign = world.draft(start=start)
    world.admin.activate(campaign.id)
    seen: list[tuple[V, pendulum.DateTime, pendulum.DateTime]] = []

    def record(event: ck.DomainEvent) -> None:
        if isinstance(event, ck.CampaignChanged):
            seen.append((event.entry.action, event.entry.at, world.clock.now()))

    world.kit.subscribe(record)
    target = T0.add(days=10)

    report = world.kit.run_until(target)

    # Each step ran with the clock set to its own due instant.
    assert seen == [
        (V.PREPARE, T0, T0),
        (V.GO_LIVE, start, start),
        (V.COMPLETE, start.add(days=3), start.add(days=3)),
    ]
    assert world.clock.now() == target
    assert report.now == target
    assert steps(report.events) == [
        (campaign.id, V.PREPARE, T0),
        (campaign.id, V.GO_LIVE, start),
        (campaign.id, V.COMPLETE, start.add(days=3)),
    ]
    assert report.next_due_at is None
    assert world.admin.get(campaign.id).status is S.COMPLETED


def test_run_until_with_nothing_due_just_moves_the_clock(world: World) -> None:
    target = T0.add(days=1)

    report = world.kit.run_until(target)

    assert world.clock.now() == target
    assert report == ck.TickReport(target, (), None)


def test_run_until_stops_before_work_due_after_when(world: World) -> None:
    campaign = world.live()
    target = T0.add(days=2)

    report = world.kit.run_until(target)

    assert report.events == ()
    assert report.next_due_at == T0.add(days=3)
    assert world.admin.get(campaign.id).status is S.LIVE


def test_run_until_refuses_a_past_instant_and_changes_nothing(world: World) -> None:
    campaign = world.draft()
    world.admin.activate(campaign.id)
    world.clock.set(T0.add(hours=1))

    with pytest.raises(ck.ClockError, match="before now"):
        world.kit.run_until(T0)

    assert world.clock.now() == T0.add(hours=1)
    assert world.admin.get(campaign.id).status is S.ACTIVATING


def test_run_until_refuses_a_clock_that_cannot_be_set() -> None:
    kit = ck.CampaignKit.in_memory(clock=ck.SystemClock())

    with pytest.raises(ck.ClockError, match="settable clock"):
        kit.run_until(pendulum.now("UTC").add(days=1))


# ---------------------------------------------------------------- tick report


def test_tick_report_tells_when_the_engine_next_has_work(world: World) -> None:
    assert world.kit.tick() == ck.TickReport(T0, (), None)

    campaign = world.draft(start=T0.add(hours=3))
    world.admin.activate(campaign.id)
    assert world.kit.tick().next_due_at == T0.add(hours=3)

    world.clock.set(T0.add(hours=3))
    assert world.kit.tick().next_due_at == T0.add(days=3, hours=3)

    world.clock.set(T0.add(days=3, hours=3))
    assert world.kit.tick().next_due_at is None
    assert world.kit.engine.next_due_at() is None
