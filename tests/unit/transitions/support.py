"""Shared helpers of the lifecycle core tests: the transition table, the instant and actor,
and applying a command now or expecting its refusal."""

from __future__ import annotations

import copy

import pytest

import campaignkit as ck
from campaignkit.domain.lifecycle import (
    Command,
    LifecycleRules,
    apply,
)
from tests.factories import T0

S = ck.CampaignStatus
V = ck.Verb
TRANSITIONS = ck.TRANSITIONS
NOW = T0.add(hours=5)
ACTOR = "bob"
RULES = LifecycleRules()


APPROVAL_VERBS = {V.REQUEST_APPROVAL, V.CANCEL_APPROVAL, V.REQUEST_CHANGES, V.APPROVE}


def apply_now(campaign: ck.Campaign, command: Command) -> tuple[ck.Campaign, ck.DomainEvent]:
    """Apply ``command`` at NOW as ACTOR; return the new campaign and its history event.

    A step that touches a review also emits one ApprovalEvent for the trail
    entry it adds; every other step emits exactly the history event.
    """
    outcome = apply(campaign, command, now=NOW, actor=ACTOR, rules=RULES)
    assert not outcome.removed
    first, *rest = outcome.events
    touches_review = command.verb in APPROVAL_VERBS or campaign.review is not None
    added = outcome.campaign.approvals[len(campaign.approvals) :]
    assert len(rest) == len(added) == (1 if touches_review else 0)
    for event, entry in zip(rest, added, strict=True):
        assert isinstance(event, ck.ApprovalEvent)
        assert event.entry == entry
        assert (entry.at, entry.actor) == (NOW, ACTOR)
    return outcome.campaign, first


def refusal(campaign: ck.Campaign, command: Command) -> ck.TransitionNotAllowed:
    """Apply ``command``, expect a refusal, check nothing changed, and return the error."""
    snapshot = copy.deepcopy(campaign)
    with pytest.raises(ck.TransitionNotAllowed) as caught:
        apply(campaign, command, now=NOW, actor=ACTOR, rules=RULES)
    assert campaign == snapshot
    error = caught.value
    assert (error.campaign_id, error.status, error.action) == (
        campaign.id,
        campaign.status.value,
        command.verb.value,
    )
    return error
