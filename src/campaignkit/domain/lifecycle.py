"""The campaign lifecycle: one transition table and a pure ``apply``.

``apply(campaign, command, now=..., actor=..., rules=...)`` returns the new
campaign and the domain events; it never reads a clock or touches a store.
An action the table (or a guard) does not allow raises
:class:`~campaignkit.errors.TransitionNotAllowed` and changes nothing.

This module holds the steps each command takes and ``apply``; the table is in
``domain/transitions.py``, the guards in ``domain/guards.py``, and when work
falls due (``LifecycleRules``, ``next_due``) in ``domain/timeline.py``. Their
public names are importable from here too.
"""

from __future__ import annotations

import attrs
import pendulum

from campaignkit.domain.approval import ApprovalAction, ApprovalEntry
from campaignkit.domain.campaign import Campaign, CampaignVersion, HistoryEntry, Verb
from campaignkit.domain.campaign_enums import CampaignStatus
from campaignkit.domain.commands import (
    UNSET,
    Activate,
    ActivateVersion,
    Approve,
    Archive,
    CancelApproval,
    Command,
    Complete,
    Delete,
    DiscardDraft,
    Fail,
    GoLive,
    Maybe,
    Modify,
    Prepare,
    Purge,
    RequestApproval,
    RequestChanges,
    Stop,
    UpdateDraft,
    pick,
)
from campaignkit.domain.creation import check_name, create, duplicate, normalize_tags
from campaignkit.domain.events import ApprovalEvent, CampaignRemoved, Outcome, changed_event
from campaignkit.domain.guards import (
    draft_editors,
    pending_version,
    refuse,
    require_keeps_recurring,
    require_not_in_review,
    require_open_draft,
    require_review,
    require_run_not_started,
)
from campaignkit.domain.schedule import Schedule
from campaignkit.domain.timeline import (
    LifecycleRules,
    completion_at,
    first_occurrence,
    next_due,
    run_finished,
    run_start,
    run_started,
)
from campaignkit.domain.transitions import (
    DUE_VERBS,
    REACHABLE_STATUSES,
    SYSTEM_ACTOR,
    TRANSITIONS,
    S,
    allowed_from,
)

__all__ = [
    "DUE_VERBS",
    "REACHABLE_STATUSES",
    "SYSTEM_ACTOR",
    "TRANSITIONS",
    "UNSET",
    "Activate",
    "ActivateVersion",
    "Approve",
    "Archive",
    "CancelApproval",
    "Command",
    "Complete",
    "Delete",
    "DiscardDraft",
    "Fail",
    "GoLive",
    "LifecycleRules",
    "Maybe",
    "Modify",
    "Outcome",
    "Prepare",
    "Purge",
    "RequestApproval",
    "RequestChanges",
    "Stop",
    "UpdateDraft",
    "allowed_from",
    "apply",
    "completion_at",
    "first_occurrence",
    "create",
    "draft_editors",
    "duplicate",
    "next_due",
    "normalize_tags",
    "pending_version",
    "run_finished",
    "run_start",
    "run_started",
]


def _go_live(campaign: Campaign, now: pendulum.DateTime) -> Campaign:
    """LIVE from ``now``; a recurring campaign learns its first occurrence."""
    version = campaign.live_version
    assert version is not None
    upcoming = None
    if version.schedule.is_recurring:
        anchor = version.schedule.start or campaign.activated_at or now
        upcoming = first_occurrence(version.schedule, max(anchor, now), anchor)
    return attrs.evolve(campaign, status=S.LIVE, went_live_at=now, next_occurrence_at=upcoming)


def _edit_version(version: CampaignVersion, command: UpdateDraft) -> CampaignVersion:
    return attrs.evolve(
        version,
        actions=pick(command.actions, version.actions),
        audience=pick(command.audience, version.audience),
        namespace=pick(command.namespace, version.namespace),
        schedule=pick(command.schedule, version.schedule),
        quiet_hours=pick(command.quiet_hours, version.quiet_hours),
    )


def _update_draft(campaign: Campaign, command: UpdateDraft) -> Campaign:
    if campaign.status is not S.DRAFT:
        require_not_in_review(campaign, command.verb)
        draft = require_open_draft(campaign, command.verb)
        if command.touches_campaign_fields:
            raise refuse(
                campaign,
                command.verb,
                "name, description and tags can only change while the campaign is DRAFT",
            )
        return attrs.evolve(campaign, draft_version=_edit_version(draft, command))
    return attrs.evolve(
        campaign,
        name=check_name(pick(command.name, campaign.name)),
        description=pick(command.description, campaign.description),
        tags=normalize_tags(pick(command.tags, campaign.tags)),
        draft_version=_edit_version(campaign.newest_version, command),
    )


