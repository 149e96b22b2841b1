"""Approval workflow verbs and approval policy management (SPEC section 7)."""

from __future__ import annotations

from collections.abc import Iterable

import attrs
import pendulum

from campaignkit.domain import checks
from campaignkit.domain.approval import (
    ApprovalHistory,
    ApprovalPolicy,
    MatchMode,
    PolicyConditions,
    PolicyStatus,
    Review,
    policy_problems,
)
from campaignkit.domain.campaign import Campaign, Verb
from campaignkit.domain.campaign_enums import CampaignStatus, CampaignType
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.commands import UNSET, Maybe, pick
from campaignkit.domain.lifecycle import (
    Activate,
    ActivateVersion,
    Approve,
    CancelApproval,
    Command,
    Outcome,
    RequestApproval,
    RequestChanges,
    apply,
    draft_editors,
    pending_version,
)
from campaignkit.errors import ApprovalPolicyActive, PermissionDenied, ValidationError
from campaignkit.permissions import Permission as P
from campaignkit.ports import UnitOfWork
from campaignkit.session.base import Build, SessionBase, as_set


def _names(values: Iterable[str] | None, name: str = "names") -> frozenset[str] | None:
    """A set of stripped names or ids; refuse a bare string or anything but strings."""
    if values is None:
        return None
    problems: list[str] = []
    if isinstance(values, str) or not isinstance(values, (list, tuple, set, frozenset)):
        problems.append(f"{name} must be a list of names, not {checks.describe(values)}")
    elif len(values) > checks.MAX_POLICY_NAMES:
        problems.append(f"{name} has {len(values)} items; the limit is {checks.MAX_POLICY_NAMES}")
    else:
        for index, value in enumerate(values):  # blank ones are reported by policy_problems
            checks.text(
                problems, f"{name}[{index}]", value, max_length=checks.MAX_ID, allow_empty=True
            )
    checks.raise_if(problems, "approval policy")
    return frozenset(v.strip() for v in values)


def _flag(value: object) -> None:
    problems: list[str] = []
    checks.boolean(problems, "block_self_approval", value)
    checks.raise_if(problems, "arguments")


def _message(name: str, value: object, *, optional: bool = True) -> None:
    """Refuse a note that is not a UTF-8 string of at most ``MAX_DESCRIPTION`` characters."""
    problems: list[str] = []
    if not (optional and value is None):
        checks.text(problems, name, value, max_length=checks.MAX_DESCRIPTION, allow_empty=optional)
    checks.raise_if(problems, "arguments")


