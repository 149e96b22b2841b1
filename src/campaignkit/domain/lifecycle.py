"""The campaign lifecycle: one transition table and a pure ``apply``.

``apply(campaign, command, now=..., actor=..., rules=...)`` returns the new
campaign and the domain events; it never reads a clock or touches a store.
An action the table (or a guard) does not allow raises
:class:`~campaignkit.errors.TransitionNotAllowed` and changes nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from typing import ClassVar, Final, TypeAlias, TypeVar

import attrs
import pendulum

from campaignkit.domain.campaign import (
    Action,
    Campaign,
    CampaignVersion,
    HistoryEntry,
    Verb,
)
from campaignkit.domain.campaign_enums import CampaignStatus, CampaignType, Category
from campaignkit.domain.events import CampaignChanged, CampaignRemoved, DomainEvent
from campaignkit.domain.schedule import Schedule
from campaignkit.errors import TransitionNotAllowed, ValidationError

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
    """

    completion_after: pendulum.Duration = attrs.field(factory=lambda: pendulum.duration(days=3))
    archive_retention: pendulum.Duration = attrs.field(factory=lambda: pendulum.duration(days=30))


class _Unset(enum.Enum):
    UNSET = "UNSET"


UNSET: Final = _Unset.UNSET
"""Marks an ``UpdateDraft`` field that is left as it is."""

T = TypeVar("T")
Maybe: TypeAlias = T | _Unset


# ---------------------------------------------------------------- commands


@attrs.frozen
class UpdateDraft:
    """Edit a DRAFT campaign, or the open draft version of a SCHEDULED/LIVE one.

    Campaign-level fields (name, description, tags) can only change while DRAFT.
    """

    verb: ClassVar[Verb] = Verb.UPDATE_DRAFT
    name: Maybe[str] = UNSET
    description: Maybe[str] = UNSET
    tags: Maybe[tuple[str, ...]] = UNSET
    actions: Maybe[tuple[Action, ...]] = UNSET
    audience: Maybe[str | None] = UNSET
    namespace: Maybe[str | None] = UNSET
    schedule: Maybe[Schedule] = UNSET

    @property
    def touches_campaign_fields(self) -> bool:
        """True when name, description or tags are changed."""
        return any(v is not UNSET for v in (self.name, self.description, self.tags))


@attrs.frozen
class Delete:
    """Remove a DRAFT campaign."""

    verb: ClassVar[Verb] = Verb.DELETE


@attrs.frozen
class Activate:
    """DRAFT -> ACTIVATING (validation is done by the caller first)."""

    verb: ClassVar[Verb] = Verb.ACTIVATE


@attrs.frozen
class Modify:
    """Open a new draft version of a SCHEDULED or LIVE campaign."""

    verb: ClassVar[Verb] = Verb.MODIFY


@attrs.frozen
class DiscardDraft:
    """Throw away the open draft version."""

    verb: ClassVar[Verb] = Verb.DISCARD_DRAFT


@attrs.frozen
class ActivateVersion:
    """Replace the live version by the open draft at once (no ACTIVATING)."""

    verb: ClassVar[Verb] = Verb.ACTIVATE_VERSION


@attrs.frozen
class RequestApproval:
    """Submit the draft (or open draft version) for review."""

    verb: ClassVar[Verb] = Verb.REQUEST_APPROVAL
    message: str | None = None


@attrs.frozen
class CancelApproval:
    """Withdraw a review request."""

    verb: ClassVar[Verb] = Verb.CANCEL_APPROVAL


@attrs.frozen
class RequestChanges:
    """Send a request under review back to its author with a message."""

    verb: ClassVar[Verb] = Verb.REQUEST_CHANGES
    message: str


@attrs.frozen
class Approve:
    """Approve the request: activate the draft, or replace the live version."""

    verb: ClassVar[Verb] = Verb.APPROVE
    comment: str | None = None


@attrs.frozen
class Prepare:
    """Engine: finish an activation; ``problems`` non-empty means it FAILED."""

    verb: ClassVar[Verb] = Verb.PREPARE
    problems: tuple[str, ...] = ()


@attrs.frozen
class GoLive:
    """Engine: SCHEDULED -> LIVE at the start instant."""

    verb: ClassVar[Verb] = Verb.GO_LIVE


@attrs.frozen
class Complete:
    """Engine: LIVE -> COMPLETED."""

    verb: ClassVar[Verb] = Verb.COMPLETE


@attrs.frozen
class Fail:
    """Engine: an irrecoverable failure."""

    verb: ClassVar[Verb] = Verb.FAIL
    reason: str


@attrs.frozen
class Stop:
    """Stop a SCHEDULED or LIVE campaign for good."""

    verb: ClassVar[Verb] = Verb.STOP


@attrs.frozen
class Archive:
    """Archive a COMPLETED, STOPPED or FAILED campaign."""

    verb: ClassVar[Verb] = Verb.ARCHIVE


