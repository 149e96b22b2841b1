"""Activation (now, or scheduled until its start) and completion: three days after going live,
at the end date, or never for recurring and API-triggered campaigns without an end."""

from __future__ import annotations

import campaignkit as ck
from tests.factories import T0, World
from tests.unit.engine.support import SECOND, S, V, status_at, steps

# ---------------------------------------------------------------- activation


def test_activate_goes_to_activating_and_the_tick_makes_it_live(world: World) -> None:
    campaign = world.draft()

    activated = world.admin.activate(campaign.id)
    assert activated.status is S.ACTIVATING
    assert activated.activated_at == T0
    assert activated.went_live_at is None

    report = world.kit.tick()

    live = world.admin.get(campaign.id)
    assert live.status is S.LIVE
    assert live.went_live_at == T0
    assert steps(report.events) == [(campaign.id, V.PREPARE, T0)]
    assert live.history[-1].actor == "system"
    assert (live.history[-1].from_status, live.history[-1].to_status) == (S.ACTIVATING, S.LIVE)


def test_activation_with_a_future_start_is_scheduled_then_goes_live_exactly_at_start(
    world: World,
) -> None:
    start = T0.add(hours=5)
    campaign = world.draft(start=start)
    world.admin.activate(campaign.id)

    report = world.kit.tick()
    scheduled = world.admin.get(campaign.id)
    assert scheduled.status is S.SCHEDULED
    assert scheduled.went_live_at is None
    assert report.next_due_at == start

    assert status_at(world, campaign.id, start - SECOND) is S.SCHEDULED
    assert status_at(world, campaign.id, start) is S.LIVE
    assert world.admin.get(campaign.id).went_live_at == start


# ---------------------------------------------------------------- completion


def test_one_shot_completes_exactly_three_days_after_going_live(world: World) -> None:
    campaign = world.live()
    assert campaign.went_live_at == T0
    done_at = T0.add(days=3)

    assert status_at(world, campaign.id, done_at - SECOND) is S.LIVE
    assert status_at(world, campaign.id, done_at) is S.COMPLETED
    last = world.admin.get(campaign.id).history[-1]
    assert (last.action, last.at, last.actor) == (V.COMPLETE, done_at, "system")


def test_campaign_scheduled_far_ahead_completes_three_days_after_its_start(
    world: World,
) -> None:
    start = T0.add(days=60)
    campaign = world.draft(start=start)
    world.admin.activate(campaign.id)
    world.kit.tick()

    # Counting from activation would have completed it before it ever ran.
    assert status_at(world, campaign.id, T0.add(days=3)) is S.SCHEDULED
    assert status_at(world, campaign.id, start - SECOND) is S.SCHEDULED
    assert status_at(world, campaign.id, start) is S.LIVE
    assert status_at(world, campaign.id, start.add(days=3) - SECOND) is S.LIVE
    assert status_at(world, campaign.id, start.add(days=3)) is S.COMPLETED
    assert world.admin.get(campaign.id).history[-1].at == start.add(days=3)


def test_end_date_before_three_days_completes_at_the_end(world: World) -> None:
    end = T0.add(days=1, hours=6)
    campaign = world.live(end=end)

    assert status_at(world, campaign.id, end - SECOND) is S.LIVE
    assert status_at(world, campaign.id, end) is S.COMPLETED
    assert world.admin.get(campaign.id).history[-1].at == end


def test_end_date_after_three_days_does_not_delay_completion(world: World) -> None:
    campaign = world.live(end=T0.add(days=10))

    assert status_at(world, campaign.id, T0.add(days=3)) is S.COMPLETED


def test_recurring_campaign_without_end_stays_live(world: World) -> None:
    campaign = world.live(recurrence=ck.Recurrence.daily(at="09:00"))

    report = world.kit.run_until(T0.add(days=60))

    assert world.admin.get(campaign.id).status is S.LIVE
    assert report.events == ()
    assert report.next_due_at == T0.add(days=61)  # its next occurrence


def test_recurring_campaign_with_end_completes_at_its_end(world: World) -> None:
    end = T0.add(days=20)
    campaign = world.live(recurrence=ck.Recurrence.daily(at="09:00"), end=end)

    # Not after 3 days: a recurring campaign runs until its end date.
    assert status_at(world, campaign.id, T0.add(days=3)) is S.LIVE
    assert status_at(world, campaign.id, end - SECOND) is S.LIVE
    assert status_at(world, campaign.id, end) is S.COMPLETED
    assert world.admin.get(campaign.id).history[-1].at == end


def test_api_triggered_campaign_without_end_stays_live_forever(world: World) -> None:
    campaign = world.live(type=ck.CampaignType.API_TRIGGERED)
    assert campaign.status is S.LIVE

    report = world.kit.run_until(T0.add(years=2))

    assert world.admin.get(campaign.id).status is S.LIVE
    assert report.next_due_at is None


def test_api_triggered_campaign_with_end_stays_live_until_the_end(world: World) -> None:
    end = T0.add(days=45)
    campaign = world.live(type=ck.CampaignType.API_TRIGGERED, end=end)

    assert status_at(world, campaign.id, T0.add(days=3)) is S.LIVE
    assert status_at(world, campaign.id, end - SECOND) is S.LIVE
    assert status_at(world, campaign.id, end) is S.COMPLETED
