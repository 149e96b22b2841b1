"""Permissions (SPEC sections 6 and 7): the profile table, the verb x profile matrix (profiles
held directly or through a group), denials that change nothing, approval workflow refusals,
custom policies, and a property test over random users, groups and verbs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import attrs
import pendulum
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

import campaignkit as ck
from campaignkit.domain.access import Principal
from campaignkit.domain.approval import Review
from campaignkit.testing import SequentialIds
from tests.factories import T0, World, make_world

P = ck.Permission
Profile = ck.ProductProfile
S = ck.CampaignStatus

USER = "uma"
"""The user under test; the administrator of the world is ``"ada"``."""

NO_PROFILE_REASON = "has no campaign product profile"

# SPEC section 6, written out literally (not derived from the code):
#
# | Profile       | read | write | delete | publish | approve | report | surfaces | policy, access |
# | administrator |  ✓   |   ✓   |   ✓    |    ✓    |    ✓    |   ✓    |  manage  |     manage     |
# | approver      |  ✓   |   ✓   |   ✓    |    ✓    |    ✓    |   ✓    |  read    |       —        |
# | manager       |  ✓   |   ✓   |   ✓    |    —    |    —    |   ✓    |  read    |       —        |
# | viewer        |  ✓   |   —   |   —    |    —    |    —    |   ✓    |   —      |       —        |
SPEC_PROFILE_PERMISSIONS: dict[str, frozenset[str]] = {
    "ADMINISTRATOR": frozenset(
        {
            "campaign.read",
            "campaign.write",
            "campaign.delete",
            "campaign.publish",
            "campaign.approve",
            "campaign_report.read",
            "surface.read",
            "surface.manage",
            "approval_policy.manage",
            "access.manage",
        }
    ),
    "APPROVER": frozenset(
        {
            "campaign.read",
            "campaign.write",
            "campaign.delete",
            "campaign.publish",
            "campaign.approve",
            "campaign_report.read",
            "surface.read",
        }
    ),
    "MANAGER": frozenset(
        {
            "campaign.read",
            "campaign.write",
            "campaign.delete",
            "campaign_report.read",
            "surface.read",
        }
    ),
    "VIEWER": frozenset({"campaign.read", "campaign_report.read"}),
}

SPEC_PERMISSIONS = frozenset(
    {
        "campaign.read",
        "campaign.write",
        "campaign.delete",
        "campaign.publish",
        "campaign.approve",
        "campaign_report.read",
        "surface.read",
        "surface.manage",
        "approval_policy.manage",
        "access.manage",
    }
)


# ---------------------------------------------------------------- helpers

GROUP = "squad"
"""The group through which ``USER`` holds a group-derived profile."""

POOL_USERS = ("u0", "u1", "u2", "u3", "u4", "u5")
"""Users of the random-population property test."""
POOL_GROUPS = ("g0", "g1", "g2")
"""Groups of the random-population property test."""

API = ck.CampaignType.API_TRIGGERED
AUDIENCE_RUN = ck.RunKind.AUDIENCE_EXECUTION
IN_PROGRESS = ck.ExecutionStatus.IN_PROGRESS
SUCCEEDED = ck.ExecutionStatus.SUCCEEDED
TRIGGERED = ck.ScheduleStatus.TRIGGERED
ORDER_SUBJECT = "Order {{ context.order }}"
"""The subject of the API-triggered campaigns here: it shows the call's context arrived."""
ANN = ck.Profile(
    "p-ann",
    identities={"email": "ann@example.com"},
    attributes={"firstName": "Ann"},
    consents={ck.ChannelType.EMAIL: True},
)
"""The recipient of the unitary triggers (found by her email identity)."""
VIP = tuple(
    ck.Profile(
        pid, identities={"email": f"{pid}@example.com"}, consents={ck.ChannelType.EMAIL: True}
    )
    for pid in ("p1", "p2")
)
"""The profiles of the world's ``vip`` audience (audience executions run on them)."""
NEW_CUSTOMER = "new@example.com"
"""A recipient with no profile yet: only the transactional campaign creates it."""
KNOWN_PROFILES = ("tester", ANN.id, *(p.id for p in VIP), NEW_CUSTOMER)
"""Every profile id a test here may create (a denial must leave each as it was)."""

Via = Literal["direct", "group"]
VIAS: list[Via] = ["direct", "group"]

Record = dict[str, Any]
"""A value serialized with ``attrs.asdict``."""


@attrs.frozen
class Snapshot:
    """Everything a denial must leave untouched (SPEC 6: "changes nothing")."""

    campaigns: tuple[Record, ...]
    policies: tuple[Record, ...]
    surfaces: tuple[Record, ...]
    assignments: dict[Principal, frozenset[ck.ProductProfile]]
    memberships: dict[str, frozenset[str]]
    audit_log: tuple[ck.AccessAuditEntry, ...]
    events: tuple[ck.DomainEvent, ...]
    runs: tuple[ck.Run, ...]
    """Every run of every campaign: each API execution has one (a cancellation ends it)."""
    profiles: dict[str, ck.Profile]
    """The ``KNOWN_PROFILES`` that exist (a trigger may create one)."""


def _known_principals(world: World) -> tuple[set[str], set[str]]:
    """Every user and group id the store could hold memberships for."""
    access = world.kit.access
    users = {USER, "ada", "bob", "april", "rita", *POOL_USERS}
    groups = {GROUP, "staff", "brand", *POOL_GROUPS}
    for entry in access.audit_log():
        (users if entry.principal.kind == "user" else groups).add(entry.principal.id)
        if entry.group is not None:
            groups.add(entry.group)
    for principal in access.assignments():
        (users if principal.kind == "user" else groups).add(principal.id)
    return users, groups


def snapshot(world: World) -> Snapshot:
    page = world.admin.list_campaigns(statuses=ck.ALL_STATUSES, limit=500)
    assert page.next_cursor is None
    access = world.kit.access
    users, groups = _known_principals(world)
    memberships = {f"user {u}": access.groups_of(u) for u in sorted(users)}
    memberships |= {f"group {g}": access.members_of(g) for g in sorted(groups)}
    with world.kit.store.unit_of_work() as uow:
        runs = tuple(run for c in page.items for run in uow.runs.for_campaign(c.id))
    return Snapshot(
        campaigns=tuple(attrs.asdict(c) for c in page.items),
        policies=tuple(attrs.asdict(p) for p in world.admin.list_approval_policies()),
        surfaces=tuple(attrs.asdict(s) for s in world.admin.list_surfaces()),
        assignments=dict(access.assignments()),
        memberships=memberships,
        audit_log=tuple(access.audit_log()),
        events=tuple(world.events),
        runs=runs,
        profiles=dict(world.kit.profiles.get_many(KNOWN_PROFILES)),
    )


def session_with(world: World, *profiles: ck.ProductProfile, via: Via = "direct") -> ck.UserSession:
    """``USER``'s session holding ``profiles`` directly or only through ``GROUP``."""
    access = world.kit.access
    if via == "group":
        access.add_member(GROUP, USER)
    for profile in profiles:
        if via == "group":
            access.assign_group(GROUP, profile)
        else:
            access.assign(USER, profile)
    return world.kit.as_user(USER)


def custom_world(
    *,
    policy: ck.PermissionPolicy | None = None,
    profile_permissions: Mapping[ck.ProductProfile, frozenset[ck.Permission]] | None = None,
) -> World:
    """Like ``make_world`` but with a custom policy or profile mapping."""
    return make_world(policy=policy, profile_permissions=profile_permissions)


# ---------------------------------------------------------------- the table


def test_permission_enum_has_exactly_the_spec_permissions() -> None:
    assert {p.value for p in ck.Permission} == SPEC_PERMISSIONS
    assert {str(p) for p in ck.Permission} == SPEC_PERMISSIONS


def test_profile_permissions_equal_spec_section_6_exactly() -> None:
    actual = {
        profile.value: frozenset(p.value for p in perms)
        for profile, perms in ck.PROFILE_PERMISSIONS.items()
    }
    assert actual == SPEC_PROFILE_PERMISSIONS
    assert {p.value for p in ck.ProductProfile} == set(SPEC_PROFILE_PERMISSIONS)


@pytest.mark.parametrize("profile", list(ck.ProductProfile), ids=str)
def test_default_policy_grants_exactly_the_table_row(
    world: World, profile: ck.ProductProfile
) -> None:
    session_with(world, profile)
    policy = world.kit.policy
    assert isinstance(policy, ck.ProfilePolicy)
    expected = SPEC_PROFILE_PERMISSIONS[profile.value]
    assert {p.value for p in policy.permissions_of(USER)} == expected
    for permission in ck.Permission:
        decision = policy.decide(USER, permission, None)
        assert decision.allowed is (permission.value in expected), permission
        assert decision.reason


# ---------------------------------------------------------------- the verb matrix


@attrs.frozen
class VerbCase:
    """One session verb: what it needs, how to set it up, call it and check success.

    ``needs`` lists the permissions the verb requires, in the order a denial names
    the first one missing. ``setup`` returns the id the verb acts on (a campaign id
    when ``about_campaign``, an execution id when ``campaign_of`` is given, a surface
    id, or ``""``).
    """

    name: str
    needs: tuple[str, ...]
    about_campaign: bool
    setup: Callable[[World], str]
    call: Callable[[ck.UserSession, World, str], object]
    check: Callable[[World, str, object], None]
    variant: str = ""
    """Distinguishes several states of the same verb (the test id is ``name[variant]``)."""
    workflow_permission: str | None = None
    """A permission the workflow (not the policy's profile table) refuses with its own reason."""
    campaign_of: Callable[[World, str], str] | None = None
    """For a verb on an execution: the campaign of the target, which a denial names."""

    @property
    def id(self) -> str:
        return f"{self.name}[{self.variant}]" if self.variant else self.name

    def named_campaign(self, world: World, target: str) -> str | None:
        """The campaign a denial of this verb on ``target`` names, if any."""
        if not self.about_campaign:
            return None
        return target if self.campaign_of is None else self.campaign_of(world, target)


def _draft(world: World) -> str:
    return world.draft().id


def _live(world: World) -> str:
    campaign = world.live()
    assert campaign.status is S.LIVE
    return campaign.id


def _scheduled(world: World) -> str:
    campaign = world.scheduled()
    assert campaign.status is S.SCHEDULED
    return campaign.id


def _scheduled_with_open_draft(world: World) -> str:
    campaign_id = _scheduled(world)
    assert world.admin.modify(campaign_id).has_open_draft
    return campaign_id


def _stopped(world: World) -> str:
    campaign_id = _live(world)
    assert world.admin.stop(campaign_id).status is S.STOPPED
    return campaign_id


def _nothing(world: World) -> str:
    return ""


def _unused_surface(world: World) -> str:
    return world.push.id


def _email_surface(world: World) -> str:
    return world.email.id


def _campaign(result: object) -> ck.Campaign:
    assert isinstance(result, ck.Campaign)
    return result


def _check_get(world: World, target: str, result: object) -> None:
    assert _campaign(result) == world.admin.get(target)


def _check_list(world: World, target: str, result: object) -> None:
    assert isinstance(result, ck.Page)
    assert [c.id for c in result.items] == [target]


def _check_calendar(world: World, target: str, result: object) -> None:
    assert isinstance(result, list)
    assert [(e.campaign_id, e.status) for e in result] == [(target, S.LIVE)]


def _check_created(world: World, target: str, result: object) -> None:
    created = _campaign(result)
    assert (created.status, created.name, created.created_by) == (S.DRAFT, "Spring sale", USER)
    assert world.admin.get(created.id) == created


def _check_updated(world: World, target: str, result: object) -> None:
    assert _campaign(result).name == "Renamed"
    assert world.admin.get(target).name == "Renamed"


def _check_deleted(world: World, target: str, result: object) -> None:
    assert result is None
    with pytest.raises(ck.NotFound):
        world.admin.get(target)


def _check_duplicated(world: World, target: str, result: object) -> None:
    copy = _campaign(result)
    assert copy.id != target
    assert (copy.status, copy.name, copy.created_by) == (S.DRAFT, "Winter sale (copy)", USER)


def _status_is(status: ck.CampaignStatus) -> Callable[[World, str, object], None]:
    def check(world: World, target: str, result: object) -> None:
        campaign = _campaign(result)
        assert (campaign.id, campaign.status) == (target, status)
        assert world.admin.get(target) == campaign

    return check


def _check_modified(world: World, target: str, result: object) -> None:
    campaign = _campaign(result)
    assert campaign.status is S.SCHEDULED
    assert campaign.has_open_draft


def _check_discarded(world: World, target: str, result: object) -> None:
    campaign = _campaign(result)
    assert campaign.status is S.SCHEDULED
    assert not campaign.has_open_draft


def _check_surface_created(world: World, target: str, result: object) -> None:
    assert isinstance(result, ck.ChannelSurface)
    assert (result.name, result.created_by) == ("Promo", USER)
    assert result in world.admin.list_surfaces()


