"""Engine steps (prepare, go live, fail, ending a run), and the history and events every step
records."""

from __future__ import annotations

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit.domain.approval import ApprovalAction
from campaignkit.domain.lifecycle import (
    SYSTEM_ACTOR,
    Activate,
    Archive,
    Command,
    Complete,
    Delete,
    Fail,
    GoLive,
    LifecycleRules,
    Prepare,
    Purge,
    Stop,
    UpdateDraft,
    apply,
)
from tests.factories import T0, campaign_in
from tests.unit.transitions.support import ACTOR, NOW, S, V, apply_now

# ---------------------------------------------------------------- engine steps


def test_prepare_with_problems_fails_with_the_reason() -> None:
    campaign = campaign_in(S.ACTIVATING)

    changed, _ = apply_now(campaign, Prepare(("surface gone", "audience missing")))

    assert changed.status is S.FAILED
    assert changed.failure_reason == "surface gone; audience missing"
    assert changed.history[-1].detail == "surface gone; audience missing"
    assert changed.went_live_at is None
    assert changed.due_at is None


def with_start(campaign: ck.Campaign, start: pendulum.DateTime | None) -> ck.Campaign:
    live = campaign.live_version
    assert live is not None
    return attrs.evolve(
        campaign, live_version=attrs.evolve(live, schedule=ck.Schedule(start=start))
    )


def test_prepare_with_a_future_start_schedules() -> None:
    start = NOW.add(minutes=1)
    campaign = with_start(campaign_in(S.ACTIVATING), start)

    changed, _ = apply_now(campaign, Prepare())

    assert changed.status is S.SCHEDULED
    assert changed.went_live_at is None
    assert changed.due_at == start


@pytest.mark.parametrize(
    "start", [None, NOW, NOW.subtract(hours=1)], ids=["no-start", "start-now", "start-past"]
)
def test_prepare_without_a_future_start_goes_live_now(start: pendulum.DateTime | None) -> None:
    campaign = with_start(campaign_in(S.ACTIVATING), start)

    changed, _ = apply_now(campaign, Prepare())

    assert changed.status is S.LIVE
    assert changed.went_live_at == NOW
    assert changed.due_at == NOW.add(days=3)


def test_go_live_starts_the_completion_clock() -> None:
    changed, _ = apply_now(campaign_in(S.SCHEDULED), GoLive())

    assert (changed.status, changed.went_live_at, changed.due_at) == (
        S.LIVE,
        NOW,
        NOW.add(days=3),
    )


def test_fail_records_the_reason() -> None:
    changed, _ = apply_now(campaign_in(S.LIVE), Fail("provider down"))

    assert (changed.status, changed.failure_reason) == (S.FAILED, "provider down")


@pytest.mark.parametrize("command", [Stop(), Complete(), Fail("provider down")], ids=str)
def test_ending_a_run_closes_the_review_and_keeps_the_draft_no_longer_open(
    command: Command,
) -> None:
    campaign = campaign_in(S.LIVE, recurring=True, open_draft=True, draft_in_review=True)

    changed, _ = apply_now(campaign, command)

    assert changed.status in (S.STOPPED, S.COMPLETED, S.FAILED)
    assert not changed.draft_in_review
    assert changed.review is None
    assert changed.approvals[-1].action is ApprovalAction.CANCELLED
    assert not changed.has_open_draft
    # docs/decisions/foundation.md: the draft survives (nothing a user wrote is thrown away).
    assert changed.draft_version == campaign.draft_version
    assert changed.live_version == campaign.live_version


# ---------------------------------------------------------------- history and events


def test_history_records_actor_time_and_statuses_of_every_step() -> None:
    campaign = campaign_in(S.DRAFT)
    steps: list[tuple[Command, pendulum.DateTime, str]] = [
        (UpdateDraft(audience="gold"), T0.add(minutes=1), "ada"),
        (Activate(), T0.add(minutes=2), "ada"),
        (Prepare(), T0.add(minutes=2), SYSTEM_ACTOR),
        (Stop(), T0.add(hours=3), "bob"),
        (Archive(), T0.add(days=1), "bob"),
    ]
    for command, at, actor in steps:
        outcome = apply(campaign, command, now=at, actor=actor)
        assert outcome.events == (ck.CampaignChanged(campaign.id, outcome.campaign.history[-1]),)
        campaign = outcome.campaign

    assert [(e.at, e.actor, e.action, e.from_status, e.to_status) for e in campaign.history] == [
        (T0.add(minutes=1), "ada", V.UPDATE_DRAFT, S.DRAFT, S.DRAFT),
        (T0.add(minutes=2), "ada", V.ACTIVATE, S.DRAFT, S.ACTIVATING),
        (T0.add(minutes=2), SYSTEM_ACTOR, V.PREPARE, S.ACTIVATING, S.LIVE),
        (T0.add(hours=3), "bob", V.STOP, S.LIVE, S.STOPPED),
        (T0.add(days=1), "bob", V.ARCHIVE, S.STOPPED, S.ARCHIVED),
    ]
    assert campaign.updated_at == T0.add(days=1)
    assert campaign.due_at == T0.add(days=31)


@pytest.mark.parametrize(
    ("status", "command"), [(S.DRAFT, Delete()), (S.ARCHIVED, Purge())], ids=["delete", "purge"]
)
def test_delete_and_purge_remove_and_emit_campaign_removed(status: S, command: Command) -> None:
    campaign = campaign_in(status)

    outcome = apply(campaign, command, now=NOW, actor=ACTOR)

    assert outcome.removed
    assert outcome.campaign == campaign
    assert outcome.events == (ck.CampaignRemoved("cmp", NOW, ACTOR, command.verb),)


def test_rules_decide_the_due_instant() -> None:
    rules = LifecycleRules(completion_after=pendulum.duration(hours=6))

    outcome = apply(campaign_in(S.SCHEDULED), GoLive(), now=NOW, actor=SYSTEM_ACTOR, rules=rules)

    assert outcome.campaign.due_at == NOW.add(hours=6)
