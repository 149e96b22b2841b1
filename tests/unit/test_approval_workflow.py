"""The approval workflow (SPEC sections 2 and 7), driven through the kit.

A manager ("max", MANAGER) drafts, an approver ("april", APPROVER, directly or
through a group) reviews, an administrator ("ada") manages approval policies.
Time only moves when a test says so (``ManualClock`` from ``make_world``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit.domain.lifecycle import draft_editors as ck_draft_editors
from campaignkit.testing.factories import EPOCH as T0
from campaignkit.testing.factories import make_campaign
from tests.factories import World, make_world

A = ck.ApprovalAction
S = ck.CampaignStatus


@attrs.define
class Team:
    """A world with a manager, an approver and an administrator."""

    world: World
    ada: ck.UserSession
    max: ck.UserSession
    april: ck.UserSession

    @property
    def kit(self) -> ck.CampaignKit:
        return self.world.kit

    def now(self) -> pendulum.DateTime:
        return self.world.clock.now()

    def advance(self, *, minutes: int = 0, hours: int = 0) -> pendulum.DateTime:
        self.world.clock.advance(minutes=minutes, hours=hours)
        return self.world.clock.now()

    def user(self, name: str, profile: ck.ProductProfile | None = None) -> ck.UserSession:
        if profile is not None:
            self.kit.access.assign(name, profile)
        return self.kit.as_user(name)

    def policy(self, name: str = "Brand review", **kwargs: Any) -> ck.ApprovalPolicy:
        """Create and activate an approval policy (reviewer april unless told otherwise)."""
        if "reviewers" not in kwargs and "reviewer_groups" not in kwargs:
            kwargs["reviewers"] = ["april"]
        created = self.ada.create_approval_policy(name=name, **kwargs)
        return self.ada.activate_approval_policy(created.id)

    def approval_events(self) -> list[ck.ApprovalEvent]:
        return [e for e in self.world.events if isinstance(e, ck.ApprovalEvent)]


def make_team(*, april_via_group: bool = False) -> Team:
    world = make_world()
    kit = world.kit
    kit.access.assign("max", ck.ProductProfile.MANAGER)
    if april_via_group:
        kit.access.add_member("brand", "april")
        kit.access.assign_group("brand", ck.ProductProfile.APPROVER)
    else:
        kit.access.assign("april", ck.ProductProfile.APPROVER)
    return Team(world, world.admin, kit.as_user("max"), kit.as_user("april"))


@pytest.fixture
def team() -> Team:
    return make_team()


def entry_facts(
    entries: Sequence[ck.ApprovalEntry],
) -> list[tuple[ck.ApprovalAction, str, int, str | None, str | None, pendulum.DateTime]]:
    return [(e.action, e.actor, e.version, e.policy_id, e.message, e.at) for e in entries]


# ---------------------------------------------------------------- the whole flow


def test_manager_drafts_approver_requests_changes_then_approves_and_it_goes_live(
    team: Team,
) -> None:
    policy = team.policy()
    team.world.events.clear()
    draft = team.world.draft(session=team.max)
    assert draft.status is S.DRAFT

    requested_at = team.advance(minutes=5)
    in_review = team.max.request_approval(draft.id, message="Ready for review")
    assert in_review.status is S.IN_REVIEW
    review = in_review.review
    assert review is not None
    assert (review.requester, review.requested_at, review.version) == ("max", requested_at, 1)
    assert (review.policy_id, review.policy_name) == (policy.id, "Brand review")
    assert review.message == "Ready for review"
    assert not in_review.draft_in_review  # only running campaigns have a draft "in review"

    changes_at = team.advance(hours=1)
    sent_back = team.april.request_changes(draft.id, "Mention the end date")
    assert sent_back.status is S.DRAFT
    assert sent_back.review is None

    team.advance(minutes=10)
    edited = team.max.update_draft(draft.id, actions=[team.world.email_action("Ends Sunday")])
    assert edited.status is S.DRAFT
    assert edited.newest_version.actions[0].content == ck.EmailContent(
        subject="Ends Sunday", html="<p>Hello</p>"
    )

    again_at = team.advance(minutes=10)
    assert team.max.request_approval(draft.id).status is S.IN_REVIEW

    approved_at = team.advance(hours=2)
    approved = team.april.approve(draft.id, comment="Looks good")
    assert approved.status is S.ACTIVATING
    assert approved.review is None
    assert approved.activated_at == approved_at
    assert approved.live_version is not None
    assert approved.live_version.actions[0].content == ck.EmailContent(
        subject="Ends Sunday", html="<p>Hello</p>"
    )

    team.kit.tick()
    live = team.april.get(draft.id)
    assert live.status is S.LIVE
    assert live.went_live_at == approved_at

    history = team.max.approval_history(draft.id)
    assert entry_facts(history) == [
        (A.REQUESTED, "max", 1, policy.id, "Ready for review", requested_at),
        (A.CHANGES_REQUESTED, "april", 1, policy.id, "Mention the end date", changes_at),
        (A.REQUESTED, "max", 1, policy.id, None, again_at),
        (A.APPROVED, "april", 1, policy.id, "Looks good", approved_at),
    ]
    assert history == live.approvals

    statuses = [(h.action, h.from_status, h.to_status) for h in live.history]
    assert statuses == [
        (ck.Verb.CREATE, None, S.DRAFT),
        (ck.Verb.REQUEST_APPROVAL, S.DRAFT, S.IN_REVIEW),
        (ck.Verb.REQUEST_CHANGES, S.IN_REVIEW, S.DRAFT),
        (ck.Verb.UPDATE_DRAFT, S.DRAFT, S.DRAFT),
        (ck.Verb.REQUEST_APPROVAL, S.DRAFT, S.IN_REVIEW),
        (ck.Verb.APPROVE, S.IN_REVIEW, S.ACTIVATING),
        (ck.Verb.PREPARE, S.ACTIVATING, S.LIVE),
    ]

    events = team.approval_events()
    assert [e.entry for e in events] == list(history)
    assert [e.action for e in events] == [A.REQUESTED, A.CHANGES_REQUESTED, A.REQUESTED, A.APPROVED]
    assert {e.campaign_id for e in events} == {draft.id}
    assert {e.campaign_name for e in events} == {"Winter sale"}
    first = events[0].review
    assert first is not None
    assert first.reviewers == frozenset({"april"})
    assert first.reviewer_groups == frozenset()
    assert first.requester == "max"
    decision = events[1].review
    assert decision is not None
    assert decision.requester == "max"  # whom to tell about the decision


def test_the_approval_event_names_reviewer_groups_for_a_group_based_approver() -> None:
    team = make_team(april_via_group=True)
    policy = team.policy(reviewer_groups=["brand"])
    draft = team.world.draft(session=team.max)

    team.max.request_approval(draft.id, message="Please")
    requested = team.approval_events()[-1]
    assert requested.action is A.REQUESTED
    assert requested.review is not None
    assert requested.review.reviewers == frozenset()
    assert requested.review.reviewer_groups == frozenset({"brand"})

    team.advance(minutes=1)
    assert team.april.approve(draft.id).status is S.ACTIVATING
    approved = team.approval_events()[-1]
    assert approved.action is A.APPROVED
    assert (approved.entry.actor, approved.entry.policy_id) == ("april", policy.id)


def test_an_event_listener_that_subscribes_late_hears_only_later_steps(team: Team) -> None:
    team.policy()
    draft = team.world.draft(session=team.max)
    team.max.request_approval(draft.id)
    heard: list[ck.DomainEvent] = []
    unsubscribe = team.kit.subscribe(heard.append)
    team.april.request_changes(draft.id, "Shorter subject")
    unsubscribe()
    team.max.request_approval(draft.id)
    approvals = [e for e in heard if isinstance(e, ck.ApprovalEvent)]
    assert [e.action for e in approvals] == [A.CHANGES_REQUESTED]
    assert any(isinstance(e, ck.CampaignChanged) and e.status_changed for e in heard)


# ---------------------------------------------------------------- who may decide


def test_a_reviewer_not_named_by_the_policy_is_refused_and_nothing_changes(team: Team) -> None:
    team.policy()
    bob = team.user("bob", ck.ProductProfile.APPROVER)
    draft = team.world.draft(session=team.max)
    team.max.request_approval(draft.id)
    before = team.ada.get(draft.id)
    events_before = len(team.world.events)

    for outsider in (bob, team.ada):
        with pytest.raises(ck.PermissionDenied) as denied:
            outsider.approve(draft.id)
        assert denied.value.user == outsider.user
        assert denied.value.permission == "campaign.approve"
        assert denied.value.campaign_id == draft.id
        assert "not a reviewer" in denied.value.reason
        with pytest.raises(ck.PermissionDenied):
            outsider.request_changes(draft.id, "no")

    assert team.ada.get(draft.id) == before
    assert len(team.world.events) == events_before


def test_a_named_reviewer_without_campaign_approve_is_refused(team: Team) -> None:
    team.policy(reviewers=["april", "max"])
    mia = team.user("mia", ck.ProductProfile.MANAGER)
    draft = team.world.draft(session=mia)
    mia.request_approval(draft.id)
    before = team.ada.get(draft.id)
    with pytest.raises(ck.PermissionDenied) as denied:
        team.max.approve(draft.id)
    assert denied.value.permission == "campaign.approve"
    assert team.ada.get(draft.id) == before


def test_group_membership_is_read_when_the_reviewer_acts() -> None:
    team = make_team(april_via_group=True)
    team.kit.access.assign("april", ck.ProductProfile.APPROVER)  # keeps the profile
    team.policy(reviewer_groups=["brand"])
    draft = team.world.draft(session=team.max)
    team.max.request_approval(draft.id)
    team.kit.access.remove_member("brand", "april")
    with pytest.raises(ck.PermissionDenied, match="not a reviewer"):
        team.april.approve(draft.id)
    team.kit.access.add_member("brand", "april")
    assert team.april.approve(draft.id).status is S.ACTIVATING


def test_request_changes_needs_a_message(team: Team) -> None:
    team.policy()
    draft = team.world.draft(session=team.max)
    team.max.request_approval(draft.id)
    with pytest.raises(ck.ValidationError):
        team.april.request_changes(draft.id, "   ")
    assert team.ada.get(draft.id).status is S.IN_REVIEW


def test_approve_or_request_changes_without_a_review_is_not_allowed(team: Team) -> None:
    team.policy()
    draft = team.world.draft(session=team.max)
    with pytest.raises(ck.TransitionNotAllowed):
        team.april.approve(draft.id)
    with pytest.raises(ck.TransitionNotAllowed):
        team.april.request_changes(draft.id, "what review?")
    assert team.ada.get(draft.id).approvals == ()


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


# ---------------------------------------------------------------- activate vs policies


def test_activate_under_an_active_policy_raises_approval_required_and_changes_nothing(
    team: Team,
) -> None:
    policy = team.policy("Legal check")
    draft = team.world.draft(session=team.max)
    before = team.ada.get(draft.id)
    events_before = len(team.world.events)

    for publisher in (team.ada, team.april):
        with pytest.raises(ck.ApprovalRequired) as required:
            publisher.activate(draft.id)
        assert required.value.policy == "Legal check"
        assert required.value.campaign_id == draft.id
        assert "request_approval()" in str(required.value)

    assert team.ada.get(draft.id) == before
    assert len(team.world.events) == events_before

    team.ada.deactivate_approval_policy(policy.id)
    assert team.april.activate(draft.id).status is S.ACTIVATING


def test_an_inactive_policy_does_not_require_approval(team: Team) -> None:
    team.ada.create_approval_policy(name="Dormant", reviewers=["april"])
    draft = team.world.draft(session=team.max)
    assert team.april.activate(draft.id).status is S.ACTIVATING


# ---------------------------------------------------------------- policy conditions


@attrs.frozen
class Probe:
    """A campaign to submit and who submits it."""

    name: str = "Winter sale"
    type: ck.CampaignType = ck.CampaignType.SCHEDULED
    channels: tuple[str, ...] = ("email",)
    tags: tuple[str, ...] = ()
    requester: str = "max"


CONDITION_CASES: list[tuple[str, dict[str, Any], Probe, bool]] = [
    ("no condition matches anything", {}, Probe(), True),
    ("no condition matches api", {}, Probe(type=ck.CampaignType.API_TRIGGERED), True),
    ("type hit", {"types": [ck.CampaignType.SCHEDULED]}, Probe(), True),
    (
        "type miss",
        {"types": [ck.CampaignType.SCHEDULED]},
        Probe(type=ck.CampaignType.API_TRIGGERED),
        False,
    ),
    (
        "type as a single value",
        {"types": ck.CampaignType.API_TRIGGERED},
        Probe(type=ck.CampaignType.API_TRIGGERED),
        True,
    ),
    ("channel miss", {"channels": [ck.ChannelType.SMS]}, Probe(), False),
    ("channel hit", {"channels": [ck.ChannelType.SMS]}, Probe(channels=("sms",)), True),
    (
        "one of several channels",
        {"channels": ck.ChannelType.SMS},
        Probe(channels=("email", "sms")),
        True,
    ),
    ("tag hit", {"tags": ["promo"]}, Probe(tags=("q4", "promo")), True),
    ("tag miss", {"tags": ["promo"]}, Probe(tags=("q4",)), False),
    ("tag on untagged", {"tags": ["promo"]}, Probe(), False),
    ("name contains, other case", {"name_contains": "SALE"}, Probe(), True),
    ("name contains miss", {"name_contains": "sale"}, Probe(name="Newsletter"), False),
    ("name equals, other case", {"name_equals": "winter SALE"}, Probe(), True),
    ("name equals is whole", {"name_equals": "winter sale"}, Probe(name="Winter sale 2"), False),
    ("requester hit", {"requesters": ["max"]}, Probe(), True),
    ("requester miss", {"requesters": ["max"]}, Probe(requester="mia"), False),
    ("requester group hit", {"requester_groups": ["emea"]}, Probe(), True),
    ("requester group miss", {"requester_groups": ["emea"]}, Probe(requester="mia"), False),
    (
        "all: one fails",
        {"types": [ck.CampaignType.SCHEDULED], "channels": [ck.ChannelType.SMS]},
        Probe(),
        False,
    ),
    (
        "all: every one holds",
        {"types": [ck.CampaignType.SCHEDULED], "channels": [ck.ChannelType.SMS]},
        Probe(channels=("sms",)),
        True,
    ),
    (
        "any: one holds",
        {"channels": [ck.ChannelType.SMS], "tags": ["promo"], "match": "any"},
        Probe(tags=("promo",)),
        True,
    ),
    (
        "any: none holds",
        {"channels": [ck.ChannelType.SMS], "tags": ["promo"], "match": "any"},
        Probe(),
        False,
    ),
    (
        "any: requester group or name",
        {"requester_groups": ["emea"], "name_equals": "Newsletter", "match": "any"},
        Probe(name="Newsletter", requester="mia"),
        True,
    ),
]


@pytest.mark.parametrize(
    ("conditions", "probe", "matches"),
    [case[1:] for case in CONDITION_CASES],
    ids=[case[0] for case in CONDITION_CASES],
)
def test_policy_conditions_select_campaigns(
    conditions: dict[str, Any], probe: Probe, matches: bool
) -> None:
    team = make_team()
    team.kit.access.assign("mia", ck.ProductProfile.MANAGER)
    team.kit.access.add_member("emea", "max")
    team.kit.access.add_member("apac", "mia")
    policy = team.policy("Guard", **conditions)
    requester = team.kit.as_user(probe.requester)
    by_channel = {"email": team.world.email_action(), "sms": team.world.sms_action()}
    draft = team.world.draft(
        probe.name,
        type=probe.type,
        tags=probe.tags,
        actions=[by_channel[c] for c in probe.channels],
        session=requester,
    )

    if matches:
        submitted = requester.request_approval(draft.id)
        assert submitted.status is S.IN_REVIEW
        assert submitted.review is not None
        assert submitted.review.policy_id == policy.id
    else:
        # no policy applies: a manager's request would publish, which is refused
        with pytest.raises(ck.PermissionDenied, match="no approval policy applies"):
            requester.request_approval(draft.id)
        assert team.ada.get(draft.id).status is S.DRAFT


def test_the_most_recently_activated_matching_policy_wins(team: Team) -> None:
    first = team.ada.create_approval_policy(name="First", reviewers=["april"])
    second = team.ada.create_approval_policy(name="Second", reviewers=["april"])
    unrelated = team.ada.create_approval_policy(
        name="Only SMS", reviewers=["april"], channels=[ck.ChannelType.SMS]
    )

    def governing() -> str:
        draft = team.world.draft(session=team.max)
        review = team.max.request_approval(draft.id).review
        assert review is not None
        return review.policy_name

    t1 = team.advance(minutes=1)
    assert team.ada.activate_approval_policy(first.id).activated_at == t1
    assert governing() == "First"
    team.advance(minutes=1)
    team.ada.activate_approval_policy(second.id)
    assert governing() == "Second"
    team.advance(minutes=1)
    team.ada.activate_approval_policy(unrelated.id)  # newer, but does not match email
    assert governing() == "Second"

    team.advance(minutes=1)
    team.ada.deactivate_approval_policy(first.id)
    t5 = team.advance(minutes=1)
    assert team.ada.activate_approval_policy(first.id).activated_at == t5
    assert governing() == "First"

    team.advance(minutes=1)
    team.ada.deactivate_approval_policy(first.id)
    assert governing() == "Second"


def test_activating_an_active_policy_again_changes_nothing(team: Team) -> None:
    policy = team.policy()
    team.advance(minutes=5)
    again = team.ada.activate_approval_policy(policy.id)
    assert again == policy


def test_the_last_activation_wins_even_within_the_same_instant(team: Team) -> None:
    older = team.ada.create_approval_policy(name="Older", reviewers=["april"])
    newer = team.ada.create_approval_policy(name="Newer", reviewers=["april"])
    team.ada.activate_approval_policy(newer.id)
    team.ada.activate_approval_policy(older.id)  # same instant, activated last
    draft = team.world.draft(session=team.max)
    review = team.max.request_approval(draft.id).review
    assert review is not None
    assert review.policy_name == "Older"


def test_the_policy_matched_at_request_time_governs_the_request(team: Team) -> None:
    bob = team.user("bob", ck.ProductProfile.APPROVER)
    original = team.policy("Original", reviewers=["april"])
    draft = team.world.draft(session=team.max)
    team.max.request_approval(draft.id)

    team.advance(minutes=1)
    team.ada.deactivate_approval_policy(original.id)
    team.ada.update_approval_policy(original.id, reviewers=["bob"])
    team.policy("Replacement", reviewers=["bob"])

    with pytest.raises(ck.PermissionDenied, match="not a reviewer of approval policy 'Original'"):
        bob.approve(draft.id)
    approved = team.april.approve(draft.id)
    assert approved.status is S.ACTIVATING
    assert approved.approvals[-1].policy_id == original.id

    # a new request is matched against the policies active now
    other = team.world.draft("Spring sale", session=team.max)
    review = team.max.request_approval(other.id).review
    assert review is not None
    assert review.policy_name == "Replacement"
    assert review.reviewers == frozenset({"bob"})


def test_one_approval_by_any_named_reviewer_is_enough(team: Team) -> None:
    team.user("bob", ck.ProductProfile.APPROVER)
    team.policy(reviewers=["april", "bob"])
    draft = team.world.draft(session=team.max)
    team.max.request_approval(draft.id)
    assert team.kit.as_user("bob").approve(draft.id).status is S.ACTIVATING


# ---------------------------------------------------------------- policy management


def test_create_policy_is_inactive_and_keeps_every_setting(team: Team) -> None:
    created_at = team.advance(minutes=1)
    policy = team.ada.create_approval_policy(
        name="  Big sends  ",
        reviewers=["april"],
        reviewer_groups=["brand"],
        block_self_approval=True,
        types=ck.CampaignType.SCHEDULED,
        channels=[ck.ChannelType.EMAIL, ck.ChannelType.SMS],
        tags=["promo"],
        name_contains="sale",
        name_equals="Winter sale",
        requesters=["max"],
        requester_groups=["emea"],
        match="any",
    )
    assert policy.status is ck.PolicyStatus.INACTIVE
    assert not policy.is_active
    assert policy.activated_at is None
    assert policy.name == "Big sends"
    assert (policy.created_at, policy.created_by) == (created_at, "ada")
    assert policy.reviewers == frozenset({"april"})
    assert policy.reviewer_groups == frozenset({"brand"})
    assert policy.block_self_approval
    assert policy.conditions == ck.PolicyConditions(
        types=frozenset({ck.CampaignType.SCHEDULED}),
        channels=frozenset({ck.ChannelType.EMAIL, ck.ChannelType.SMS}),
        tags=frozenset({"promo"}),
        name_contains="sale",
        name_equals="Winter sale",
        requesters=frozenset({"max"}),
        requester_groups=frozenset({"emea"}),
        match="any",
    )
    assert team.ada.get_approval_policy(policy.id) == policy


INVALID_POLICIES: list[tuple[str, dict[str, Any], str]] = [
    ("no reviewers", {"name": "P"}, "at least one reviewer"),
    ("empty reviewer lists", {"name": "P", "reviewers": [], "reviewer_groups": []}, "reviewer"),
    ("blank name", {"name": "   ", "reviewers": ["april"]}, "non-empty name"),
    ("empty types", {"name": "P", "reviewers": ["april"], "types": []}, "types is empty"),
    ("empty channels", {"name": "P", "reviewers": ["april"], "channels": []}, "channels"),
    ("empty tags", {"name": "P", "reviewers": ["april"], "tags": []}, "tags is empty"),
    ("empty requesters", {"name": "P", "reviewers": ["april"], "requesters": []}, "requesters"),
    (
        "empty requester groups",
        {"name": "P", "reviewers": ["april"], "requester_groups": []},
        "requester_groups",
    ),
    ("blank name_contains", {"name": "P", "reviewers": ["a"], "name_contains": " "}, "blank"),
    ("blank name_equals", {"name": "P", "reviewers": ["a"], "name_equals": ""}, "blank"),
    ("unknown channel", {"name": "P", "reviewers": ["a"], "channels": ["fax"]}, "fax"),
]


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [case[1:] for case in INVALID_POLICIES],
    ids=[case[0] for case in INVALID_POLICIES],
)
def test_invalid_policies_are_refused_and_not_stored(
    team: Team, kwargs: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ck.ValidationError) as invalid:
        team.ada.create_approval_policy(**kwargs)
    assert any(problem in p for p in invalid.value.problems), invalid.value.problems
    assert team.ada.list_approval_policies() == []


def test_a_blank_reviewer_group_is_refused(team: Team) -> None:
    with pytest.raises(ck.ValidationError):
        team.ada.create_approval_policy(name="Nobody", reviewer_groups=["  "])


def test_duplicating_under_a_blank_name_is_refused(team: Team) -> None:
    source = team.ada.create_approval_policy(name="Legal", reviewers=["april"])
    with pytest.raises(ck.ValidationError):
        team.ada.duplicate_approval_policy(source.id, name="   ")


def test_every_problem_of_a_policy_is_reported_at_once(team: Team) -> None:
    with pytest.raises(ck.ValidationError) as invalid:
        team.ada.create_approval_policy(name="", tags=[], requesters=[])
    assert len(invalid.value.problems) == 4


def test_an_active_policy_cannot_be_edited(team: Team) -> None:
    policy = team.policy("Locked")
    with pytest.raises(ck.ApprovalPolicyActive) as active:
        team.ada.update_approval_policy(policy.id, name="Renamed")
    assert active.value.policy_id == policy.id
    assert active.value.name == "Locked"
    assert isinstance(active.value, ck.CampaignKitError)
    assert "deactivate_approval_policy()" in str(active.value)
    with pytest.raises(ck.ApprovalPolicyActive):
        team.ada.update_approval_policy(policy.id, tags=None)
    assert team.ada.get_approval_policy(policy.id) == policy


def test_an_inactive_policy_can_be_edited_and_conditions_dropped(team: Team) -> None:
    policy = team.ada.create_approval_policy(
        name="Promo", reviewers=["april"], tags=["promo"], channels=[ck.ChannelType.SMS]
    )
    edited = team.ada.update_approval_policy(
        policy.id, name="Promos", reviewers=["bob"], tags=None, block_self_approval=True
    )
    assert edited.name == "Promos"
    assert edited.reviewers == frozenset({"bob"})
    assert edited.block_self_approval
    assert edited.conditions.tags is None
    assert edited.conditions.channels == frozenset({ck.ChannelType.SMS})  # left out: kept
    assert edited.reviewer_groups == policy.reviewer_groups
    assert edited.revision == policy.revision + 1
    assert team.ada.get_approval_policy(policy.id) == edited

    team.ada.activate_approval_policy(policy.id)
    team.ada.deactivate_approval_policy(policy.id)
    reopened = team.ada.update_approval_policy(policy.id, channels=None)
    assert reopened.conditions == ck.PolicyConditions()


def test_an_edit_that_would_make_the_policy_invalid_is_refused(team: Team) -> None:
    policy = team.ada.create_approval_policy(name="P", reviewers=["april"])
    with pytest.raises(ck.ValidationError):
        team.ada.update_approval_policy(policy.id, reviewers=[])
    with pytest.raises(ck.ValidationError):
        team.ada.update_approval_policy(policy.id, tags=[])
    assert team.ada.get_approval_policy(policy.id) == policy


def test_duplicate_makes_an_inactive_copy(team: Team) -> None:
    source = team.policy("Legal", tags=["legal"], block_self_approval=True)
    copied_at = team.advance(minutes=1)
    copy = team.ada.duplicate_approval_policy(source.id)
    assert copy.id != source.id
    assert copy.name == "Legal (copy)"
    assert copy.status is ck.PolicyStatus.INACTIVE
    assert copy.activated_at is None
    assert copy.created_at == copied_at
    assert (copy.conditions, copy.reviewers, copy.reviewer_groups) == (
        source.conditions,
        source.reviewers,
        source.reviewer_groups,
    )
    assert copy.block_self_approval
    assert team.ada.get_approval_policy(source.id) == source
    named = team.ada.duplicate_approval_policy(source.id, name="Legal EMEA")
    assert named.name == "Legal EMEA"
    # the copy is editable because it is inactive
    assert team.ada.update_approval_policy(copy.id, tags=["contract"]).conditions.tags == frozenset(
        {"contract"}
    )


def test_policies_are_listed_by_name(team: Team) -> None:
    for name in ("Zeta", "alpha", "Beta"):
        team.ada.create_approval_policy(name=name, reviewers=["april"])
    assert [p.name for p in team.ada.list_approval_policies()] == ["Beta", "Zeta", "alpha"]


@pytest.mark.parametrize(
    "verb",
    [
        "get_approval_policy",
        "activate_approval_policy",
        "deactivate_approval_policy",
        "duplicate_approval_policy",
        "update_approval_policy",
    ],
)
def test_an_unknown_policy_is_not_found(team: Team, verb: str) -> None:
    with pytest.raises(ck.NotFound) as missing:
        getattr(team.ada, verb)("apr_nope")
    assert (missing.value.kind, missing.value.key) == ("approval policy", "apr_nope")


@pytest.mark.parametrize("user", ["max", "april"])
def test_only_policy_managers_manage_policies(team: Team, user: str) -> None:
    policy = team.ada.create_approval_policy(name="P", reviewers=["april"])
    session = team.kit.as_user(user)
    with pytest.raises(ck.PermissionDenied) as denied:
        session.create_approval_policy(name="Mine", reviewers=[user])
    assert denied.value.permission == "approval_policy.manage"
    with pytest.raises(ck.PermissionDenied):
        session.activate_approval_policy(policy.id)
    with pytest.raises(ck.PermissionDenied):
        session.list_approval_policies()
    assert team.ada.list_approval_policies() == [policy]


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


# ---------------------------------------------------------------- new version of a LIVE campaign


def live_recurring(team: Team) -> ck.Campaign:
    live = team.world.live(recurrence=ck.Recurrence.daily(at="09:00"))
    assert live.status is S.LIVE
    return live


def submit_new_version(team: Team, campaign_id: str) -> ck.Campaign:
    team.max.modify(campaign_id)
    team.max.update_draft(campaign_id, actions=[team.world.email_action("Version 2")])
    return team.max.request_approval(campaign_id, message="v2 please")


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
