"""Campaign rules of API-triggered campaigns (SPEC 9): marketing or transactional, creating
profiles, staying live until the end, and triggers refused by a campaign that is not live or
outside its dates."""

from __future__ import annotations

import pytest

import campaignkit as ck
from tests.unit.triggers.support import API, EMAIL, MKT, T0, TXN, Env, S, ann, problems_of

# ---------------------------------------------------------------------- campaign rules


@pytest.mark.parametrize("category", [MKT, TXN])
def test_an_api_triggered_campaign_may_be_marketing_or_transactional(
    env: Env, category: ck.Category
) -> None:
    campaign = env.campaign(category=category)

    assert campaign.type is API
    assert campaign.category is category
    assert campaign.status is S.LIVE


def test_an_api_triggered_transactional_campaign_may_create_profiles(env: Env) -> None:
    campaign = env.campaign(create_profiles=True)

    assert campaign.create_profiles is True
    assert campaign.status is S.LIVE


@pytest.mark.parametrize(
    ("type", "category"),
    [(API, MKT), (ck.CampaignType.SCHEDULED, MKT)],
    ids=["api-marketing", "scheduled-marketing"],
)
def test_create_profiles_is_refused_for_anything_but_api_triggered_transactional(
    env: Env, type: ck.CampaignType, category: ck.Category
) -> None:
    before = env.admin.list_campaigns().items

    with pytest.raises(ck.ValidationError) as excinfo:
        env.admin.create_campaign(
            name="Refused",
            type=type,
            category=category,
            audience="vip",
            namespace="email",
            actions=[env.action(EMAIL, category)],
            create_profiles=True,
        )

    assert any("create_profiles" in p and "TRANSACTIONAL" in p for p in problems_of(excinfo))
    assert env.admin.list_campaigns().items == before


def test_transactional_is_refused_for_a_scheduled_campaign(env: Env) -> None:
    with pytest.raises(ck.ValidationError, match="TRANSACTIONAL is only allowed for API_TRIGGERED"):
        env.admin.create_campaign(name="Refused", type=ck.CampaignType.SCHEDULED, category=TXN)


def test_a_campaign_without_end_stays_live_and_accepts_triggers(env: Env) -> None:
    campaign = env.campaign()
    env.clock.advance(days=60)
    env.kit.tick()

    assert env.admin.get(campaign.id).status is S.LIVE
    env.admin.trigger(campaign.id, [ann()], request_id="late")
    env.kit.tick()
    assert [m.address for m in env.sent()] == ["ann@example.com"]


def test_a_campaign_completes_at_its_end_date_and_then_refuses_triggers(env: Env) -> None:
    end = T0.add(days=2)
    campaign = env.campaign(end=end)
    env.clock.set(end.subtract(seconds=1))
    env.kit.tick()
    assert env.admin.get(campaign.id).status is S.LIVE
    env.admin.trigger(campaign.id, [ann()], request_id="before-end")

    env.kit.run_until(end)

    assert env.admin.get(campaign.id).status is S.COMPLETED
    assert len(env.sent()) == 1
    env.clear()
    with pytest.raises(ck.TransitionNotAllowed, match="COMPLETED") as excinfo:
        env.admin.trigger(campaign.id, [ann()], request_id="after-end")
    assert excinfo.value.status == "COMPLETED"
    env.assert_nothing_happened(campaign.id, "after-end", runs=1)


def test_a_stopped_campaign_refuses_triggers(env: Env) -> None:
    campaign = env.campaign()
    env.admin.stop(campaign.id)

    with pytest.raises(ck.TransitionNotAllowed, match="STOPPED") as excinfo:
        env.admin.trigger(campaign.id, [ann()], request_id="r")

    assert "LIVE" in str(excinfo.value)
    env.assert_nothing_happened(campaign.id, "r")


# ---------------------------------------------------------------------- refusals: the campaign


def test_a_scheduled_campaign_cannot_be_triggered(env: Env) -> None:
    campaign = env.campaign(type=ck.CampaignType.SCHEDULED, category=MKT, audience="vip")
    env.kit.tick()
    runs = len(env.runs(campaign.id))
    env.clear()

    with pytest.raises(ck.TransitionNotAllowed) as excinfo:
        env.admin.trigger(campaign.id, [ann()], request_id="r")
    assert "not API_TRIGGERED" in str(excinfo.value)
    with pytest.raises(ck.TransitionNotAllowed, match="not API_TRIGGERED"):
        env.admin.execute_audience(campaign.id, request_id="a")

    env.assert_nothing_happened(campaign.id, "r", runs=runs)
    assert env.record(campaign.id, "a") is None


@pytest.mark.parametrize("status", [S.DRAFT, S.STOPPED, S.COMPLETED])
def test_a_campaign_that_is_not_live_refuses_triggers(env: Env, status: S) -> None:
    end = T0.add(days=1)
    campaign = env.campaign(category=MKT, audience="vip", end=end, activate=status is not S.DRAFT)
    if status is S.STOPPED:
        env.admin.stop(campaign.id)
    if status is S.COMPLETED:
        env.kit.run_until(end.add(hours=1))
    assert env.admin.get(campaign.id).status is status

    with pytest.raises(ck.TransitionNotAllowed) as excinfo:
        env.admin.trigger(campaign.id, [ann()], request_id="r")
    message = str(excinfo.value)
    assert status.value in message
    assert "not accepting triggers" in message
    assert excinfo.value.status == status.value
    with pytest.raises(ck.TransitionNotAllowed, match=status.value):
        env.admin.execute_audience(campaign.id, request_id="a")

    env.assert_nothing_happened(campaign.id, "r")
    assert env.record(campaign.id, "a") is None


def test_a_trigger_before_the_start_is_refused_and_accepted_from_the_start(env: Env) -> None:
    start = T0.add(days=1)
    campaign = env.campaign(start=start)
    assert campaign.status is S.SCHEDULED

    with pytest.raises(ck.TransitionNotAllowed) as excinfo:
        env.admin.trigger(campaign.id, [ann()], request_id="early")
    assert "SCHEDULED" in str(excinfo.value)
    env.assert_nothing_happened(campaign.id, "early")

    env.clock.set(start)  # no tick: the trigger itself catches the campaign up
    execution = env.admin.trigger(campaign.id, [ann()], request_id="on-time")
    env.kit.tick()

    assert execution.request_id == "on-time"
    assert env.admin.get(campaign.id).status is S.LIVE
    assert [m.address for m in env.sent()] == ["ann@example.com"]


@pytest.mark.parametrize("tick", [False, True], ids=["caught-up-by-the-call", "ticked"])
def test_a_trigger_at_or_after_the_end_is_refused(env: Env, tick: bool) -> None:
    end = T0.add(days=1)
    campaign = env.campaign(end=end)
    env.clock.set(end)
    if tick:
        env.kit.tick()

    with pytest.raises(ck.TransitionNotAllowed) as excinfo:
        env.admin.trigger(campaign.id, [ann()], request_id="late")

    message = str(excinfo.value)
    assert "COMPLETED" in message or "stopped accepting triggers" in message
    env.assert_nothing_happened(campaign.id, "late")