def _check_deactivated(world: World, target: str, result: object) -> None:
    assert isinstance(result, ck.ChannelSurface)
    assert (result.id, result.status) == (target, ck.SurfaceStatus.DEACTIVATED)


def _check_got_surface(world: World, target: str, result: object) -> None:
    assert result == world.email


def _check_listed_surfaces(world: World, target: str, result: object) -> None:
    assert isinstance(result, list)
    assert [s.name for s in result] == ["Alerts", "App", "Newsletter"]


# ----- reports and proofs


def _draft_and_a_test_profile(world: World) -> str:
    world.kit.profiles.upsert(
        ck.Profile(
            "tester",
            identities={"email": "tester@example.com"},
            attributes={"firstName": "T"},
            test=True,
        )
    )
    return _draft(world)


def _check_report(world: World, target: str, result: object) -> None:
    assert isinstance(result, ck.CampaignReport)
    assert result.campaign_id == target
    assert result == world.admin.report(target)


def _check_check(world: World, target: str, result: object) -> None:
    assert isinstance(result, ck.CheckResult)
    assert result.campaign_id == target
    assert result == world.admin.check(target)


def _check_proof(world: World, target: str, result: object) -> None:
    assert isinstance(result, list)
    (proof,) = result
    assert isinstance(proof, ck.ProofResult)
    assert (proof.message.campaign_id, proof.message.profile_id) == (target, "tester")
    assert proof.message.proof


# ----- approval workflow set-ups (issue 3): each leaves the verb able to succeed


def _policy(
    world: World,
    name: str = "Brand review",
    *,
    reviewers: Sequence[str] = ("ada",),
    reviewer_groups: Sequence[str] = (),
    active: bool = True,
    block_self_approval: bool = False,
    tags: Sequence[str] | None = None,
) -> ck.ApprovalPolicy:
    """An approval policy made by the administrator (applies to every campaign by default)."""
    policy = world.admin.create_approval_policy(
        name=name,
        reviewers=reviewers,
        reviewer_groups=reviewer_groups,
        block_self_approval=block_self_approval,
        tags=tags,
    )
    return world.admin.activate_approval_policy(policy.id) if active else policy


def _as_requester(world: World, campaign_id: str) -> None:
    """``USER`` requests approval, holding MANAGER only for that moment."""
    world.kit.access.assign(USER, Profile.MANAGER)
    assert world.kit.as_user(USER).request_approval(campaign_id).status is S.IN_REVIEW
    world.kit.access.revoke(USER, Profile.MANAGER)


def _draft_under_policy(world: World) -> str:
    """A draft an active policy applies to: requesting approval only needs campaign.write."""
    campaign_id = world.draft().id
    _policy(world)
    return campaign_id


def _draft_without_policy(world: World) -> str:
    """A draft no active policy applies to (an inactive one would)."""
    _policy(world, active=False)
    return world.draft().id


def _scheduled_open_draft_under_policy(world: World) -> str:
    campaign_id = _scheduled_with_open_draft(world)
    _policy(world)
    return campaign_id


def _in_review_requested_by_user(world: World) -> str:
    campaign_id = _draft_under_policy(world)
    _as_requester(world, campaign_id)
    return campaign_id


def _in_review_for_user(world: World) -> str:
    """IN_REVIEW, requested by the administrator, under a policy naming ``USER`` as reviewer."""
    campaign_id = world.draft().id
    _policy(world, reviewers=[USER])
    assert world.admin.request_approval(campaign_id, "please").status is S.IN_REVIEW
    return campaign_id


def _draft_in_review_for_user(world: World) -> str:
    """A SCHEDULED campaign whose new version is in review; ``USER`` is the reviewer."""
    campaign_id = _scheduled_with_open_draft(world)
    _policy(world, reviewers=[USER])
    assert world.admin.request_approval(campaign_id).draft_in_review
    return campaign_id


def _with_approval_trail(world: World) -> str:
    campaign_id = world.draft().id
    _policy(world)
    world.admin.request_approval(campaign_id, "first try")
    world.admin.request_changes(campaign_id, "fix the subject")
    world.admin.request_approval(campaign_id, "second try")
    return campaign_id


def _inactive_policy(world: World) -> str:
    return _policy(world, "Legal review", active=False, tags=["legal"]).id


def _active_policy(world: World) -> str:
    return _policy(world, "Legal review", tags=["legal"]).id


def _bob_is_a_viewer(world: World) -> str:
    world.kit.access.assign("bob", Profile.VIEWER)
    return ""


def _staff_are_viewers(world: World) -> str:
    world.kit.access.assign_group("staff", Profile.VIEWER)
    return ""


def _bob_is_in_staff(world: World) -> str:
    world.kit.access.add_member("staff", "bob")
    return ""


# ----- approval workflow checks


def _approval_step(
    action: ck.ApprovalAction, status: ck.CampaignStatus, *, in_review: bool
) -> Callable[[World, str, object], None]:
    """The campaign reached ``status``, the trail and an event record the step by ``USER``."""

    def check(world: World, target: str, result: object) -> None:
        campaign = _campaign(result)
        assert (campaign.id, campaign.status) == (target, status)
        assert (campaign.review is not None) is in_review
        entry = campaign.approvals[-1]
        assert (entry.actor, entry.action) == (USER, action)
        assert world.admin.get(target) == campaign
        event = world.events[-1]
        assert isinstance(event, ck.ApprovalEvent)
        assert (event.campaign_id, event.entry) == (target, entry)

    return check


def _check_new_version_in_review(world: World, target: str, result: object) -> None:
    _approval_step(ck.ApprovalAction.REQUESTED, S.SCHEDULED, in_review=True)(world, target, result)
    campaign = _campaign(result)
    assert campaign.draft_in_review
    assert campaign.review is not None
    assert (campaign.review.requester, campaign.review.version) == (USER, 2)


def _check_new_version_approved(world: World, target: str, result: object) -> None:
    _approval_step(ck.ApprovalAction.APPROVED, S.SCHEDULED, in_review=False)(world, target, result)
    campaign = _campaign(result)
    assert campaign.live_version is not None
    assert campaign.live_version.number == 2
    assert not campaign.has_open_draft


def _check_history(world: World, target: str, result: object) -> None:
    assert isinstance(result, tuple)
    assert result == world.admin.get(target).approvals
    assert [e.action.value for e in result] == ["requested", "changes_requested", "requested"]


def _policy_result(result: object) -> ck.ApprovalPolicy:
    assert isinstance(result, ck.ApprovalPolicy)
    return result


def _check_policy_created(world: World, target: str, result: object) -> None:
    policy = _policy_result(result)
    assert (policy.name, policy.created_by, policy.is_active) == ("Promo review", USER, False)
    assert world.admin.get_approval_policy(policy.id) == policy


def _check_policy_updated(world: World, target: str, result: object) -> None:
    policy = _policy_result(result)
    assert (policy.id, policy.name) == (target, "Legal sign-off")
    assert world.admin.get_approval_policy(target) == policy


def _policy_status_is(active: bool) -> Callable[[World, str, object], None]:
    def check(world: World, target: str, result: object) -> None:
        policy = _policy_result(result)
        assert (policy.id, policy.is_active) == (target, active)
        assert world.admin.get_approval_policy(target) == policy

    return check


def _check_policy_duplicated(world: World, target: str, result: object) -> None:
    copy = _policy_result(result)
    assert copy.id != target
    assert (copy.name, copy.created_by, copy.is_active) == ("Legal review (copy)", USER, False)
    assert copy.conditions == world.admin.get_approval_policy(target).conditions


def _check_policies_listed(world: World, target: str, result: object) -> None:
    assert isinstance(result, list)
    assert [p.id for p in result] == [target]


def _check_policy_got(world: World, target: str, result: object) -> None:
    assert result == world.admin.get_approval_policy(target)


def _audited(
    change: ck.AccessChange, principal: Principal, *, after: Callable[[ck.AccessDirectory], bool]
) -> Callable[[World, str, object], None]:
    """The directory changed as ``after`` says and the last audit entry names ``USER``."""

    def check(world: World, target: str, result: object) -> None:
        assert result is None
        assert after(world.kit.access)
        last = world.kit.access.audit_log()[-1]
        assert (last.actor, last.change, last.principal) == (USER, change, principal)
        assert last.at == world.clock.now()

    return check


def _check_audit_log(world: World, target: str, result: object) -> None:
    assert isinstance(result, tuple)
    assert result == tuple(world.kit.access.audit_log())
    assert result  # the world's set-up is in it


def _check_exported(world: World, target: str, result: object) -> None:
    assert isinstance(result, dict)
    assert [c["data"]["id"] for c in result["campaigns"]] == [target]


def _check_imported(world: World, target: str, result: object) -> None:
    assert isinstance(result, list)
    (created,) = result
    assert isinstance(created, ck.Campaign)
    assert created.id != target
    assert (created.status, created.name, created.created_by) == (S.DRAFT, "Winter sale", USER)


# ----- API-triggered campaigns (SPEC 9) set-ups and checks


def _recipient(user_id: str = ANN.identities["email"], order: str = "A1") -> ck.Recipient:
    return ck.Recipient(user_id=user_id, namespace="email", context={"order": order})


def _api_marketing(world: World) -> str:
    """A LIVE API-triggered marketing campaign on ``vip``; ann and the audience exist."""
    for profile in (ANN, *VIP):
        world.kit.profiles.upsert(profile)
    campaign = world.live("Order updates", type=API, actions=[world.email_action(ORDER_SUBJECT)])
    assert (campaign.type, campaign.category, campaign.status) == (
        API,
        ck.Category.MARKETING,
        S.LIVE,
    )
    return campaign.id


def _api_transactional(world: World) -> str:
    """A LIVE API-triggered transactional campaign that creates unknown recipients."""
    receipts = world.admin.create_surface(
        name="Receipts",
        channel=ck.ChannelType.EMAIL,
        settings=ck.EmailSettings(sender="orders@example.com"),
        category=ck.Category.TRANSACTIONAL,
    )
    campaign = world.admin.create_campaign(
        name="Receipts",
        type=API,
        category=ck.Category.TRANSACTIONAL,
        namespace="email",
        actions=[ck.Action(receipts.id, ck.EmailContent(subject=ORDER_SUBJECT, html="<p>.</p>"))],
        create_profiles=True,
    )
    world.admin.activate(campaign.id)
    world.kit.tick()
    assert world.admin.get(campaign.id).status is S.LIVE
    assert world.kit.profiles.get(NEW_CUSTOMER) is None
    return campaign.id


def _scheduled_execution(world: World) -> str:
    """An audience execution of the marketing campaign, scheduled a day ahead."""
    campaign_id = _api_marketing(world)
    execution = world.admin.execute_audience(
        campaign_id, request_id="flash-sale", execute_at=world.clock.now().add(days=1)
    )
    assert execution.schedule_status is ck.ScheduleStatus.SCHEDULED
    return execution.id


def _delivered_trigger(world: World) -> str:
    """A unitary trigger of the marketing campaign to ann, delivered by a tick."""
    campaign_id = _api_marketing(world)
    execution = world.admin.trigger(campaign_id, [_recipient()], request_id="order-A1")
    world.kit.tick()
    return execution.id


def _the_api_campaign(world: World, target: str) -> str:
    """The campaign of execution ``target``: the world's only API-triggered campaign."""
    page = world.admin.list_campaigns(statuses=ck.ALL_STATUSES, limit=500)
    (campaign,) = [c for c in page.items if c.type is API]
    return campaign.id


def _execution(result: object) -> ck.Execution:
    assert isinstance(result, ck.Execution)
    return result


def _runs(world: World, campaign_id: str) -> list[ck.Run]:
    with world.kit.store.unit_of_work() as uow:
        return list(uow.runs.for_campaign(campaign_id))


def _emails(world: World) -> list[tuple[str, str, bool]]:
    """(address, subject, transactional) of every email sent so far, in address order."""
    sent = world.kit.channels[ck.ChannelType.EMAIL].sent
    return sorted((m.address, m.fields["subject"], m.transactional) for m in sent)


def _check_accepted(
    world: World,
    target: str,
    result: object,
    *,
    kind: ck.ExecutionKind,
    request_id: str,
    execute_at: pendulum.DateTime | None = None,
) -> ck.Execution:
    """Accepted at once, for ``USER``, with one pending run; nothing is sent before a tick."""
    execution = _execution(result)
    assert (
        execution.campaign_id,
        execution.request_id,
        execution.kind,
        execution.created_by,
        execution.created_at,
        execution.execute_at,
        execution.status,
        execution.targeted,
    ) == (target, request_id, kind, USER, world.clock.now(), execute_at, IN_PROGRESS, 0)
    assert world.admin.execution(execution.id) == execution
    run_kind = ck.RunKind.TRIGGER if kind is ck.ExecutionKind.UNITARY else AUDIENCE_RUN
    (run,) = _runs(world, target)
    assert (run.id, run.kind, run.status) == (execution.run_id, run_kind, ck.RunStatus.PENDING)
    assert _emails(world) == []
    return execution


