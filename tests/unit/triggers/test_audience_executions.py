"""Audience executions: marketing only, shared context, immediate or scheduled at
execute_at, cancellation, checks on the time and context, and completion at the end."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import pendulum
import pytest

import campaignkit as ck
from campaignkit.domain.triggers import MAX_CONTEXT_BYTES
from tests.unit.triggers.support import MKT, T0, TXN, Env, S, ann, context_of_size, problems_of

# ---------------------------------------------------------------------- audience executions


def test_an_audience_execution_is_for_marketing_campaigns_only(env: Env) -> None:
    campaign = env.campaign(category=TXN, audience="vip")

    with pytest.raises(ck.TransitionNotAllowed, match="MARKETING"):
        env.admin.execute_audience(campaign.id, request_id="a", context={"x": 1})

    env.assert_nothing_happened(campaign.id, "a")


def test_an_audience_execution_needs_an_audience(env: Env) -> None:
    campaign = env.campaign(category=MKT, audience=None)

    with pytest.raises(ck.ValidationError, match="has no audience"):
        env.admin.execute_audience(campaign.id, request_id="a")

    env.assert_nothing_happened(campaign.id, "a")


def test_an_audience_execution_now_shares_its_context_with_every_recipient(env: Env) -> None:
    campaign = env.campaign(
        category=MKT, audience="vip", subject="{{ profile.firstName }}: {{ context.deal.name }}"
    )

    execution = env.admin.execute_audience(
        campaign.id, request_id="a", context={"deal": {"name": "Winter -30%"}}
    )
    assert execution.kind is ck.ExecutionKind.AUDIENCE
    assert execution.execute_at is None
    assert execution.status is ck.ExecutionStatus.IN_PROGRESS
    assert env.sent() == []
    env.kit.tick()

    assert {m.address: m.fields["subject"] for m in env.sent()} == {
        "ann@example.com": "Ann: Winter -30%",
        "bob@example.com": "Bob: Winter -30%",
    }
    done = env.admin.execution(execution.id)
    assert (done.status, done.targeted) == (ck.ExecutionStatus.SUCCEEDED, 2)
    assert done.schedule_status is ck.ScheduleStatus.TRIGGERED
    report = env.admin.report(campaign.id)
    assert [(r.kind, r.counts.targeted, r.counts.sent) for r in report.runs] == [
        (ck.RunKind.AUDIENCE_EXECUTION, 2, 2)
    ]


def test_an_immediate_audience_execution_is_triggered_not_scheduled(env: Env) -> None:
    campaign = env.campaign(category=MKT, audience="vip")

    execution = env.admin.execute_audience(campaign.id, request_id="a")

    assert execution.schedule_status is ck.ScheduleStatus.TRIGGERED
    assert env.admin.execution(execution.id).schedule_status is ck.ScheduleStatus.TRIGGERED


def test_an_immediate_audience_execution_cannot_be_cancelled(env: Env) -> None:
    campaign = env.campaign(category=MKT, audience="vip")
    execution = env.admin.execute_audience(campaign.id, request_id="a")

    with pytest.raises(ck.TransitionNotAllowed, match="fired already"):
        env.admin.cancel_execution(execution.id)

    env.kit.tick()
    assert len(env.sent()) == 2


def test_a_unitary_execution_cannot_be_cancelled(env: Env) -> None:
    campaign = env.campaign()
    execution = env.admin.trigger(campaign.id, [ann()], request_id="r")

    with pytest.raises(ck.TransitionNotAllowed, match="fired already"):
        env.admin.cancel_execution(execution.id)

    env.kit.tick()
    assert len(env.sent()) == 1


def test_a_scheduled_audience_execution_fires_at_execute_at(env: Env) -> None:
    campaign = env.campaign(
        category=MKT, audience="vip", subject="{{ profile.firstName }} {{ context.deal }}"
    )
    at = T0.add(hours=2)

    execution = env.admin.execute_audience(
        campaign.id, request_id="a", context={"deal": "-20%"}, execute_at=at
    )

    assert execution.execute_at == at
    assert execution.schedule_status is ck.ScheduleStatus.SCHEDULED
    assert execution.status is ck.ExecutionStatus.IN_PROGRESS
    assert execution.created_at == T0
    env.kit.tick()
    env.kit.run_until(at.subtract(seconds=1))
    assert env.sent() == []
    waiting = env.admin.execution(execution.id)
    assert (waiting.schedule_status, waiting.targeted) == (ck.ScheduleStatus.SCHEDULED, 0)

    env.kit.run_until(at)

    assert sorted(m.fields["subject"] for m in env.sent()) == ["Ann -20%", "Bob -20%"]
    fired = env.admin.execution(execution.id)
    assert fired.schedule_status is ck.ScheduleStatus.TRIGGERED
    assert fired.status is ck.ExecutionStatus.SUCCEEDED
    assert fired.targeted == 2
    [action] = campaign.live_version.actions  # type: ignore[union-attr]
    assert env.admin.report(campaign.id).by_action[action.id].targeted == 2


def test_a_scheduled_audience_execution_accepts_another_time_zone(env: Env) -> None:
    campaign = env.campaign(category=MKT, audience="vip")
    at = pendulum.datetime(2026, 12, 1, 12, tz="Europe/Paris")  # 11:00 UTC

    execution = env.admin.execute_audience(campaign.id, request_id="a", execute_at=at)

    assert execution.execute_at == T0.add(hours=2)
    env.kit.run_until(T0.add(hours=2).subtract(seconds=1))
    assert env.sent() == []
    env.kit.run_until(T0.add(hours=2))
    assert len(env.sent()) == 2


def test_a_scheduled_audience_execution_can_be_cancelled_before_it_fires(env: Env) -> None:
    campaign = env.campaign(category=MKT, audience="vip")
    at = T0.add(hours=2)
    execution = env.admin.execute_audience(campaign.id, request_id="a", execute_at=at)
    env.clock.advance(hours=1)

    cancelled = env.admin.cancel_execution(execution.id)

    assert cancelled.id == execution.id
    assert cancelled.schedule_status is ck.ScheduleStatus.CANCELLED
    assert cancelled.status is ck.ExecutionStatus.CANCELLED
    assert env.admin.cancel_execution(execution.id) == cancelled  # cancelling again is a no-op
    env.kit.run_until(at.add(days=1))
    assert env.sent() == []
    assert env.admin.execution(execution.id) == cancelled
    assert env.admin.get(campaign.id).status is S.LIVE
    assert env.admin.report(campaign.id).targeted == 0


def test_a_cancelled_request_id_still_returns_its_execution(env: Env) -> None:
    campaign = env.campaign(category=MKT, audience="vip")
    at = T0.add(hours=2)
    execution = env.admin.execute_audience(campaign.id, request_id="a", execute_at=at)
    env.admin.cancel_execution(execution.id)

    again = env.admin.execute_audience(campaign.id, request_id="a", execute_at=at)
    env.kit.run_until(at)

    assert again.id == execution.id
    assert again.schedule_status is ck.ScheduleStatus.CANCELLED
    assert env.sent() == []


@pytest.mark.parametrize("tick", [False, True], ids=["at-execute-at", "after-it-fired"])
def test_a_scheduled_audience_execution_cannot_be_cancelled_once_due(env: Env, tick: bool) -> None:
    campaign = env.campaign(category=MKT, audience="vip")
    at = T0.add(hours=2)
    execution = env.admin.execute_audience(campaign.id, request_id="a", execute_at=at)
    if tick:
        env.kit.run_until(at.add(minutes=1))
    else:
        env.clock.set(at)

    with pytest.raises(ck.TransitionNotAllowed, match="fired already"):
        env.admin.cancel_execution(execution.id)

    env.kit.tick()
    assert len(env.sent()) == 2
    assert env.admin.execution(execution.id).schedule_status is ck.ScheduleStatus.TRIGGERED


@pytest.mark.parametrize(
    ("when", "problem"),
    [
        (T0.subtract(minutes=1), "is in the past"),
        (T0.add(days=2), "after the campaign's end"),
        (T0.add(days=1), "after the campaign's end"),
    ],
    ids=["past", "after-end", "at-end"],
)
def test_execute_at_must_be_between_now_and_the_end(
    env: Env, when: pendulum.DateTime, problem: str
) -> None:
    campaign = env.campaign(category=MKT, audience="vip", end=T0.add(days=1))

    with pytest.raises(ck.ValidationError) as excinfo:
        env.admin.execute_audience(campaign.id, request_id="a", execute_at=when)

    [message] = problems_of(excinfo)
    assert problem in message
    assert when.in_timezone("UTC").isoformat() in message
    env.assert_nothing_happened(campaign.id, "a")


def test_a_naive_execute_at_is_refused(env: Env) -> None:
    campaign = env.campaign(category=MKT, audience="vip")
    naive = pendulum.naive(2026, 12, 2, 9)

    with pytest.raises(ck.ValidationError, match="execute_at must be timezone-aware"):
        env.admin.execute_audience(campaign.id, request_id="a", execute_at=naive)

    env.assert_nothing_happened(campaign.id, "a")


@pytest.mark.parametrize(
    ("context", "problem"),
    [
        ({"system": {"a": 1}}, "context uses the reserved top-level key 'system'"),
        (
            context_of_size(MAX_CONTEXT_BYTES + 1),
            f"context is {MAX_CONTEXT_BYTES + 1} bytes serialized",
        ),
        (["not", "an", "object"], "context must be a JSON object, not list"),
    ],
    ids=["reserved-key", "oversize", "not-an-object"],
)
def test_an_audience_context_is_checked(env: Env, context: object, problem: str) -> None:
    campaign = env.campaign(category=MKT, audience="vip")

    with pytest.raises(ck.ValidationError) as excinfo:
        env.admin.execute_audience(
            campaign.id, request_id="a", context=cast("Mapping[str, Any]", context)
        )

    [only] = problems_of(excinfo)
    assert only.startswith(problem)
    env.assert_nothing_happened(campaign.id, "a")


def test_every_audience_problem_is_reported_in_one_validation_error(env: Env) -> None:
    campaign = env.campaign(category=MKT, audience="vip")

    with pytest.raises(ck.ValidationError) as excinfo:
        env.admin.execute_audience(
            campaign.id,
            request_id="a",
            context={"system": 1},
            execute_at=T0.subtract(hours=1),
        )

    assert len(problems_of(excinfo)) == 2
    env.assert_nothing_happened(campaign.id, "a")


def test_an_api_triggered_campaign_with_a_pending_schedule_completes_at_its_end(
    env: Env,
) -> None:
    end = T0.add(days=1)
    campaign = env.campaign(category=MKT, audience="vip", end=end)
    at = T0.add(hours=1)
    env.admin.execute_audience(campaign.id, request_id="a", execute_at=at)

    env.kit.run_until(end.add(hours=1))

    assert len(env.sent()) == 2
    assert env.admin.get(campaign.id).status is S.COMPLETED


def test_a_trigger_whose_new_profile_cannot_be_saved_is_not_accepted(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The call and the profiles it creates are written together or not at all."""
    campaign = env.campaign(create_profiles=True, subject="Hello")

    def refuse(profile: ck.Profile) -> None:
        raise ck.StorageError("the profile store is full")

    monkeypatch.setattr(env.kit.profiles, "upsert", refuse)
    with pytest.raises(ck.StorageError, match="is full"):
        env.admin.trigger(campaign.id, [ck.Recipient("new@example.com", "email")], request_id="r")
    env.assert_nothing_happened(campaign.id, "r", profile_ids=["new@example.com"])

    monkeypatch.undo()  # the same request id is free: nothing of the first call was kept
    env.admin.trigger(campaign.id, [ck.Recipient("new@example.com", "email")], request_id="r")
    env.kit.tick()
    assert [m.address for m in env.sent()] == ["new@example.com"]
    assert env.kit.profiles.get("new@example.com") is not None
