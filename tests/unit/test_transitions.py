"""The pure lifecycle core, table-driven: every command against every status, then the guards."""

from __future__ import annotations

import copy

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit.domain.approval import ApprovalAction
from campaignkit.domain.lifecycle import (
    REACHABLE_STATUSES,
    SYSTEM_ACTOR,
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
    LifecycleRules,
    Modify,
    Outcome,
    Prepare,
    Purge,
    RequestApproval,
    RequestChanges,
    Stop,
    UpdateDraft,
    apply,
    create,
    duplicate,
    next_due,
    normalize_tags,
)
from tests.factories import T0, campaign_in, make_review

S = ck.CampaignStatus
V = ck.Verb
TRANSITIONS = ck.TRANSITIONS
NOW = T0.add(hours=5)
ACTOR = "bob"
RULES = LifecycleRules()
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
    # stay in time order (SPEC 2; docs/decisions.md, "catch up").
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
    # docs/decisions.md: the draft survives (nothing a user wrote is thrown away).
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


# ---------------------------------------------------------------- create and duplicate


def version() -> ck.CampaignVersion:
    return ck.CampaignVersion(number=1, created_at=T0, created_by="ada", audience="vip")


def test_create_makes_a_draft_with_a_create_entry() -> None:
    outcome = create(
        campaign_id="c1",
        name="  Reset  ",
        type=ck.CampaignType.API_TRIGGERED,
        category=ck.Category.TRANSACTIONAL,
        version=version(),
        now=NOW,
        actor=ACTOR,
        tags=(" a ", "a"),
    )

    campaign = outcome.campaign
    assert (campaign.id, campaign.name, campaign.status, campaign.tags) == (
        "c1",
        "Reset",
        S.DRAFT,
        ("a",),
    )
    assert (campaign.draft_version, campaign.live_version) == (version(), None)
    assert campaign.history == (ck.HistoryEntry(NOW, ACTOR, V.CREATE, None, S.DRAFT),)
    assert outcome.events == (ck.CampaignChanged("c1", campaign.history[0]),)
    assert campaign.due_at is None


def test_create_refuses_transactional_for_a_scheduled_type() -> None:
    with pytest.raises(ck.ValidationError, match="TRANSACTIONAL") as caught:
        create(
            campaign_id="c1",
            name="Promo",
            type=ck.CampaignType.SCHEDULED,
            category=ck.Category.TRANSACTIONAL,
            version=version(),
            now=NOW,
            actor=ACTOR,
        )
    assert len(caught.value.problems) == 1


def test_create_refuses_an_empty_name() -> None:
    with pytest.raises(ck.ValidationError, match="name"):
        create(
            campaign_id="c1",
            name=" ",
            type=ck.CampaignType.SCHEDULED,
            category=ck.Category.MARKETING,
            version=version(),
            now=NOW,
            actor=ACTOR,
        )


KEPT_DRAFT = frozenset({S.SCHEDULED, S.LIVE, S.STOPPED, S.COMPLETED, S.FAILED, S.ARCHIVED})
"""Statuses in which a campaign may hold a draft beside its live version."""


def source_in(status: S) -> ck.Campaign:
    """A campaign in ``status`` with tags and description and, beside a live version, a draft.

    A STOPPED, COMPLETED, FAILED or ARCHIVED campaign keeps the draft that was
    open when its run ended (docs/decisions.md); duplicate copies it.
    """
    campaign = campaign_in(status, open_draft=status in KEPT_DRAFT)
    if campaign.live_version is not None and campaign.draft_version is not None:
        campaign = attrs.evolve(
            campaign, draft_version=attrs.evolve(campaign.draft_version, audience="gold")
        )
    return attrs.evolve(campaign, tags=("vip",), description="desc")


@pytest.mark.parametrize("status", list(S), ids=str)
def test_duplicate_works_from_every_status_and_copies_the_newest_version(status: S) -> None:
    source = source_in(status)
    snapshot = copy.deepcopy(source)

    outcome = duplicate(source, campaign_id="cmp2", name=None, now=NOW, actor=ACTOR)

    assert source == snapshot
    copy_ = outcome.campaign
    newest = source.draft_version if source.draft_version is not None else source.live_version
    assert newest is not None
    assert (copy_.id, copy_.name, copy_.status) == ("cmp2", "C (copy)", S.DRAFT)
    assert (copy_.type, copy_.category, copy_.tags, copy_.description) == (
        source.type,
        source.category,
        ("vip",),
        "desc",
    )
    assert copy_.live_version is None
    assert copy_.draft_version == attrs.evolve(newest, number=1, created_at=NOW, created_by=ACTOR)
    if status in KEPT_DRAFT:
        assert copy_.draft_version.audience == "gold"
        assert newest.number == 2
    assert (copy_.created_at, copy_.created_by, copy_.revision) == (NOW, ACTOR, 0)
    assert [(e.action, e.from_status, e.to_status) for e in copy_.history] == [
        (V.DUPLICATE, None, S.DRAFT)
    ]
    assert copy_.history[0].detail == f"from cmp version {newest.number}"
    assert outcome.events == (ck.CampaignChanged("cmp2", copy_.history[0]),)


def test_duplicate_of_a_campaign_without_draft_copies_the_live_version() -> None:
    source = campaign_in(S.COMPLETED)

    outcome = duplicate(source, campaign_id="c2", name=None, now=NOW, actor=ACTOR)

    assert source.live_version is not None
    assert outcome.campaign.draft_version == attrs.evolve(
        source.live_version, created_at=NOW, created_by=ACTOR
    )


def test_duplicate_takes_the_given_name() -> None:
    outcome = duplicate(campaign_in(S.LIVE), campaign_id="c2", name="Again", now=NOW, actor=ACTOR)

    assert outcome.campaign.name == "Again"


# ---------------------------------------------------------------- tags


def test_normalize_tags_strips_and_dedups_in_order() -> None:
    assert normalize_tags([" vip ", "sale", "vip", "sale "]) == ("vip", "sale")
    assert normalize_tags(()) == ()


@pytest.mark.parametrize("tags", [[""], ["  "], ["ok", 3]], ids=["empty", "blank", "not-a-str"])
def test_normalize_tags_refuses_empty_and_non_string_tags(tags: list[object]) -> None:
    with pytest.raises(ck.ValidationError, match="non-empty string"):
        normalize_tags(tags)


def test_normalize_tags_lists_every_bad_tag() -> None:
    with pytest.raises(ck.ValidationError) as caught:
        normalize_tags(["", "ok", None])

    assert len(caught.value.problems) == 2


def test_normalize_tags_refuses_a_bare_string() -> None:
    with pytest.raises(ck.ValidationError, match="not the string 'vip'"):
        normalize_tags("vip")