def _delivered(world: World, execution_id: str, targeted: int) -> None:
    done = world.admin.execution(execution_id)
    assert (done.schedule_status, done.status, done.targeted) == (TRIGGERED, SUCCEEDED, targeted)


def _check_triggered(world: World, target: str, result: object) -> None:
    execution = _check_accepted(
        world, target, result, kind=ck.ExecutionKind.UNITARY, request_id="order-A1"
    )
    assert execution.schedule_status is TRIGGERED
    world.kit.tick()
    assert _emails(world) == [("ann@example.com", "Order A1", False)]
    _delivered(world, execution.id, 1)


def _check_triggered_a_new_customer(world: World, target: str, result: object) -> None:
    execution = _check_accepted(
        world, target, result, kind=ck.ExecutionKind.UNITARY, request_id="order-B2"
    )
    created = world.kit.profiles.get(NEW_CUSTOMER)
    assert created is not None
    assert created.identities == {"email": NEW_CUSTOMER}
    world.kit.tick()
    assert _emails(world) == [(NEW_CUSTOMER, "Order B2", True)]
    _delivered(world, execution.id, 1)


def _check_audience_executed(world: World, target: str, result: object) -> None:
    execution = _check_accepted(
        world, target, result, kind=ck.ExecutionKind.AUDIENCE, request_id="flash-sale"
    )
    assert execution.schedule_status is TRIGGERED  # not scheduled: it runs on the next tick
    world.kit.tick()
    assert _emails(world) == [
        ("p1@example.com", "Order S1", False),
        ("p2@example.com", "Order S1", False),
    ]
    _delivered(world, execution.id, 2)


def _check_audience_scheduled(world: World, target: str, result: object) -> None:
    at = world.clock.now().add(hours=2)
    execution = _check_accepted(
        world,
        target,
        result,
        kind=ck.ExecutionKind.AUDIENCE,
        request_id="flash-sale",
        execute_at=at,
    )
    assert execution.schedule_status is ck.ScheduleStatus.SCHEDULED
    world.kit.tick()
    assert _emails(world) == []  # not before its execute_at
    world.kit.run_until(at)
    assert [address for address, _, _ in _emails(world)] == ["p1@example.com", "p2@example.com"]
    _delivered(world, execution.id, 2)


def _check_execution_cancelled(world: World, target: str, result: object) -> None:
    execution = _execution(result)
    assert (execution.id, execution.schedule_status, execution.status) == (
        target,
        ck.ScheduleStatus.CANCELLED,
        ck.ExecutionStatus.CANCELLED,
    )
    assert world.admin.execution(target) == execution
    (run,) = _runs(world, execution.campaign_id)
    assert (run.id, run.status) == (execution.run_id, ck.RunStatus.CANCELLED)
    assert execution.execute_at is not None
    world.kit.run_until(execution.execute_at.add(hours=1))
    assert _emails(world) == []  # it never fires
    assert world.admin.execution(target) == execution


def _check_execution_read(world: World, target: str, result: object) -> None:
    execution = _execution(result)
    assert execution == world.admin.execution(target)
    assert (execution.id, execution.kind, execution.request_id, execution.created_by) == (
        target,
        ck.ExecutionKind.UNITARY,
        "order-A1",
        "ada",
    )
    assert (execution.schedule_status, execution.status, execution.targeted) == (
        TRIGGERED,
        SUCCEEDED,
        1,
    )


VERBS: list[VerbCase] = [
    VerbCase(
        "get",
        ("campaign.read",),
        True,
        _draft,
        lambda s, w, t: s.get(t),
        _check_get,
    ),
    VerbCase(
        "list_campaigns",
        ("campaign.read",),
        False,
        _draft,
        lambda s, w, t: s.list_campaigns(),
        _check_list,
    ),
    VerbCase(
        "calendar",
        ("campaign.read",),
        False,
        _live,
        lambda s, w, t: s.calendar(T0, T0.add(days=7)),
        _check_calendar,
    ),
    VerbCase(
        "create_campaign",
        ("campaign.write",),
        False,
        _nothing,
        lambda s, w, t: s.create_campaign(name="Spring sale"),
        _check_created,
    ),
    VerbCase(
        "update_draft",
        ("campaign.write",),
        True,
        _draft,
        lambda s, w, t: s.update_draft(t, name="Renamed", actions=[w.sms_action()]),
        _check_updated,
    ),
    VerbCase(
        "delete",
        ("campaign.delete",),
        True,
        _draft,
        lambda s, w, t: s.delete(t),
        _check_deleted,
    ),
    VerbCase(
        "duplicate",
        ("campaign.read", "campaign.write"),
        True,
        _live,
        lambda s, w, t: s.duplicate(t),
        _check_duplicated,
    ),
    VerbCase(
        "activate",
        ("campaign.publish",),
        True,
        _draft,
        lambda s, w, t: s.activate(t),
        _status_is(S.ACTIVATING),
    ),
    VerbCase(
        "modify",
        ("campaign.write",),
        True,
        _scheduled,
        lambda s, w, t: s.modify(t),
        _check_modified,
    ),
    VerbCase(
        "discard_draft",
        ("campaign.write",),
        True,
        _scheduled_with_open_draft,
        lambda s, w, t: s.discard_draft(t),
        _check_discarded,
    ),
    VerbCase(
        "stop",
        ("campaign.publish",),
        True,
        _live,
        lambda s, w, t: s.stop(t),
        _status_is(S.STOPPED),
    ),
    VerbCase(
        "archive",
        ("campaign.write",),
        True,
        _stopped,
        lambda s, w, t: s.archive(t),
        _status_is(S.ARCHIVED),
    ),
    VerbCase(
        "create_surface",
        ("surface.manage",),
        False,
        _nothing,
        lambda s, w, t: s.create_surface(
            name="Promo", channel=ck.ChannelType.SMS, settings=ck.SmsSettings(sender_id="PROMO")
        ),
        _check_surface_created,
    ),
    VerbCase(
        "deactivate_surface",
        ("surface.manage",),
        False,
        _unused_surface,
        lambda s, w, t: s.deactivate_surface(t),
        _check_deactivated,
    ),
    VerbCase(
        "get_surface",
        ("surface.read",),
        False,
        _email_surface,
        lambda s, w, t: s.get_surface(t),
        _check_got_surface,
    ),
    VerbCase(
        "list_surfaces",
        ("surface.read",),
        False,
        _nothing,
        lambda s, w, t: s.list_surfaces(),
        _check_listed_surfaces,
    ),
    VerbCase(
        "export",
        ("campaign.read",),
        True,
        _draft,
        lambda s, w, t: s.export([t]),
        _check_exported,
    ),
    VerbCase(
        "import_",
        ("campaign.write",),
        False,
        _draft,
        lambda s, w, t: s.import_(w.admin.export([t])),
        _check_imported,
    ),
    VerbCase(
        "report",
        ("campaign_report.read",),
        True,
        _live,
        lambda s, w, t: s.report(t),
        _check_report,
    ),
    VerbCase(
        "check",
        ("campaign.read",),
        True,
        _draft,
        lambda s, w, t: s.check(t),
        _check_check,
    ),
    VerbCase(
        "send_proof",
        ("campaign.write",),
        True,
        _draft_and_a_test_profile,
        lambda s, w, t: s.send_proof(t, ["tester"]),
        _check_proof,
    ),
    # ----- approval workflow (SPEC 6: request approval = campaign.write;
    # approve / request changes = campaign.approve; the trail = campaign.read)
    VerbCase(
        "request_approval",
        ("campaign.write",),
        True,
        _draft_under_policy,
        lambda s, w, t: s.request_approval(t, "ready"),
        _approval_step(ck.ApprovalAction.REQUESTED, S.IN_REVIEW, in_review=True),
    ),
    VerbCase(
        "request_approval",
        ("campaign.write",),
        True,
        _scheduled_open_draft_under_policy,
        lambda s, w, t: s.request_approval(t),
        _check_new_version_in_review,
        variant="new version",
    ),
    VerbCase(
        "request_approval",
        ("campaign.write", "campaign.publish"),
        True,
        _draft_without_policy,
        lambda s, w, t: s.request_approval(t),
        _approval_step(ck.ApprovalAction.ACTIVATED_WITHOUT_POLICY, S.ACTIVATING, in_review=False),
        variant="no policy",
        workflow_permission="campaign.publish",
    ),
    VerbCase(
        "cancel_approval",
        ("campaign.write",),
        True,
        _in_review_requested_by_user,
        lambda s, w, t: s.cancel_approval(t),
        _approval_step(ck.ApprovalAction.CANCELLED, S.DRAFT, in_review=False),
    ),
    VerbCase(
        "approve",
        ("campaign.approve",),
        True,
        _in_review_for_user,
        lambda s, w, t: s.approve(t, "fine"),
        _approval_step(ck.ApprovalAction.APPROVED, S.ACTIVATING, in_review=False),
    ),
    VerbCase(
        "approve",
        ("campaign.approve",),
        True,
        _draft_in_review_for_user,
        lambda s, w, t: s.approve(t),
        _check_new_version_approved,
        variant="new version",
    ),
    VerbCase(
        "request_changes",
        ("campaign.approve",),
        True,
        _in_review_for_user,
        lambda s, w, t: s.request_changes(t, "shorter subject"),
        _approval_step(ck.ApprovalAction.CHANGES_REQUESTED, S.DRAFT, in_review=False),
    ),
    VerbCase(
        "request_changes",
        ("campaign.approve",),
        True,
        _draft_in_review_for_user,
        lambda s, w, t: s.request_changes(t, "shorter subject"),
        _approval_step(ck.ApprovalAction.CHANGES_REQUESTED, S.SCHEDULED, in_review=False),
        variant="new version",
    ),
    VerbCase(
        "approval_history",
        ("campaign.read",),
        True,
        _with_approval_trail,
        lambda s, w, t: s.approval_history(t),
        _check_history,
    ),
    # ----- approval policies (approval_policy.manage)
    VerbCase(
        "create_approval_policy",
        ("approval_policy.manage",),
        False,
        _nothing,
        lambda s, w, t: s.create_approval_policy(
            name="Promo review", reviewers=["ada"], name_contains="promo"
        ),
        _check_policy_created,
    ),
    VerbCase(
        "update_approval_policy",
        ("approval_policy.manage",),
        False,
        _inactive_policy,
        lambda s, w, t: s.update_approval_policy(t, name="Legal sign-off"),
        _check_policy_updated,
    ),
    VerbCase(
        "activate_approval_policy",
        ("approval_policy.manage",),
        False,
        _inactive_policy,
        lambda s, w, t: s.activate_approval_policy(t),
        _policy_status_is(active=True),
    ),
    VerbCase(
        "deactivate_approval_policy",
        ("approval_policy.manage",),
        False,
        _active_policy,
        lambda s, w, t: s.deactivate_approval_policy(t),
        _policy_status_is(active=False),
    ),
    VerbCase(
        "duplicate_approval_policy",
        ("approval_policy.manage",),
        False,
        _active_policy,
        lambda s, w, t: s.duplicate_approval_policy(t),
        _check_policy_duplicated,
    ),
    VerbCase(
        "list_approval_policies",
        ("approval_policy.manage",),
        False,
        _inactive_policy,
        lambda s, w, t: s.list_approval_policies(),
        _check_policies_listed,
    ),
    VerbCase(
        "get_approval_policy",
        ("approval_policy.manage",),
        False,
        _active_policy,
        lambda s, w, t: s.get_approval_policy(t),
        _check_policy_got,
    ),
    # ----- access management (access.manage)
    VerbCase(
        "assign_profile",
        ("access.manage",),
        False,
        _nothing,
        lambda s, w, t: s.assign_profile("bob", Profile.VIEWER),
        _audited(
            ck.AccessChange.ASSIGN,
            Principal.user("bob"),
            after=lambda a: a.profiles_of("bob") == {Profile.VIEWER},
        ),
    ),
    VerbCase(
        "revoke_profile",
        ("access.manage",),
        False,
        _bob_is_a_viewer,
        lambda s, w, t: s.revoke_profile("bob", Profile.VIEWER),
        _audited(
            ck.AccessChange.REVOKE,
            Principal.user("bob"),
            after=lambda a: a.profiles_of("bob") == frozenset(),
        ),
    ),
    VerbCase(
        "assign_group_profile",
        ("access.manage",),
        False,
        _bob_is_in_staff,
        lambda s, w, t: s.assign_group_profile("staff", Profile.VIEWER),
        _audited(
            ck.AccessChange.ASSIGN,
            Principal.group("staff"),
            after=lambda a: a.profiles_of("bob") == {Profile.VIEWER},
        ),
    ),
    VerbCase(
        "revoke_group_profile",
        ("access.manage",),
        False,
        _staff_are_viewers,
        lambda s, w, t: s.revoke_group_profile("staff", Profile.VIEWER),
        _audited(
            ck.AccessChange.REVOKE,
            Principal.group("staff"),
            after=lambda a: Principal.group("staff") not in a.assignments(),
        ),
    ),
    VerbCase(
        "add_group_member",
        ("access.manage",),
        False,
        _staff_are_viewers,
        lambda s, w, t: s.add_group_member("staff", "bob"),
        _audited(
            ck.AccessChange.ADD_MEMBER,
            Principal.user("bob"),
            after=lambda a: (
                a.groups_of("bob") == {"staff"} and a.profiles_of("bob") == {Profile.VIEWER}
            ),
        ),
    ),
    VerbCase(
        "remove_group_member",
        ("access.manage",),
        False,
        _bob_is_in_staff,
        lambda s, w, t: s.remove_group_member("staff", "bob"),
        _audited(
            ck.AccessChange.REMOVE_MEMBER,
            Principal.user("bob"),
            after=lambda a: a.members_of("staff") == frozenset(),
        ),
    ),
    VerbCase(
        "access_audit_log",
        ("access.manage",),
        False,
        _bob_is_in_staff,
        lambda s, w, t: s.access_audit_log(),
        _check_audit_log,
    ),
    # ----- API-triggered campaigns (SPEC 9: a trigger or audience execution needs
    # campaign.publish, cancelling one too, reading one campaign.read; a denial on an
    # execution names its campaign)
    VerbCase(
        "trigger",
        ("campaign.publish",),
        True,
        _api_marketing,
        lambda s, w, t: s.trigger(t, [_recipient()], request_id="order-A1"),
        _check_triggered,
    ),
    VerbCase(
        "trigger",
        ("campaign.publish",),
        True,
        _api_transactional,
        lambda s, w, t: s.trigger(t, [_recipient(NEW_CUSTOMER, "B2")], request_id="order-B2"),
        _check_triggered_a_new_customer,
        variant="creates a profile",
    ),
    VerbCase(
        "execute_audience",
        ("campaign.publish",),
        True,
        _api_marketing,
        lambda s, w, t: s.execute_audience(t, request_id="flash-sale", context={"order": "S1"}),
        _check_audience_executed,
    ),
    VerbCase(
        "execute_audience",
        ("campaign.publish",),
        True,
        _api_marketing,
        lambda s, w, t: s.execute_audience(
            t,
            request_id="flash-sale",
            context={"order": "S1"},
            execute_at=w.clock.now().add(hours=2),
        ),
        _check_audience_scheduled,
        variant="scheduled",
    ),
    VerbCase(
        "cancel_execution",
        ("campaign.publish",),
        True,
        _scheduled_execution,
        lambda s, w, t: s.cancel_execution(t),
        _check_execution_cancelled,
        campaign_of=_the_api_campaign,
    ),
    VerbCase(
        "execution",
        ("campaign.read",),
        True,
        _delivered_trigger,
        lambda s, w, t: s.execution(t),
        _check_execution_read,
        campaign_of=_the_api_campaign,
    ),
]

