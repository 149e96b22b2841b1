"""Approval workflow refusals (SPEC 7): who may approve, request changes or cancel a review,
self-approval blocking, group-derived reviewers, and requests without a matching policy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import campaignkit as ck
from tests.factories import World, make_world
from tests.unit.permissions.support import NO_PROFILE_REASON, USER, VIAS, Profile, S, Via, snapshot
from tests.unit.permissions.verb_setups import _policy

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
