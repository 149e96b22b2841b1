"""The AJO operations: executions, look-ups and schedule cancellation."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from campaignkit.ajo.requests import body_object, instant, object_field, parse_recipients, text
from campaignkit.ajo.responses import execution_response
from campaignkit.errors import ValidationError

if TYPE_CHECKING:
    from campaignkit.session import UserSession


def execute_unitary(session: UserSession, body: object) -> dict[str, Any]:
    """Accept AJO's unitary execution body and trigger the campaign.

    Body: ``{"requestId", "campaignId", "recipients": [{"type": "aep", "userId",
    "namespace", "channelData"?, "profile"?, "context"?}]}``.

    Returns:
        ``{"requestId", "campaignId", "executionId", "status", "executionStatus",
        "createdAt", "createdBy"}``.

    Raises:
        ValidationError: a malformed body (problems name JSON paths).
        CampaignKitError: whatever ``session.trigger`` refuses.
    """
    data = body_object(body)
    problems: list[str] = []
    request_id = text(data, "requestId", "requestId", problems)
    campaign_id = text(data, "campaignId", "campaignId", problems)
    recipients = parse_recipients(data, problems)
    if problems:
        raise ValidationError(problems, subject="unitary execution request")
    return execution_response(session.trigger(campaign_id, recipients, request_id=request_id))


def execute_audience(session: UserSession, body: object) -> dict[str, Any]:
    """Accept AJO's audience execution body and run the campaign on its audience.

    Body: ``{"campaignId", "requestId"?, "context"?, "schedule"?: {"executeAt"}}``.
    Without a ``requestId`` the call is not idempotent (one is generated).

    Returns:
        As :func:`execute_unitary`; a scheduled execution also has
        ``scheduleId``, ``scheduleStatus`` and ``executeAt``.
    """
    data = body_object(body)
    problems: list[str] = []
    request_id = None
    if data.get("requestId") is not None:
        request_id = text(data, "requestId", "requestId", problems)
    campaign_id = text(data, "campaignId", "campaignId", problems)
    context = object_field(data, "context", "context", problems)
    execute_at = None
    schedule = object_field(data, "schedule", "schedule", problems)
    if schedule is not None:
        execute_at = instant(schedule.get("executeAt"), "schedule.executeAt", problems)
    if problems:
        raise ValidationError(problems, subject="audience execution request")
    execution = session.execute_audience(
        campaign_id,
        request_id=request_id or f"generated-{uuid.uuid4().hex}",
        context=context,
        execute_at=execute_at,
    )
    return execution_response(execution)


def execution_status(session: UserSession, execution_id: str) -> dict[str, Any]:
    """AJO's execution status answer: status, targeted profile count, times.

    Returns:
        ``{"executionId", "campaignId", "requestId", "status",
        "scheduleStatus", "targetedProfileCount", "createdAt"}``.
    """
    execution = session.execution(execution_id)
    return {
        "executionId": execution.id,
        "campaignId": execution.campaign_id,
        "requestId": execution.request_id,
        "status": execution.status.value,
        "scheduleStatus": execution.schedule_status.value,
        "targetedProfileCount": execution.targeted,
        "createdAt": execution.created_at.isoformat(),
    }


def cancel_schedule(session: UserSession, schedule_id: str) -> dict[str, Any]:
    """Cancel a scheduled audience execution (AJO's schedule id is the execution id)."""
    return execution_response(session.cancel_execution(schedule_id))
