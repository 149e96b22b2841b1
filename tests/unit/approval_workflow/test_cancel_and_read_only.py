"""Cancelling a review (by the requester or a reviewer), and a campaign in review being
read-only for everyone yet duplicable."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import campaignkit as ck
from tests.unit.approval_workflow.support import (
    A,
    S,
    Team,
    entry_facts,
    live_recurring,
    make_team,
    submit_new_version,
)

# ---------------------------------------------------------------- cancel and read-only


def test_the_requester_cancels_a_review_and_the_campaign_is_a_draft_again(team: Team) -> None:
    policy = team.policy()
    draft = team.world.draft(session=team.max)
    team.max.request_approval(draft.id, message="Ready")
    before = team.ada.get(draft.id)

    vera = team.user("vera", ck.ProductProfile.VIEWER)
    mia = team.user("mia", ck.ProductProfile.MANAGER)
    with pytest.raises(ck.PermissionDenied, match=r"lacks permission 'campaign\.write'"):
        vera.cancel_approval(draft.id)
    with pytest.raises(ck.PermissionDenied, match="only the requester 'max' or a reviewer"):
        mia.cancel_approval(draft.id)
    assert team.ada.get(draft.id) == before

    cancelled_at = team.advance(minutes=3)
    cancelled = team.max.cancel_approval(draft.id)
    assert cancelled.status is S.DRAFT
    assert cancelled.review is None
    last = cancelled.approvals[-1]
    assert (last.action, last.actor, last.version, last.policy_id, last.message, last.at) == (
        A.CANCELLED,
        "max",
        1,
        policy.id,
        None,
        cancelled_at,
    )
    assert team.approval_events()[-1].action is A.CANCELLED

    # a draft again: editable, and nothing left to cancel
    team.max.update_draft(draft.id, name="Winter sale v2")
    with pytest.raises(ck.TransitionNotAllowed):
        team.max.cancel_approval(draft.id)


@pytest.mark.parametrize("via_group", [False, True], ids=["direct", "group"])
def test_a_reviewer_cancels_a_review_request(via_group: bool) -> None:
    """As in the reference product, an approver of the request may withdraw it too."""
    team = make_team(april_via_group=via_group)
    policy = team.policy(reviewer_groups=["brand"]) if via_group else team.policy()
    draft = team.world.draft(session=team.max)
    team.max.request_approval(draft.id, message="Ready")
    at = team.advance(minutes=2)
    cancelled = team.april.cancel_approval(draft.id)
    assert cancelled.status is S.DRAFT
    assert cancelled.review is None
    assert entry_facts(cancelled.approvals)[-1] == (A.CANCELLED, "april", 1, policy.id, None, at)
    assert (cancelled.history[-1].action.value, cancelled.history[-1].actor) == (
        "cancel_approval",
        "april",
    )
    event = team.approval_events()[-1]
    assert (event.action, event.entry.actor) == (A.CANCELLED, "april")


def test_a_named_reviewer_without_campaign_approve_cannot_cancel(team: Team) -> None:
    mia = team.user("mia", ck.ProductProfile.MANAGER)
    team.policy(reviewers=["april", "mia"])
    draft = team.world.draft(session=team.max)
    team.max.request_approval(draft.id)
    before = team.ada.get(draft.id)
    with pytest.raises(ck.PermissionDenied) as denied:
        mia.cancel_approval(draft.id)
    assert (denied.value.user, denied.value.permission) == ("mia", "campaign.approve")
    assert team.ada.get(draft.id) == before


def test_a_reviewer_cancels_the_review_of_a_live_campaign_draft(team: Team) -> None:
    live = live_recurring(team)
    team.policy()
    submit_new_version(team, live.id)
    cancelled = team.april.cancel_approval(live.id)
    assert cancelled.status is S.LIVE
    assert not cancelled.draft_in_review
    assert cancelled.has_open_draft
    assert (cancelled.approvals[-1].action, cancelled.approvals[-1].actor) == (A.CANCELLED, "april")


Verb = Callable[[ck.UserSession, str], object]

READ_ONLY_VERBS: list[tuple[str, Verb]] = [
    ("update_draft name", lambda s, cid: s.update_draft(cid, name="Changed")),
    ("update_draft schedule", lambda s, cid: s.update_draft(cid, schedule=ck.Schedule())),
    ("activate", lambda s, cid: s.activate(cid)),
    ("delete", lambda s, cid: s.delete(cid)),
    ("modify", lambda s, cid: s.modify(cid)),
    ("discard_draft", lambda s, cid: s.discard_draft(cid)),
    ("request_approval", lambda s, cid: s.request_approval(cid)),
    ("stop", lambda s, cid: s.stop(cid)),
    ("archive", lambda s, cid: s.archive(cid)),
]


READ_ONLY_CASES = [
    pytest.param(user, verb, id=f"{user}-{label}")
    for user in ("ada", "april", "max")
    for label, verb in READ_ONLY_VERBS
    # a manager may not publish at all: that denial comes first (permission matrix)
    if not (user == "max" and label in ("activate", "stop"))
]


@pytest.mark.parametrize(("user", "verb"), READ_ONLY_CASES)
def test_in_review_is_read_only_for_everyone(team: Team, user: str, verb: Verb) -> None:
    team.policy()
    draft = team.world.draft(session=team.max)
    team.max.request_approval(draft.id)
    before = team.ada.get(draft.id)
    events_before = len(team.world.events)

    with pytest.raises(ck.TransitionNotAllowed) as refused:
        verb(team.kit.as_user(user), draft.id)
    assert refused.value.status == "IN_REVIEW"
    assert refused.value.campaign_id == draft.id

    assert team.ada.get(draft.id) == before
    assert len(team.world.events) == events_before


def test_an_in_review_campaign_can_be_duplicated(team: Team) -> None:
    team.policy()
    draft = team.world.draft(session=team.max, tags=["q4"])
    team.max.request_approval(draft.id, message="Ready")
    copy = team.max.duplicate(draft.id)
    assert copy.id != draft.id
    assert copy.status is S.DRAFT
    assert copy.name == "Winter sale (copy)"
    assert copy.tags == ("q4",)
    assert copy.review is None
    assert copy.approvals == ()
    assert copy.newest_version.actions == draft.newest_version.actions
    assert team.ada.get(draft.id).status is S.IN_REVIEW
    # the copy goes through review on its own
    assert team.max.request_approval(copy.id).status is S.IN_REVIEW
