"""The whole approval flow through the kit and its events, and who may decide: reviewers
named by the policy, directly or through group membership read when they act."""

from __future__ import annotations

import pytest

import campaignkit as ck
from tests.unit.approval_workflow.support import A, S, Team, entry_facts, make_team

# ---------------------------------------------------------------- the whole flow


def test_manager_drafts_approver_requests_changes_then_approves_and_it_goes_live(
    team: Team,
) -> None:
    policy = team.policy()
    team.world.events.clear()
    draft = team.world.draft(session=team.max)
    assert draft.status is S.DRAFT

    requested_at = team.advance(minutes=5)
    in_review = team.max.request_approval(draft.id, message="Ready for review")
    assert in_review.status is S.IN_REVIEW
    review = in_review.review
    assert review is not None
    assert (review.requester, review.requested_at, review.version) == ("max", requested_at, 1)
    assert (review.policy_id, review.policy_name) == (policy.id, "Brand review")
    assert review.message == "Ready for review"
    assert not in_review.draft_in_review  # only running campaigns have a draft "in review"

    changes_at = team.advance(hours=1)
    sent_back = team.april.request_changes(draft.id, "Mention the end date")
    assert sent_back.status is S.DRAFT
    assert sent_back.review is None

    team.advance(minutes=10)
    edited = team.max.update_draft(draft.id, actions=[team.world.email_action("Ends Sunday")])
    assert edited.status is S.DRAFT
    assert edited.newest_version.actions[0].content == ck.EmailContent(
        subject="Ends Sunday", html="<p>Hello</p>"
    )

    again_at = team.advance(minutes=10)
    assert team.max.request_approval(draft.id).status is S.IN_REVIEW

    approved_at = team.advance(hours=2)
    approved = team.april.approve(draft.id, comment="Looks good")
    assert approved.status is S.ACTIVATING
    assert approved.review is None
    assert approved.activated_at == approved_at
    assert approved.live_version is not None
    assert approved.live_version.actions[0].content == ck.EmailContent(
        subject="Ends Sunday", html="<p>Hello</p>"
    )

    team.kit.tick()
    live = team.april.get(draft.id)
    assert live.status is S.LIVE
    assert live.went_live_at == approved_at

    history = team.max.approval_history(draft.id)
    assert entry_facts(history) == [
        (A.REQUESTED, "max", 1, policy.id, "Ready for review", requested_at),
        (A.CHANGES_REQUESTED, "april", 1, policy.id, "Mention the end date", changes_at),
        (A.REQUESTED, "max", 1, policy.id, None, again_at),
        (A.APPROVED, "april", 1, policy.id, "Looks good", approved_at),
    ]
    assert history == live.approvals

    statuses = [(h.action, h.from_status, h.to_status) for h in live.history]
    assert statuses == [
        (ck.Verb.CREATE, None, S.DRAFT),
        (ck.Verb.REQUEST_APPROVAL, S.DRAFT, S.IN_REVIEW),
        (ck.Verb.REQUEST_CHANGES, S.IN_REVIEW, S.DRAFT),
        (ck.Verb.UPDATE_DRAFT, S.DRAFT, S.DRAFT),
        (ck.Verb.REQUEST_APPROVAL, S.DRAFT, S.IN_REVIEW),
        (ck.Verb.APPROVE, S.IN_REVIEW, S.ACTIVATING),
        (ck.Verb.PREPARE, S.ACTIVATING, S.LIVE),
    ]

    events = team.approval_events()
    assert [e.entry for e in events] == list(history)
    assert [e.action for e in events] == [A.REQUESTED, A.CHANGES_REQUESTED, A.REQUESTED, A.APPROVED]
    assert {e.campaign_id for e in events} == {draft.id}
    assert {e.campaign_name for e in events} == {"Winter sale"}
    first = events[0].review
    assert first is not None
    assert first.reviewers == frozenset({"april"})
    assert first.reviewer_groups == frozenset()
    assert first.requester == "max"
    decision = events[1].review
    assert decision is not None
    assert decision.requester == "max"  # whom to tell about the decision


