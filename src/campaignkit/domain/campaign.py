"""The campaign aggregate: identity, versions, status and history."""

from __future__ import annotations

import attrs
import pendulum

from campaignkit.domain import checks, display, html_views
from campaignkit.domain.approval import ApprovalEntry, Review
from campaignkit.domain.campaign_enums import (
    RUNNING_STATUSES,
    CampaignStatus,
    CampaignType,
    Category,
)
from campaignkit.domain.channels import (
    ChannelType,
    Content,
    EmailContent,
    PushContent,
    SmsContent,
)
from campaignkit.domain.rules import QuietHours
from campaignkit.domain.schedule import Schedule
from campaignkit.domain.text_enum import TextEnum

_CONTENTS = (EmailContent, SmsContent, PushContent)


@attrs.frozen
class Action:
    """One channel delivery of a campaign: a surface and the content to send over it.

    Attributes:
        surface_id: The channel surface (message preset) to deliver with.
        content: The channel content; its channel must match the surface's.
        id: Stable identifier within the campaign; assigned on create if empty.
        rate_limit: At most this many messages per second (None: unlimited).
    """

    surface_id: str
    content: Content
    id: str = ""
    rate_limit: int | None = None

    def __attrs_post_init__(self) -> None:
        """Refuse a bad surface id, content, id or rate limit (loaded ones too)."""
        problems: list[str] = []
        checks.text(problems, "action surface_id", self.surface_id, max_length=checks.MAX_ID)
        checks.instance(problems, "action content", self.content, _CONTENTS)
        checks.text(problems, "action id", self.id, max_length=checks.MAX_ID, allow_empty=True)
        limit: object = self.rate_limit
        if limit is not None and (type(limit) is not int or limit < 1):
            problems.append(
                f"rate_limit={checks.shown(limit)} must be a whole number of messages "
                "per second, at least 1 (or None for no limit)"
            )
        checks.raise_if(problems, "action")

    @property
    def channel(self) -> ChannelType:
        """The channel of this action's content."""
        return self.content.channel


@attrs.frozen
class CampaignVersion:
    """The runnable part of a campaign: actions, audience, namespace and schedule.

    A campaign has at most one live and at most one open draft version.

    Attributes:
        number: 1 for the first version, then increasing.
        created_at: When this version was opened.
        created_by: Who opened it.
        actions: The channel actions, all run together.
        audience: The audience (segment) name, if chosen.
        namespace: The identity namespace targeted (``"email"``, ``"phone"``, ...).
        schedule: When it runs.
        quiet_hours: Quiet hours of this campaign, on top of the kit's per channel.
    """

    number: int
    created_at: pendulum.DateTime
    created_by: str
    actions: tuple[Action, ...] = ()
    audience: str | None = None
    namespace: str | None = None
    schedule: Schedule = attrs.field(factory=Schedule)
    quiet_hours: tuple[QuietHours, ...] = ()

    def __repr__(self) -> str:
        """Number, actions and channels, audience and schedule in one line."""
        return display.version_repr(self)

    def __attrs_post_init__(self) -> None:
        """Refuse fields of the wrong type (sizes are the verbs' to check)."""
        problems: list[str] = []
        checks.whole_number(problems, "version number", self.number, minimum=1)
        checks.aware_datetime(problems, "version created_at", self.created_at)
        checks.utf8_string(problems, "version created_by", self.created_by)
        checks.sequence_of(problems, "actions", self.actions, Action)
        checks.utf8_string(problems, "audience", self.audience, optional=True)
        checks.utf8_string(problems, "namespace", self.namespace, optional=True)
        checks.instance(problems, "schedule", self.schedule, Schedule)
        checks.sequence_of(problems, "quiet_hours", self.quiet_hours, QuietHours)
        checks.raise_if(problems, "campaign version")

    @property
    def channels(self) -> frozenset[ChannelType]:
        """The channels this version delivers over."""
        return frozenset(a.channel for a in self.actions)


class Verb(TextEnum):
    """Everything that can happen to a campaign; the actions of its history."""

    CREATE = "create"
    DUPLICATE = "duplicate"
    UPDATE_DRAFT = "update_draft"
    DELETE = "delete"
    ACTIVATE = "activate"
    MODIFY = "modify"
    DISCARD_DRAFT = "discard_draft"
    ACTIVATE_VERSION = "activate_version"
    REQUEST_APPROVAL = "request_approval"
    CANCEL_APPROVAL = "cancel_approval"
    REQUEST_CHANGES = "request_changes"
    APPROVE = "approve"
    PREPARE = "prepare"
    GO_LIVE = "go_live"
    COMPLETE = "complete"
    FAIL = "fail"
    STOP = "stop"
    ARCHIVE = "archive"
    PURGE = "purge"
    PROOF = "proof"
    """Proofs were sent to test profiles (the status does not change)."""

    def __str__(self) -> str:
        return self.value


@attrs.frozen
class HistoryEntry:
    """One recorded change of a campaign.

    Attributes:
        at: When it happened (for engine transitions: when it was due).
        actor: The user id, or ``"system"`` for the engine.
        action: What happened.
        from_status: Status before.
        to_status: Status after (equal to ``from_status`` for edits).
        detail: Extra facts (version number, reason, message).
    """

    at: pendulum.DateTime
    actor: str
    action: Verb
    from_status: CampaignStatus | None
    to_status: CampaignStatus
    detail: str = ""

    def __repr__(self) -> str:
        """When, who, what and the status change in one line."""
        return display.history_repr(self)


