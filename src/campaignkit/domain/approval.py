"""Approval policies, review requests and the approval trail (SPEC section 7).

Pure values and functions: which active policy governs a campaign, who may
review a request, and the record of every request and decision.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import attrs
import pendulum

from campaignkit.domain import checks, display, html_views
from campaignkit.domain.campaign_enums import CampaignType
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.text_enum import TextEnum

MatchMode = Literal["all", "any"]


class PolicyStatus(TextEnum):
    """Whether an approval policy applies to new requests."""

    INACTIVE = "INACTIVE"
    ACTIVE = "ACTIVE"

    def __str__(self) -> str:
        return self.value


@attrs.frozen
class PolicyConditions:
    """Which campaigns a policy applies to. Unset conditions are ignored.

    With ``match="all"`` every set condition must hold; with ``"any"`` one is
    enough. A policy without conditions applies to every campaign.

    Attributes:
        types: Campaign types.
        channels: The campaign uses at least one of these channels.
        tags: The campaign carries at least one of these tags.
        name_contains: Case-insensitive substring of the campaign name.
        name_equals: Case-insensitive whole campaign name.
        requesters: The requesting user is one of these.
        requester_groups: The requesting user belongs to one of these groups.
        match: ``"all"`` or ``"any"``.
    """

    types: frozenset[CampaignType] | None = None
    channels: frozenset[ChannelType] | None = None
    tags: frozenset[str] | None = None
    name_contains: str | None = None
    name_equals: str | None = None
    requesters: frozenset[str] | None = None
    requester_groups: frozenset[str] | None = None
    match: MatchMode = "all"

    def holds(
        self,
        *,
        type: CampaignType,
        channels: frozenset[ChannelType],
        tags: Iterable[str],
        name: str,
        requester: str,
        requester_groups: frozenset[str],
    ) -> bool:
        """True when the conditions select a campaign with these facts."""
        checks = []
        if self.types is not None:
            checks.append(type in self.types)
        if self.channels is not None:
            checks.append(bool(channels & self.channels))
        if self.tags is not None:
            checks.append(bool(self.tags.intersection(tags)))
        if self.name_contains is not None:
            checks.append(self.name_contains.casefold() in name.casefold())
        if self.name_equals is not None:
            checks.append(self.name_equals.casefold() == name.casefold())
        if self.requesters is not None:
            checks.append(requester in self.requesters)
        if self.requester_groups is not None:
            checks.append(bool(self.requester_groups & requester_groups))
        if not checks:
            return True
        return all(checks) if self.match == "all" else any(checks)

    def problems(self) -> list[str]:
        """What is wrong with these conditions (empty when valid)."""
        found = []
        match: object = self.match  # hosts without a type checker pass anything
        if not isinstance(match, str) or match not in ("all", "any"):
            found.append(f"match {checks.shown(match)} must be 'all' or 'any'")
        for label, value in (
            ("types", self.types),
            ("channels", self.channels),
            ("tags", self.tags),
            ("requesters", self.requesters),
            ("requester_groups", self.requester_groups),
        ):
            if value is not None and not value:
                found.append(f"{label} is empty: leave it out (None) to not filter on it")
        for label, names in (
            ("tags", self.tags),
            ("requesters", self.requesters),
            ("requester_groups", self.requester_groups),
        ):
            found.extend(_name_problems(label, names))
        for label, text in (
            ("name_contains", self.name_contains),
            ("name_equals", self.name_equals),
        ):
            if isinstance(text, str) and not text.strip():
                found.append(f"{label} must not be blank")
            elif text is not None:
                checks.text(found, label, text, max_length=checks.MAX_NAME)
        return found


@attrs.frozen
class ApprovalPolicy:
    """Who must review which campaigns before they run.

    Attributes:
        id: Identifier.
        name: Display name (named in ``ApprovalRequired``).
        conditions: Which campaigns it applies to.
        reviewers: Users who may review.
        reviewer_groups: Groups whose members may review.
        block_self_approval: The requester may not approve their own request.
        status: ACTIVE or INACTIVE; only an inactive policy can be edited.
        created_at: Creation instant.
        created_by: Creator.
        activated_at: When it was last activated.
        activation_seq: Increases with every activation of any policy; among
            matching active policies the highest (most recently activated) wins,
            even when two were activated in the same instant.
        revision: Store revision for optimistic concurrency.
    """

    id: str
    name: str
    conditions: PolicyConditions
    reviewers: frozenset[str]
    reviewer_groups: frozenset[str]
    created_at: pendulum.DateTime
    created_by: str
    block_self_approval: bool = False
    status: PolicyStatus = PolicyStatus.INACTIVE
    activated_at: pendulum.DateTime | None = None
    activation_seq: int = 0
    revision: int = 0

    @property
    def is_active(self) -> bool:
        """True when the policy governs new requests."""
        return self.status is PolicyStatus.ACTIVE


def policy_problems(
    name: str, conditions: PolicyConditions, reviewers: frozenset[str], groups: frozenset[str]
) -> list[str]:
    """Every problem with a policy definition (empty when valid)."""
    found: list[str] = []
    given: object = name  # hosts without a type checker pass anything
    if isinstance(given, str) and not given.strip():
        found.append("an approval policy needs a non-empty name")
    else:
        checks.text(found, "approval policy name", name, max_length=checks.MAX_NAME)
    if not reviewers and not groups:
        found.append("an approval policy needs at least one reviewer or reviewer group")
    found.extend(_name_problems("reviewers", reviewers, "reviewer", "a non-empty user id"))
    found.extend(
        _name_problems("reviewer_groups", groups, "reviewer group", "a non-empty group id")
    )
    found.extend(conditions.problems())
    return found


def _name_problems(
    label: str,
    names: Iterable[object] | None,
    entry: str | None = None,
    expected: str = "",
) -> list[str]:
    """Problems with a set of ids or names: each a short, non-blank UTF-8 string."""
    found: list[str] = []
    if names is None:
        return found
    if len(list(names)) > checks.MAX_POLICY_NAMES:
        return [f"{label} has more than {checks.MAX_POLICY_NAMES} entries"]
    for name in names:
        if isinstance(name, str) and not name.strip():
            found.append(
                f"{entry} {name!r} must be {expected}"
                if entry
                else f"{label} entry {name!r} must not be blank"
            )
        else:
            checks.text(found, f"{label} entry", name, max_length=checks.MAX_ID)
    return found


def governing_policy(
    policies: Iterable[ApprovalPolicy],
    *,
    type: CampaignType,
    channels: frozenset[ChannelType],
    tags: Iterable[str],
    name: str,
    requester: str,
    requester_groups: frozenset[str],
) -> ApprovalPolicy | None:
    """The most recently activated ACTIVE policy whose conditions hold, or None."""
    tag_set = frozenset(tags)
    matching = [
        p
        for p in policies
        if p.is_active
        and p.conditions.holds(
            type=type,
            channels=channels,
            tags=tag_set,
            name=name,
            requester=requester,
            requester_groups=requester_groups,
        )
    ]
    if not matching:
        return None
    return max(matching, key=lambda p: (p.activation_seq, p.id))


@attrs.frozen
class Review:
    """An open review request, with the policy it was matched against.

    The policy is copied at request time: later edits or deactivation do not
    change who may decide this request. Group membership is read when a
    reviewer acts.

    Attributes:
        requester: Who asked for approval.
        requested_at: When.
        version: The version number under review.
        policy_id: The governing policy.
        policy_name: Its name at request time.
        reviewers: Its reviewers at request time.
        reviewer_groups: Its reviewer groups at request time.
        block_self_approval: Its flag at request time.
        message: The requester's note.
    """

    requester: str
    requested_at: pendulum.DateTime
    version: int
    policy_id: str
    policy_name: str
    reviewers: frozenset[str]
    reviewer_groups: frozenset[str]
    block_self_approval: bool
    message: str | None = None

    @classmethod
    def under(
        cls,
        policy: ApprovalPolicy,
        *,
        requester: str,
        requested_at: pendulum.DateTime,
        version: int,
        message: str | None,
    ) -> Review:
        """A request governed by ``policy``."""
        return cls(
            requester=requester,
            requested_at=requested_at,
            version=version,
            policy_id=policy.id,
            policy_name=policy.name,
            reviewers=policy.reviewers,
            reviewer_groups=policy.reviewer_groups,
            block_self_approval=policy.block_self_approval,
            message=message,
        )

    def is_reviewer(self, user: str, user_groups: frozenset[str]) -> bool:
        """True when ``user`` is named by the policy, directly or through a group."""
        return user in self.reviewers or bool(self.reviewer_groups & user_groups)

    def refusal(
        self,
        user: str,
        user_groups: frozenset[str],
        *,
        approving: bool,
        editors: frozenset[str] = frozenset(),
    ) -> str | None:
        """Why ``user`` may not decide this request, or None when they may.

        Args:
            user: Who wants to decide.
            user_groups: The groups they belong to.
            approving: True to approve (self-approval may be blocked), False to
                request changes.
            editors: Everyone who wrote the version under review (see
                :func:`campaignkit.domain.lifecycle.draft_editors`); with block
                self-approval each of them counts as its author, like the requester.
        """
        if not self.is_reviewer(user, user_groups):
            return f"user {user!r} is not a reviewer of approval policy {self.policy_name!r}"
        if approving and self.block_self_approval:
            if user == self.requester:
                return (
                    f"approval policy {self.policy_name!r} blocks self-approval: "
                    f"{user!r} requested this review"
                )
            if user in editors:
                return (
                    f"approval policy {self.policy_name!r} blocks self-approval: "
                    f"{user!r} edited version {self.version}, which is under review"
                )
        return None


class ApprovalAction(TextEnum):
    """What happened in an approval trail entry."""

    REQUESTED = "requested"
    CANCELLED = "cancelled"
    CHANGES_REQUESTED = "changes_requested"
    APPROVED = "approved"
    ACTIVATED_WITHOUT_POLICY = "activated_without_policy"

    def __str__(self) -> str:
        return self.value


@attrs.frozen
class ApprovalEntry:
    """One step of a campaign's approval trail.

    Attributes:
        at: When.
        actor: Who.
        action: What.
        version: The version concerned.
        policy_id: The governing policy, if any.
        message: The note, comment or change request.
    """

    at: pendulum.DateTime
    actor: str
    action: ApprovalAction
    version: int
    policy_id: str | None = None
    message: str | None = None

    def __repr__(self) -> str:
        """When, who, what and which version in one line."""
        return display.approval_repr(self)


class ApprovalHistory(tuple[ApprovalEntry, ...]):
    """A campaign's approval trail, oldest first: a tuple that shows as a table in notebooks.

    It is a plain tuple in every other way (equal to the tuple of its entries).
    """

    __slots__ = ()

    def _repr_html_(self) -> str:
        """The trail as an HTML table."""
        return html_views.approvals_html(self)


def reviewers_text(review: Review) -> str:
    """A short description of who may decide ``review`` (for messages)."""
    parts: Sequence[str] = [
        *sorted(review.reviewers),
        *(f"group {g}" for g in sorted(review.reviewer_groups)),
    ]
    return ", ".join(parts)
