"""What the kit logs about campaigns: every lifecycle change and approval step.

The kit hands every committed domain event to :func:`log_events` (before its
subscribers hear about it), which writes one record per event on the stdlib
logger ``campaignkit.lifecycle`` (a child of ``campaignkit``). Runs log on
``campaignkit.delivery`` (:mod:`campaignkit.delivery.runlog`).

Levels:

- INFO: a status change (created, activated, scheduled, live, completed,
  stopped, archived), a removal (deleted, purged) and an approval step;
- WARNING: a campaign that FAILED (with its reason);
- DEBUG: a change that keeps the status (a draft edited, a new version
  opened, proofs sent).

Every record carries structured ``extra=`` fields a JSON formatter can pick
up: ``event`` (``"campaign_changed"``, ``"campaign_removed"`` or
``"approval"``), ``campaign_id``, ``actor``, ``at`` (ISO 8601) and, by event,
``action``, ``from_status``, ``to_status``, ``version``, ``detail``;
``campaign_name``, ``approval``, ``policy_id``, ``note``. Nothing is worked
out while the logger is disabled for the event's level.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from campaignkit.domain.campaign_enums import CampaignStatus
from campaignkit.domain.events import (
    ApprovalEvent,
    CampaignChanged,
    CampaignRemoved,
    DomainEvent,
)

__all__ = ["LIFECYCLE_LOGGER", "log_event", "log_events"]

LIFECYCLE_LOGGER = "campaignkit.lifecycle"
"""The name of the logger lifecycle records go to."""

logger = logging.getLogger(LIFECYCLE_LOGGER)


def log_events(events: Sequence[DomainEvent]) -> None:
    """Log committed domain events, one record each (see the module documentation).

    Args:
        events: Events in the order they were committed.
    """
    for event in events:  # each checks its level first: cheap while it is disabled
        log_event(event)


def log_event(event: DomainEvent) -> None:
    """Log one domain event at its level, with its structured ``extra=`` fields.

    Args:
        event: A committed domain event.
    """
    if isinstance(event, CampaignChanged):
        _changed(event)
    elif isinstance(event, ApprovalEvent):
        _approval(event)
    else:
        _removed(event)


def _changed(event: CampaignChanged) -> None:
    entry = event.entry
    if entry.to_status is CampaignStatus.FAILED:
        level = logging.WARNING
    elif entry.from_status is not entry.to_status:
        level = logging.INFO
    else:
        level = logging.DEBUG
    if not logger.isEnabledFor(level):
        return
    before = None if entry.from_status is None else entry.from_status.value
    detail = f": {entry.detail}" if entry.detail else ""
    extra: dict[str, Any] = {
        "event": "campaign_changed",
        "campaign_id": event.campaign_id,
        "version": event.version,
        "action": entry.action.value,
        "from_status": before,
        "to_status": entry.to_status.value,
        "actor": entry.actor,
        "at": entry.at.isoformat(),
        "detail": entry.detail,
    }
    logger.log(
        level,
        "campaign %s: %s by %s, %s -> %s (version %s)%s",
        event.campaign_id,
        entry.action.value,
        entry.actor,
        before or "new",
        entry.to_status.value,
        event.version,
        detail,
        extra=extra,
    )


def _approval(event: ApprovalEvent) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    entry = event.entry
    logger.info(
        "campaign %s (%s): approval %s by %s (version %d)",
        event.campaign_id,
        event.campaign_name,
        entry.action.value,
        entry.actor,
        entry.version,
        extra={
            "event": "approval",
            "campaign_id": event.campaign_id,
            "campaign_name": event.campaign_name,
            "version": entry.version,
            "approval": entry.action.value,
            "actor": entry.actor,
            "at": entry.at.isoformat(),
            "policy_id": entry.policy_id,
            "note": entry.message,
        },
    )


def _removed(event: CampaignRemoved) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    logger.info(
        "campaign %s: %s by %s",
        event.campaign_id,
        event.verb.value,
        event.actor,
        extra={
            "event": "campaign_removed",
            "campaign_id": event.campaign_id,
            "action": event.verb.value,
            "actor": event.actor,
            "at": event.at.isoformat(),
        },
    )
