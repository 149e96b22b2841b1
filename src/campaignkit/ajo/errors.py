"""AJO's error document for campaignkit errors."""

from __future__ import annotations

from typing import Any, Final

from campaignkit.errors import (
    ApprovalRequired,
    CampaignKitError,
    ConflictError,
    NotFound,
    PermissionDenied,
    TransitionNotAllowed,
    ValidationError,
)

_ERRORS: Final[tuple[tuple[type[CampaignKitError], int, str], ...]] = (
    (ValidationError, 400, "Bad request"),
    (PermissionDenied, 403, "Forbidden"),
    (NotFound, 404, "Not found"),
    (ConflictError, 409, "Conflict"),
    (TransitionNotAllowed, 422, "Campaign cannot accept this request"),
    (ApprovalRequired, 422, "Campaign cannot accept this request"),
)


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
