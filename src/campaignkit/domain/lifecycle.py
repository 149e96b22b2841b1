"""The campaign lifecycle: one transition table and a pure ``apply``.

``apply(campaign, command, now=..., actor=..., rules=...)`` returns the new
campaign and the domain events; it never reads a clock or touches a store.
An action the table (or a guard) does not allow raises
:class:`~campaignkit.errors.TransitionNotAllowed` and changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal, TypeAlias

import attrs
import pendulum

from campaignkit.domain.approval import ApprovalAction, ApprovalEntry
from campaignkit.domain.campaign import Campaign, CampaignVersion, HistoryEntry, Verb
from campaignkit.domain.campaign_enums import CampaignStatus, CampaignType
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
from campaignkit.domain.events import ApprovalEvent, CampaignChanged, CampaignRemoved, Outcome
from campaignkit.domain.recurrence import earliest_slot
from campaignkit.domain.schedule import Schedule
from campaignkit.errors import TransitionNotAllowed

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

S = CampaignStatus
SYSTEM_ACTOR: Final = "system"
"""The actor recorded for transitions made by the engine."""

Targets: TypeAlias = frozenset[CampaignStatus]
"""Statuses a verb may lead to; empty for verbs that remove the campaign."""


def _same(*statuses: CampaignStatus) -> dict[CampaignStatus, Targets]:
    return {s: frozenset({s}) for s in statuses}


TRANSITIONS: Final[Mapping[Verb, Mapping[CampaignStatus, Targets]]] = {
    Verb.DUPLICATE: _same(*CampaignStatus),
    Verb.UPDATE_DRAFT: _same(S.DRAFT, S.SCHEDULED, S.LIVE),
    Verb.DELETE: {S.DRAFT: frozenset()},
    Verb.ACTIVATE: {S.DRAFT: frozenset({S.ACTIVATING})},
    Verb.MODIFY: _same(S.SCHEDULED, S.LIVE),
    Verb.DISCARD_DRAFT: _same(S.SCHEDULED, S.LIVE),
    Verb.ACTIVATE_VERSION: _same(S.SCHEDULED, S.LIVE),
    Verb.REQUEST_APPROVAL: {S.DRAFT: frozenset({S.IN_REVIEW}), **_same(S.SCHEDULED, S.LIVE)},
    Verb.CANCEL_APPROVAL: {S.IN_REVIEW: frozenset({S.DRAFT}), **_same(S.SCHEDULED, S.LIVE)},
    Verb.REQUEST_CHANGES: {S.IN_REVIEW: frozenset({S.DRAFT}), **_same(S.SCHEDULED, S.LIVE)},
    Verb.APPROVE: {S.IN_REVIEW: frozenset({S.ACTIVATING}), **_same(S.SCHEDULED, S.LIVE)},
    Verb.PREPARE: {S.ACTIVATING: frozenset({S.SCHEDULED, S.LIVE, S.FAILED})},
    Verb.GO_LIVE: {S.SCHEDULED: frozenset({S.LIVE})},
    Verb.COMPLETE: {S.LIVE: frozenset({S.COMPLETED})},
    Verb.FAIL: {S.ACTIVATING: frozenset({S.FAILED}), S.LIVE: frozenset({S.FAILED})},
    Verb.STOP: {S.SCHEDULED: frozenset({S.STOPPED}), S.LIVE: frozenset({S.STOPPED})},
    Verb.ARCHIVE: {s: frozenset({S.ARCHIVED}) for s in (S.COMPLETED, S.STOPPED, S.FAILED)},
    Verb.PURGE: {S.ARCHIVED: frozenset()},
}
"""Every allowed (verb, from-status) pair and the statuses it may lead to.

