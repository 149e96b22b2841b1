"""Blocking self-approval: requesters, creators and editors of the draft cannot approve it;
without the flag they may."""

from __future__ import annotations

import attrs
import pytest

import campaignkit as ck
from campaignkit.domain.lifecycle import draft_editors as ck_draft_editors
from campaignkit.testing.factories import EPOCH as T0
from campaignkit.testing.factories import make_campaign
from tests.unit.approval_workflow.support import (
    A,
    S,
    Team,
    live_recurring,
    make_team,
    submit_new_version,
)

# ---------------------------------------------------------------- self-approval


def test_block_self_approval_stops_the_requester_but_not_another_reviewer(team: Team) -> None:
    bob = team.user("bob", ck.ProductProfile.APPROVER)
    team.policy(reviewers=["april", "bob"], block_self_approval=True)
    draft = team.world.draft(session=team.april)
    team.april.request_approval(draft.id)
    before = team.ada.get(draft.id)

    with pytest.raises(ck.PermissionDenied, match="blocks self-approval") as denied:
        team.april.approve(draft.id)
    assert denied.value.user == "april"
    assert denied.value.permission == "campaign.approve"
    assert team.ada.get(draft.id) == before

    approved = bob.approve(draft.id)
    assert approved.status is S.ACTIVATING
    assert approved.approvals[-1].actor == "bob"


def blocked_team(*, live: bool = False) -> tuple[Team, ck.UserSession, str]:
    """April and bob review under block self-approval; max is a manager.

    With ``live``, a LIVE recurring campaign is made first (before the policy
    exists, so it activates directly); its id is returned, else "".
    """
    team = make_team()
    bob = team.user("bob", ck.ProductProfile.APPROVER)
    live_id = live_recurring(team).id if live else ""
    team.policy(reviewers=["april", "bob"], block_self_approval=True)
    return team, bob, live_id


def assert_self_approval_refused(team: Team, campaign_id: str, version: int) -> None:
    before = team.ada.get(campaign_id)
    events = len(team.world.events)
    with pytest.raises(ck.PermissionDenied, match="blocks self-approval") as denied:
        team.april.approve(campaign_id)
    assert denied.value.permission == "campaign.approve"
    assert f"'april' edited version {version}, which is under review" in denied.value.reason
    assert team.ada.get(campaign_id) == before
    assert len(team.world.events) == events


def test_an_approver_who_updated_the_draft_cannot_approve_a_colleagues_request() -> None:
    """The hole the issue names: write the content, let a colleague click request, approve."""
    team, bob, _ = blocked_team()
    draft = team.world.draft(session=team.max)
    team.april.update_draft(draft.id, actions=[team.world.email_action("Buy now!!!")])
    team.max.request_approval(draft.id)
    assert_self_approval_refused(team, draft.id, 1)
    approved = bob.approve(draft.id)
    assert approved.status is S.ACTIVATING


def test_the_creator_of_the_draft_cannot_approve_it() -> None:
    team, bob, _ = blocked_team()
    draft = team.world.draft(session=team.april)
    team.max.update_draft(draft.id, name="Winter sale, checked")
    team.max.request_approval(draft.id)
    assert_self_approval_refused(team, draft.id, 1)
    assert bob.approve(draft.id).approvals[-1].actor == "bob"


def test_whoever_duplicated_a_campaign_created_its_draft() -> None:
    team, bob, _ = blocked_team()
    source = team.world.draft(session=team.max)
    copy = team.april.duplicate(source.id, name="Copy")
    team.max.request_approval(copy.id)
    assert_self_approval_refused(team, copy.id, 1)
    assert bob.approve(copy.id).status is S.ACTIVATING


def test_edits_between_two_review_rounds_count() -> None:
    team, _, _ = blocked_team()
    draft = team.world.draft(session=team.max)
    team.max.request_approval(draft.id)
    team.april.request_changes(draft.id, "Shorter subject")  # deciding is not editing
    team.april.update_draft(draft.id, actions=[team.world.email_action("Hi")])
    team.max.request_approval(draft.id)
    assert_self_approval_refused(team, draft.id, 1)
    # an editor may still send it back: only approving is blocked
    assert team.april.request_changes(draft.id, "Still too long").status is S.DRAFT


def test_a_reviewer_who_did_not_edit_may_approve_after_requesting_changes() -> None:
    team, _, _ = blocked_team()
    draft = team.world.draft(session=team.max)
    team.max.request_approval(draft.id)
    team.april.request_changes(draft.id, "Shorter subject")
    team.max.update_draft(draft.id, actions=[team.world.email_action("Hi")])
    team.max.request_approval(draft.id)
    assert team.april.approve(draft.id).status is S.ACTIVATING


def test_whoever_opened_or_edited_a_new_live_version_cannot_approve_it() -> None:
    team, bob, live_id = blocked_team(live=True)
    team.april.modify(live_id)  # april opens version 2 ...
    team.max.update_draft(live_id, actions=[team.world.email_action("Version 2")])
    team.max.request_approval(live_id)  # ... and max asks for it
    assert_self_approval_refused(team, live_id, 2)
    assert bob.approve(live_id).live_version is not None


def test_edits_of_a_discarded_draft_do_not_count() -> None:
    team, _, live_id = blocked_team(live=True)
    team.april.modify(live_id)
    team.april.update_draft(live_id, actions=[team.world.email_action("Abandoned")])
    team.april.discard_draft(live_id)
    submit_new_version(team, live_id)  # max opens, edits and requests version 2 afresh
    approved = team.april.approve(live_id)
    assert approved.live_version is not None
    assert approved.live_version.number == 2


def test_without_the_flag_an_editor_may_approve(team: Team) -> None:
    team.policy(reviewers=["april"])
    draft = team.world.draft(session=team.april)
    team.max.request_approval(draft.id)
    assert team.april.approve(draft.id).status is S.ACTIVATING


def test_draft_editors_reads_the_history_back_to_the_version_opener(team: Team) -> None:
    live = live_recurring(team)
    assert ck_draft_editors(team.ada.get(live.id)) == frozenset({"ada"})  # created, no draft
    team.max.modify(live.id)
    team.april.update_draft(live.id, actions=[team.world.email_action("v2")])
    assert ck_draft_editors(team.ada.get(live.id)) == frozenset({"max", "april"})


def test_draft_editors_of_a_campaign_without_an_opening_entry() -> None:
    """A document with no create entry (built elsewhere): every update_draft actor counts."""
    campaign = make_campaign()  # history empty; its draft was created by "builder"
    assert ck_draft_editors(campaign) == frozenset({"builder"})
    edit = ck.HistoryEntry(T0, "eve", ck.Verb.UPDATE_DRAFT, S.DRAFT, S.DRAFT, "version 1")
    edited = attrs.evolve(campaign, history=(edit,))
    assert ck_draft_editors(edited) == frozenset({"builder", "eve"})


def test_without_the_flag_a_requester_who_is_a_reviewer_may_approve(team: Team) -> None:
    team.policy(reviewers=["april"])
    draft = team.world.draft(session=team.april)
    team.april.request_approval(draft.id)
    approved = team.april.approve(draft.id)
    assert approved.status is S.ACTIVATING
    assert [(e.action, e.actor) for e in approved.approvals] == [
        (A.REQUESTED, "april"),
        (A.APPROVED, "april"),
    ]
