"""AJO-compatible payloads for API-triggered campaigns.

Hosts migrating from Adobe Journey Optimizer's Interactive Message Execution
API forward the same JSON bodies unchanged::

    from campaignkit import ajo

    response = ajo.execute_unitary(session, body)      # POST .../executions/unitary
    response = ajo.execute_audience(session, body)     # POST .../executions/audience
    response = ajo.execution_status(session, execution_id)
    response = ajo.cancel_schedule(session, schedule_id)
    except CampaignKitError as exc: ajo.error_response(exc)

A malformed body raises ``ValidationError`` whose problems name JSON paths
(``recipients[0].type``); ``error_response`` turns any campaignkit error into
AJO's ``{type, title, status, report}`` shape.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import pendulum

from campaignkit.domain.channels import ChannelType
from campaignkit.domain.checks import shown
from campaignkit.domain.triggers import MAX_RECIPIENTS, Execution, Recipient
from campaignkit.errors import (
    ApprovalRequired,
    CampaignKitError,
    ConflictError,
    NotFound,
    PermissionDenied,
    TransitionNotAllowed,
    ValidationError,
)

if TYPE_CHECKING:
    from campaignkit.session import UserSession

RECIPIENT_TYPES: Final = ("aep", "external")
"""AJO's recipient types: a known profile (``aep``), or someone with no profile
(``external``: addressed by ``channelData`` only, nothing stored)."""

CHANNEL_DATA_KEYS: Final[Mapping[str, ChannelType]] = {
    "emailAddress": ChannelType.EMAIL,
    "mobilePhoneNumber": ChannelType.SMS,
    "phoneNumber": ChannelType.SMS,
    "pushToken": ChannelType.PUSH,
}
"""``channelData`` keys of AJO payloads and the channels they address."""

_ERRORS: Final[tuple[tuple[type[CampaignKitError], int, str], ...]] = (
    (ValidationError, 400, "Bad request"),
    (PermissionDenied, 403, "Forbidden"),
    (NotFound, 404, "Not found"),
    (ConflictError, 409, "Conflict"),
    (TransitionNotAllowed, 422, "Campaign cannot accept this request"),
    (ApprovalRequired, 422, "Campaign cannot accept this request"),
)


def _text(body: Mapping[str, Any], key: str, path: str, problems: list[str]) -> str:
    value = body.get(key)
    if value is None:
        problems.append(f"{path} is required")
        return ""
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{path} must be a non-empty string, not {shown(value)}")
        return ""
    return value


def _object(
    body: Mapping[str, Any], key: str, path: str, problems: list[str]
) -> Mapping[str, Any] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        problems.append(f"{path} must be an object, not {type(value).__name__}")
        return None
    return value


def _body(body: object) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise ValidationError(
            [f"the request body must be a JSON object, not {type(body).__name__}"]
        )
    return body


def _channel_data(
    raw: Mapping[str, Any] | None, path: str, problems: list[str]
) -> dict[ChannelType, str] | None:
    if raw is None:
        return None
    data: dict[ChannelType, str] = {}
    for key, value in raw.items():
        channel = CHANNEL_DATA_KEYS.get(key)
        if channel is None:
            known = ", ".join(CHANNEL_DATA_KEYS)
            problems.append(f"{path}.{key} is not a known channel data field ({known})")
        elif not isinstance(value, str) or not value:
            problems.append(f"{path}.{key} must be a non-empty string")
        else:
            data[channel] = value
    return data


def parse_recipients(body: Mapping[str, Any], problems: list[str]) -> list[Recipient]:
    """The ``recipients`` of a unitary body; every problem goes to ``problems``."""
    raw = body.get("recipients")
    if raw is None:
        problems.append("recipients is required")
        return []
    if not isinstance(raw, list):
        problems.append(f"recipients must be an array, not {type(raw).__name__}")
        return []
    if not 1 <= len(raw) <= MAX_RECIPIENTS:
        problems.append(f"recipients must hold 1 to {MAX_RECIPIENTS} recipients, not {len(raw)}")
    recipients = []
    for number, item in enumerate(raw):
        path = f"recipients[{number}]"
        if not isinstance(item, Mapping):
            problems.append(f"{path} must be an object, not {type(item).__name__}")
            continue
        kind = item.get("type")
        if kind not in RECIPIENT_TYPES:
            problems.append(f"{path}.type must be 'aep' or 'external', not {shown(kind)}")
        user_id = _text(item, "userId", f"{path}.userId", problems)
        namespace = _text(item, "namespace", f"{path}.namespace", problems)
        channel_data = _channel_data(
            _object(item, "channelData", f"{path}.channelData", problems),
            f"{path}.channelData",
            problems,
        )
        if kind == "external" and not channel_data:
            problems.append(f"{path}.channelData is required for an external recipient")
        profile = _object(item, "profile", f"{path}.profile", problems)
        context = _object(item, "context", f"{path}.context", problems)
        try:
            recipients.append(
                Recipient(
                    user_id, namespace, channel_data, profile, context, external=kind == "external"
                )
            )
        except ValidationError as exc:  # keys that are not strings, too deep, not UTF-8 ...
            problems.extend(f"{path}.{problem}" for problem in exc.problems)
    return recipients


def _response(execution: Execution) -> dict[str, Any]:
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
    data = _body(body)
    problems: list[str] = []
    request_id = _text(data, "requestId", "requestId", problems)
    campaign_id = _text(data, "campaignId", "campaignId", problems)
    recipients = parse_recipients(data, problems)
    if problems:
        raise ValidationError(problems, subject="unitary execution request")
    return _response(session.trigger(campaign_id, recipients, request_id=request_id))


def _instant(raw: object, path: str, problems: list[str]) -> pendulum.DateTime | None:
    try:
        if not isinstance(raw, str):
            raise TypeError(raw)
        parsed = datetime.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            raise ValueError(raw)
    except (TypeError, ValueError):
        problems.append(f"{path} must be an ISO 8601 instant with a UTC offset, not {shown(raw)}")
        return None
    return pendulum.instance(parsed)


def execute_audience(session: UserSession, body: object) -> dict[str, Any]:
    """Accept AJO's audience execution body and run the campaign on its audience.

    Body: ``{"campaignId", "requestId"?, "context"?, "schedule"?: {"executeAt"}}``.
    Without a ``requestId`` the call is not idempotent (one is generated).

    Returns:
        As :func:`execute_unitary`; a scheduled execution also has
        ``scheduleId``, ``scheduleStatus`` and ``executeAt``.
    """
    data = _body(body)
    problems: list[str] = []
    request_id = None
    if data.get("requestId") is not None:
        request_id = _text(data, "requestId", "requestId", problems)
    campaign_id = _text(data, "campaignId", "campaignId", problems)
    context = _object(data, "context", "context", problems)
    execute_at = None
    schedule = _object(data, "schedule", "schedule", problems)
    if schedule is not None:
        execute_at = _instant(schedule.get("executeAt"), "schedule.executeAt", problems)
    if problems:
        raise ValidationError(problems, subject="audience execution request")
    execution = session.execute_audience(
        campaign_id,
        request_id=request_id or f"generated-{uuid.uuid4().hex}",
        context=context,
        execute_at=execute_at,
    )
    return _response(execution)


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
    return _response(session.cancel_execution(schedule_id))


def error_response(exc: CampaignKitError) -> dict[str, Any]:
    """AJO's error shape for any campaignkit error.

    Returns:
        ``{"type", "title", "status", "report": {"message", "problems"?}}``; the
        status is the HTTP status a host should answer with.
    """
    status, title = 500, "Internal error"
    for kind, code, label in _ERRORS:
        if isinstance(exc, kind):
            status, title = code, label
            break
    context: dict[str, Any] = {
        key: value
        for key, value in vars(exc).items()
        if isinstance(value, (str, int)) and not key.startswith("_")
    }
    report: dict[str, Any] = {"message": str(exc), "additionalContext": context}
    if isinstance(exc, ValidationError):
        report["problems"] = list(exc.problems)
    return {
        "type": f"https://ns.adobe.com/aep/errors/CJMAS-{status}",
        "title": title,
        "status": status,
        "report": report,
    }