def _promote_draft(campaign: Campaign, verb: Verb, now: pendulum.DateTime) -> Campaign:
    """Make the open draft the live version (ACTIVATE_VERSION, or APPROVE of a draft).

    A LIVE campaign keeps ``went_live_at`` (the completion clock is not
    restarted). A SCHEDULED one is re-activated at ``now``: it goes live at the
    new version's start, or at once when the new version has none.
    """
    require_run_not_started(campaign, verb)
    require_keeps_recurring(campaign, verb)
    draft = require_open_draft(campaign, verb)
    superseded = campaign.superseded_versions
    if campaign.live_version is not None:
        superseded = (*superseded, campaign.live_version)
    activated_at = now if campaign.status is S.SCHEDULED else campaign.activated_at
    upcoming = campaign.next_occurrence_at
    if campaign.status is S.LIVE and draft.schedule.is_recurring:
        upcoming = _later_occurrence(draft.schedule, campaign, now)
    return attrs.evolve(
        campaign,
        live_version=draft,
        draft_version=None,
        superseded_versions=superseded,
        review=None,
        activated_at=activated_at,
        next_occurrence_at=upcoming,
    )


def _later_occurrence(
    schedule: Schedule, campaign: Campaign, now: pendulum.DateTime
) -> pendulum.DateTime | None:
    """The first occurrence of a new version whose run has not started yet.

    An occurrence after ``now`` whose run already started (profile time zones
    start a run up to a day early) belongs to the version that started it,
    unless the old version had not run it yet (it is at or after the campaign's
    pending occurrence).
    """
    pending = campaign.next_occurrence_at
    for occurrence in schedule.occurrences(after=now, anchor=campaign.activated_at):
        if run_start(schedule, occurrence) > now or (pending is not None and occurrence >= pending):
            return occurrence
    return None


def _activate(campaign: Campaign, now: pendulum.DateTime) -> Campaign:
    return attrs.evolve(
        campaign,
        status=S.ACTIVATING,
        live_version=campaign.draft_version,
        draft_version=None,
        activated_at=now,
        review=None,
    )


def _record(
    campaign: Campaign,
    action: ApprovalAction,
    *,
    now: pendulum.DateTime,
    actor: str,
    message: str | None,
) -> Campaign:
    """Append an approval trail entry about the newest version."""
    review = campaign.review
    entry = ApprovalEntry(
        at=now,
        actor=actor,
        action=action,
        version=review.version if review is not None else campaign.newest_version.number,
        policy_id=review.policy_id if review is not None else None,
        message=message,
    )
    return attrs.evolve(campaign, approvals=(*campaign.approvals, entry))


def _end(
    campaign: Campaign, target: CampaignStatus, now: pendulum.DateTime, actor: str
) -> Campaign:
    """Move to a final status; a pending review of the open draft is cancelled.

    No occurrence of a recurring campaign comes after it.
    """
    if campaign.review is not None:
        campaign = _record(
            campaign,
            ApprovalAction.CANCELLED,
            now=now,
            actor=actor,
            message=f"campaign became {target.value}",
        )
    return attrs.evolve(campaign, status=target, review=None, next_occurrence_at=None)


def _review_step(
    c: Campaign,
    command: RequestApproval | CancelApproval | RequestChanges | Approve,
    now: pendulum.DateTime,
    actor: str,
) -> tuple[Campaign, str]:
    """The approval workflow steps (SPEC section 7)."""
    record = ApprovalAction
    match command:
        case RequestApproval():
            pending_version(c, Verb.REQUEST_APPROVAL)
            status: CampaignStatus = S.IN_REVIEW if c.status is S.DRAFT else c.status
            c = attrs.evolve(c, status=status, review=command.review)
            c = _record(c, record.REQUESTED, now=now, actor=actor, message=command.review.message)
            return c, command.review.message or ""
        case CancelApproval() | RequestChanges():
            require_review(c, command.verb)
            if isinstance(command, RequestChanges):
                action, message = record.CHANGES_REQUESTED, command.message
            else:
                action, message = record.CANCELLED, None
            c = _record(c, action, now=now, actor=actor, message=message)
            status = S.DRAFT if c.status is S.IN_REVIEW else c.status
            return attrs.evolve(c, status=status, review=None), message or ""
        case Approve():
            require_review(c, command.verb)
            c = _record(c, record.APPROVED, now=now, actor=actor, message=command.comment)
            if c.status is S.IN_REVIEW:
                return _activate(c, now), command.comment or ""
            return _promote_draft(c, command.verb, now), command.comment or ""


