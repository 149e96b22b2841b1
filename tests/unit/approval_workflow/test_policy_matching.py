"""Which approval policy applies: activation under an active policy, policy conditions, the
most recently activated match, and the policy matched at request time."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

import campaignkit as ck
from tests.unit.approval_workflow.support import S, Team, make_team

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
