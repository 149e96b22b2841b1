"""The AJO operations: executions, look-ups and schedule cancellation.

Each answers as ``messaging.yaml`` documents it; every campaignkit error it
raises carries its operation and request ids for :func:`~campaignkit.ajo.error_response`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from campaignkit.ajo.errors import NotShown, answering, note_origin
from campaignkit.ajo.requests import (
    body_object,
    instant,
    object_field,
    parse_recipients,
    push_apps,
    request_ids,
    text,
)
from campaignkit.ajo.responses import execution_response, schedule_response, status_response
from campaignkit.domain import checks
from campaignkit.domain.campaign_enums import CampaignStatus
from campaignkit.domain.surface import PushSettings
from campaignkit.domain.triggers import Execution, ExecutionKind, ScheduleStatus
from campaignkit.errors import TransitionNotAllowed, ValidationError

if TYPE_CHECKING:
    from campaignkit.session import UserSession


def execute_unitary(session: UserSession, body: object) -> dict[str, Any]:
    """Accept AJO's unitary execution body and trigger the campaign.

    ``POST /im/executions/unitary``.

    Body: ``{"requestId", "campaignId", "recipients": [1 to 20 recipients]}``,
    each recipient as :func:`~campaignkit.ajo.requests.parse_recipients` reads it.

    Returns:
        ``imExecutionResponse``: ``{"executionId", "requestId", "createdAt",
        "createdBy", "modifiedAt", "modifiedBy"}`` (202).

    Raises:
        ValidationError: a malformed body (problems name JSON paths), a
            ``pushInfo`` whose ``appID`` or ``platform`` is not that of the
            campaign's push surface, or what ``session.trigger`` refuses in
            the payload.
        CampaignKitError: whatever else ``session.trigger`` refuses.
    """
    context: dict[str, str] = {}
    with answering("execute_unitary", context):
        data = body_object(body)
        context.update(request_ids(data))
        problems: list[str] = []
        request_id = text(data, "requestId", "requestId", problems, max_length=checks.MAX_ID)
        campaign_id = text(data, "campaignId", "campaignId", problems, max_length=checks.MAX_ID)
        recipients = parse_recipients(data, problems)
        if problems:
            raise ValidationError(problems, subject="unitary execution request")
        check_push_apps(session, campaign_id, push_apps(data))
        execution = session.trigger(
            campaign_id, recipients, request_id=request_id, one_namespace=True
        )
        return execution_response(execution)


def check_push_apps(
    session: UserSession,
    campaign_id: str,
    pushes: list[tuple[str, str, str]],
    *,
    subject: str = "unitary execution request",
) -> None:
    """Refuse a ``pushInfo`` whose app or platform is not one of the campaign's push surfaces.

    The push surfaces of the campaign's live version send the message, so a
    token of another app (or platform) could not reach the device. The
    unitary and the high-throughput executions both check it.

    Args:
        session: Who calls (reads the campaign: ``campaign.read``).
        campaign_id: The campaign the request triggers.
        pushes: ``(path, appID, platform)`` of each ``pushInfo``, as
            :func:`~campaignkit.ajo.requests.push_apps` gives them.
        subject: What the ``ValidationError`` names (the request's kind).

    Raises:
        ValidationError: one problem per ``pushInfo`` of another app or platform.
        NotFound: no such campaign; PermissionDenied: the user may not read it.
    """
    if pushes:
        refuse_other_push_apps(
            campaign_push_apps(session, campaign_id), campaign_id, pushes, subject=subject
        )


def campaign_push_apps(session: UserSession, campaign_id: str) -> dict[str, set[str]]:
    """The platforms of each push app the campaign's live version sends with, by app id.

    Empty for a campaign that is not LIVE (``session.trigger`` says why it
    cannot send) or has no push action (it sends no push: nothing to compare).

    Raises:
        NotFound: no such campaign; PermissionDenied: the user may not read it.
    """
    campaign = session.get(campaign_id)
    version = campaign.live_version
    apps: dict[str, set[str]] = {}
    if campaign.status is not CampaignStatus.LIVE or version is None:
        return apps
    for action in version.actions:
        surface = session.get_surface(action.surface_id)
        if isinstance(surface.settings, PushSettings):
            apps.setdefault(surface.settings.app_id, set()).add(surface.settings.platform)
    return apps


def refuse_other_push_apps(
    apps: Mapping[str, set[str]],
    campaign_id: str,
    pushes: list[tuple[str, str, str]],
    *,
    subject: str,
) -> None:
    """A ``ValidationError`` for each ``pushInfo`` of an app or platform not in ``apps``.

    ``platform`` is compared without regard to case (``iOS`` is ``ios``);
    empty ``apps`` (see :func:`campaign_push_apps`) refuse nothing.
    """
    if not apps:
        return
    shown_apps = ", ".join(
        f"{app!r} on {'/'.join(sorted(platforms))}" for app, platforms in sorted(apps.items())
    )
    problems = []
    for path, app, platform in pushes:
        if app not in apps:
            problems.append(
                f"{path}.appID {app!r} is not the app of campaign {campaign_id!r}'s push "
                f"surface ({shown_apps}): send a token of that app, or trigger a campaign "
                "whose push surface is this app's"
            )
        elif platform.lower() not in apps[app]:
            problems.append(
                f"{path}.platform {platform!r} is not the platform of campaign "
                f"{campaign_id!r}'s push surface for {app!r} ({shown_apps}): send a token "
                "of that platform, or trigger a campaign with a push surface for this one"
            )
    if problems:
        raise ValidationError(problems, subject=subject)


def _audience_id(data: Mapping[str, Any], problems: list[str]) -> str | None:
    audience = object_field(data, "audience", "audience", problems)
    if audience is None:
        return None
    return text(audience, "id", "audience.id", problems, max_length=checks.MAX_ID) or None


def execute_audience(session: UserSession, body: object) -> dict[str, Any]:
    """Accept AJO's audience execution body (``POST /im/executions/audience``).

    Body: ``{"campaignId", "requestId"?, "audience"?: {"id"}, "context"?,
    "schedule"?: {"executeAt"}}``. Without a ``requestId`` the call is not
    idempotent (one is generated). ``audience.id`` selects the audience sent
    to: the campaign's own, or one the kit's audiences know that is READY
    (``UserSession.execute_audience``); without it, the campaign's.

    Returns:
        ``imExecutionResponse`` (202); a scheduled execution answers
        ``ScheduledExecutionResponse`` instead: ``{"scheduleId", "campaignId",
        "audience": {"id"}, "executeAt", "scheduleStatus"}``.

    Raises:
        ValidationError: a malformed body (problems name JSON paths), or what
            ``session.execute_audience`` refuses in it (an unknown audience).
        TransitionNotAllowed: the request repeats one whose schedule was
            cancelled (answered 400 ``MSG-900106``), or the campaign cannot
            take audience executions.
        CampaignKitError: whatever else ``session.execute_audience`` refuses.
    """
    context: dict[str, str] = {}
    with answering("execute_audience", context):
        data = body_object(body)
        context.update(request_ids(data))
        problems: list[str] = []
        request_id = None
        if data.get("requestId") is not None:
            request_id = text(data, "requestId", "requestId", problems, max_length=checks.MAX_ID)
        campaign_id = text(data, "campaignId", "campaignId", problems, max_length=checks.MAX_ID)
        audience = _audience_id(data, problems)
        shared = object_field(data, "context", "context", problems)
        execute_at = None
        schedule = object_field(data, "schedule", "schedule", problems)
        if schedule is not None:
            execute_at = instant(schedule.get("executeAt"), "schedule.executeAt", problems)
        if problems:
            raise ValidationError(problems, subject="audience execution request")
        if request_id is None:
            request_id = context["requestId"] = f"generated-{uuid.uuid4().hex}"
        execution = session.execute_audience(
            campaign_id,
            request_id=request_id,
            context=shared,
            execute_at=execute_at,
            audience=audience,
        )
        if execution.schedule_status is ScheduleStatus.CANCELLED:  # a repeat of its request
            _refuse_cancelled_repeat(session, execution, context)
        if execution.execute_at is None:
            return execution_response(execution)
        return schedule_response(execution, _audience_of(session, execution))


def _refuse_cancelled_repeat(
    session: UserSession, execution: Execution, context: Mapping[str, str]
) -> None:
    """Refuse a request repeated after the schedule it created was cancelled.

    The request is idempotent: it names that execution and sends nothing
    again. AJO deleted the schedule, and its answers hold no cancelled state,
    so the repeat is answered 400 (``gone``) naming the schedule and the fix.

    Raises:
        TransitionNotAllowed: always.
    """
    campaign = session.get(execution.campaign_id)
    exc = TransitionNotAllowed(
        campaign.id,
        campaign.status.value,
        "execute_audience",
        f"request {execution.request_id!r} scheduled execution {execution.id!r}, which was "
        "cancelled (deleted): send a new requestId to schedule it again",
    )
    note_origin(exc, "execute_audience", context, kind="gone")
    raise exc


def _audience_of(session: UserSession, execution: Execution) -> str | None:
    """The audience an audience execution sends to; None for a unitary one.

    Its run records it; an execution accepted before runs did sends to its
    campaign version's audience.
    """
    if execution.kind is not ExecutionKind.AUDIENCE:
        return None
    if execution.audience is not None:
        return execution.audience
    campaign = session.get(execution.campaign_id)
    version = campaign.live_version or (campaign.superseded_versions or (None,))[-1]
    return version.audience if version is not None else None


def get_execution(session: UserSession, execution_id: str) -> dict[str, Any]:
    """An execution's status (``GET /im/executions/audience/{executionId}``).

    campaignkit also answers for unitary executions (without ``audienceId``).

    Returns:
        ``executionStatusResponse``: ``{"executionId", "campaignId",
        "audienceId"?, "status", "targetedProfileCount", "createdAt"}``, status
        ``InProgress``, ``Succeeded`` or ``Failed``.

    Raises:
        NotFound: no such execution; ``NotShown`` (a ``NotFound``) for a
            scheduled one that has not fired (look it up with
            :func:`get_schedule`) or was cancelled.
        PermissionDenied: the user may not read campaigns.
    """
    with answering("get_execution", {"executionId": _shown_id(execution_id)}):
        execution = session.execution(execution_id)
        if execution.schedule_status is ScheduleStatus.CANCELLED:
            raise NotShown("execution", execution.id, "was a schedule, cancelled before it fired")
        if execution.schedule_status is ScheduleStatus.SCHEDULED:
            raise NotShown(
                "execution",
                execution.id,
                "has not fired yet: look up its schedule (get_schedule) until it has",
            )
        return status_response(execution, _audience_of(session, execution))


def execution_status(session: UserSession, execution_id: str) -> dict[str, Any]:
    """The earlier name of :func:`get_execution` (the same answer)."""
    return get_execution(session, execution_id)


def _schedule(session: UserSession, schedule_id: str) -> Execution:
    """The scheduled execution ``schedule_id`` names; NotShown unless it is one, not cancelled."""
    execution = session.execution(schedule_id)
    if execution.execute_at is None:
        raise NotShown(
            "schedule", execution.id, "is an execution that was not scheduled: use get_execution"
        )
    if execution.schedule_status is ScheduleStatus.CANCELLED:
        raise NotShown("schedule", execution.id, "was cancelled (deleted)")
    return execution


def get_schedule(session: UserSession, schedule_id: str) -> dict[str, Any]:
    """A scheduled audience execution (``GET /im/executions/schedules/{scheduleId}``).

    Returns:
        ``ScheduledExecutionResponse``: ``{"scheduleId", "campaignId",
        "audience": {"id"}, "executeAt", "scheduleStatus"}``, plus
        ``executionDetails`` (as :func:`get_execution`) once Triggered.

    Raises:
        NotFound: no such schedule, or it was cancelled.
        PermissionDenied: the user may not read campaigns.
    """
    with answering("get_schedule", {"scheduleId": _shown_id(schedule_id)}):
        execution = _schedule(session, schedule_id)
        return schedule_response(execution, _audience_of(session, execution))


def cancel_schedule(session: UserSession, schedule_id: str) -> dict[str, Any]:
    """Delete a scheduled execution before it fires.

    ``DELETE /im/executions/schedules/{scheduleId}``.

    Returns:
        ``{}`` (200), as documented. The schedule is gone: look-ups answer 404.

    Raises:
        NotFound: no such schedule, cancelled already, or (``NotShown``) it
            has fired already: answered 404, the only documented refusal.
        PermissionDenied: the user may not publish the campaign.
    """
    context = {"scheduleId": _shown_id(schedule_id)}
    with answering("cancel_schedule", context):
        execution = _schedule(session, schedule_id)
        context["campaignId"] = execution.campaign_id
        try:
            session.cancel_execution(execution.id)
        except TransitionNotAllowed as exc:
            note_origin(exc, "cancel_schedule", context, kind="gone")
            raise
        return {}


def _shown_id(value: object) -> str:
    return value if isinstance(value, str) else ""