SESSION_VERBS = {
    "get",
    "list_campaigns",
    "calendar",
    "create_campaign",
    "update_draft",
    "delete",
    "duplicate",
    "activate",
    "modify",
    "discard_draft",
    "stop",
    "archive",
    "create_surface",
    "deactivate_surface",
    "get_surface",
    "list_surfaces",
    "export",
    "import_",
    "report",
    "check",
    "send_proof",
    "request_approval",
    "cancel_approval",
    "approve",
    "request_changes",
    "approval_history",
    "create_approval_policy",
    "update_approval_policy",
    "activate_approval_policy",
    "deactivate_approval_policy",
    "duplicate_approval_policy",
    "list_approval_policies",
    "get_approval_policy",
    "assign_profile",
    "revoke_profile",
    "assign_group_profile",
    "revoke_group_profile",
    "add_group_member",
    "remove_group_member",
    "access_audit_log",
    "trigger",
    "execute_audience",
    "cancel_execution",
    "execution",
}


PROFILES: list[ck.ProductProfile | None] = [*ck.ProductProfile, None]


def _profile_id(profile: ck.ProductProfile | None) -> str:
    return "no-profile" if profile is None else str(profile)


def test_matrix_covers_every_session_verb() -> None:
    # The verbs live in mixins (session/campaigns.py, approvals.py, access.py, ...):
    # look through the whole class, not only its own ``vars``.
    public = {
        name
        for name in dir(ck.UserSession)
        if not name.startswith("_") and callable(getattr(ck.UserSession, name))
    }
    assert {v.name for v in VERBS} == SESSION_VERBS
    assert len({v.id for v in VERBS}) == len(VERBS)
    # A new verb must be added to the matrix (update this test and VERBS together).
    assert public == SESSION_VERBS


def _first_missing(verb: VerbCase, profile: ck.ProductProfile | None) -> str | None:
    granted = SPEC_PROFILE_PERMISSIONS[profile.value] if profile is not None else frozenset()
    return next((p for p in verb.needs if p not in granted), None)


def _attempt(call: Callable[[], object]) -> tuple[object, ck.CampaignKitError | None]:
    """Call; return its result, or the campaignkit error it raised."""
    try:
        return call(), None
    except ck.CampaignKitError as error:
        return None, error


def _run_cell(verb: VerbCase, profile: ck.ProductProfile | None, via: Via) -> str | None:
    """Run one cell of the matrix; return the permission it was denied, or None.

    A success is checked by the verb's ``check``; a denial must name the user, the
    permission and the campaign, explain itself and leave the store as it was.
    """
    world = make_world()
    target = verb.setup(world)
    session = session_with(world, *([] if profile is None else [profile]), via=via)
    if via == "group":  # nothing held directly: every permission comes through the group
        assert Principal.user(USER) not in world.kit.access.assignments()
        assert world.kit.access.groups_of(USER) == {GROUP}
    before = snapshot(world)
    result, error = _attempt(lambda: verb.call(session, world, target))
    if error is None:
        verb.check(world, target, result)
        return None
    assert isinstance(error, ck.PermissionDenied), error
    expected_campaign = verb.named_campaign(world, target)
    assert (error.user, error.campaign_id) == (USER, expected_campaign)
    assert type(error.permission) is str
    message = str(error)
    assert repr(USER) in message
    assert repr(error.permission) in message
    if expected_campaign is not None:
        assert repr(expected_campaign) in message
    assert error.reason
    assert error.reason in message
    if profile is None:
        assert NO_PROFILE_REASON in message
    elif error.permission != verb.workflow_permission:
        assert profile.value in error.reason
    assert snapshot(world) == before
    return error.permission


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("profile", PROFILES, ids=_profile_id)
@pytest.mark.parametrize("verb", VERBS, ids=lambda v: v.id)
def test_verb_by_profile(verb: VerbCase, profile: ck.ProductProfile | None, via: Via) -> None:
    """4 profiles + no profile x every verb, the profile held directly or only via a group.

    Both ways are held to the same expectation (the SPEC table), so a group-derived
    profile allows and denies exactly what the same profile held directly does.
    """
    assert _run_cell(verb, profile, via) == _first_missing(verb, profile)


def test_the_matrix_expectations_follow_the_spec_table() -> None:
    """Sanity of the matrix itself: who may do what, spelled out for the new verbs."""
    allowed = {
        v.id: sorted(_profile_id(p) for p in PROFILES if _first_missing(v, p) is None)
        for v in VERBS
    }
    everyone_reading = ["ADMINISTRATOR", "APPROVER", "MANAGER", "VIEWER"]
    writers = ["ADMINISTRATOR", "APPROVER", "MANAGER"]
    publishers = ["ADMINISTRATOR", "APPROVER"]
    assert allowed["approval_history"] == everyone_reading
    assert allowed["request_approval"] == writers
    assert allowed["request_approval[no policy]"] == publishers
    assert allowed["cancel_approval"] == writers
    assert allowed["approve"] == publishers
    assert allowed["request_changes"] == publishers
    for name in ("trigger", "execute_audience", "cancel_execution"):
        assert allowed[name] == publishers, name
    assert allowed["trigger[creates a profile]"] == publishers
    assert allowed["execute_audience[scheduled]"] == publishers
    assert allowed["execution"] == everyone_reading
    assert allowed["check"] == everyone_reading
    for name in SESSION_VERBS:
        if "approval_polic" in name or name.endswith(("_profile", "_member", "audit_log")):
            assert allowed[name] == ["ADMINISTRATOR"], name


# ---------------------------------------------------------------- no profile, missing ids


@pytest.mark.parametrize("verb", VERBS, ids=lambda v: v.id)
def test_user_without_profile_is_told_so(verb: VerbCase) -> None:
    world = make_world()
    target = verb.setup(world)
    # Holding a profile once and losing it leaves the user with none.
    world.kit.access.assign(USER, Profile.ADMINISTRATOR)
    world.kit.access.revoke(USER, Profile.ADMINISTRATOR)
    with pytest.raises(ck.PermissionDenied, match=NO_PROFILE_REASON) as caught:
        verb.call(world.kit.as_user(USER), world, target)
    assert caught.value.reason == f"user {USER!r} has no campaign product profile"


MISSING_CAMPAIGN = "cmp_missing"

CampaignCall = Callable[[ck.UserSession, str], object]

CAMPAIGN_VERBS: list[tuple[str, str, CampaignCall]] = [
    ("get", "campaign.read", lambda s, c: s.get(c)),
    ("update_draft", "campaign.write", lambda s, c: s.update_draft(c, name="X")),
    ("delete", "campaign.delete", lambda s, c: s.delete(c)),
    ("duplicate", "campaign.read", lambda s, c: s.duplicate(c)),
    ("activate", "campaign.publish", lambda s, c: s.activate(c)),
    ("modify", "campaign.write", lambda s, c: s.modify(c)),
    ("discard_draft", "campaign.write", lambda s, c: s.discard_draft(c)),
    ("stop", "campaign.publish", lambda s, c: s.stop(c)),
    ("archive", "campaign.write", lambda s, c: s.archive(c)),
    ("export", "campaign.read", lambda s, c: s.export([c])),
    ("report", "campaign_report.read", lambda s, c: s.report(c)),
    ("send_proof", "campaign.write", lambda s, c: s.send_proof(c, ["tester"])),
    ("request_approval", "campaign.write", lambda s, c: s.request_approval(c)),
    ("cancel_approval", "campaign.write", lambda s, c: s.cancel_approval(c)),
    ("approve", "campaign.approve", lambda s, c: s.approve(c)),
    ("request_changes", "campaign.approve", lambda s, c: s.request_changes(c, "why")),
    ("approval_history", "campaign.read", lambda s, c: s.approval_history(c)),
    ("trigger", "campaign.publish", lambda s, c: s.trigger(c, [_recipient()], request_id="r")),
    ("execute_audience", "campaign.publish", lambda s, c: s.execute_audience(c, request_id="r")),
]


@pytest.mark.parametrize(
    ("name", "permission", "call"), CAMPAIGN_VERBS, ids=[v[0] for v in CAMPAIGN_VERBS]
)
def test_missing_campaign_is_permission_denied_for_the_unauthorized(
    world: World, name: str, permission: str, call: CampaignCall
) -> None:
    world.draft()
    before = snapshot(world)
    with pytest.raises(ck.PermissionDenied) as caught:
        call(world.kit.as_user("nobody"), MISSING_CAMPAIGN)
    assert not isinstance(caught.value, ck.NotFound)
    assert (caught.value.user, caught.value.permission) == ("nobody", permission)
    assert NO_PROFILE_REASON in str(caught.value)
    assert snapshot(world) == before


@pytest.mark.parametrize(
    ("name", "permission", "call"), CAMPAIGN_VERBS, ids=[v[0] for v in CAMPAIGN_VERBS]
)
def test_missing_campaign_is_not_found_for_the_authorized(
    world: World, name: str, permission: str, call: CampaignCall
) -> None:
    before = snapshot(world)
    with pytest.raises(ck.NotFound) as caught:
        call(world.admin, MISSING_CAMPAIGN)
    assert (caught.value.kind, caught.value.key) == ("campaign", MISSING_CAMPAIGN)
    assert snapshot(world) == before


def test_missing_campaign_for_a_profile_lacking_the_permission(world: World) -> None:
    viewer = session_with(world, Profile.VIEWER)
    with pytest.raises(ck.PermissionDenied) as caught:
        viewer.stop(MISSING_CAMPAIGN)
    assert (caught.value.user, caught.value.permission) == (USER, "campaign.publish")
    # The same profile may read, so reading a missing campaign is a plain NotFound.
    with pytest.raises(ck.NotFound):
        viewer.get(MISSING_CAMPAIGN)


