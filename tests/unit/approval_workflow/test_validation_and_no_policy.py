"""Validation inside the workflow (requesting and approving validate first), and requests
when no policy matches."""

from __future__ import annotations

import pytest

import campaignkit as ck
from tests.unit.approval_workflow.support import A, S, Team, entry_facts

# ---------------------------------------------------------------- validation in the workflow


def test_request_approval_validates_first(team: Team) -> None:
    team.policy()
    incomplete = team.max.create_campaign(name="Incomplete")
    events_before = len(team.world.events)
    with pytest.raises(ck.ValidationError) as invalid:
        team.max.request_approval(incomplete.id, message="Ready?")
    assert len(invalid.value.problems) == 3  # no action, no audience, no namespace
    after = team.ada.get(incomplete.id)
    assert after.status is S.DRAFT
    assert after.approvals == ()
    assert after == incomplete
    assert len(team.world.events) == events_before


def test_approve_validates_and_a_failed_approval_stays_in_review(team: Team) -> None:
    team.policy()
    draft = team.world.draft(session=team.max)
    team.max.request_approval(draft.id)
    # an IN_REVIEW campaign does not hold its surface
    team.ada.deactivate_surface(team.world.email.id)
    before = team.ada.get(draft.id)

    with pytest.raises(ck.ValidationError) as invalid:
        team.april.approve(draft.id, comment="ok")
    assert any("deactivated" in p for p in invalid.value.problems)
    assert team.ada.get(draft.id) == before
    assert [e.action for e in before.approvals] == [A.REQUESTED]

    back = team.april.request_changes(draft.id, "The newsletter surface is gone")
    assert back.status is S.DRAFT


# ---------------------------------------------------------------- no policy


def test_without_a_policy_an_approver_request_activates_directly(team: Team) -> None:
    team.policy("SMS only", channels=[ck.ChannelType.SMS])  # does not match email
    team.world.events.clear()
    draft = team.world.draft(session=team.april)
    at = team.advance(minutes=2)
    activated = team.april.request_approval(draft.id, message="no policy, go")
    assert activated.status is S.ACTIVATING
    assert activated.review is None
    assert entry_facts(activated.approvals) == [
        (A.ACTIVATED_WITHOUT_POLICY, "april", 1, None, "no policy, go", at)
    ]
    [event] = team.approval_events()
    assert event.action is A.ACTIVATED_WITHOUT_POLICY
    assert event.review is None
    team.kit.tick()
    assert team.april.get(draft.id).status is S.LIVE


def test_without_a_policy_a_manager_request_is_refused(team: Team) -> None:
    draft = team.world.draft(session=team.max)
    events_before = len(team.world.events)
    with pytest.raises(ck.PermissionDenied) as denied:
        team.max.request_approval(draft.id)
    assert denied.value.user == "max"
    assert denied.value.permission == "campaign.publish"
    assert denied.value.campaign_id == draft.id
    assert team.ada.get(draft.id) == draft
    assert len(team.world.events) == events_before