@attrs.frozen
class Purge:
    """Engine: remove an ARCHIVED campaign after the retention period."""

    verb: ClassVar[Verb] = Verb.PURGE


Command: TypeAlias = (
    UpdateDraft
    | Delete
    | Activate
    | Modify
    | DiscardDraft
    | ActivateVersion
    | RequestApproval
    | CancelApproval
    | RequestChanges
    | Approve
    | Prepare
    | GoLive
    | Complete
    | Fail
    | Stop
    | Archive
    | Purge
)
"""Any command ``apply`` accepts."""


@attrs.frozen
class Outcome:
    """The result of a pure lifecycle step.

    Attributes:
        campaign: The campaign after the step (for a removal: as it was last).
        events: The domain events the step produced.
        removed: True when the step deletes the campaign.
    """

    campaign: Campaign
    events: tuple[DomainEvent, ...]
    removed: bool = False


# ---------------------------------------------------------------- queries


def allowed_from(verb: Verb) -> frozenset[CampaignStatus]:
    """Statuses from which ``verb`` is allowed by the table (guards aside)."""
    return frozenset(TRANSITIONS.get(verb, {}))


def completion_at(campaign: Campaign, rules: LifecycleRules) -> pendulum.DateTime | None:
    """When a LIVE campaign completes, or None if it runs until stopped."""
    version = campaign.live_version
    if version is None or campaign.went_live_at is None:
        return None
    end = version.schedule.end
    if campaign.type is CampaignType.SCHEDULED and not version.schedule.is_recurring:
        by_clock = campaign.went_live_at + rules.completion_after
        return by_clock if end is None else min(by_clock, end)
    return end


def next_due(campaign: Campaign, rules: LifecycleRules) -> pendulum.DateTime | None:
    """When the engine next has lifecycle work for ``campaign`` (None: never)."""
    status = campaign.status
    if status is S.ACTIVATING:
        return campaign.activated_at
    if status is S.SCHEDULED:
        version = campaign.live_version
        return None if version is None else (version.schedule.start or campaign.activated_at)
    if status is S.LIVE:
        return completion_at(campaign, rules)
    if status is S.ARCHIVED:
        return campaign.updated_at + rules.archive_retention
    return None


DUE_VERBS: Final[Mapping[CampaignStatus, Verb]] = {
    S.ACTIVATING: Verb.PREPARE,
    S.SCHEDULED: Verb.GO_LIVE,
    S.LIVE: Verb.COMPLETE,
    S.ARCHIVED: Verb.PURGE,
}
"""The engine command that runs when a campaign in each status falls due."""


# ---------------------------------------------------------------- create / duplicate


def normalize_tags(tags: Iterable[object]) -> tuple[str, ...]:
    """Strip tags, drop duplicates (keeping order); refuse empty or non-string tags."""
    if isinstance(tags, str):
        raise ValidationError([f"tags must be a list of strings, not the string {tags!r}"])
    seen: dict[str, None] = {}
    problems = []
    for tag in tags:
        text = tag.strip() if isinstance(tag, str) else None
        if not text:
            problems.append(f"tag {tag!r} must be a non-empty string")
            continue
        seen.setdefault(text, None)
    if problems:
        raise ValidationError(problems)
    return tuple(seen)


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError([f"campaign name {name!r} must be a non-empty string"])


def create(
    *,
    campaign_id: str,
    name: str,
    type: CampaignType,
    category: Category,
    version: CampaignVersion,
    now: pendulum.DateTime,
    actor: str,
    description: str = "",
    tags: Sequence[str] = (),
    detail: str = "",
    verb: Verb = Verb.CREATE,
) -> Outcome:
    """Make a new DRAFT campaign.

    Raises:
        ValidationError: empty name or tags, or TRANSACTIONAL on a SCHEDULED campaign.
    """
    _check_name(name)
    if category is Category.TRANSACTIONAL and type is not CampaignType.API_TRIGGERED:
        raise ValidationError(
            [
                "category TRANSACTIONAL is only allowed for API_TRIGGERED campaigns; "
                "use Category.MARKETING or type CampaignType.API_TRIGGERED"
            ]
        )
    entry = HistoryEntry(now, actor, verb, None, S.DRAFT, detail)
    campaign = Campaign(
        id=campaign_id,
        name=name.strip(),
        type=type,
        category=category,
        status=S.DRAFT,
        created_at=now,
        created_by=actor,
        updated_at=now,
        description=description,
        tags=normalize_tags(tags),
        draft_version=version,
        history=(entry,),
    )
    return Outcome(campaign, (CampaignChanged(campaign_id, entry),))


