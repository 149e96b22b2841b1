"""AJO's high-throughput execution (``POST /im/executions/highthroughput``), and many at once.

The documented request is a unitary request for external recipients only:
``{"requestId", "campaignId", "recipients": [{"type": "external", "userId",
"namespace", "channelData"?, "profile"?, "context"?}]}`` with 1 to 20
recipients; the answer is the execution response (HTTP 202). On campaignkit
throughput comes from accepting many such requests in one call
(:func:`execute_high_throughput_many`): they are written in one unit of work
and the requests of a campaign share runs, delivered in batches through the
same ledger (``UserSession.trigger_many``). Each request remains an execution
of its own: idempotent by its ``requestId``, found by ``get_execution``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from campaignkit.ajo.endpoints import (
    campaign_push_apps,
    check_push_apps,
    refuse_other_push_apps,
)
from campaignkit.ajo.errors import answering, error_response, note_origin
from campaignkit.ajo.requests import (
    body_object,
    parse_recipients,
    push_apps,
    request_ids,
    text,
)
from campaignkit.ajo.responses import execution_response
from campaignkit.domain import checks
from campaignkit.domain.checks import shown
from campaignkit.domain.throughput import MAX_REQUESTS, TriggerRequest
from campaignkit.domain.triggers import Execution
from campaignkit.errors import CampaignKitError, ValidationError

if TYPE_CHECKING:
    from campaignkit.session import UserSession

ACCEPTED: Final = 202
"""The HTTP status of an accepted high-throughput request."""

_SUBJECT: Final = "high-throughput execution request"


def high_throughput_request(body: object) -> TriggerRequest:
    """The trigger request of one high-throughput body.

    Raises:
        ValidationError: a malformed body, or a recipient whose ``type`` is not
            ``external`` (problems name JSON paths).
    """
    data = body_object(body)
    problems: list[str] = []
    request_id = text(data, "requestId", "requestId", problems, max_length=checks.MAX_ID)
    campaign_id = text(data, "campaignId", "campaignId", problems, max_length=checks.MAX_ID)
    raw = data.get("recipients")
    if isinstance(raw, list):
        for number, item in enumerate(raw):
            kind = item.get("type") if isinstance(item, dict) else None
            if kind == "aep":
                problems.append(
                    f"recipients[{number}].type must be 'external' in a high-throughput "
                    "request, not 'aep': send profiles of the store with execute_unitary"
                )
    recipients = parse_recipients(data, problems)
    if problems:
        raise ValidationError(problems, subject=_SUBJECT)
    return TriggerRequest(campaign_id, recipients, request_id)


def execute_high_throughput(session: UserSession, body: object) -> dict[str, Any]:
    """Accept one high-throughput request (AJO's documented endpoint).

    Returns:
        The execution response (answer it with HTTP 202).

    Raises:
        ValidationError: a malformed body, a recipient that is not
            ``external``, a ``pushInfo`` whose ``appID`` or ``platform`` is not
            that of the campaign's push surface (as ``execute_unitary``
            checks it), or a payload ``session.trigger`` refuses.
        CampaignKitError: whatever ``session.trigger_many`` answers for the
            request (a reused request id, a campaign that does not accept
            triggers, a denial).
    """
    context: dict[str, str] = {}
    with answering("execute_high_throughput", context):
        context.update(request_ids(body_object(body)))
        request = high_throughput_request(body)
        check_push_apps(
            session, request.campaign_id, push_apps(body_object(body)), subject=_SUBJECT
        )
        [answer] = session.trigger_many([request], one_namespace=True)
        if isinstance(answer, CampaignKitError):
            raise answer
        return execution_response(answer)


def execute_high_throughput_many(
    session: UserSession, bodies: Sequence[object]
) -> list[tuple[int, dict[str, Any]]]:
    """Accept many high-throughput requests in one call, each answered on its own.

    The valid requests are accepted in one unit of work (``trigger_many``); a
    request that is refused leaves the others alone. Each body is checked as
    :func:`execute_high_throughput` checks it (its ``pushInfo`` included; a
    campaign's push surfaces are read once per call).

    Args:
        session: Who calls (needs ``campaign.publish`` on each campaign).
        bodies: 1 to ``MAX_REQUESTS`` request bodies, as the documented
            endpoint takes them one by one.

    Returns:
        One ``(HTTP status, document)`` per body, in order: ``(202, execution
        response)``, or the error status and document of ``error_response``.

    Raises:
        ValidationError: ``bodies`` is not a list of 1 to ``MAX_REQUESTS`` items.
        StorageError: the store failed; none of the requests was accepted.
    """
    if not isinstance(bodies, (list, tuple)):
        problem = f"bodies must be a list of request bodies, not {shown(bodies)}"
        raise ValidationError([problem], subject="high-throughput execution requests")
    if not 1 <= len(bodies) <= MAX_REQUESTS:
        problem = (
            f"bodies must hold 1 to {MAX_REQUESTS} request bodies, not {len(bodies)}: "
            "split a longer list over several calls"
        )
        raise ValidationError([problem], subject="high-throughput execution requests")
    answers: list[tuple[int, dict[str, Any]] | None] = []
    requests: list[tuple[TriggerRequest, dict[str, str]]] = []
    apps: dict[str, dict[str, set[str]]] = {}  # each campaign's push apps, read once
    for body in bodies:
        ids = request_ids(body) if isinstance(body, Mapping) else {}
        try:
            request = high_throughput_request(body)
            pushes = push_apps(body_object(body))
            if pushes:
                campaign = request.campaign_id
                if campaign not in apps:
                    apps[campaign] = campaign_push_apps(session, campaign)
                refuse_other_push_apps(apps[campaign], campaign, pushes, subject=_SUBJECT)
            requests.append((request, ids))
            answers.append(None)
        except CampaignKitError as exc:  # this body's answer; the others go on
            answers.append(_error(exc, ids))
    results = session.trigger_many([r for r, _ in requests], one_namespace=True) if requests else []
    accepted = iter(zip(results, requests, strict=True))
    return [answer if answer is not None else _answer(*next(accepted)) for answer in answers]


def _answer(
    answer: Execution | CampaignKitError, request: tuple[TriggerRequest, dict[str, str]]
) -> tuple[int, dict[str, Any]]:
    if isinstance(answer, CampaignKitError):
        return _error(answer, request[1])
    return ACCEPTED, execution_response(answer)


def _error(exc: CampaignKitError, ids: dict[str, str]) -> tuple[int, dict[str, Any]]:
    note_origin(exc, "execute_high_throughput", ids)
    document = error_response(exc)
    return document["status"], document