def test_the_approval_event_names_reviewer_groups_for_a_group_based_approver() -> None:
    team = make_team(april_via_group=True)
    policy = team.policy(reviewer_groups=["brand"])
    draft = team.world.draft(session=team.max)

    team.max.request_approval(draft.id, message="Please")
    requested = team.approval_events()[-1]
    assert requested.action is A.REQUESTED
    assert requested.review is not None
    assert requested.review.reviewers == frozenset()
    assert requested.review.reviewer_groups == frozenset({"brand"})

    team.advance(minutes=1)
    assert team.april.approve(draft.id).status is S.ACTIVATING
    approved = team.approval_events()[-1]
    assert approved.action is A.APPROVED
    assert (approved.entry.actor, approved.entry.policy_id) == ("april", policy.id)


def test_an_event_listener_that_subscribes_late_hears_only_later_steps(team: Team) -> None:
    team.policy()
    draft = team.world.draft(session=team.max)
    team.max.request_approval(draft.id)
    heard: list[ck.DomainEvent] = []
    unsubscribe = team.kit.subscribe(heard.append)
    team.april.request_changes(draft.id, "Shorter subject")
    unsubscribe()
    team.max.request_approval(draft.id)
    approvals = [e for e in heard if isinstance(e, ck.ApprovalEvent)]
    assert [e.action for e in approvals] == [A.CHANGES_REQUESTED]
    assert any(isinstance(e, ck.CampaignChanged) and e.status_changed for e in heard)


# ---------------------------------------------------------------- who may decide


def test_a_reviewer_not_named_by_the_policy_is_refused_and_nothing_changes(team: Team) -> None:
    team.policy()
    bob = team.user("bob", ck.ProductProfile.APPROVER)
    draft = team.world.draft(session=team.max)
    team.max.request_approval(draft.id)
    before = team.ada.get(draft.id)
    events_before = len(team.world.events)

    for outsider in (bob, team.ada):
        with pytest.raises(ck.PermissionDenied) as denied:
            outsider.approve(draft.id)
        assert denied.value.user == outsider.user
        assert denied.value.permission == "campaign.approve"
        assert denied.value.campaign_id == draft.id
        assert "not a reviewer" in denied.value.reason
        with pytest.raises(ck.PermissionDenied):
            outsider.request_changes(draft.id, "no")

    assert team.ada.get(draft.id) == before
    assert len(team.world.events) == events_before


def test_a_named_reviewer_without_campaign_approve_is_refused(team: Team) -> None:
    team.policy(reviewers=["april", "max"])
    mia = team.user("mia", ck.ProductProfile.MANAGER)
    draft = team.world.draft(session=mia)
    mia.request_approval(draft.id)
    before = team.ada.get(draft.id)
    with pytest.raises(ck.PermissionDenied) as denied:
        team.max.approve(draft.id)
    assert denied.value.permission == "campaign.approve"
    assert team.ada.get(draft.id) == before


def test_group_membership_is_read_when_the_reviewer_acts() -> None:
    team = make_team(april_via_group=True)
    team.kit.access.assign("april", ck.ProductProfile.APPROVER)  # keeps the profile
    team.policy(reviewer_groups=["brand"])
    draft = team.world.draft(session=team.max)
    team.max.request_approval(draft.id)
    team.kit.access.remove_member("brand", "april")
    with pytest.raises(ck.PermissionDenied, match="not a reviewer"):
        team.april.approve(draft.id)
    team.kit.access.add_member("brand", "april")
    assert team.april.approve(draft.id).status is S.ACTIVATING


def test_request_changes_needs_a_message(team: Team) -> None:
    team.policy()
    draft = team.world.draft(session=team.max)
    team.max.request_approval(draft.id)
    with pytest.raises(ck.ValidationError):
        team.april.request_changes(draft.id, "   ")
    assert team.ada.get(draft.id).status is S.IN_REVIEW


def test_approve_or_request_changes_without_a_review_is_not_allowed(team: Team) -> None:
    team.policy()
    draft = team.world.draft(session=team.max)
    with pytest.raises(ck.TransitionNotAllowed):
        team.april.approve(draft.id)
    with pytest.raises(ck.TransitionNotAllowed):
        team.april.request_changes(draft.id, "what review?")
    assert team.ada.get(draft.id).approvals == ()
