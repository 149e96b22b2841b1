"""The table itself: every command against every status, allowed pairs landing in the table's
targets, refused pairs changing nothing, and hints from closed statuses."""

from __future__ import annotations

import copy

import attrs
import pytest

import campaignkit as ck
from campaignkit.domain.lifecycle import (
    REACHABLE_STATUSES,
    Activate,
    ActivateVersion,
    Approve,
    Archive,
    CancelApproval,
    Command,
    Complete,
    Delete,
    DiscardDraft,
    Fail,
    GoLive,
    Modify,
    Prepare,
    Purge,
    RequestApproval,
    RequestChanges,
    Stop,
    UpdateDraft,
    apply,
    next_due,
)
from tests.factories import campaign_in, make_review
from tests.unit.transitions.support import (
    ACTOR,
    APPROVAL_VERBS,
    NOW,
    RULES,
    TRANSITIONS,
    S,
    V,
    refusal,
)

RUNNING = frozenset({S.SCHEDULED, S.LIVE})

COMMANDS: dict[V, Command] = {
    V.UPDATE_DRAFT: UpdateDraft(audience="gold"),
    V.DELETE: Delete(),
    V.ACTIVATE: Activate(),
    V.MODIFY: Modify(),
    V.DISCARD_DRAFT: DiscardDraft(),
    V.ACTIVATE_VERSION: ActivateVersion(),
    V.REQUEST_APPROVAL: RequestApproval(make_review()),
    V.CANCEL_APPROVAL: CancelApproval(),
    V.REQUEST_CHANGES: RequestChanges("shorter subject"),
    V.APPROVE: Approve("fine"),
    V.PREPARE: Prepare(),
    V.GO_LIVE: GoLive(),
    V.COMPLETE: Complete(),
    V.FAIL: Fail("provider down"),
    V.STOP: Stop(),
    V.ARCHIVE: Archive(),
    V.PURGE: Purge(),
}
"""One command per verb that has a command class."""


@attrs.frozen
class Setup:
    """How ``campaign_in`` must build a campaign so a verb's guard lets it through."""

    recurring: bool = False
    open_draft: bool = False
    draft_in_review: bool = False


GUARD_SETUP: dict[V, Setup] = {
    V.UPDATE_DRAFT: Setup(open_draft=True),
    V.MODIFY: Setup(recurring=True),
    V.DISCARD_DRAFT: Setup(open_draft=True),
    V.ACTIVATE_VERSION: Setup(recurring=True, open_draft=True),
    V.REQUEST_APPROVAL: Setup(recurring=True, open_draft=True),
    V.CANCEL_APPROVAL: Setup(open_draft=True, draft_in_review=True),
    V.REQUEST_CHANGES: Setup(open_draft=True, draft_in_review=True),
    V.APPROVE: Setup(recurring=True, open_draft=True, draft_in_review=True),
}
"""Verbs whose guard needs more than the bare status; every other verb needs nothing."""


def guarded_campaign(verb: V, status: S) -> ck.Campaign:
    """A campaign in ``status`` that satisfies ``verb``'s guard, where that is possible.

    An open draft (and a draft in review) only exists next to a live version of
    a SCHEDULED or LIVE campaign, so other statuses get the bare campaign.
    """
    setup = GUARD_SETUP.get(verb, Setup())
    running = status in RUNNING
    return campaign_in(
        status,
        recurring=setup.recurring,
        open_draft=setup.open_draft and running,
        draft_in_review=setup.draft_in_review and running,
    )


ALLOWED = [
    pytest.param(verb, status, id=f"{verb}-{status}")
    for verb in COMMANDS
    for status in S
    if status in TRANSITIONS[verb]
]
REFUSED = [
    pytest.param(verb, status, id=f"{verb}-{status}")
    for verb in COMMANDS
    for status in S
    if status not in TRANSITIONS[verb]
]


# ---------------------------------------------------------------- the table itself


def test_every_verb_but_create_and_duplicate_has_exactly_one_command_class() -> None:
    # a proof changes no state: send_proof records it in history without a command
    assert set(COMMANDS) == set(V) - {V.CREATE, V.DUPLICATE, V.PROOF}
    for verb, command in COMMANDS.items():
        assert command.verb is verb


def test_the_table_covers_every_command_verb_and_duplicate_from_any_status() -> None:
    assert set(TRANSITIONS) == set(COMMANDS) | {V.DUPLICATE}
    assert V.CREATE not in TRANSITIONS
    assert set(TRANSITIONS[V.DUPLICATE]) == set(S)


def test_every_status_is_reachable() -> None:
    assert set(S) == REACHABLE_STATUSES


def test_matrix_is_complete_and_both_sides_are_exercised() -> None:
    assert len(ALLOWED) + len(REFUSED) == len(COMMANDS) * len(S)
    assert ALLOWED
    assert REFUSED


@pytest.mark.parametrize(("verb", "status"), ALLOWED)
def test_an_allowed_pair_succeeds_and_lands_in_the_table_targets(verb: V, status: S) -> None:
    campaign = guarded_campaign(verb, status)
    snapshot = copy.deepcopy(campaign)
    targets = TRANSITIONS[verb][status]

    outcome = apply(campaign, COMMANDS[verb], now=NOW, actor=ACTOR, rules=RULES)

    assert campaign == snapshot
    if not targets:
        assert outcome.removed
        assert outcome.campaign == campaign
        assert outcome.events == (ck.CampaignRemoved(campaign.id, NOW, ACTOR, verb),)
        return
    changed = outcome.campaign
    assert not outcome.removed
    assert changed.status in targets
    assert (changed.id, changed.name, changed.type, changed.category) == (
        campaign.id,
        campaign.name,
        campaign.type,
        campaign.category,
    )
    assert changed.updated_at == NOW
    assert changed.due_at == next_due(changed, RULES)
    assert changed.due_at is None or changed.due_at >= NOW
    assert changed.history[:-1] == campaign.history
    entry = changed.history[-1]
    assert (entry.at, entry.actor, entry.action, entry.from_status, entry.to_status) == (
        NOW,
        ACTOR,
        verb,
        status,
        changed.status,
    )
    trail = tuple(
        ck.ApprovalEvent(campaign.id, changed.name, e, campaign.review or changed.review)
        for e in changed.approvals[len(campaign.approvals) :]
    )
    assert outcome.events == (ck.CampaignChanged(campaign.id, entry), *trail)
    assert len(trail) == (1 if verb in APPROVAL_VERBS else 0)


@pytest.mark.parametrize(("verb", "status"), REFUSED)
def test_a_pair_outside_the_table_is_refused_and_changes_nothing(verb: V, status: S) -> None:
    campaign = guarded_campaign(verb, status)

    error = refusal(campaign, COMMANDS[verb])

    assert error.hint
    assert f"cannot {verb.value} campaign 'cmp': it is {status.value}" in str(error)


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        (S.IN_REVIEW, "cancel_approval()"),
        (S.STOPPED, "duplicate()"),
        (S.COMPLETED, "duplicate()"),
        (S.FAILED, "duplicate()"),
        (S.ARCHIVED, "duplicate()"),
    ],
)
def test_refusals_from_closed_statuses_say_what_to_do_instead(status: S, hint: str) -> None:
    assert hint in refusal(campaign_in(status), Modify()).hint