``CREATE`` is absent: it makes a new ``DRAFT`` and has no from-status.
Anything not listed raises ``TransitionNotAllowed``. Some entries also have a
guard (for example, ``ACTIVATE_VERSION`` needs an open draft), see ``apply``.
"""

REACHABLE_STATUSES: Final[frozenset[CampaignStatus]] = frozenset(
    {S.DRAFT}
    | {target for table in TRANSITIONS.values() for targets in table.values() for target in targets}
)
"""Statuses a campaign can ever be in (all nine)."""


@attrs.frozen
class LifecycleRules:
    """Time rules of the lifecycle (SPEC section 2).

    Attributes:
        completion_after: A one-shot campaign completes this long after it went live.
        archive_retention: An ARCHIVED campaign is purged this long after its last change.
        missed_occurrences: What the engine does with occurrences of a recurring
            campaign it missed (downtime): ``"latest"`` runs only the latest one and
            records the others as skipped runs; ``"all"`` runs every one (each
            still limited by the send window).
    """

    completion_after: pendulum.Duration = attrs.field(factory=lambda: pendulum.duration(days=3))
    archive_retention: pendulum.Duration = attrs.field(factory=lambda: pendulum.duration(days=30))
    missed_occurrences: Literal["latest", "all"] = "latest"


# ---------------------------------------------------------------- queries


def allowed_from(verb: Verb) -> frozenset[CampaignStatus]:
    """Statuses from which ``verb`` is allowed by the table (guards aside)."""
    return frozenset(TRANSITIONS.get(verb, {}))


def completion_at(campaign: Campaign, rules: LifecycleRules) -> pendulum.DateTime | None:
    """When a LIVE campaign completes, or None if it runs until stopped.

    A one-shot scheduled campaign completes ``completion_after`` after it went
    live, or at its end date if that comes first, and never before its run
    has finished (unless the end date cuts the run off). A recurring or
    API-triggered campaign completes at its end date; with profile time zones,
    not before its scheduled runs have delivered every zone.
    """
    version = campaign.live_version
    if version is None or campaign.went_live_at is None:
        return None
    end = version.schedule.end
    if campaign.type is CampaignType.SCHEDULED and not version.schedule.is_recurring:
        if campaign.open_runs:
            return end
        by_clock = campaign.went_live_at + rules.completion_after
        if campaign.runs_finished_at is not None:
            by_clock = max(by_clock, campaign.runs_finished_at)
        return by_clock if end is None else min(by_clock, end)
    if end is not None and version.schedule.use_profile_timezone:
        # every time zone of the occurrences before the end is delivered first
        if campaign.open_runs:
            return None
        if campaign.runs_finished_at is not None:
            return max(end, campaign.runs_finished_at)
    return end


def run_start(schedule: Schedule, nominal: pendulum.DateTime) -> pendulum.DateTime:
    """When a run standing for ``nominal`` starts.

    At ``nominal``; for profile-time-zone delivery, when that wall-clock time
    first comes anywhere (UTC+14).
    """
    if schedule.use_profile_timezone:
        return earliest_slot(nominal, schedule.timezone)
    return nominal


def first_occurrence(
    schedule: Schedule,
    not_before: pendulum.DateTime,
    anchor: pendulum.DateTime | None = None,
) -> pendulum.DateTime | None:
    """The first occurrence of a recurring schedule at or after ``not_before``.

    ``anchor`` anchors a schedule without a start (see ``Schedule.occurrences``).
    """
    after = not_before.subtract(microseconds=1)
    return next(schedule.occurrences(after=after, anchor=anchor), None)


def next_due(campaign: Campaign, rules: LifecycleRules) -> pendulum.DateTime | None:
    """When the engine next has lifecycle work for ``campaign`` (None: never)."""
    status = campaign.status
    version = campaign.live_version
    if status is S.ACTIVATING:
        return campaign.activated_at
    if status is S.SCHEDULED:
        if version is None:
            return None
        start = version.schedule.start
        return campaign.activated_at if start is None else run_start(version.schedule, start)
    if status is S.LIVE:
        times = [completion_at(campaign, rules)]
        if campaign.next_occurrence_at is not None and version is not None:
            times.append(run_start(version.schedule, campaign.next_occurrence_at))
        return min((t for t in times if t is not None), default=None)
    if status is S.ARCHIVED:
        return campaign.updated_at + rules.archive_retention
    return None


def _go_live(campaign: Campaign, now: pendulum.DateTime) -> Campaign:
    """LIVE from ``now``; a recurring campaign learns its first occurrence."""
    version = campaign.live_version
    assert version is not None
    upcoming = None
    if version.schedule.is_recurring:
        anchor = version.schedule.start or campaign.activated_at or now
        upcoming = first_occurrence(version.schedule, max(anchor, now), anchor)
    return attrs.evolve(campaign, status=S.LIVE, went_live_at=now, next_occurrence_at=upcoming)


def run_started(campaign: Campaign, rules: LifecycleRules) -> Campaign:
    """The campaign with one more open run (its completion waits for it)."""
    started = attrs.evolve(campaign, open_runs=campaign.open_runs + 1)
    return attrs.evolve(started, due_at=next_due(started, rules))


def run_finished(campaign: Campaign, at: pendulum.DateTime, rules: LifecycleRules) -> Campaign:
    """The campaign with one open run fewer, finished ``at``."""
    finished = attrs.evolve(campaign, open_runs=max(0, campaign.open_runs - 1), runs_finished_at=at)
    return attrs.evolve(finished, due_at=next_due(finished, rules))


DUE_VERBS: Final[Mapping[CampaignStatus, Verb]] = {
    S.ACTIVATING: Verb.PREPARE,
    S.SCHEDULED: Verb.GO_LIVE,
    S.LIVE: Verb.COMPLETE,
    S.ARCHIVED: Verb.PURGE,
}
"""The engine command that runs when a campaign in each status falls due."""


# ---------------------------------------------------------------- guards


_HINTS: Final[Mapping[tuple[Verb, CampaignStatus], str]] = {
    (Verb.ACTIVATE, S.LIVE): "it is already live; modify() it to open a new version",
    (Verb.ACTIVATE, S.SCHEDULED): "it is already scheduled; modify() it to open a new version",
    (Verb.DELETE, S.ARCHIVED): "archived campaigns are purged after the retention period",
}
_STATUS_HINTS: Final[Mapping[CampaignStatus, str]] = {
    S.IN_REVIEW: "it is in review and read-only; cancel_approval() or wait for the reviewer",
    S.STOPPED: "a stopped campaign can never be activated, edited or reused; duplicate() it",
    S.COMPLETED: "it has completed; duplicate() it to run it again",
    S.ARCHIVED: "it is archived; duplicate() it to run it again",
    S.FAILED: "it failed; duplicate() it to try again",
}


def _refuse(campaign: Campaign, verb: Verb, hint: str | None = None) -> TransitionNotAllowed:
    if hint is None:
        hint = _HINTS.get((verb, campaign.status)) or _STATUS_HINTS.get(campaign.status, "")
        allowed = sorted(s.value for s in allowed_from(verb))
        if allowed and not hint:
            hint = f"{verb} is allowed only from {', '.join(allowed)}"
    return TransitionNotAllowed(campaign.id, campaign.status.value, verb.value, hint)


def _require_open_draft(campaign: Campaign, verb: Verb) -> CampaignVersion:
    draft = campaign.draft_version
    if draft is None:
        raise _refuse(campaign, verb, "it has no open draft version; modify() it first")
    return draft


def _require_not_in_review(campaign: Campaign, verb: Verb) -> None:
    if campaign.draft_in_review:
        raise _refuse(
            campaign,
            verb,
            "its draft version is in review and read-only; cancel_approval() first",
        )


def _require_run_not_started(campaign: Campaign, verb: Verb) -> None:
    """A one-shot scheduled campaign that is LIVE has started its run: no new version."""
    if (
        campaign.status is S.LIVE
        and campaign.type is CampaignType.SCHEDULED
        and not campaign.is_recurring
    ):
        raise _refuse(
            campaign, verb, "its one-shot run has started; duplicate() it to send a changed copy"
        )


def _require_keeps_recurring(campaign: Campaign, verb: Verb) -> None:
    """A LIVE recurring campaign cannot turn one-shot: its one run would be in the past."""
    draft = campaign.draft_version
    if (
        campaign.status is S.LIVE
        and campaign.type is CampaignType.SCHEDULED
        and draft is not None
        and not draft.schedule.is_recurring
    ):
        raise _refuse(
            campaign,
            verb,
            "a live recurring campaign cannot become one-shot; keep a recurrence, "
            "or stop it and duplicate() it",
        )


_OPENS_VERSION: Final = frozenset({Verb.CREATE, Verb.DUPLICATE, Verb.MODIFY})
"""History actions that open a new draft version."""


def draft_editors(campaign: Campaign) -> frozenset[str]:
    """Everyone who wrote the campaign's open draft version (the one a review is about).

    Read from the history, newest first: every ``update_draft`` back to the
    entry that opened the version (``create``, ``duplicate`` or ``modify``),
    whose actor counts too, as does the version's ``created_by``. Edits of a
    draft discarded earlier are not included: that content is gone.
    """
    editors: set[str] = set()
    if campaign.draft_version is not None:
        editors.add(campaign.draft_version.created_by)
    for entry in reversed(campaign.history):
        if entry.action is Verb.UPDATE_DRAFT:
            editors.add(entry.actor)
        elif entry.action in _OPENS_VERSION:
            editors.add(entry.actor)
            break
    return frozenset(editors)


def _require_review(campaign: Campaign, verb: Verb) -> None:
    if campaign.review is None:
        raise _refuse(campaign, verb, "nothing is in review")


def pending_version(campaign: Campaign, verb: Verb) -> CampaignVersion:
    """The version that activating, requesting approval or approving would run.

    Use it to validate before applying the command.

    Raises:
        TransitionNotAllowed: ``verb`` cannot act on this campaign now.
    """
    if verb not in (Verb.ACTIVATE, Verb.REQUEST_APPROVAL, Verb.APPROVE):
        raise ValueError(f"{verb} does not run a version")
    draft = campaign.draft_version
    if campaign.status is S.DRAFT and verb is not Verb.APPROVE and draft is not None:
        return draft
    if campaign.status is S.IN_REVIEW and verb is Verb.APPROVE and draft is not None:
        return draft
    if campaign.status in (S.SCHEDULED, S.LIVE) and draft is not None:
        if verb is Verb.APPROVE:
            _require_review(campaign, verb)
        else:
            _require_not_in_review(campaign, verb)
        _require_run_not_started(campaign, verb)
        _require_keeps_recurring(campaign, verb)
        return draft
    if campaign.status in (S.SCHEDULED, S.LIVE):
        if verb is Verb.APPROVE:
            raise _refuse(campaign, verb, "nothing is in review")
        raise _refuse(campaign, verb, _HINTS[(Verb.ACTIVATE, campaign.status)])
    raise _refuse(campaign, verb)


# ---------------------------------------------------------------- steps


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
        _require_not_in_review(campaign, command.verb)
        draft = _require_open_draft(campaign, command.verb)
        if command.touches_campaign_fields:
            raise _refuse(
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
    _require_run_not_started(campaign, verb)
    _require_keeps_recurring(campaign, verb)
    draft = _require_open_draft(campaign, verb)
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
            _require_review(c, command.verb)
            if isinstance(command, RequestChanges):
                action, message = record.CHANGES_REQUESTED, command.message
            else:
                action, message = record.CANCELLED, None
            c = _record(c, action, now=now, actor=actor, message=message)
            status = S.DRAFT if c.status is S.IN_REVIEW else c.status
            return attrs.evolve(c, status=status, review=None), message or ""
        case Approve():
            _require_review(c, command.verb)
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
                raise _refuse(c, command.verb, "it already has an open draft version")
            live = c.live_version
            assert live is not None  # every SCHEDULED/LIVE campaign has one
            _require_run_not_started(c, command.verb)
            draft = attrs.evolve(live, number=live.number + 1, created_at=now, created_by=actor)
            return attrs.evolve(c, draft_version=draft), f"version {draft.number}"
        case DiscardDraft():
            _require_not_in_review(c, command.verb)
            draft = _require_open_draft(c, command.verb)
            return attrs.evolve(c, draft_version=None), f"version {draft.number}"
        case ActivateVersion():
            _require_not_in_review(c, command.verb)
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
        raise _refuse(campaign, verb)
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
    return Outcome(changed, (CampaignChanged(campaign.id, entry), *approvals))