def _step(
    campaign: Campaign, command: Command, now: pendulum.DateTime, actor: str
) -> tuple[Campaign, str]:
    """Return the changed campaign (before history and due are updated) and a detail."""
    c = campaign
    record = ApprovalAction
    match command:
        case UpdateDraft():
            edited = _update_draft(c, command)
            return edited, f"version {edited.newest_version.number}"
        case Activate():
            if command.via_request:
                c = _record(
                    c,
                    record.ACTIVATED_WITHOUT_POLICY,
                    now=now,
                    actor=actor,
                    message=command.message,
                )
            return _activate(c, now), ""
        case Modify():
            if c.draft_version is not None:
                raise refuse(c, command.verb, "it already has an open draft version")
            live = c.live_version
            assert live is not None  # every SCHEDULED/LIVE campaign has one
            require_run_not_started(c, command.verb)
            draft = attrs.evolve(live, number=live.number + 1, created_at=now, created_by=actor)
            return attrs.evolve(c, draft_version=draft), f"version {draft.number}"
        case DiscardDraft():
            require_not_in_review(c, command.verb)
            draft = require_open_draft(c, command.verb)
            return attrs.evolve(c, draft_version=None), f"version {draft.number}"
        case ActivateVersion():
            require_not_in_review(c, command.verb)
            if command.via_request:
                c = _record(
                    c,
                    record.ACTIVATED_WITHOUT_POLICY,
                    now=now,
                    actor=actor,
                    message=command.message,
                )
            promoted = _promote_draft(c, command.verb, now)
            return promoted, f"version {promoted.newest_version.number}"
        case RequestApproval() | CancelApproval() | RequestChanges() | Approve():
            return _review_step(c, command, now, actor)
        case Prepare():
            if command.problems:
                reason = "; ".join(command.problems)
                return attrs.evolve(c, status=S.FAILED, failure_reason=reason), reason
            schedule = c.live_version.schedule if c.live_version else None
            later = (
                schedule is not None
                and schedule.start is not None
                and run_start(schedule, schedule.start) > now
            )
            if later:
                return attrs.evolve(c, status=S.SCHEDULED), ""
            return _go_live(c, now), ""
        case GoLive():
            return _go_live(c, now), ""
        case Fail():
            failed = _end(c, S.FAILED, now, actor)
            return attrs.evolve(failed, failure_reason=command.reason), command.reason
        case Complete() | Stop() | Archive():
            target = next(iter(TRANSITIONS[command.verb][c.status]))
            return _end(c, target, now, actor), ""
        case Delete() | Purge():
            return c, ""


def apply(
    campaign: Campaign,
    command: Command,
    *,
    now: pendulum.DateTime,
    actor: str,
    rules: LifecycleRules | None = None,
) -> Outcome:
    """Apply one command to a campaign; pure.

    Args:
        campaign: The campaign as it is.
        command: What to do.
        now: The instant the change is dated at (for engine steps: when it was due).
        actor: Who does it (``SYSTEM_ACTOR`` for the engine).
        rules: Lifecycle time rules (defaults: 3-day completion, 30-day retention).

    Returns:
        The new campaign (``removed=True`` for delete and purge) and its events:
        a ``CampaignChanged`` for the history entry, then an ``ApprovalEvent``
        for each approval trail entry the step added.

    Raises:
        TransitionNotAllowed: the table or a guard forbids it; nothing changed.
        ValidationError: an edit carries a malformed value (empty name, bad tags).
    """
    verb = command.verb
    targets = TRANSITIONS[verb].get(campaign.status)
    if targets is None:
        raise refuse(campaign, verb)
    changed, detail = _step(campaign, command, now, actor)
    if not targets:
        return Outcome(campaign, (CampaignRemoved(campaign.id, now, actor, verb),), removed=True)
    assert changed.status in targets, (verb, campaign.status, changed.status)
    entry = HistoryEntry(now, actor, verb, campaign.status, changed.status, detail)
    changed = attrs.evolve(changed, updated_at=now, history=(*campaign.history, entry))
    changed = attrs.evolve(changed, due_at=next_due(changed, rules or LifecycleRules()))
    review = campaign.review or changed.review
    approvals = tuple(
        ApprovalEvent(campaign.id, changed.name, trail_entry, review)
        for trail_entry in changed.approvals[len(campaign.approvals) :]
    )
    return Outcome(changed, (changed_event(changed, entry), *approvals))