def duplicate(
    source: Campaign,
    *,
    campaign_id: str,
    name: str | None,
    now: pendulum.DateTime,
    actor: str,
) -> Outcome:
    """Copy the newest version of ``source`` (any status) into a new DRAFT campaign."""
    newest = source.newest_version
    version = attrs.evolve(newest, number=1, created_at=now, created_by=actor)
    return create(
        campaign_id=campaign_id,
        name=name if name is not None else f"{source.name} (copy)",
        type=source.type,
        category=source.category,
        version=version,
        now=now,
        actor=actor,
        description=source.description,
        tags=source.tags,
        detail=f"from {source.id} version {newest.number}",
        verb=Verb.DUPLICATE,
    )


# ---------------------------------------------------------------- apply


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


def _pick(value: Maybe[T], current: T) -> T:
    return current if isinstance(value, _Unset) else value


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


def _edit_version(version: CampaignVersion, command: UpdateDraft) -> CampaignVersion:
    return attrs.evolve(
        version,
        actions=_pick(command.actions, version.actions),
        audience=_pick(command.audience, version.audience),
        namespace=_pick(command.namespace, version.namespace),
        schedule=_pick(command.schedule, version.schedule),
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
    name = _pick(command.name, campaign.name)
    _check_name(name)
    return attrs.evolve(
        campaign,
        name=name.strip(),
        description=_pick(command.description, campaign.description),
        tags=normalize_tags(_pick(command.tags, campaign.tags)),
        draft_version=_edit_version(campaign.newest_version, command),
    )


def _promote_draft(campaign: Campaign, verb: Verb, now: pendulum.DateTime) -> Campaign:
    """Make the open draft the live version (ACTIVATE_VERSION, or APPROVE of a draft).

    A LIVE campaign keeps ``went_live_at`` (the completion clock is not
    restarted). A SCHEDULED one is re-activated at ``now``: it goes live at the
    new version's start, or at once when the new version has none.
    """
    draft = _require_open_draft(campaign, verb)
    superseded = campaign.superseded_versions
    if campaign.live_version is not None:
        superseded = (*superseded, campaign.live_version)
    activated_at = now if campaign.status is S.SCHEDULED else campaign.activated_at
    return attrs.evolve(
        campaign,
        live_version=draft,
        draft_version=None,
        superseded_versions=superseded,
        draft_in_review=False,
        activated_at=activated_at,
    )


def _activate(campaign: Campaign, now: pendulum.DateTime) -> Campaign:
    return attrs.evolve(
        campaign,
        status=S.ACTIVATING,
        live_version=campaign.draft_version,
        draft_version=None,
        activated_at=now,
    )


def _step(
    campaign: Campaign, command: Command, now: pendulum.DateTime, actor: str
) -> tuple[Campaign, str]:
    """Return the changed campaign (status not yet set for simple moves) and a detail."""
    c = campaign
    match command:
        case UpdateDraft():
            edited = _update_draft(c, command)
            return edited, f"version {edited.newest_version.number}"
        case Activate():
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
            _require_run_not_started(c, command.verb)
            _require_keeps_recurring(c, command.verb)
            promoted = _promote_draft(c, command.verb, now)
            return promoted, f"version {promoted.newest_version.number}"
        case RequestApproval():
            if c.status is S.DRAFT:
                return attrs.evolve(c, status=S.IN_REVIEW), command.message or ""
            _require_not_in_review(c, command.verb)
            _require_open_draft(c, command.verb)
            return attrs.evolve(c, draft_in_review=True), command.message or ""
        case CancelApproval() | RequestChanges():
            message = command.message if isinstance(command, RequestChanges) else ""
            if c.status is S.IN_REVIEW:
                return attrs.evolve(c, status=S.DRAFT), message
            if not c.draft_in_review:
                raise _refuse(c, command.verb, "nothing is in review")
            return attrs.evolve(c, draft_in_review=False), message
        case Approve():
            if c.status is S.IN_REVIEW:
                return _activate(c, now), command.comment or ""
            if not c.draft_in_review:
                raise _refuse(c, command.verb, "nothing is in review")
            _require_run_not_started(c, command.verb)
            _require_keeps_recurring(c, command.verb)
            return _promote_draft(c, command.verb, now), command.comment or ""
        case Prepare():
            if command.problems:
                reason = "; ".join(command.problems)
                return attrs.evolve(c, status=S.FAILED, failure_reason=reason), reason
            start = c.live_version.schedule.start if c.live_version else None
            if start is not None and start > now:
                return attrs.evolve(c, status=S.SCHEDULED), ""
            return attrs.evolve(c, status=S.LIVE, went_live_at=now), ""
        case GoLive():
            return attrs.evolve(c, status=S.LIVE, went_live_at=now), ""
        case Fail():
            failed = attrs.evolve(
                c, status=S.FAILED, failure_reason=command.reason, draft_in_review=False
            )
            return failed, command.reason
        case Complete() | Stop() | Archive():
            target = next(iter(TRANSITIONS[command.verb][c.status]))
            return attrs.evolve(c, status=target, draft_in_review=False), ""
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
        The new campaign (``removed=True`` for delete and purge) and its events.

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
    return Outcome(changed, (CampaignChanged(campaign.id, entry),))