@attrs.frozen
class Campaign:
    """A campaign: one content to one audience over one or more channels.

    Instances are immutable; every change produces a new value through
    :func:`campaignkit.domain.lifecycle.apply`.

    Attributes:
        id: Identifier.
        name: Display name.
        type: SCHEDULED or API_TRIGGERED.
        category: MARKETING or TRANSACTIONAL.
        status: Current status.
        created_at: Creation instant.
        created_by: Creator's user id.
        updated_at: Instant of the last change.
        description: Free text.
        tags: Labels used to filter lists.
        create_profiles: API-triggered TRANSACTIONAL only: a trigger for an
            unknown recipient creates its profile instead of failing.
        live_version: The version that runs, once activated.
        draft_version: The version being edited: the only version of a DRAFT
            campaign, or the open draft of a SCHEDULED/LIVE one.
        superseded_versions: Versions that were live before the current one.
        activated_at: When activation was accepted.
        went_live_at: When it went LIVE (the 3-day completion clock starts here).
        failure_reason: Why it FAILED, if it did.
        review: The open review request, if the draft is in review.
        approvals: The approval trail: every request and decision, oldest first.
        open_runs: Scheduled runs (one-shot or occurrences) started and not yet
            finished (completion waits for them).
        next_occurrence_at: When a LIVE recurring campaign next starts a run.
        runs_finished_at: When the last of its runs finished.
        due_at: When the engine next has lifecycle work for it (``None``: never).
        history: Every change, oldest first.
        revision: Store revision for optimistic concurrency.
    """

    id: str
    name: str
    type: CampaignType
    category: Category
    status: CampaignStatus
    created_at: pendulum.DateTime
    created_by: str
    updated_at: pendulum.DateTime
    description: str = ""
    tags: tuple[str, ...] = ()
    create_profiles: bool = False
    live_version: CampaignVersion | None = None
    draft_version: CampaignVersion | None = None
    superseded_versions: tuple[CampaignVersion, ...] = ()
    activated_at: pendulum.DateTime | None = None
    went_live_at: pendulum.DateTime | None = None
    failure_reason: str | None = None
    review: Review | None = None
    approvals: tuple[ApprovalEntry, ...] = ()
    open_runs: int = 0
    runs_finished_at: pendulum.DateTime | None = None
    next_occurrence_at: pendulum.DateTime | None = None
    due_at: pendulum.DateTime | None = None
    history: tuple[HistoryEntry, ...] = ()
    revision: int = 0

    def __attrs_post_init__(self) -> None:
        """Refuse identity fields of the wrong type (sizes are the verbs' to check).

        A campaign that cannot be stored valid cannot be built: a loaded
        document with such a value fails to load (``StorageError``) instead of
        failing later in a listing.
        """
        problems: list[str] = []
        checks.utf8_string(problems, "campaign id", self.id)
        checks.utf8_string(problems, "campaign name", self.name)
        checks.instance(problems, "campaign type", self.type, CampaignType)
        checks.instance(problems, "campaign category", self.category, Category)
        checks.instance(problems, "campaign status", self.status, CampaignStatus)
        checks.utf8_string(problems, "description", self.description)
        tags: object = self.tags
        if not isinstance(tags, tuple):
            problems.append(f"tags must be a tuple of strings, not {checks.describe(tags)}")
        else:
            for index, tag in enumerate(tags):
                checks.utf8_string(problems, f"tags[{index}]", tag)
        checks.boolean(problems, "create_profiles", self.create_profiles)
        for label, version in (
            ("live_version", self.live_version),
            ("draft_version", self.draft_version),
        ):
            if version is not None:
                checks.instance(problems, label, version, CampaignVersion)
        checks.raise_if(problems, "campaign")

    @property
    def has_open_draft(self) -> bool:
        """True when a SCHEDULED or LIVE campaign has a new version being edited."""
        return self.draft_version is not None and self.status in RUNNING_STATUSES

    @property
    def draft_in_review(self) -> bool:
        """True while the open draft version of a SCHEDULED or LIVE campaign is in review."""
        return self.review is not None and self.status in RUNNING_STATUSES

    @property
    def newest_version(self) -> CampaignVersion:
        """The most recent version: the draft if there is one, else the live one."""
        version = self.draft_version or self.live_version
        if version is None:  # pragma: no cover - every constructor sets one
            raise AssertionError(f"campaign {self.id} has no version")
        return version

    @property
    def channels(self) -> frozenset[ChannelType]:
        """Channels of the live and draft versions."""
        found: frozenset[ChannelType] = frozenset()
        for version in (self.live_version, self.draft_version):
            if version is not None:
                found |= version.channels
        return found

    @property
    def surface_ids(self) -> frozenset[str]:
        """Surfaces referenced by the live and draft versions."""
        return frozenset(
            action.surface_id
            for version in (self.live_version, self.draft_version)
            if version is not None
            for action in version.actions
        )

    @property
    def is_recurring(self) -> bool:
        """True when the governing version repeats on a schedule."""
        version = self.live_version or self.newest_version
        return version.schedule.is_recurring

    def __repr__(self) -> str:
        """Id, name, status, type and next start: one line under 200 characters."""
        return display.campaign_repr(self)

    def _repr_html_(self) -> str:
        """Fields, versions and history as HTML tables for notebooks."""
        return html_views.campaign_html(self)
