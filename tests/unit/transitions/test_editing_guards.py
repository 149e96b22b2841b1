"""Editing guards: campaign and version fields with an open draft, malformed edits, and
campaigns and drafts in review."""

from __future__ import annotations

import copy

import pytest

import campaignkit as ck
from campaignkit.domain.lifecycle import (
    ActivateVersion,
    Approve,
    CancelApproval,
    Command,
    DiscardDraft,
    RequestApproval,
    RequestChanges,
    UpdateDraft,
    apply,
)
from tests.factories import campaign_in, make_review
from tests.unit.transitions.support import ACTOR, NOW, S, apply_now, refusal

# ---------------------------------------------------------------- editing guards


@pytest.mark.parametrize(
    "command",
    [UpdateDraft(name="New"), UpdateDraft(tags=("vip",)), UpdateDraft(description="d")],
    ids=["name", "tags", "description"],
)
def test_campaign_fields_cannot_change_on_a_live_campaign_with_an_open_draft(
    command: UpdateDraft,
) -> None:
    campaign = campaign_in(S.LIVE, recurring=True, open_draft=True)

    assert "only change while the campaign is DRAFT" in refusal(campaign, command).hint


def test_version_fields_of_an_open_draft_can_change_and_leave_the_live_version() -> None:
    campaign = campaign_in(S.LIVE, recurring=True, open_draft=True)

    changed, _ = apply_now(campaign, UpdateDraft(audience="gold", namespace="phone"))

    assert changed.live_version == campaign.live_version
    assert changed.draft_version is not None
    assert (changed.draft_version.audience, changed.draft_version.namespace) == ("gold", "phone")
    assert changed.draft_version.number == 2
    assert changed.history[-1].detail == "version 2"


@pytest.mark.parametrize("status", [S.SCHEDULED, S.LIVE])
def test_update_draft_on_a_running_campaign_needs_an_open_draft(status: S) -> None:
    campaign = campaign_in(status, recurring=True)

    assert "modify() it first" in refusal(campaign, UpdateDraft(audience="gold")).hint


def test_update_draft_on_a_draft_normalizes_name_and_tags() -> None:
    campaign = campaign_in(S.DRAFT)

    changed, _ = apply_now(
        campaign, UpdateDraft(name="  Spring  ", tags=(" a ", "b", "a"), audience="gold")
    )

    assert (changed.name, changed.tags) == ("Spring", ("a", "b"))
    assert changed.draft_version is not None
    assert changed.draft_version.audience == "gold"
    assert changed.draft_version.number == 1
    assert changed.live_version is None


@pytest.mark.parametrize(
    "command", [UpdateDraft(name="   "), UpdateDraft(tags=("ok", ""))], ids=["name", "tags"]
)
def test_malformed_edits_of_a_draft_raise_validation_error_and_change_nothing(
    command: UpdateDraft,
) -> None:
    campaign = campaign_in(S.DRAFT)
    snapshot = copy.deepcopy(campaign)

    with pytest.raises(ck.ValidationError):
        apply(campaign, command, now=NOW, actor=ACTOR)

    assert campaign == snapshot


@pytest.mark.parametrize("status", [S.SCHEDULED, S.LIVE])
@pytest.mark.parametrize(
    "command",
    [
        UpdateDraft(audience="gold"),
        DiscardDraft(),
        ActivateVersion(),
        RequestApproval(make_review(version=2)),
    ],
    ids=str,
)
def test_edits_are_refused_while_the_draft_is_in_review(status: S, command: Command) -> None:
    campaign = campaign_in(status, recurring=True, open_draft=True, draft_in_review=True)

    assert "in review" in refusal(campaign, command).hint


def test_an_in_review_campaign_is_read_only() -> None:
    error = refusal(campaign_in(S.IN_REVIEW), UpdateDraft(audience="gold"))

    assert "in review" in error.hint


@pytest.mark.parametrize("command", [CancelApproval(), RequestChanges("no"), Approve()], ids=str)
def test_review_decisions_need_something_in_review(command: Command) -> None:
    campaign = campaign_in(S.LIVE, recurring=True, open_draft=True)

    assert "nothing is in review" in refusal(campaign, command).hint
