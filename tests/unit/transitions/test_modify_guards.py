"""Modify guards: opening the next version as a draft, draft verbs without a draft, and
activating a version on live, scheduled and one-shot campaigns."""

from __future__ import annotations

import copy

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit.domain.lifecycle import (
    ActivateVersion,
    Approve,
    Command,
    DiscardDraft,
    Modify,
    Outcome,
    apply,
)
from tests.factories import T0, campaign_in
from tests.unit.transitions.support import ACTOR, NOW, RULES, S, apply_now, refusal

# ---------------------------------------------------------------- modify guards


def test_modify_is_refused_on_a_one_shot_scheduled_type_live_campaign() -> None:
    error = refusal(campaign_in(S.LIVE), Modify())

    assert "duplicate" in error.hint


@pytest.mark.parametrize(
    "campaign",
    [
        pytest.param(campaign_in(S.LIVE, recurring=True), id="recurring-LIVE"),
        pytest.param(campaign_in(S.LIVE, type=ck.CampaignType.API_TRIGGERED), id="api-LIVE"),
        pytest.param(campaign_in(S.SCHEDULED), id="one-shot-SCHEDULED"),
    ],
)
def test_modify_opens_the_next_version_as_a_draft(campaign: ck.Campaign) -> None:
    changed, _ = apply_now(campaign, Modify())

    live = campaign.live_version
    assert live is not None
    assert changed.status is campaign.status
    assert changed.live_version == live
    assert changed.has_open_draft
    assert changed.draft_version == attrs.evolve(
        live, number=live.number + 1, created_at=NOW, created_by=ACTOR
    )
    assert changed.history[-1].detail == f"version {live.number + 1}"


@pytest.mark.parametrize("status", [S.SCHEDULED, S.LIVE])
def test_modify_is_refused_when_a_draft_is_already_open(status: S) -> None:
    campaign = campaign_in(status, recurring=True, open_draft=True)

    assert "already has an open draft" in refusal(campaign, Modify()).hint


@pytest.mark.parametrize("status", [S.SCHEDULED, S.LIVE])
@pytest.mark.parametrize("command", [ActivateVersion(), DiscardDraft()], ids=str)
def test_draft_verbs_are_refused_without_an_open_draft(status: S, command: Command) -> None:
    campaign = campaign_in(status, recurring=True)

    assert "no open draft" in refusal(campaign, command).hint


def test_activate_version_is_refused_on_a_started_one_shot_even_with_a_draft() -> None:
    campaign = campaign_in(S.LIVE, open_draft=True)

    assert "duplicate" in refusal(campaign, ActivateVersion()).hint


def test_activate_version_on_live_keeps_the_completion_clock_and_supersedes_the_old() -> None:
    campaign = campaign_in(S.LIVE, recurring=True, open_draft=True)

    changed, _ = apply_now(campaign, ActivateVersion())

    assert changed.status is S.LIVE
    assert changed.live_version == campaign.draft_version
    assert changed.draft_version is None
    assert not changed.has_open_draft
    assert changed.superseded_versions == (campaign.live_version,)
    assert (changed.went_live_at, changed.activated_at) == (T0, T0)


def outcome_or_refusal(
    campaign: ck.Campaign, command: Command, now: pendulum.DateTime
) -> Outcome | ck.TransitionNotAllowed:
    try:
        return apply(campaign, command, now=now, actor=ACTOR, rules=RULES)
    except ck.TransitionNotAllowed as refused:
        return refused


@pytest.mark.parametrize("command", [ActivateVersion(), Approve()], ids=str)
def test_a_one_shot_version_never_makes_a_live_campaign_due_before_its_activation(
    command: Command,
) -> None:
    # A recurring campaign LIVE since T0 gets a one-shot version on day 5, long
    # after a one-shot's 3-day completion clock would have run out. Either the
    # guard refuses (a one-shot run that started cannot get a new version), or
    # the completion is not dated before the version activation: history must
    # stay in time order (SPEC 2; docs/decisions/foundation.md, "catch up").
    in_review = isinstance(command, Approve)
    campaign = campaign_in(S.LIVE, recurring=True, open_draft=True, draft_in_review=in_review)
    assert campaign.draft_version is not None
    one_shot = attrs.evolve(campaign.draft_version, schedule=ck.Schedule())
    campaign = attrs.evolve(campaign, draft_version=one_shot)
    later = T0.add(days=5)
    snapshot = copy.deepcopy(campaign)

    result = outcome_or_refusal(campaign, command, later)

    assert campaign == snapshot
    if isinstance(result, ck.TransitionNotAllowed):
        assert (result.status, result.action) == ("LIVE", command.verb.value)
    else:
        due = result.campaign.due_at
        assert due is None or due >= later, f"completion due {due}, before {later}"


def test_activate_version_on_scheduled_reactivates_now() -> None:
    campaign = campaign_in(S.SCHEDULED, open_draft=True)

    changed, _ = apply_now(campaign, ActivateVersion())

    assert changed.status is S.SCHEDULED
    assert changed.activated_at == NOW
    assert changed.live_version == campaign.draft_version
    assert changed.due_at == T0.add(days=1)  # the new version's start
