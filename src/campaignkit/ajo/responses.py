"""AJO response documents built from campaignkit executions (``messaging.yaml`` v1.0.1).

Each builder answers with exactly the fields of its documented object:
``imExecutionResponse`` (an accepted execution), ``executionStatusResponse``
(an execution's status) and ``ScheduledExecutionResponse`` (a schedule).
"""

from __future__ import annotations

from typing import Any, Final

import pendulum

from campaignkit.domain.triggers import Execution, ExecutionStatus, ScheduleStatus

EXECUTION_STATUSES: Final = ("Succeeded", "InProgress", "Failed")
"""``executionStatusResponse.status``: the documented enum."""

SCHEDULE_STATUSES: Final = ("Scheduled", "Triggered")
"""``ScheduledExecutionResponse.scheduleStatus``: the documented enum."""


def instant_text(at: pendulum.DateTime) -> str:
    """An instant as AJO writes it: UTC, milliseconds, ``Z`` (``2026-12-01T09:00:00.000Z``)."""
    utc = at.in_timezone("UTC")
    return utc.format("YYYY-MM-DDTHH:mm:ss.SSS") + "Z"


def execution_response(execution: Execution) -> dict[str, Any]:
    """``imExecutionResponse``: the 202 answer to an accepted execution request.

    campaignkit keeps no separate modification record of an execution, so
    ``modifiedAt``/``modifiedBy`` repeat its creation.
    """
    created = instant_text(execution.created_at)
    return {
        "executionId": execution.id,
        "requestId": execution.request_id,
        "createdAt": created,
        "createdBy": execution.created_by,
        "modifiedAt": created,
        "modifiedBy": execution.created_by,
    }


def status_response(execution: Execution, audience: str | None) -> dict[str, Any]:
    """``executionStatusResponse``: an execution that has fired, and how it is going.

    Args:
        execution: A fired execution (its status is InProgress, Succeeded or Failed).
        audience: The audience it sent to (``audienceId``); None for a unitary one.
    """
    assert execution.status is not ExecutionStatus.CANCELLED  # the caller answers 404
    response: dict[str, Any] = {
        "executionId": execution.id,
        "campaignId": execution.campaign_id,
        "status": execution.status.value,
        "targetedProfileCount": execution.targeted,
        "createdAt": instant_text(execution.created_at),
    }
    if audience is not None:
        response["audienceId"] = audience
    return response


def schedule_response(execution: Execution, audience: str | None) -> dict[str, Any]:
    """``ScheduledExecutionResponse``: a scheduled audience execution.

    ``executionDetails`` appears once it has fired (``scheduleStatus``
    Triggered); a schedule's id is its execution's id.
    """
    assert execution.execute_at is not None  # the caller answers 404 otherwise
    assert execution.schedule_status is not ScheduleStatus.CANCELLED
    response: dict[str, Any] = {
        "scheduleId": execution.id,
        "campaignId": execution.campaign_id,
        "executeAt": instant_text(execution.execute_at),
        "scheduleStatus": execution.schedule_status.value,
    }
    if audience is not None:
        response["audience"] = {"id": audience}
    if execution.schedule_status is ScheduleStatus.TRIGGERED:
        response["executionDetails"] = status_response(execution, audience)
    return response
