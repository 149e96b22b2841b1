"""Managing approval policies: creation, validation, editing only while inactive,
duplication, listing, unknown policies and who may manage them."""

from __future__ import annotations

from typing import Any

import pytest

import campaignkit as ck
from tests.unit.approval_workflow.support import Team

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
