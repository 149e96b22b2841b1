"""A new version of a LIVE campaign goes through review: matched on the draft's channels,
changes requested, cancelled, stopped, or activated directly without a policy."""

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
    submit_new_version,
)


def test_a_new_version_of_a_live_campaign_goes_through_review(team: Team) -> None:
    live = live_recurring(team)
    policy = team.policy()
    team.advance(hours=1)

    submitted = submit_new_version(team, live.id)
    assert submitted.status is S.LIVE
    assert submitted.draft_in_review
    assert submitted.has_open_draft
    assert submitted.review is not None
    assert (submitted.review.version, submitted.review.policy_id) == (2, policy.id)
    assert submitted.live_version == live.live_version  # v1 keeps running

    before = team.ada.get(live.id)
    refusals: list[Callable[[], object]] = [
        lambda: team.max.update_draft(live.id, actions=[team.world.email_action("v3")]),
        lambda: team.max.discard_draft(live.id),
        lambda: team.max.modify(live.id),
        lambda: team.max.request_approval(live.id),
        lambda: team.ada.activate(live.id),
    ]
    for refused in refusals:
        with pytest.raises(ck.TransitionNotAllowed):
            refused()
    assert team.ada.get(live.id) == before

    approved_at = team.advance(hours=1)
    approved = team.april.approve(live.id, comment="ship it")
    assert approved.status is S.LIVE
    assert not approved.draft_in_review
    assert not approved.has_open_draft
    assert approved.review is None
    assert approved.live_version is not None
    assert approved.live_version.number == 2
    assert approved.live_version.actions[0].content == ck.EmailContent(
        subject="Version 2", html="<p>Hello</p>"
    )
    assert approved.superseded_versions == (live.live_version,)
    assert approved.went_live_at == live.went_live_at
    assert approved.activated_at == live.activated_at
    assert entry_facts(approved.approvals) == [
        (A.REQUESTED, "max", 2, policy.id, "v2 please", approved_at.subtract(hours=1)),
        (A.APPROVED, "april", 2, policy.id, "ship it", approved_at),
    ]
    assert [e.action for e in team.approval_events()][-2:] == [A.REQUESTED, A.APPROVED]


def test_a_live_campaign_new_version_is_matched_on_the_draft_channels(team: Team) -> None:
    live = live_recurring(team)
    team.policy("SMS review", channels=[ck.ChannelType.SMS])
    team.max.modify(live.id)
    team.max.update_draft(live.id, actions=[team.world.sms_action()])
    with pytest.raises(ck.ApprovalRequired, match="SMS review"):
        team.ada.activate(live.id)
    submitted = team.max.request_approval(live.id)
    assert submitted.draft_in_review


def test_request_changes_on_a_live_campaign_reopens_its_draft(team: Team) -> None:
    live = live_recurring(team)
    team.policy()
    submit_new_version(team, live.id)

    back = team.april.request_changes(live.id, "Wrong subject")
    assert back.status is S.LIVE
    assert not back.draft_in_review
    assert back.has_open_draft
    assert back.live_version == live.live_version
    assert back.approvals[-1].action is A.CHANGES_REQUESTED
    assert back.approvals[-1].version == 2

    edited = team.max.update_draft(live.id, actions=[team.world.email_action("Fixed")])
    assert edited.newest_version.number == 2
    assert team.max.request_approval(live.id).draft_in_review


def test_cancel_approval_of_a_live_campaign_draft(team: Team) -> None:
    live = live_recurring(team)
    team.policy()
    submit_new_version(team, live.id)
    cancelled = team.max.cancel_approval(live.id)
    assert cancelled.status is S.LIVE
    assert not cancelled.draft_in_review
    assert cancelled.has_open_draft
    assert cancelled.approvals[-1].action is A.CANCELLED
    assert team.max.discard_draft(live.id).draft_version is None


def test_stopping_a_live_campaign_cancels_the_review_of_its_draft(team: Team) -> None:
    live = live_recurring(team)
    policy = team.policy()
    submit_new_version(team, live.id)

    stopped_at = team.advance(minutes=30)
    stopped = team.ada.stop(live.id)
    assert stopped.status is S.STOPPED
    assert stopped.review is None
    assert not stopped.draft_in_review
    last = stopped.approvals[-1]
    assert (last.action, last.actor, last.version, last.policy_id, last.at) == (
        A.CANCELLED,
        "ada",
        2,
        policy.id,
        stopped_at,
    )
    assert team.approval_events()[-1].action is A.CANCELLED
    with pytest.raises(ck.TransitionNotAllowed):
        team.april.approve(live.id)


def test_without_a_policy_an_approver_request_replaces_the_live_version(team: Team) -> None:
    live = live_recurring(team)
    team.april.modify(live.id)
    replaced = team.april.request_approval(live.id, message="straight through")
    assert replaced.status is S.LIVE
    assert replaced.live_version is not None
    assert replaced.live_version.number == 2
    assert replaced.superseded_versions == (live.live_version,)
    assert replaced.approvals[-1].action is A.ACTIVATED_WITHOUT_POLICY
    assert replaced.approvals[-1].version == 2