@pytest.mark.parametrize(
    ("name", "permission", "call"), CAMPAIGN_VERBS, ids=[v[0] for v in CAMPAIGN_VERBS]
)
def test_denial_on_a_missing_campaign_looks_like_one_on_an_existing_campaign(
    name: str, permission: str, call: CampaignCall
) -> None:
    """Existence must not leak through ``campaign_id`` or the message (SPEC 6)."""
    world = make_world()
    existing = world.draft().id
    nobody = world.kit.as_user("nobody")
    with pytest.raises(ck.PermissionDenied) as on_existing:
        call(nobody, existing)
    with pytest.raises(ck.PermissionDenied) as on_missing:
        call(nobody, MISSING_CAMPAIGN)
    assert on_existing.value.campaign_id == existing
    assert on_missing.value.campaign_id == MISSING_CAMPAIGN
    assert str(on_missing.value) == str(on_existing.value).replace(existing, MISSING_CAMPAIGN)


MISSING_EXECUTION = "exe_missing"

ExecutionCall = Callable[[ck.UserSession, str], object]

EXECUTION_VERBS: list[tuple[str, str, ExecutionCall]] = [
    ("cancel_execution", "campaign.publish", lambda s, e: s.cancel_execution(e)),
    ("execution", "campaign.read", lambda s, e: s.execution(e)),
]


@pytest.mark.parametrize("profile", PROFILES, ids=_profile_id)
@pytest.mark.parametrize(
    ("name", "permission", "call"), EXECUTION_VERBS, ids=[v[0] for v in EXECUTION_VERBS]
)
def test_missing_execution_is_denied_to_the_unauthorized_and_not_found_otherwise(
    name: str, permission: str, call: ExecutionCall, profile: ck.ProductProfile | None
) -> None:
    """With no execution there is no campaign to ask about: the policy is asked
    without one, so only a profile granting ``permission`` learns it is missing."""
    world = make_world()
    _scheduled_execution(world)  # another execution exists
    session = session_with(world, *([] if profile is None else [profile]))
    before = snapshot(world)
    granted = SPEC_PROFILE_PERMISSIONS[profile.value] if profile is not None else frozenset()
    if permission not in granted:
        with pytest.raises(ck.PermissionDenied) as caught:
            call(session, MISSING_EXECUTION)
        denied = caught.value
        assert (denied.user, denied.permission, denied.campaign_id) == (USER, permission, None)
        if profile is None:
            assert NO_PROFILE_REASON in str(denied)
    else:
        with pytest.raises(ck.NotFound) as missing:
            call(session, MISSING_EXECUTION)
        assert (missing.value.kind, missing.value.key) == ("execution", MISSING_EXECUTION)
    assert snapshot(world) == before


SurfaceCall = Callable[[ck.UserSession, str], object]


@pytest.mark.parametrize(
    "call",
    [lambda s, i: s.get_surface(i), lambda s, i: s.deactivate_surface(i)],
    ids=["get_surface", "deactivate_surface"],
)
def test_missing_surface_is_denied_to_the_unauthorized_and_not_found_otherwise(
    world: World, call: SurfaceCall
) -> None:
    with pytest.raises(ck.PermissionDenied, match=NO_PROFILE_REASON):
        call(world.kit.as_user("nobody"), "srf_missing")
    with pytest.raises(ck.NotFound):
        call(world.admin, "srf_missing")


InvalidCall = Callable[[ck.UserSession, World, str], object]


@pytest.mark.parametrize(
    "call",
    [
        lambda s, w, c: s.list_campaigns(limit=0),
        lambda s, w, c: s.calendar(T0, T0),
        lambda s, w, c: s.create_campaign(name=""),
        lambda s, w, c: s.update_draft(c, actions=w.sms_action()),  # not a list
        lambda s, w, c: s.create_surface(
            name="", channel=ck.ChannelType.SMS, settings=ck.SmsSettings(sender_id="")
        ),
        lambda s, w, c: s.create_approval_policy(name=" ", reviewers=[]),
        lambda s, w, c: s.assign_profile(" ", Profile.VIEWER),
        lambda s, w, c: s.assign_group_profile("staff", "NOBODY"),
        lambda s, w, c: s.add_group_member("", "bob"),
    ],
    ids=[
        "list_campaigns",
        "calendar",
        "create_campaign",
        "update_draft",
        "create_surface",
        "create_approval_policy",
        "assign_profile",
        "assign_group_profile",
        "add_group_member",
    ],
)
def test_policy_is_checked_before_the_arguments(world: World, call: InvalidCall) -> None:
    """SPEC 6: every operation checks the policy first, so a no-profile user
    learns nothing from argument validation."""
    campaign_id = world.draft().id
    with pytest.raises(ck.PermissionDenied, match=NO_PROFILE_REASON):
        call(world.kit.as_user("nobody"), world, campaign_id)
    with pytest.raises(ck.ValidationError):
        call(world.admin, world, campaign_id)


TriggerCall = Callable[[ck.UserSession, str], object]


@pytest.mark.parametrize(
    "call",
    [
        lambda s, c: s.trigger(c, [], request_id="r"),
        lambda s, c: s.trigger(c, [_recipient()], request_id=" "),
        lambda s, c: s.trigger(c, [_recipient("stranger@example.com")], request_id="r"),
        lambda s, c: s.trigger(
            c, [ck.Recipient("ann@example.com", "email", context={"system": {}})], request_id="r"
        ),
        lambda s, c: s.execute_audience(c, request_id=""),
        lambda s, c: s.execute_audience(c, request_id="r", context={"system": {}}),
        lambda s, c: s.execute_audience(c, request_id="r", context={"at": object()}),
        lambda s, c: s.execute_audience(c, request_id="r", execute_at=T0.subtract(hours=1)),
        lambda s, c: s.execute_audience(c, request_id="r", execute_at=T0.add(hours=1).naive()),
    ],
    ids=[
        "trigger-no recipients",
        "trigger-blank request id",
        "trigger-unknown recipient",
        "trigger-reserved context key",
        "execute_audience-blank request id",
        "execute_audience-reserved context key",
        "execute_audience-context not JSON",
        "execute_audience-execute_at past",
        "execute_audience-execute_at naive",
    ],
)
def test_trigger_verbs_check_the_policy_before_the_arguments(call: TriggerCall) -> None:
    """The same for the API verbs, on a campaign that accepts triggers (so only the
    arguments are wrong): neither a user with no profile nor one lacking
    campaign.publish learns anything from validation, and a refusal changes nothing."""
    world = make_world()
    campaign_id = _api_marketing(world)
    viewer = session_with(world, Profile.VIEWER)
    before = snapshot(world)
    with pytest.raises(ck.PermissionDenied, match=NO_PROFILE_REASON):
        call(world.kit.as_user("nobody"), campaign_id)
    with pytest.raises(ck.PermissionDenied) as caught:
        call(viewer, campaign_id)
    assert (caught.value.permission, caught.value.campaign_id) == ("campaign.publish", campaign_id)
    with pytest.raises(ck.ValidationError):
        call(world.admin, campaign_id)
    assert snapshot(world) == before


# ---------------------------------------------------------------- assign / revoke


def test_revoke_removes_the_profile_and_its_permissions(world: World) -> None:
    campaign_id = world.draft().id
    manager = session_with(world, Profile.MANAGER, Profile.VIEWER)
    assert manager.update_draft(campaign_id, name="By manager").name == "By manager"

    world.kit.access.revoke(USER, Profile.MANAGER)

    assert world.kit.access.profiles_of(USER) == {Profile.VIEWER}
    before = snapshot(world)
    with pytest.raises(ck.PermissionDenied) as caught:
        manager.update_draft(campaign_id, name="Again")
    assert (caught.value.permission, caught.value.campaign_id) == ("campaign.write", campaign_id)
    assert "VIEWER" in caught.value.reason
    assert snapshot(world) == before
    assert manager.get(campaign_id).name == "By manager"  # still a viewer

    world.kit.access.revoke(USER, Profile.VIEWER)
    world.kit.access.revoke(USER, Profile.VIEWER)  # idempotent

    assert world.kit.access.profiles_of(USER) == frozenset()
    assert all(principal.id != USER for principal in world.kit.access.assignments())
    with pytest.raises(ck.PermissionDenied, match=NO_PROFILE_REASON):
        manager.get(campaign_id)


def test_assign_is_idempotent(world: World) -> None:
    world.kit.access.assign(USER, Profile.MANAGER)
    once = dict(world.kit.access.assignments())
    world.kit.access.assign(USER, Profile.MANAGER)
    assert dict(world.kit.access.assignments()) == once
    assert world.kit.access.profiles_of(USER) == {Profile.MANAGER}
    assert world.kit.access.profiles_of("ada") == {Profile.ADMINISTRATOR}
    assert {(p.kind, p.id): v for p, v in once.items()} == {
        ("user", "ada"): {Profile.ADMINISTRATOR},
        ("user", USER): {Profile.MANAGER},
    }


def test_revoking_a_profile_not_held_changes_nothing(world: World) -> None:
    world.kit.access.assign(USER, Profile.VIEWER)
    before = dict(world.kit.access.assignments())
    world.kit.access.revoke(USER, Profile.APPROVER)
    world.kit.access.revoke("stranger", Profile.VIEWER)
    assert dict(world.kit.access.assignments()) == before


def test_two_profiles_grant_the_union(world: World) -> None:
    campaign_id = world.draft().id
    session = session_with(world, Profile.VIEWER, Profile.MANAGER)
    policy = world.kit.policy
    assert isinstance(policy, ck.ProfilePolicy)
    assert {p.value for p in policy.permissions_of(USER)} == (
        SPEC_PROFILE_PERMISSIONS["VIEWER"] | SPEC_PROFILE_PERMISSIONS["MANAGER"]
    )
    # MANAGER grants what VIEWER lacks.
    assert session.update_draft(campaign_id, name="Union").name == "Union"
    assert [s.name for s in session.list_surfaces()] == ["Alerts", "App", "Newsletter"]
    assert "MANAGER" in policy.decide(USER, P.CAMPAIGN_WRITE, None).reason
    # Neither grants publish.
    with pytest.raises(ck.PermissionDenied) as caught:
        session.activate(campaign_id)
    assert caught.value.permission == "campaign.publish"
    assert "MANAGER" in caught.value.reason
    assert "VIEWER" in caught.value.reason


def test_profiles_can_be_assigned_by_their_string_value(world: World) -> None:
    world.kit.access.assign(USER, "VIEWER")  # type: ignore[arg-type]
    assert world.kit.access.profiles_of(USER) == {Profile.VIEWER}
    with pytest.raises(ValueError, match="NOBODY"):
        world.kit.access.assign(USER, "NOBODY")  # type: ignore[arg-type]


# ---------------------------------------------------------------- custom mapping


MANAGER_WHO_PUBLISHES: dict[ck.ProductProfile, frozenset[ck.Permission]] = {
    Profile.ADMINISTRATOR: frozenset(ck.Permission),
    Profile.MANAGER: frozenset(
        {
            P.CAMPAIGN_READ,
            P.CAMPAIGN_WRITE,
            P.CAMPAIGN_DELETE,
            P.CAMPAIGN_PUBLISH,
            P.CAMPAIGN_REPORT_READ,
            P.SURFACE_READ,
        }
    ),
}


def test_custom_mapping_lets_a_manager_publish() -> None:
    world = custom_world(profile_permissions=MANAGER_WHO_PUBLISHES)
    campaign_id = world.draft().id
    manager = session_with(world, Profile.MANAGER)

    activated = manager.activate(campaign_id)

    assert activated.status is S.ACTIVATING
    world.kit.tick()
    assert manager.stop(campaign_id).status is S.STOPPED
    # The default table is untouched: elsewhere a manager still may not publish.
    assert P.CAMPAIGN_PUBLISH not in ck.PROFILE_PERMISSIONS[Profile.MANAGER]
    default = make_world()
    other = default.draft().id
    with pytest.raises(ck.PermissionDenied):
        session_with(default, Profile.MANAGER).activate(other)


def test_custom_mapping_without_a_profile_grants_it_nothing() -> None:
    world = custom_world(profile_permissions=MANAGER_WHO_PUBLISHES)
    campaign_id = world.draft().id
    viewer = session_with(world, Profile.VIEWER)
    before = snapshot(world)
    with pytest.raises(ck.PermissionDenied) as caught:
        viewer.get(campaign_id)
    assert (caught.value.permission, caught.value.campaign_id) == ("campaign.read", campaign_id)
    assert "VIEWER" in caught.value.reason
    assert snapshot(world) == before


def test_custom_mapping_is_copied_not_referenced() -> None:
    mapping = dict(MANAGER_WHO_PUBLISHES)
    world = custom_world(profile_permissions=mapping)
    mapping[Profile.VIEWER] = frozenset(ck.Permission)
    campaign_id = world.draft().id
    with pytest.raises(ck.PermissionDenied):
        session_with(world, Profile.VIEWER).get(campaign_id)


# ---------------------------------------------------------------- custom policy object

Call = tuple[str, ck.Permission, ck.Campaign | None]


