"""Audience requests in AJO's shape, scheduled or now, and execution status and cancelling a
schedule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pendulum
import pytest

import campaignkit as ck
from campaignkit import ajo
from tests.unit.ajo.support import EMAIL, T0, Env, audience_body, parse_instant

# ---------------------------------------------------------------------- audience requests


def test_an_audience_body_without_a_schedule_runs_now(env: Env) -> None:
    response = ajo.execute_audience(env.admin, audience_body(env))

    assert set(response) == {
        "executionId",
        "requestId",
        "createdAt",
        "createdBy",
        "modifiedAt",
        "modifiedBy",
    }
    assert response["requestId"] == "audience-1"
    assert ajo.get_execution(env.admin, response["executionId"])["campaignId"] == env.marketing.id
    env.kit.tick()

    assert sorted(m.fields["subject"] for m in env.sent() if m.channel is EMAIL) == [
        "Ann: Headphones",
        "Bob: Headphones",
    ]
    execution = env.admin.execution(response["executionId"])
    assert (execution.status, execution.targeted) == (ck.ExecutionStatus.SUCCEEDED, 2)


def test_a_minimal_audience_body_runs_the_campaign_audience(env: Env) -> None:
    body = {"requestId": "a", "campaignId": env.marketing.id, "context": {"product": "Ink"}}

    ajo.execute_audience(env.admin, body)
    env.kit.tick()

    assert len([m for m in env.sent() if m.channel is EMAIL]) == 2


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-12-01T11:00:00Z", T0.add(hours=2)),
        ("2026-12-01T11:00:00.000Z", T0.add(hours=2)),
        ("2026-12-01T13:30:00+02:00", T0.add(hours=2, minutes=30)),
        ("2026-12-01T06:00:00-05:00", T0.add(hours=2)),
    ],
)
def test_an_audience_body_with_schedule_execute_at_is_scheduled(
    env: Env, text: str, instant: pendulum.DateTime
) -> None:
    response = ajo.execute_audience(env.admin, audience_body(env, schedule={"executeAt": text}))

    assert "executeAt" in response
    assert parse_instant(response["executeAt"]) == instant
    assert response.get("scheduleStatus", response.get("status")) == "Scheduled"
    env.kit.run_until(instant.subtract(seconds=1))
    assert env.sent() == []
    env.kit.run_until(instant)
    assert len([m for m in env.sent() if m.channel is EMAIL]) == 2


def test_a_scheduled_audience_response_has_the_schedule_shape(env: Env) -> None:
    response = ajo.execute_audience(
        env.admin, audience_body(env, schedule={"executeAt": "2026-12-01T11:00:00Z"})
    )

    assert {"scheduleId", "scheduleStatus", "executeAt", "campaignId"} <= set(response)
    assert response["scheduleStatus"] == "Scheduled"
    assert env.admin.execution(response["scheduleId"]).execute_at == T0.add(hours=2)


def test_an_audience_body_without_request_id_is_accepted(env: Env) -> None:
    body = {"campaignId": env.marketing.id, "context": {"product": "Ink"}}

    try:
        response = ajo.execute_audience(env.admin, body)
    except ck.ValidationError as exc:
        raise AssertionError(exc.problems) from exc
    env.kit.tick()

    assert response["executionId"]
    assert len([m for m in env.sent() if m.channel is EMAIL]) == 2


def test_an_audience_body_for_a_transactional_campaign_is_a_400(env: Env) -> None:
    body = audience_body(env, campaignId=env.transactional.id)

    with pytest.raises(ck.TransitionNotAllowed) as excinfo:
        ajo.execute_audience(env.admin, body)

    assert ajo.error_response(excinfo.value)["status"] == 400
    env.assert_nothing_happened()


# ---------------------------------------------------------------------- status and cancel


def test_execution_status_has_the_ajo_shape(env: Env) -> None:
    name = "execution_status"
    execution_status: Callable[[ck.UserSession, str], dict[str, Any]] = getattr(ajo, name)
    response = ajo.execute_audience(env.admin, audience_body(env))

    before = execution_status(env.admin, response["executionId"])
    env.kit.tick()
    after = execution_status(env.admin, response["executionId"])

    assert before["status"] == "InProgress"
    assert after["status"] == "Succeeded"
    assert after["targetedProfileCount"] == 2
    assert after["executionId"] == response["executionId"]
    assert parse_instant(after["createdAt"]) == T0


def test_cancel_schedule_cancels_before_the_execution_fires(env: Env) -> None:
    name = "cancel_schedule"
    cancel_schedule: Callable[[ck.UserSession, str], object] = getattr(ajo, name)
    execution = env.admin.execute_audience(
        env.marketing.id, request_id="a", execute_at=T0.add(hours=1)
    )

    cancel_schedule(env.admin, execution.id)
    env.kit.run_until(T0.add(hours=2))

    assert env.sent() == []
