"""AJO response documents built from campaignkit executions."""

from __future__ import annotations

from typing import Any

from campaignkit.domain.triggers import Execution


def execution_response(execution: Execution) -> dict[str, Any]:
    """The answer to an execution request (unitary, audience, cancellation)."""
    response: dict[str, Any] = {
        "requestId": execution.request_id,
        "campaignId": execution.campaign_id,
        "executionId": execution.id,
        "status": execution.schedule_status.value,
        "executionStatus": execution.status.value,
        "createdAt": execution.created_at.isoformat(),
        "createdBy": execution.created_by,
    }
    if execution.execute_at is not None:
        response |= {
            "scheduleId": execution.id,
            "scheduleStatus": execution.schedule_status.value,
            "executeAt": execution.execute_at.isoformat(),
        }
    return response
