"""Set-ups and checks of the verb x profile matrix for campaigns, surfaces, reports, proofs
and the approval workflow: each set-up leaves its verb able to succeed, each check proves it
did."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs
import pytest

import campaignkit as ck
from campaignkit.domain.access import Principal
from tests.factories import World
from tests.unit.permissions.support import USER, Profile, S

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
