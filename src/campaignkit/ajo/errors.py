"""AJO's error document (``errorResponse``) for campaignkit errors.

``{"type": "https://ns.adobe.com/aep/errors/MSG-<code>-<status>", "title",
"status", "report": {"additionalContext": {"requestId", "campaignId", ...},
"message", "problems"?}}``, with only the status codes ``messaging.yaml``
documents for the operation that refused: 400 and 401 for the execution
requests, 404 and 401 for the look-ups and the cancellation. Refusals the
reference has no code for take the nearest documented one (see
``docs/api-triggered.md``); a failure of campaignkit itself (storage, a bug)
answers 500, as any server does.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator, Mapping
from typing import Any, Final, Literal, TypeAlias

import attrs

from campaignkit.errors import (
    ApprovalRequired,
    CampaignKitError,
    ConflictError,
    NotFound,
    PermissionDenied,
    TransitionNotAllowed,
    ValidationError,
)

Operation: TypeAlias = Literal[
    "execute_unitary",
    "execute_audience",
    "execute_high_throughput",
    "get_execution",
    "get_schedule",
    "cancel_schedule",
]
"""The AJO operations ``campaignkit.ajo`` answers."""

LOOKUPS: Final[frozenset[Operation]] = frozenset(
    ("get_execution", "get_schedule", "cancel_schedule")
)
"""Operations on an existing execution or schedule: documented codes 404 and 401."""

ERROR_TYPE: Final = "https://ns.adobe.com/aep/errors/MSG-{code}-{status}"
"""The documented form of an error's ``type`` URI."""


@attrs.frozen
class Refusal:
    """One kind of refusal: its code, title and status for executions and look-ups.

    Attributes:
        code: Six digits in the ``type`` URI (campaignkit's own catalogue, 9xxxxx:
            Adobe does not publish its codes).
        title: The ``title`` of the error document.
        execution_status: The status answered by the execution requests (400 or 401).
        lookup_status: The status answered by the look-ups and the cancellation (404 or 401).
    """

    code: str
    title: str
    execution_status: int
    lookup_status: int


REFUSALS: Final[Mapping[str, Refusal]] = {
    "invalid": Refusal("900101", "The request is not valid", 400, 404),
    "state": Refusal("900102", "The campaign cannot accept this request", 400, 404),
    "not found": Refusal("900103", "Not found", 400, 404),
    "conflict": Refusal("900104", "The request id was used with another payload", 400, 404),
    "forbidden": Refusal("900105", "The user may not do this", 401, 401),
    "gone": Refusal("900106", "The schedule is not pending", 400, 404),
    "internal": Refusal("900199", "An error has occurred", 500, 500),
}
"""Every refusal campaignkit answers, by kind (see :func:`refusal_of`)."""

_KINDS: Final[tuple[tuple[type[CampaignKitError], str], ...]] = (
    (ValidationError, "invalid"),
    (PermissionDenied, "forbidden"),
    (NotFound, "not found"),
    (ConflictError, "conflict"),
    (TransitionNotAllowed, "state"),
    (ApprovalRequired, "state"),
)


@attrs.frozen
class Origin:
    """Where an error was raised: the operation and the ids of its request.

    Attributes:
        operation: The ``campaignkit.ajo`` operation.
        context: ``additionalContext``: the request's ``requestId`` and
            ``campaignId``, or the ``executionId``/``scheduleId`` looked up.
        kind: A key of :data:`REFUSALS` that overrides the error's own kind.
    """

    operation: Operation
    context: Mapping[str, str]
    kind: str | None = None


_ORIGINS: Final[weakref.WeakKeyDictionary[CampaignKitError, Origin]] = weakref.WeakKeyDictionary()


def note_origin(
    exc: CampaignKitError,
    operation: Operation,
    context: Mapping[str, str],
    kind: str | None = None,
) -> None:
    """Remember which operation raised ``exc``, for which ids (read by :func:`error_response`).

    Empty ids are left out of the context; ``kind`` overrides the refusal kind.
    """
    _ORIGINS[exc] = Origin(operation, {key: value for key, value in context.items() if value}, kind)


def refusal_of(exc: CampaignKitError) -> Refusal:
    """The kind of refusal ``exc`` is (``internal`` for errors that are not the caller's)."""
    for kind, name in _KINDS:
        if isinstance(exc, kind):
            return REFUSALS[name]
    return REFUSALS["internal"]


def error_response(exc: CampaignKitError) -> dict[str, Any]:
    """AJO's error document for any campaignkit error, with the HTTP status to answer.

    An error raised by a ``campaignkit.ajo`` operation carries that operation's
    documented codes and its request's ids in ``additionalContext``; any other
    campaignkit error is answered as the execution requests answer.

    Returns:
        ``{"type", "title", "status", "report": {"additionalContext", "message",
        "problems"?}}``; ``problems`` lists every problem of a ``ValidationError``.
    """
    origin = _ORIGINS.get(exc, Origin("execute_unitary", {}))
    refusal = REFUSALS[origin.kind] if origin.kind else refusal_of(exc)
    lookup = origin.operation in LOOKUPS
    status = refusal.lookup_status if lookup else refusal.execution_status
    report: dict[str, object] = {
        "additionalContext": dict(origin.context),
        "message": str(exc),
    }
    if isinstance(exc, ValidationError):
        report["problems"] = list(exc.problems)
    return {
        "type": ERROR_TYPE.format(code=refusal.code, status=status),
        "title": refusal.title,
        "status": status,
        "report": report,
    }


class NotShown(NotFound):
    """An execution or schedule campaignkit holds but AJO's look-ups would not show (a 404).

    A schedule that was cancelled (AJO deletes it) or has fired (for a
    cancellation), an execution that has not fired yet, or an id that is
    not a schedule.

    Attributes:
        reason: Why it is not shown, and what to do instead.
    """

    def __init__(self, kind: str, key: str, reason: str) -> None:
        super().__init__(kind, key)
        self.reason = reason
        self.args = (f"{kind} {key!r} {reason}",)


@contextlib.contextmanager
def answering(operation: Operation, context: Mapping[str, str]) -> Iterator[None]:
    """Note the origin of any campaignkit error raised inside (see :func:`error_response`).

    ``context`` is read when the error passes, so ids parsed inside count. An
    error whose origin was noted already keeps it.
    """
    try:
        yield
    except CampaignKitError as exc:
        if exc not in _ORIGINS:
            note_origin(exc, operation, context)
        raise