def legal_hold(user: str, permission: ck.Permission, campaign: ck.Campaign | None) -> ck.Decision:
    """The host's own authorization function: everything but deleting legal campaigns."""
    if permission is P.CAMPAIGN_DELETE and campaign is not None and "legal" in campaign.tags:
        return ck.Decision(False, f"campaign {campaign.name!r} is under legal hold")
    return ck.Decision(True, "host allows")


class HostPolicy:
    """A policy object delegating to a host function, recording each question."""

    def __init__(
        self, authorize: Callable[[str, ck.Permission, ck.Campaign | None], ck.Decision]
    ) -> None:
        self._authorize = authorize
        self.calls: list[Call] = []

    def decide(
        self, user: str, permission: ck.Permission, campaign: ck.Campaign | None
    ) -> ck.Decision:
        self.calls.append((user, permission, campaign))
        return self._authorize(user, permission, campaign)


def test_policy_object_satisfies_the_protocol() -> None:
    policy = HostPolicy(legal_hold)
    assert isinstance(policy, ck.PermissionPolicy)
    assert isinstance(ck.ProfilePolicy(ck.AccessDirectory(ck.InMemoryStore())), ck.PermissionPolicy)
    assert not isinstance(object(), ck.PermissionPolicy)
    world = custom_world(policy=policy)
    assert world.kit.policy is policy


def test_custom_policy_refuses_deleting_a_legal_campaign() -> None:
    policy = HostPolicy(legal_hold)
    world = custom_world(policy=policy)
    held = world.draft("Contract notice", tags=["legal"])
    free = world.draft("Newsletter")
    session = world.kit.as_user(USER)  # no profile: the custom policy ignores profiles
    before = snapshot(world)
    policy.calls.clear()

    with pytest.raises(ck.PermissionDenied) as caught:
        session.delete(held.id)

    denied = caught.value
    assert (denied.user, denied.permission, denied.campaign_id) == (
        USER,
        "campaign.delete",
        held.id,
    )
    assert denied.reason == "campaign 'Contract notice' is under legal hold"
    assert "campaign 'Contract notice' is under legal hold" in str(denied)
    assert policy.calls == [(USER, P.CAMPAIGN_DELETE, held)]
    assert snapshot(world) == before

    session.delete(free.id)
    with pytest.raises(ck.NotFound):
        world.admin.get(free.id)
    # Other verbs on the legal campaign are allowed.
    assert session.update_draft(held.id, name="Contract notice v2").name == "Contract notice v2"


def test_custom_policy_receives_the_campaign_or_none() -> None:
    policy = HostPolicy(legal_hold)
    world = custom_world(policy=policy)
    campaign = world.draft(tags=["legal"])
    session = world.kit.as_user(USER)

    policy.calls.clear()
    assert session.get(campaign.id) == campaign
    assert policy.calls == [(USER, P.CAMPAIGN_READ, campaign)]

    running = world.live("Running").id
    policy.calls.clear()
    session.stop(running)
    ((user, permission, received),) = policy.calls
    assert (user, permission) == (USER, P.CAMPAIGN_PUBLISH)
    assert received is not None
    assert (received.name, received.status) == ("Running", S.LIVE)

    policy.calls.clear()
    created = session.create_campaign(name="New")
    assert policy.calls == [(USER, P.CAMPAIGN_WRITE, None)]
    assert created.created_by == USER

    policy.calls.clear()
    listed = session.list_campaigns()
    session.calendar(T0, T0.add(days=1))
    session.list_surfaces()
    # listing asks once for the verb, then about each campaign it could show (issue 10)
    assert [c.name for c in listed] == ["New", "Winter sale"]  # "Running" was stopped
    assert policy.calls == [
        (USER, P.CAMPAIGN_READ, None),
        *((USER, P.CAMPAIGN_READ, c) for c in listed),
        (USER, P.CAMPAIGN_READ, None),
        (USER, P.SURFACE_READ, None),
    ]

    policy.calls.clear()
    session.duplicate(campaign.id)
    assert policy.calls == [
        (USER, P.CAMPAIGN_READ, campaign),
        (USER, P.CAMPAIGN_WRITE, campaign),
    ]


def test_custom_policy_decides_on_the_campaign_of_an_api_call() -> None:
    """A verb on an execution asks about the execution's campaign (None when it is missing)."""
    policy = HostPolicy(legal_hold)
    world = custom_world(policy=policy)
    campaign = world.admin.get(_api_marketing(world))
    session = world.kit.as_user(USER)
    policy.calls.clear()

    triggered = session.trigger(campaign.id, [_recipient()], request_id="order-A1")
    scheduled = session.execute_audience(
        campaign.id, request_id="flash-sale", execute_at=T0.add(days=1)
    )
    session.execution(triggered.id)
    session.cancel_execution(scheduled.id)
    with pytest.raises(ck.NotFound):
        session.execution(MISSING_EXECUTION)

    assert policy.calls == [
        (USER, P.CAMPAIGN_PUBLISH, campaign),
        (USER, P.CAMPAIGN_PUBLISH, campaign),
        (USER, P.CAMPAIGN_READ, campaign),
        (USER, P.CAMPAIGN_PUBLISH, campaign),
        (USER, P.CAMPAIGN_READ, None),
    ]


def test_custom_policy_denial_reason_reaches_the_error() -> None:
    def deny_all(user: str, permission: ck.Permission, campaign: ck.Campaign | None) -> ck.Decision:
        return ck.Decision(False, f"ask the host about {permission}")

    world = make_world()
    campaign_id = world.draft().id
    kit = ck.CampaignKit(
        store=world.kit.store, clock=world.clock, policy=HostPolicy(deny_all), ids=SequentialIds()
    )
    before = snapshot(world)
    session = kit.as_user(USER)
    with pytest.raises(ck.PermissionDenied, match=r"ask the host about campaign\.write") as caught:
        session.modify(campaign_id)
    assert caught.value.campaign_id == campaign_id
    with pytest.raises(ck.PermissionDenied, match=r"ask the host about campaign\.read"):
        session.list_campaigns()
    with pytest.raises(ck.PermissionDenied, match=r"ask the host about surface\.manage"):
        session.deactivate_surface(world.push.id)
    assert snapshot(world) == before


def test_denials_are_checked_at_a_fixed_instant_without_moving_time(world: World) -> None:
    """A denied verb on a campaign with due lifecycle work does not run that work."""
    campaign_id = world.scheduled(days=1).id
    world.clock.set(T0.add(days=2))  # now past its start: the engine would make it LIVE
    viewer = session_with(world, Profile.VIEWER)
    before = snapshot(world)
    with pytest.raises(ck.PermissionDenied):
        viewer.stop(campaign_id)
    assert snapshot(world) == before
    assert world.admin.get(campaign_id).status is S.SCHEDULED


# ---------------------------------------------------------------- approval policies: missing ids

PolicyCall = Callable[[ck.UserSession, str], object]


@pytest.mark.parametrize(
    "call",
    [
        lambda s, p: s.get_approval_policy(p),
        lambda s, p: s.update_approval_policy(p, name="X"),
        lambda s, p: s.activate_approval_policy(p),
        lambda s, p: s.deactivate_approval_policy(p),
        lambda s, p: s.duplicate_approval_policy(p),
    ],
    ids=["get", "update", "activate", "deactivate", "duplicate"],
)
def test_missing_policy_is_denied_to_non_managers_and_not_found_otherwise(
    world: World, call: PolicyCall
) -> None:
    _policy(world)
    for profile in (Profile.APPROVER, Profile.MANAGER, Profile.VIEWER):
        world.kit.access.assign(f"user-{profile}", profile)
        with pytest.raises(ck.PermissionDenied) as caught:
            call(world.kit.as_user(f"user-{profile}"), "apr_missing")
        assert caught.value.permission == "approval_policy.manage"
    with pytest.raises(ck.PermissionDenied, match=NO_PROFILE_REASON):
        call(world.kit.as_user("nobody"), "apr_missing")
    with pytest.raises(ck.NotFound):
        call(world.admin, "apr_missing")


# ---------------------------------------------------------------- workflow refusals (SPEC 7)


def _refused(
    world: World,
    call: Callable[[], object],
    *,
    user: str,
    permission: str,
    campaign_id: str,
    reason: str,
) -> None:
    """``call`` raises PermissionDenied naming user, permission and campaign; nothing changes."""
    before = snapshot(world)
    with pytest.raises(ck.PermissionDenied) as caught:
        call()
    denied = caught.value
    assert (denied.user, denied.permission, denied.campaign_id) == (user, permission, campaign_id)
    assert reason in denied.reason
    message = str(denied)
    for part in (repr(user), repr(permission), repr(campaign_id), denied.reason):
        assert part in message
    assert snapshot(world) == before


def _user(
    world: World, name: str, *profiles: ck.ProductProfile, via: Via = "direct"
) -> ck.UserSession:
    """A session for ``name`` holding ``profiles`` directly or through its own group."""
    access = world.kit.access
    if via == "group":
        access.add_member(f"{name}-team", name)
    for profile in profiles:
        if via == "group":
            access.assign_group(f"{name}-team", profile)
        else:
            access.assign(name, profile)
    return world.kit.as_user(name)


def _requested_by_admin(world: World, **policy: Any) -> str:
    """A draft put IN_REVIEW by the administrator under a fresh active policy."""
    campaign_id = world.draft().id
    _policy(world, **policy)
    assert world.admin.request_approval(campaign_id).status is S.IN_REVIEW
    return campaign_id


@pytest.mark.parametrize("via", VIAS)
def test_a_reviewer_of_another_policy_is_not_a_reviewer_of_this_request(via: Via) -> None:
    world = make_world()
    rita = _user(world, "rita", Profile.APPROVER, via=via)
    campaign_id = world.draft().id
    # rita reviews an active policy that does not apply, and one the request is not under
    _policy(world, "Legal review", reviewers=["rita"], tags=["legal"])
    _policy(world, "Old brand review", reviewers=["rita"])
    _policy(world, "Brand review", reviewers=["april"])  # activated last: it governs
    review = world.admin.request_approval(campaign_id).review
    assert review is not None
    assert review.policy_name == "Brand review"

    for call in (lambda: rita.approve(campaign_id), lambda: rita.request_changes(campaign_id, "x")):
        _refused(
            world,
            call,
            user="rita",
            permission="campaign.approve",
            campaign_id=campaign_id,
            reason="is not a reviewer of approval policy 'Brand review'",
        )
    assert world.admin.get(campaign_id).status is S.IN_REVIEW


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("profile", [Profile.APPROVER, Profile.ADMINISTRATOR], ids=str)
def test_holding_campaign_approve_without_being_a_reviewer_is_refused(
    profile: ck.ProductProfile, via: Via
) -> None:
    world = make_world()
    campaign_id = _requested_by_admin(world, reviewers=["april"], reviewer_groups=["brand"])
    session = _user(world, "paul", profile, via=via)
    for call in (
        lambda: session.approve(campaign_id, "ok"),
        lambda: session.request_changes(campaign_id, "no"),
    ):
        _refused(
            world,
            call,
            user="paul",
            permission="campaign.approve",
            campaign_id=campaign_id,
            reason="'paul' is not a reviewer",
        )


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("profile", [Profile.MANAGER, Profile.VIEWER], ids=str)
def test_a_named_reviewer_without_campaign_approve_is_refused(
    profile: ck.ProductProfile, via: Via
) -> None:
    world = make_world()
    campaign_id = _requested_by_admin(world, reviewers=["max"])
    session = _user(world, "max", profile, via=via)
    for call in (
        lambda: session.approve(campaign_id),
        lambda: session.request_changes(campaign_id, "x"),
    ):
        _refused(
            world,
            call,
            user="max",
            permission="campaign.approve",
            campaign_id=campaign_id,
            reason=f"profile {profile.value} does not grant campaign.approve",
        )


@pytest.mark.parametrize("via", VIAS)
def test_self_approval_is_blocked_when_the_policy_says_so(via: Via) -> None:
    world = make_world()
    campaign_id = world.draft().id
    _policy(world, reviewers=[USER, "april"], block_self_approval=True)
    uma = _user(world, USER, Profile.APPROVER, via=via)
    april = _user(world, "april", Profile.APPROVER)
    assert uma.request_approval(campaign_id).status is S.IN_REVIEW

    _refused(
        world,
        lambda: uma.approve(campaign_id, "mine, fine"),
        user=USER,
        permission="campaign.approve",
        campaign_id=campaign_id,
        reason="blocks self-approval",
    )

    approved = april.approve(campaign_id)
    assert approved.status is S.ACTIVATING
    assert [(e.actor, e.action.value) for e in approved.approvals] == [
        (USER, "requested"),
        ("april", "approved"),
    ]


def test_without_the_block_the_requester_who_is_a_reviewer_may_approve(world: World) -> None:
    campaign_id = world.draft().id
    _policy(world, reviewers=[USER], block_self_approval=False)
    uma = _user(world, USER, Profile.APPROVER)
    uma.request_approval(campaign_id)
    assert uma.approve(campaign_id).status is S.ACTIVATING


