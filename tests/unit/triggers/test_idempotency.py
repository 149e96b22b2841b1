"""Idempotent request ids: the same payload returns the same execution, another payload
conflicts, ids are scoped to their campaign, and repeats across a reopen of a SQLite kit send
nothing."""

from __future__ import annotations

import pytest

import campaignkit as ck
from tests.unit.triggers.support import EMAIL, MKT, T0, Env, ann, bob

# ---------------------------------------------------------------------- idempotency


def test_the_same_request_id_and_payload_returns_the_same_execution(env: Env) -> None:
    campaign = env.campaign()
    recipients = [ann(context={"code": "1"}, channel_data={EMAIL: "a@example.com"}), bob()]
    first = env.admin.trigger(campaign.id, recipients, request_id="r")
    env.kit.tick()
    env.clock.advance(minutes=1)

    again = env.admin.trigger(campaign.id, list(recipients), request_id="r")
    env.kit.tick()

    assert again.id == first.id
    assert again.run_id == first.run_id
    assert again.created_at == first.created_at
    assert again.status is ck.ExecutionStatus.SUCCEEDED
    assert len(env.sent()) == 2
    assert len(env.runs(campaign.id)) == 1


def test_a_repeat_before_the_tick_sends_once(env: Env) -> None:
    campaign = env.campaign()

    first = env.admin.trigger(campaign.id, [ann()], request_id="r")
    again = env.admin.trigger(campaign.id, [ann()], request_id="r")
    env.kit.tick()

    assert again == first
    assert len(env.sent()) == 1


@pytest.mark.parametrize(
    "changed",
    [
        [ann(context={"code": "2"})],
        [ann(context={"code": "1"}), bob()],
        [ann(context={"code": "1"}, profile={"firstName": "X"})],
        [ann(context={"code": "1"}, channel_data={EMAIL: "x@example.com"})],
        [bob(context={"code": "1"})],
    ],
    ids=["context", "recipients", "profile", "channel-data", "user"],
)
def test_the_same_request_id_with_another_payload_is_a_conflict(
    env: Env, changed: list[ck.Recipient]
) -> None:
    campaign = env.campaign()
    first = env.admin.trigger(campaign.id, [ann(context={"code": "1"})], request_id="r")
    env.kit.tick()

    with pytest.raises(ck.ConflictError) as excinfo:
        env.admin.trigger(campaign.id, changed, request_id="r")

    assert "'r'" in str(excinfo.value)
    assert "different payload" in str(excinfo.value)
    env.kit.tick()
    assert len(env.sent()) == 1
    assert [r.id for r in env.runs(campaign.id)] == [first.run_id]


def test_a_request_id_is_scoped_to_its_campaign(env: Env) -> None:
    one = env.campaign()
    two = env.campaign()

    first = env.admin.trigger(one.id, [ann()], request_id="r")
    second = env.admin.trigger(two.id, [bob()], request_id="r")
    env.kit.tick()

    assert first.id != second.id
    assert {(m.campaign_id, m.address) for m in env.sent()} == {
        (one.id, "ann@example.com"),
        (two.id, "bob@example.com"),
    }


def test_a_request_id_used_for_a_trigger_conflicts_with_an_audience_execution(
    env: Env,
) -> None:
    campaign = env.campaign(category=MKT, audience="vip")
    env.admin.trigger(campaign.id, [ann()], request_id="r")

    with pytest.raises(ck.ConflictError):
        env.admin.execute_audience(campaign.id, request_id="r")

    assert len(env.runs(campaign.id)) == 1


def test_an_audience_execution_is_idempotent_per_request_id(env: Env) -> None:
    campaign = env.campaign(category=MKT, audience="vip", subject="{{ context.deal }}")
    at = T0.add(hours=1)
    first = env.admin.execute_audience(
        campaign.id, request_id="a", context={"deal": "50%"}, execute_at=at
    )

    again = env.admin.execute_audience(
        campaign.id, request_id="a", context={"deal": "50%"}, execute_at=at
    )
    with pytest.raises(ck.ConflictError):
        env.admin.execute_audience(campaign.id, request_id="a", context={"deal": "60%"})
    with pytest.raises(ck.ConflictError):
        env.admin.execute_audience(
            campaign.id, request_id="a", context={"deal": "50%"}, execute_at=at.add(minutes=1)
        )
    env.kit.run_until(at.add(hours=1))

    assert again == first
    assert [m.fields["subject"] for m in env.sent()] == ["50%", "50%"]
    assert len(env.runs(campaign.id)) == 1


def test_a_repeat_after_a_reopen_of_the_sqlite_kit_sends_nothing(sqlite_env: Env) -> None:
    env = sqlite_env
    campaign = env.campaign(subject="{{ context.code }}")
    recipients = [ann(context={"code": "1"}, channel_data={EMAIL: "a@example.com"})]
    first = env.admin.trigger(campaign.id, recipients, request_id="r")
    env.kit.tick()
    assert len(env.sent()) == 1

    env = env.reopen()
    sqlite_env.kit = env.kit  # the fixture closes the reopened kit
    again = env.admin.trigger(campaign.id, recipients, request_id="r")
    env.kit.tick()

    assert again.id == first.id
    assert again.run_id == first.run_id
    assert again.status is ck.ExecutionStatus.SUCCEEDED
    assert env.sent() == []
    assert len(env.runs(campaign.id)) == 1
    with pytest.raises(ck.ConflictError):
        env.admin.trigger(campaign.id, [ann(context={"code": "2"})], request_id="r")
    assert env.admin.report(campaign.id).sent == 1


def test_a_trigger_accepted_before_a_restart_is_delivered_once_after_it(
    sqlite_env: Env,
) -> None:
    env = sqlite_env
    campaign = env.campaign()
    first = env.admin.trigger(campaign.id, [ann()], request_id="r")

    env = env.reopen()
    sqlite_env.kit = env.kit
    again = env.admin.trigger(campaign.id, [ann()], request_id="r")
    env.kit.tick()
    env.kit.tick()

    assert again.id == first.id
    assert [m.address for m in env.sent()] == ["ann@example.com"]
    assert env.admin.execution(first.id).status is ck.ExecutionStatus.SUCCEEDED


def test_a_scheduled_audience_execution_survives_a_reopen(sqlite_env: Env) -> None:
    env = sqlite_env
    campaign = env.campaign(category=MKT, audience="vip", subject="{{ context.deal }}")
    at = T0.add(hours=3)
    first = env.admin.execute_audience(
        campaign.id, request_id="a", context={"deal": "bogo"}, execute_at=at
    )

    env = env.reopen()
    sqlite_env.kit = env.kit
    assert (
        env.admin.execute_audience(
            campaign.id, request_id="a", context={"deal": "bogo"}, execute_at=at
        )
        == first
    )
    env.kit.run_until(at)

    assert [m.fields["subject"] for m in env.sent()] == ["bogo", "bogo"]
    assert env.admin.execution(first.id).schedule_status is ck.ScheduleStatus.TRIGGERED