class ApprovalVerbs(SessionBase):
    """The approval workflow and approval policy verbs of a user session."""

    # ------------------------------------------------------------ workflow

    def request_approval(self, campaign_id: str, message: str | None = None) -> Campaign:
        """Submit a draft (or the open draft version of a running campaign) for review.

        Needs ``campaign.write``. Runs the activation validation first. When an
        active approval policy applies, the campaign goes IN_REVIEW (or, for a
        running campaign, its draft goes in review). When none applies, the
        campaign is activated directly, but only if the requester may publish.

        Raises:
            ValidationError: the draft could not run; nothing changes.
            PermissionDenied: no policy applies and the requester may not publish.
            TransitionNotAllowed: there is nothing to submit in this status.
        """
        _message("message", message)

        def build(uow: UnitOfWork, campaign: Campaign, now: pendulum.DateTime) -> Outcome:
            version = pending_version(campaign, Verb.REQUEST_APPROVAL)
            check_start = campaign.status is not CampaignStatus.LIVE
            self._validate(uow, campaign, version, now, check_start=check_start)
            policy = self._governing_policy(uow, campaign, version)
            command: Command
            if policy is not None:
                review = Review.under(
                    policy,
                    requester=self.user,
                    requested_at=now,
                    version=version.number,
                    message=message,
                )
                command = RequestApproval(review)
            elif self._allowed(P.CAMPAIGN_PUBLISH, campaign):
                direct = campaign.status is CampaignStatus.DRAFT
                command = (
                    Activate(via_request=True, message=message)
                    if direct
                    else ActivateVersion(via_request=True, message=message)
                )
            else:
                raise PermissionDenied(
                    self.user,
                    P.CAMPAIGN_PUBLISH.value,
                    campaign.id,
                    "no approval policy applies, so the request would activate the campaign "
                    "directly, which needs a user allowed to publish",
                )
            return apply(campaign, command, now=now, actor=self.user, rules=self._kit.lifecycle)

        return self._changed(campaign_id, P.CAMPAIGN_WRITE, build)

    def cancel_approval(self, campaign_id: str) -> Campaign:
        """Withdraw a review request: the campaign is a draft again (or keeps running).

        Needs ``campaign.write``, and being either the requester or, as in the
        reference product, a reviewer of the request's policy who holds
        ``campaign.approve``; nobody else may cancel.

        Raises:
            PermissionDenied: no ``campaign.write``; neither the requester nor
                a reviewer of the request; a reviewer without ``campaign.approve``.
            TransitionNotAllowed: nothing is in review.
        """

        def build(uow: UnitOfWork, campaign: Campaign, now: pendulum.DateTime) -> Outcome:
            review = campaign.review
            if review is not None and review.requester != self.user:
                if not review.is_reviewer(self.user, uow.access.groups_of(self.user)):
                    raise PermissionDenied(
                        self.user,
                        P.CAMPAIGN_WRITE.value,
                        campaign.id,
                        f"only the requester {review.requester!r} or a reviewer of approval "
                        f"policy {review.policy_name!r} can cancel this review",
                    )
                self._require(P.CAMPAIGN_APPROVE, campaign)
            return apply(
                campaign, CancelApproval(), now=now, actor=self.user, rules=self._kit.lifecycle
            )

        return self._changed(campaign_id, P.CAMPAIGN_WRITE, build)

    def approve(self, campaign_id: str, comment: str | None = None) -> Campaign:
        """Approve a review request: the campaign (or new version) is activated.

        Needs ``campaign.approve`` and being a reviewer of the policy the
        request was made under; with block self-approval, neither its requester
        nor anyone who edited the version under review (created it, updated
        it, or opened it with ``modify``).
        Runs the activation validation first: if it fails, the request stays in
        review so the reviewer can request changes.

        Raises:
            PermissionDenied: not a reviewer, self-approval blocked, or no ``campaign.approve``.
            ValidationError: the draft could not run; nothing changes.
        """
        _message("comment", comment)

        def build(uow: UnitOfWork, campaign: Campaign, now: pendulum.DateTime) -> Outcome:
            version = pending_version(campaign, Verb.APPROVE)
            self._check_reviewer(uow, campaign, approving=True)
            check_start = campaign.status is not CampaignStatus.LIVE
            self._validate(uow, campaign, version, now, check_start=check_start)
            return apply(
                campaign, Approve(comment), now=now, actor=self.user, rules=self._kit.lifecycle
            )

        return self._changed(campaign_id, P.CAMPAIGN_APPROVE, build)

    def request_changes(self, campaign_id: str, message: str) -> Campaign:
        """Send a review request back to its author with what to change.

        Needs ``campaign.approve`` and being a reviewer of the request's policy.

        Raises:
            ValidationError: the message is empty.
            PermissionDenied: not a reviewer, or no ``campaign.approve``.
        """
        _message("message", message, optional=False)

        def build(uow: UnitOfWork, campaign: Campaign, now: pendulum.DateTime) -> Outcome:
            pending_version(campaign, Verb.APPROVE)
            self._check_reviewer(uow, campaign, approving=False)
            if not message.strip():
                raise ValidationError(["request_changes needs a message saying what to change"])
            return apply(
                campaign,
                RequestChanges(message.strip()),
                now=now,
                actor=self.user,
                rules=self._kit.lifecycle,
            )

        return self._changed(campaign_id, P.CAMPAIGN_APPROVE, build)

    def approval_history(self, campaign_id: str) -> ApprovalHistory:
        """Every request and decision on a campaign, oldest first (needs ``campaign.read``).

        The :class:`ApprovalHistory` is a tuple that shows as a table in notebooks.
        """
        with self._kit.store.unit_of_work() as uow:
            return ApprovalHistory(self._load(uow, campaign_id, P.CAMPAIGN_READ).approvals)

    def _changed(self, campaign_id: str, permission: P, build: Build) -> Campaign:
        saved = self._mutate(campaign_id, permission, build)
        assert saved is not None
        return saved

    def _check_reviewer(self, uow: UnitOfWork, campaign: Campaign, *, approving: bool) -> None:
        review = campaign.review
        assert review is not None  # pending_version(APPROVE) guarantees it
        refusal = review.refusal(
            self.user,
            uow.access.groups_of(self.user),
            approving=approving,
            editors=draft_editors(campaign) if approving else frozenset(),
        )
        if refusal is not None:
            raise PermissionDenied(self.user, P.CAMPAIGN_APPROVE.value, campaign.id, refusal)

    # ------------------------------------------------------------ policies

    def create_approval_policy(
        self,
        *,
        name: str,
        reviewers: Iterable[str] = (),
        reviewer_groups: Iterable[str] = (),
        block_self_approval: bool = False,
        types: CampaignType | Iterable[CampaignType] | None = None,
        channels: ChannelType | Iterable[ChannelType] | None = None,
        tags: Iterable[str] | None = None,
        name_contains: str | None = None,
        name_equals: str | None = None,
        requesters: Iterable[str] | None = None,
        requester_groups: Iterable[str] | None = None,
        match: MatchMode = "all",
    ) -> ApprovalPolicy:
        """Create an INACTIVE approval policy (needs ``approval_policy.manage``).

        Args:
            name: Display name.
            reviewers: Users who may decide.
            reviewer_groups: Groups whose members may decide.
            block_self_approval: Forbid requesters to approve their own requests.
            types: Applies to these campaign types.
            channels: Applies to campaigns using any of these channels.
            tags: Applies to campaigns carrying any of these tags.
            name_contains: Applies to names containing this (case-insensitive).
            name_equals: Applies to this exact name (case-insensitive).
            requesters: Applies when one of these users requests.
            requester_groups: Applies when a member of one of these groups requests.
            match: ``"all"`` conditions must hold, or ``"any"`` one of them.

        Raises:
            ValidationError: no reviewer, empty name or empty condition sets.
        """
        self._require(P.APPROVAL_POLICY_MANAGE)
        _flag(block_self_approval)
        conditions = PolicyConditions(
            types=as_set(types, CampaignType, "types"),
            channels=as_set(channels, ChannelType, "channels"),
            tags=_names(tags, "tags"),
            name_contains=name_contains,
            name_equals=name_equals,
            requesters=_names(requesters, "requesters"),
            requester_groups=_names(requester_groups, "requester_groups"),
            match=match,
        )
        who, groups = (
            _names(reviewers, "reviewers") or frozenset(),
            _names(reviewer_groups, "reviewer_groups") or frozenset(),
        )
        problems = policy_problems(name, conditions, who, groups)
        if problems:
            raise ValidationError(problems, subject=f"approval policy {checks.shown(name)}")
        policy = ApprovalPolicy(
            id=self._new_id("apr"),
            name=name.strip(),
            conditions=conditions,
            reviewers=who,
            reviewer_groups=groups,
            block_self_approval=block_self_approval,
            created_at=self._kit.clock.now(),
            created_by=self.user,
        )
        with self._kit.store.unit_of_work() as uow:
            return uow.approval_policies.add(policy)

    def update_approval_policy(
        self,
        policy_id: str,
        *,
        name: Maybe[str] = UNSET,
        reviewers: Maybe[Iterable[str]] = UNSET,
        reviewer_groups: Maybe[Iterable[str]] = UNSET,
        block_self_approval: Maybe[bool] = UNSET,
        types: Maybe[CampaignType | Iterable[CampaignType] | None] = UNSET,
        channels: Maybe[ChannelType | Iterable[ChannelType] | None] = UNSET,
        tags: Maybe[Iterable[str] | None] = UNSET,
        name_contains: Maybe[str | None] = UNSET,
        name_equals: Maybe[str | None] = UNSET,
        requesters: Maybe[Iterable[str] | None] = UNSET,
        requester_groups: Maybe[Iterable[str] | None] = UNSET,
        match: Maybe[MatchMode] = UNSET,
    ) -> ApprovalPolicy:
        """Edit an INACTIVE policy; fields left out keep their value.

        Needs ``approval_policy.manage``. Pass ``None`` to drop a condition.

        Raises:
            ApprovalPolicyActive: the policy is active; deactivate it first.
            ValidationError: the edited policy would be invalid.
        """
        self._require(P.APPROVAL_POLICY_MANAGE)
        checks.require_ids(policy_id=policy_id)
        if block_self_approval is not UNSET:
            _flag(block_self_approval)
        with self._kit.store.unit_of_work() as uow:
            policy = uow.approval_policies.get(policy_id)
            if policy.is_active:
                raise ApprovalPolicyActive(policy.id, policy.name)
            old = policy.conditions
            conditions = PolicyConditions(
                types=old.types if types is UNSET else as_set(types, CampaignType, "types"),
                channels=old.channels
                if channels is UNSET
                else as_set(channels, ChannelType, "channels"),
                tags=old.tags if tags is UNSET else _names(tags, "tags"),
                name_contains=pick(name_contains, old.name_contains),
                name_equals=pick(name_equals, old.name_equals),
                requesters=old.requesters
                if requesters is UNSET
                else _names(requesters, "requesters"),
                requester_groups=(
                    old.requester_groups
                    if requester_groups is UNSET
                    else _names(requester_groups, "requester_groups")
                ),
                match=pick(match, old.match),
            )
            who = (
                policy.reviewers
                if reviewers is UNSET
                else _names(reviewers, "reviewers") or frozenset()
            )
            groups = (
                policy.reviewer_groups
                if reviewer_groups is UNSET
                else _names(reviewer_groups, "reviewer_groups") or frozenset()
            )
            new_name = pick(name, policy.name)
            problems = policy_problems(new_name, conditions, who, groups)
            if problems:
                raise ValidationError(problems, subject=f"approval policy {checks.shown(new_name)}")
            return uow.approval_policies.save(
                attrs.evolve(
                    policy,
                    name=new_name.strip(),
                    conditions=conditions,
                    reviewers=who,
                    reviewer_groups=groups,
                    block_self_approval=pick(block_self_approval, policy.block_self_approval),
                )
            )

    def activate_approval_policy(self, policy_id: str) -> ApprovalPolicy:
        """Make a policy govern new requests (needs ``approval_policy.manage``).

        Re-activating moves it to the front: among matching policies, the most
        recently activated applies.
        """
        return self._set_policy_status(policy_id, PolicyStatus.ACTIVE)

    def deactivate_approval_policy(self, policy_id: str) -> ApprovalPolicy:
        """Stop a policy from governing new requests (needs ``approval_policy.manage``).

        Requests already made under it keep it as their governing policy.
        """
        return self._set_policy_status(policy_id, PolicyStatus.INACTIVE)

    def duplicate_approval_policy(self, policy_id: str, name: str | None = None) -> ApprovalPolicy:
        """Copy a policy as a new INACTIVE one (needs ``approval_policy.manage``)."""
        self._require(P.APPROVAL_POLICY_MANAGE)
        checks.require_ids(policy_id=policy_id)
        problems: list[str] = []
        checks.optional_text(problems, "name", name, allow_empty=True)
        checks.raise_if(problems, "arguments")
        with self._kit.store.unit_of_work() as uow:
            source = uow.approval_policies.get(policy_id)
            new_name = f"{source.name} (copy)" if name is None else name.strip()
            if not new_name:
                raise ValidationError(["an approval policy needs a non-empty name"])
            copy = attrs.evolve(
                source,
                id=self._new_id("apr"),
                name=new_name,
                status=PolicyStatus.INACTIVE,
                activated_at=None,
                activation_seq=0,
                revision=0,
                created_at=self._kit.clock.now(),
                created_by=self.user,
            )
            return uow.approval_policies.add(copy)

    def list_approval_policies(self) -> list[ApprovalPolicy]:
        """Every approval policy, by name (needs ``approval_policy.manage``)."""
        self._require(P.APPROVAL_POLICY_MANAGE)
        with self._kit.store.unit_of_work() as uow:
            return list(uow.approval_policies.list())

    def get_approval_policy(self, policy_id: str) -> ApprovalPolicy:
        """One approval policy (needs ``approval_policy.manage``)."""
        self._require(P.APPROVAL_POLICY_MANAGE)
        checks.require_ids(policy_id=policy_id)
        with self._kit.store.unit_of_work() as uow:
            return uow.approval_policies.get(policy_id)

    def _set_policy_status(self, policy_id: str, status: PolicyStatus) -> ApprovalPolicy:
        self._require(P.APPROVAL_POLICY_MANAGE)
        checks.require_ids(policy_id=policy_id)
        now = self._kit.clock.now()
        with self._kit.store.unit_of_work() as uow:
            policy = uow.approval_policies.get(policy_id)
            if policy.status is status:
                return policy
            if status is PolicyStatus.INACTIVE:
                return uow.approval_policies.save(attrs.evolve(policy, status=status))
            latest = max((p.activation_seq for p in uow.approval_policies.list()), default=0)
            return uow.approval_policies.save(
                attrs.evolve(policy, status=status, activated_at=now, activation_seq=latest + 1)
            )