@pytest.mark.parametrize(
    "how",
    ["approver directly", "approver through the reviewer group", "approver via another group"],
)
def test_a_reviewer_through_group_membership_is_allowed(how: str) -> None:
    world = make_world()
    access = world.kit.access
    approve_id = _requested_by_admin(world, reviewers=[], reviewer_groups=["brand"])
    changes_id = world.draft("Second").id
    world.admin.request_approval(changes_id)
    access.add_member("brand", "bea")
    if how == "approver directly":
        access.assign("bea", Profile.APPROVER)
    elif how == "approver through the reviewer group":
        access.assign_group("brand", Profile.APPROVER)
    else:
        access.add_member("approvers", "bea")
        access.assign_group("approvers", Profile.APPROVER)
    bea = world.kit.as_user("bea")

    approved = bea.approve(approve_id, "good")
    assert approved.status is S.ACTIVATING
    assert (approved.approvals[-1].actor, approved.approvals[-1].action.value) == (
        "bea",
        "approved",
    )
    assert bea.request_changes(changes_id, "shorter").status is S.DRAFT

    # Membership is read when the reviewer acts: out of the group, out of the review
    # (and, when the group also gave the profile, out of every permission).
    third = world.draft("Third").id
    world.admin.request_approval(third)
    access.remove_member("brand", "bea")
    lost_profile = how == "approver through the reviewer group"
    _refused(
        world,
        lambda: bea.approve(third),
        user="bea",
        permission="campaign.approve",
        campaign_id=third,
        reason=NO_PROFILE_REASON if lost_profile else "'bea' is not a reviewer",
    )


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize(
    "profile", [Profile.MANAGER, Profile.APPROVER, Profile.ADMINISTRATOR], ids=str
)
def test_only_the_requester_or_a_reviewer_may_cancel_a_review(
    profile: ck.ProductProfile, via: Via
) -> None:
    world = make_world()
    campaign_id = world.draft().id
    _policy(world, reviewers=["april"])
    requester = _user(world, USER, Profile.MANAGER)
    requester.request_approval(campaign_id)
    other = _user(world, "bob", profile, via=via)  # not the policy's reviewer

    _refused(
        world,
        lambda: other.cancel_approval(campaign_id),
        user="bob",
        permission="campaign.write",
        campaign_id=campaign_id,
        reason=f"only the requester {USER!r} or a reviewer of approval policy",
    )

    cancelled = requester.cancel_approval(campaign_id)
    assert cancelled.status is S.DRAFT
    assert cancelled.approvals[-1].action is ck.ApprovalAction.CANCELLED


@pytest.mark.parametrize("via", VIAS)
def test_a_reviewer_may_cancel_a_review_only_with_campaign_approve(via: Via) -> None:
    world = make_world()
    campaign_id = world.draft().id
    _policy(world, reviewers=["april", "max"])
    _user(world, USER, Profile.MANAGER).request_approval(campaign_id)
    named_manager = _user(world, "max", Profile.MANAGER, via=via)  # named, cannot approve
    _refused(
        world,
        lambda: named_manager.cancel_approval(campaign_id),
        user="max",
        permission="campaign.approve",
        campaign_id=campaign_id,
        reason="",
    )
    cancelled = _user(world, "april", Profile.APPROVER, via=via).cancel_approval(campaign_id)
    assert cancelled.status is S.DRAFT
    assert [(e.actor, e.action) for e in cancelled.approvals][-1] == (
        "april",
        ck.ApprovalAction.CANCELLED,
    )


@pytest.mark.parametrize("via", VIAS)
def test_without_a_matching_policy_a_manager_request_is_refused(via: Via) -> None:
    world = make_world()
    _policy(world, "Legal review", tags=["legal"])  # active, but does not apply
    _policy(world, "Everything", active=False)  # would apply, but inactive
    campaign_id = world.draft().id
    manager = _user(world, USER, Profile.MANAGER, via=via)

    _refused(
        world,
        lambda: manager.request_approval(campaign_id, "please"),
        user=USER,
        permission="campaign.publish",
        campaign_id=campaign_id,
        reason="no approval policy applies",
    )
    assert world.admin.get(campaign_id).status is S.DRAFT


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("profile", [Profile.APPROVER, Profile.ADMINISTRATOR], ids=str)
def test_without_a_matching_policy_a_publisher_request_activates_directly(
    profile: ck.ProductProfile, via: Via
) -> None:
    world = make_world()
    _policy(world, "Legal review", tags=["legal"])
    campaign_id = world.draft().id
    publisher = _user(world, USER, profile, via=via)
    world.events.clear()

    activated = publisher.request_approval(campaign_id, "no review needed")

    assert activated.status is S.ACTIVATING
    assert activated.review is None
    (entry,) = activated.approvals
    assert (entry.actor, entry.action, entry.policy_id, entry.message) == (
        USER,
        ck.ApprovalAction.ACTIVATED_WITHOUT_POLICY,
        None,
        "no review needed",
    )
    assert [type(e).__name__ for e in world.events] == ["CampaignChanged", "ApprovalEvent"]
    world.kit.tick()
    assert world.admin.get(campaign_id).status is S.LIVE


# ---------------------------------------------------------------- property: random populations

REQUIRED: dict[str, tuple[str, ...]] = {v.name: v.needs for v in VERBS if not v.variant}
"""What each verb needs (SPEC 6), taken from the literal matrix above."""

WORKFLOW_VERBS = frozenset({"request_approval", "cancel_approval", "approve", "request_changes"})

ABOUT_A_CAMPAIGN = frozenset(v.name for v in VERBS if v.about_campaign)

ON_AN_EXECUTION = frozenset(v.name for v in VERBS if v.campaign_of is not None)
"""Verbs on an execution: a denial names the execution's campaign."""

PROFILE_SETS = st.frozensets(st.sampled_from(list(ck.ProductProfile)), max_size=2)


@attrs.frozen
class Population:
    """Random users with random direct profiles, groups and group profiles."""

    users: tuple[str, ...]
    direct: tuple[frozenset[ck.ProductProfile], ...]
    memberships: tuple[frozenset[str], ...]
    group_profiles: tuple[frozenset[ck.ProductProfile], ...]
    reviewers: frozenset[str]
    reviewer_groups: frozenset[str]
    block_self_approval: bool


@st.composite
def populations(draw: st.DrawFn) -> Population:
    size = draw(st.integers(min_value=4, max_value=6))
    users = POOL_USERS[:size]
    reviewers = draw(st.frozensets(st.sampled_from(users), max_size=3))
    reviewer_groups = draw(st.frozensets(st.sampled_from(POOL_GROUPS), max_size=2))
    return Population(
        users=users,
        direct=tuple(draw(PROFILE_SETS) for _ in users),
        memberships=tuple(
            draw(st.frozensets(st.sampled_from(POOL_GROUPS), max_size=2)) for _ in users
        ),
        group_profiles=tuple(draw(PROFILE_SETS) for _ in POOL_GROUPS),
        reviewers=reviewers if reviewers or reviewer_groups else frozenset({users[0]}),
        reviewer_groups=reviewer_groups,
        block_self_approval=draw(st.booleans()),
    )


@attrs.frozen
class Op:
    """One random step: ``user`` (index) calls ``verb``; the other fields pick arguments."""

    user: int
    verb: str
    a: int
    b: int
    profile: ck.ProductProfile
    flag: bool


OPS = st.builds(
    Op,
    user=st.integers(min_value=0, max_value=5),
    verb=st.one_of(
        st.sampled_from([*sorted(SESSION_VERBS), "tick"]),
        st.sampled_from([*sorted(WORKFLOW_VERBS), "create_campaign", "tick"]),  # more workflow
    ),
    a=st.integers(min_value=0, max_value=40),
    b=st.integers(min_value=0, max_value=40),
    profile=st.sampled_from(list(ck.ProductProfile)),
    flag=st.booleans(),
)


class AccessModel:
    """The test's own account of who holds what (never read back from campaignkit)."""

    def __init__(self) -> None:
        self.direct: dict[str, set[ck.ProductProfile]] = {}
        self.group_profiles: dict[str, set[ck.ProductProfile]] = {}
        self.members: dict[str, set[str]] = {}

    def groups_of(self, user: str) -> frozenset[str]:
        return frozenset(g for g, users in self.members.items() if user in users)

    def permissions(self, user: str) -> frozenset[str]:
        profiles = set(self.direct.get(user, ()))
        for group in self.groups_of(user):
            profiles |= self.group_profiles.get(group, set())
        granted: frozenset[str] = frozenset()
        for profile in profiles:
            granted |= SPEC_PROFILE_PERMISSIONS[profile.value]
        return granted

    def assignments(self) -> dict[Principal, frozenset[ck.ProductProfile]]:
        users = {Principal.user(u): frozenset(p) for u, p in self.direct.items() if p}
        groups = {Principal.group(g): frozenset(p) for g, p in self.group_profiles.items() if p}
        return users | groups


def _editable(c: ck.Campaign) -> bool:
    return c.review is None and (c.status is S.DRAFT or c.has_open_draft)


def _running(c: ck.Campaign) -> bool:
    return c.status in (S.SCHEDULED, S.LIVE)


def _accepting_triggers(c: ck.Campaign) -> bool:
    return c.type is API and c.status is S.LIVE


def _cancellable(execution: ck.Execution, now: pendulum.DateTime) -> bool:
    at = execution.execute_at
    return execution.schedule_status is ck.ScheduleStatus.SCHEDULED and at is not None and at > now


CAN_ACT_ON: dict[str, Callable[[ck.Campaign, str], bool]] = {
    "update_draft": lambda c, u: _editable(c),
    "delete": lambda c, u: c.status is S.DRAFT,
    "activate": lambda c, u: _editable(c),
    "modify": lambda c, u: _running(c) and not c.has_open_draft,
    "discard_draft": lambda c, u: _editable(c) and _running(c),
    "stop": lambda c, u: _running(c),
    "archive": lambda c, u: c.status in (S.COMPLETED, S.STOPPED, S.FAILED),
    "request_approval": lambda c, u: _editable(c),
    "cancel_approval": lambda c, u: c.review is not None,
    "approve": lambda c, u: c.review is not None,
    "request_changes": lambda c, u: c.review is not None,
    "trigger": lambda c, u: _accepting_triggers(c),
    "execute_audience": lambda c, u: _accepting_triggers(c),
}
"""For each verb on a campaign, which campaigns it could act on (used to pick arguments)."""


class Arena:
    """A world populated from a ``Population``, with the model kept beside it."""

    def __init__(self, population: Population) -> None:
        self.world = world = make_world()
        self.users = population.users
        self.model = model = AccessModel()
        access = world.kit.access
        model.direct["ada"] = {Profile.ADMINISTRATOR}
        for user, profiles in zip(population.users, population.direct, strict=True):
            for profile in profiles:
                access.assign(user, profile)
                model.direct.setdefault(user, set()).add(profile)
        for group, profiles in zip(POOL_GROUPS, population.group_profiles, strict=True):
            for profile in profiles:
                access.assign_group(group, profile)
                model.group_profiles.setdefault(group, set()).add(profile)
        for user, groups in zip(population.users, population.memberships, strict=True):
            for group in groups:
                access.add_member(group, user)
                model.members.setdefault(group, set()).add(user)
        admin = world.admin
        world.kit.profiles.upsert(
            ck.Profile("tester", identities={"email": "t@example.com"}, test=True)
        )
        winter = world.draft("Winter sale")
        self.package = admin.export([winter.id])
        legal = admin.create_approval_policy(
            name="Legal",
            reviewers=population.reviewers,
            reviewer_groups=population.reviewer_groups,
            block_self_approval=population.block_self_approval,
            tags=["legal"],
        )
        sale = admin.create_approval_policy(
            name="Sale", reviewers=[population.users[0]], name_contains="sale"
        )
        recurring = ck.Recurrence.daily(at="10:00")
        self.campaign_ids = [
            winter.id,
            world.draft("Legal notice", tags=["legal"]).id,
            world.live("Daily deals", recurrence=recurring).id,
            world.scheduled("Spring preview", days=2).id,
        ]
        orders = _api_marketing(world)
        self.campaign_ids.append(orders)
        seeds = [
            admin.execute_audience(
                orders, request_id="seed-audience", execute_at=world.clock.now().add(hours=6)
            ),
            admin.trigger(orders, [_recipient()], request_id="seed-trigger"),
        ]
        # every execution made, and the campaign it was asked for
        self.execution_campaigns = {e.id: orders for e in seeds}
        admin.activate_approval_policy(legal.id)
        in_review = world.draft("Legal update", tags=["legal"]).id
        admin.request_approval(in_review, "please")
        self.campaign_ids.append(in_review)
        self.policy_ids = [legal.id, sale.id]
        self.surface_ids = [world.email.id, world.sms.id, world.push.id]
        self.created = 0

    def campaign(self, op: Op) -> str:
        """Any campaign ever made (deleted ones too); with ``flag``, preferably one the
        verb could act on, so that successes of every verb are exercised often."""
        fits = CAN_ACT_ON.get(op.verb)
        if op.flag and fits is not None:
            user = self.users[op.user % len(self.users)]
            page = self.world.admin.list_campaigns(statuses=ck.ALL_STATUSES, limit=500)
            wanted = sorted(c.id for c in page.items if fits(c, user))
            if wanted:
                return wanted[op.a % len(wanted)]
        return self.campaign_ids[op.a % len(self.campaign_ids)]

    def policy(self, op: Op) -> str:
        return self.policy_ids[op.a % len(self.policy_ids)]

    def target(self, op: Op) -> str:
        return self.users[op.b % len(self.users)]

    def group(self, op: Op) -> str:
        return POOL_GROUPS[op.b % len(POOL_GROUPS)]

    def surface(self, op: Op) -> str:
        return self.surface_ids[op.a % len(self.surface_ids)]

    def execution(self, op: Op) -> str:
        """Any execution made; with ``flag``, for ``cancel_execution`` preferably one
        still scheduled, so that cancellations succeed often."""
        ids = list(self.execution_campaigns)
        if op.flag and op.verb == "cancel_execution":
            now = self.world.clock.now()
            wanted = [i for i in ids if _cancellable(self.world.admin.execution(i), now)]
            if wanted:
                return wanted[op.a % len(wanted)]
        return ids[op.a % len(ids)]

    def recipient(self, op: Op) -> ck.Recipient:
        """Ann (who has a profile), or now and then a guest who has none; the payload
        depends on ``b`` only, like the request id, so a repeated call is a replay."""
        user_id = f"guest{op.b}@example.com" if op.b % 3 == 0 else ANN.identities["email"]
        return _recipient(user_id, f"A{op.b}")

    def named_campaign(self, op: Op) -> str | None:
        """The campaign a denial of ``op`` names: the one it acts on, or its execution's."""
        if op.verb in ON_AN_EXECUTION:
            return self.execution_campaigns[self.execution(op)]
        return self.campaign(op) if op.verb in ABOUT_A_CAMPAIGN else None

    def fresh_name(self, prefix: str) -> str:
        self.created += 1
        return f"{prefix} {self.created}"

    def review_of(self, campaign_id: str) -> Review | None:
        try:
            return self.world.admin.get(campaign_id).review
        except ck.NotFound:
            return None


Verb = Callable[[Arena, ck.UserSession, Op], object]

CALLS: dict[str, Verb] = {
    "get": lambda w, s, o: s.get(w.campaign(o)),
    "list_campaigns": lambda w, s, o: s.list_campaigns(statuses=ck.ALL_STATUSES),
    "calendar": lambda w, s, o: s.calendar(T0, T0.add(days=30)),
    "create_campaign": lambda w, s, o: w.world.draft(
        w.fresh_name("Sale" if o.flag else "Promo"),
        tags=["legal"] if o.b % 2 else [],
        session=s,
    ),
    "update_draft": lambda w, s, o: s.update_draft(
        w.campaign(o), actions=[w.world.email_action(f"Edit {o.b}")]
    ),
    "delete": lambda w, s, o: s.delete(w.campaign(o)),
    "duplicate": lambda w, s, o: s.duplicate(w.campaign(o), w.fresh_name("Copy")),
    "activate": lambda w, s, o: s.activate(w.campaign(o)),
    "modify": lambda w, s, o: s.modify(w.campaign(o)),
    "discard_draft": lambda w, s, o: s.discard_draft(w.campaign(o)),
    "stop": lambda w, s, o: s.stop(w.campaign(o)),
    "archive": lambda w, s, o: s.archive(w.campaign(o)),
    "create_surface": lambda w, s, o: s.create_surface(
        name=w.fresh_name("Surface"),
        channel=ck.ChannelType.SMS,
        settings=ck.SmsSettings(sender_id="SHOP"),
    ),
    "deactivate_surface": lambda w, s, o: s.deactivate_surface(w.surface(o)),
    "get_surface": lambda w, s, o: s.get_surface(w.surface(o)),
    "list_surfaces": lambda w, s, o: s.list_surfaces(),
    "export": lambda w, s, o: s.export([w.campaign(o)]),
    "import_": lambda w, s, o: s.import_(w.package),
    "report": lambda w, s, o: s.report(w.campaign(o)),
    "check": lambda w, s, o: s.check(w.campaign(o)),
    "send_proof": lambda w, s, o: s.send_proof(w.campaign(o), ["tester"]),
    "request_approval": lambda w, s, o: s.request_approval(w.campaign(o), "please"),
    "cancel_approval": lambda w, s, o: s.cancel_approval(w.campaign(o)),
    "approve": lambda w, s, o: s.approve(w.campaign(o), "ok"),
    "request_changes": lambda w, s, o: s.request_changes(w.campaign(o), "change it"),
    "approval_history": lambda w, s, o: s.approval_history(w.campaign(o)),
    "create_approval_policy": lambda w, s, o: s.create_approval_policy(
        name=w.fresh_name("Policy"),
        reviewers=[w.target(o)],
        reviewer_groups=[w.group(o)] if o.flag else [],
        block_self_approval=o.flag,
        name_contains="sale" if o.a % 2 else None,
    ),
    "update_approval_policy": lambda w, s, o: s.update_approval_policy(
        w.policy(o), reviewers=[w.target(o)], block_self_approval=o.flag
    ),
    "activate_approval_policy": lambda w, s, o: s.activate_approval_policy(w.policy(o)),
    "deactivate_approval_policy": lambda w, s, o: s.deactivate_approval_policy(w.policy(o)),
    "duplicate_approval_policy": lambda w, s, o: s.duplicate_approval_policy(w.policy(o)),
    "list_approval_policies": lambda w, s, o: s.list_approval_policies(),
    "get_approval_policy": lambda w, s, o: s.get_approval_policy(w.policy(o)),
    "assign_profile": lambda w, s, o: s.assign_profile(w.target(o), o.profile),
    "revoke_profile": lambda w, s, o: s.revoke_profile(w.target(o), o.profile),
    "assign_group_profile": lambda w, s, o: s.assign_group_profile(w.group(o), o.profile),
    "revoke_group_profile": lambda w, s, o: s.revoke_group_profile(w.group(o), o.profile),
    "add_group_member": lambda w, s, o: s.add_group_member(w.group(o), w.target(o)),
    "remove_group_member": lambda w, s, o: s.remove_group_member(w.group(o), w.target(o)),
    "access_audit_log": lambda w, s, o: s.access_audit_log(),
    "trigger": lambda w, s, o: s.trigger(
        w.campaign(o), [w.recipient(o)], request_id=f"order-{o.b}"
    ),
    "execute_audience": lambda w, s, o: s.execute_audience(
        w.campaign(o),
        request_id=f"audience-{o.b}",
        context={"order": f"S{o.b}"},
        execute_at=T0.add(hours=o.b + 1) if o.b % 2 else None,  # may be past by now
    ),
    "cancel_execution": lambda w, s, o: s.cancel_execution(w.execution(o)),
    "execution": lambda w, s, o: s.execution(w.execution(o)),
}


def _workflow_refusal(
    model: AccessModel,
    user: str,
    verb: str,
    review: Review | None,
    editors: frozenset[str] = frozenset(),
) -> str | None:
    """The permission the workflow must refuse on (SPEC 7), or None if it does not refuse.

    Only for users holding the verb's own permissions; ``request_approval`` is
    refused or not depending on the matching policy, so it is left to the outcome.
    ``editors`` wrote the version under review (they count as its authors).
    """
    if review is None:
        return None
    named = user in review.reviewers or bool(review.reviewer_groups & model.groups_of(user))
    if verb == "cancel_approval" and review.requester != user:
        if not named:
            return "campaign.write"
        return None if "campaign.approve" in model.permissions(user) else "campaign.approve"
    if verb in ("approve", "request_changes"):
        authors = {review.requester, *editors}
        self_blocked = verb == "approve" and review.block_self_approval and user in authors
        if not named or self_blocked:
            return "campaign.approve"
    return None


_OPENS_VERSION = frozenset({"create", "duplicate", "modify"})


def _editors(campaign: ck.Campaign) -> frozenset[str]:
    """Who wrote the open draft: its history back to the entry that opened it (the model's own)."""
    editors = set()
    for entry in reversed(campaign.history):
        if entry.action.value == "update_draft":
            editors.add(entry.actor)
        elif entry.action.value in _OPENS_VERSION:
            editors.add(entry.actor)
            break
    return frozenset(editors)


def _record_success(arena: Arena, op: Op, result: object) -> None:
    """Keep the model and the id lists in step with a verb that succeeded."""
    model = arena.model
    if op.verb in ("create_campaign", "duplicate"):
        arena.campaign_ids.append(_campaign(result).id)
    elif op.verb == "import_":
        assert isinstance(result, list)
        arena.campaign_ids.extend(c.id for c in result)
    elif op.verb in ("create_approval_policy", "duplicate_approval_policy"):
        arena.policy_ids.append(_policy_result(result).id)
    elif op.verb == "assign_profile":
        model.direct.setdefault(arena.target(op), set()).add(op.profile)
    elif op.verb == "revoke_profile":
        model.direct.setdefault(arena.target(op), set()).discard(op.profile)
    elif op.verb == "assign_group_profile":
        model.group_profiles.setdefault(arena.group(op), set()).add(op.profile)
    elif op.verb == "revoke_group_profile":
        model.group_profiles.setdefault(arena.group(op), set()).discard(op.profile)
    elif op.verb == "add_group_member":
        model.members.setdefault(arena.group(op), set()).add(arena.target(op))
    elif op.verb == "remove_group_member":
        model.members.setdefault(arena.group(op), set()).discard(arena.target(op))
    elif op.verb in ("trigger", "execute_audience"):
        execution = _execution(result)
        asked = arena.campaign(op)  # the same pick: a trigger leaves the campaign as it was
        assert execution.campaign_id == asked
        arena.execution_campaigns.setdefault(execution.id, asked)


def _step(arena: Arena, op: Op) -> str:
    """Run one op and check it against the model; return how it ended (for statistics)."""
    world = arena.world
    if op.verb == "tick":
        world.clock.advance(hours=op.a % 12 + 1)
        world.kit.tick()
        return "tick"
    user = arena.users[op.user % len(arena.users)]
    held = arena.model.permissions(user)
    lacking = [p for p in REQUIRED[op.verb] if p not in held]
    review = arena.review_of(arena.campaign(op)) if op.verb in WORKFLOW_VERBS else None
    editors = _editors(world.admin.get(arena.campaign(op))) if review is not None else frozenset()
    refusal = None if lacking else _workflow_refusal(arena.model, user, op.verb, review, editors)
    before = snapshot(world) if lacking or op.verb in WORKFLOW_VERBS else None
    result, error = _attempt(lambda: CALLS[op.verb](arena, world.kit.as_user(user), op))
    if isinstance(error, ck.PermissionDenied):
        assert (error.user, error.campaign_id) == (user, arena.named_campaign(op))
        if lacking:
            # the policy is asked first, for the first permission the verb needs
            assert error.permission == lacking[0], (op, held)
        elif op.verb == "request_approval":
            # no policy applied, and the requester may not publish
            assert error.permission == "campaign.publish"
            assert "campaign.publish" not in held
        else:
            assert refusal is not None, (op, held, review, error)
            assert error.permission == refusal
        assert before is not None
        assert snapshot(world) == before
        return "denied"
    if error is not None:
        # a refusal for any other reason is only for those the model lets in
        assert not lacking, (op, held, error)
        assert refusal is None, (op, review, error)
        return "refused otherwise"
    assert not lacking, (op, held)
    assert refusal is None, (op, review)
    if op.verb == "request_approval":
        trail = _campaign(result).approvals
        if trail[-1].action is ck.ApprovalAction.ACTIVATED_WITHOUT_POLICY:
            assert "campaign.publish" in held, (op, held)
    if op.verb in ("approve", "request_changes", "cancel_approval"):
        assert review is not None  # something was in review
    _record_success(arena, op, result)
    return "allowed"


def _access_matches_the_model(arena: Arena) -> None:
    access = arena.world.kit.access
    assert dict(access.assignments()) == arena.model.assignments()
    for group in POOL_GROUPS:
        assert access.members_of(group) == arena.model.members.get(group, set())
    for user in arena.users:
        assert access.groups_of(user) == arena.model.groups_of(user)


@settings(max_examples=250, deadline=None)
@given(population=populations(), ops=st.lists(OPS, min_size=5, max_size=40))
def test_random_users_never_act_beyond_their_effective_permissions(
    population: Population, ops: list[Op]
) -> None:
    """Random users, profiles, groups and verbs: every success is one the SPEC table
    (union of direct and group profiles) allows; every lacking permission is a denial
    that changes nothing."""
    arena = Arena(population)
    _access_matches_the_model(arena)
    for op in ops:
        outcome = _step(arena, op)
        event(f"{op.verb}: {outcome}")
        _access_matches_the_model(arena)
