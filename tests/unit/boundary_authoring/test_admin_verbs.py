"""Surfaces, approval policies, review notes, access verbs, and export/import name each bad
argument or malformed document."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

import campaignkit as ck
from campaignkit.domain import checks
from tests.unit.boundary_authoring.support import SURROGATE, Env, names, refused

# ---------------------------------------------------------------- surfaces, policies, access


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"name": 5}, "name must be a string"),
        ({"name": "n" * (checks.MAX_NAME + 1)}, f"the limit is {checks.MAX_NAME}"),
        ({"channel": "fax"}, "channel: str 'fax' is not a ChannelType"),
        ({"category": 3}, "category: int 3 is not a Category"),
        ({"settings": {"sender_id": "S"}}, "settings must be a EmailSettings or SmsSettings"),
    ],
)
def test_create_surface_names_each_bad_argument(
    env: Env, kwargs: dict[str, Any], expected: str
) -> None:
    arguments = {
        "name": "Alerts",
        "channel": ck.ChannelType.SMS,
        "settings": ck.SmsSettings("SHOP"),
        **kwargs,
    }
    names(refused(env, lambda e: e.admin.create_surface(**arguments)), expected)


@pytest.mark.parametrize("verb", ["get_surface", "deactivate_surface"])
def test_surface_id_verbs_refuse_a_malformed_id(env: Env, verb: str) -> None:
    names(refused(env, lambda e: getattr(e.admin, verb)(None)), "surface_id")


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"reviewers": "bob"}, "reviewers must be a list of names, not str 'bob'"),
        ({"reviewers": [5]}, "reviewers[0] must be a string, not int 5"),
        ({"reviewer_groups": 5}, "reviewer_groups must be a list of names"),
        ({"reviewers": ["r"] * (checks.MAX_POLICY_NAMES + 1)}, "reviewers has 1001 items"),
        ({"tags": [None]}, "tags[0] must be a string"),
        ({"requesters": {"ann": 1}}, "requesters must be a list of names"),
        ({"name": None}, "approval policy name must be a string"),
        ({"name_contains": 5}, "name_contains must be a string"),
        ({"name_equals": "n" * (checks.MAX_NAME + 1)}, f"the limit is {checks.MAX_NAME}"),
        ({"types": 5}, "types must be a CampaignType"),
        ({"channels": ["fax"]}, "channels: str 'fax' is not a ChannelType"),
        ({"block_self_approval": "yes"}, "block_self_approval must be True or False"),
        ({"match": ["all"]}, "match ['all'] must be 'all' or 'any'"),
    ],
)
def test_approval_policies_name_each_bad_argument(
    env: Env, kwargs: dict[str, Any], expected: str
) -> None:
    arguments = {"name": "P", "reviewers": ["bob"], **kwargs}
    names(refused(env, lambda e: e.admin.create_approval_policy(**arguments)), expected)
    if "name" not in kwargs:
        problems = refused(env, lambda e: e.admin.update_approval_policy(e.policy.id, **kwargs))
        names(problems, expected)


@pytest.mark.parametrize(
    "call",
    [
        lambda e: e.admin.get_approval_policy(5),
        lambda e: e.admin.activate_approval_policy(None),
        lambda e: e.admin.deactivate_approval_policy(""),
        lambda e: e.admin.duplicate_approval_policy(5),
        lambda e: e.admin.update_approval_policy([e.policy.id], name="X"),
    ],
)
def test_policy_id_verbs_refuse_a_malformed_id(env: Env, call: Callable[[Env], object]) -> None:
    names(refused(env, call), "policy_id")


def test_duplicating_a_policy_checks_the_name(env: Env) -> None:
    problems = refused(env, lambda e: e.admin.duplicate_approval_policy(e.policy.id, name=5))  # type: ignore[arg-type]
    names(problems, "name must be a string")


def test_review_notes_are_checked(env: Env) -> None:
    names(
        refused(env, lambda e: e.admin.request_approval(e.draft.id, message=5)),  # type: ignore[arg-type]
        "message must be a string",
    )
    names(
        refused(env, lambda e: e.admin.approve(e.draft.id, comment=["ok"])),  # type: ignore[arg-type]
        "comment must be a string",
    )
    names(
        refused(env, lambda e: e.admin.request_changes(e.draft.id, None)),  # type: ignore[arg-type]
        "message must be a string",
    )
    long = "m" * (checks.MAX_DESCRIPTION + 1)
    names(
        refused(env, lambda e: e.admin.request_approval(e.draft.id, message=long)),
        f"the limit is {checks.MAX_DESCRIPTION}",
    )


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda e: e.kit.access.assign(None, ck.ProductProfile.VIEWER), "user id must be a string"),
        (lambda e: e.kit.access.assign("u", "ROOT"), "unknown product profile 'ROOT'"),
        (lambda e: e.kit.access.assign("u", ["VIEWER"]), "unknown product profile ['VIEWER']"),
        (
            lambda e: e.kit.access.assign("u", ck.ProductProfile.VIEWER, actor=5),
            "actor must be a string",
        ),
        (lambda e: e.kit.access.add_member(5, "u"), "group id must be a string"),
        (lambda e: e.kit.access.remove_member("g", " "), "user id must be a non-empty string"),
        (lambda e: e.kit.access.groups_of(None), "user id must be a string"),
        (lambda e: e.kit.access.members_of(7), "group id must be a string"),
        (lambda e: e.kit.access.profile_sources(SURROGATE), "user id holds characters"),
        (
            lambda e: e.admin.assign_group_profile("g" * 300, ck.ProductProfile.VIEWER),
            f"the limit is {checks.MAX_ID}",
        ),
        (lambda e: e.admin.revoke_profile(None, ck.ProductProfile.VIEWER), "user id"),
    ],
)
def test_access_verbs_name_each_bad_argument(
    env: Env, call: Callable[[Env], object], expected: str
) -> None:
    names(refused(env, call), expected)


# ---------------------------------------------------------------- export and import


def test_export_refuses_a_bare_id_string(env: Env) -> None:
    names(refused(env, lambda e: e.admin.export(e.draft.id)), "campaign_ids must be a list")
    names(refused(env, lambda e: e.admin.export([5])), "campaign_ids[0] must be a string")  # type: ignore[list-item]


def test_export_checks_the_policy_before_the_ids(env: Env) -> None:
    with pytest.raises(ck.PermissionDenied):
        env.kit.as_user("nobody").export("cmp")


def _deep(levels: int) -> dict[str, Any]:
    top: dict[str, Any] = {}
    node = top
    for _ in range(levels):
        node["a"] = {}
        node = node["a"]
    return top


def test_import_reports_malformed_documents_as_validation_errors(env: Env) -> None:
    package = env.admin.export([env.draft.id])
    [document] = package["campaigns"]

    def variant(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        copy: dict[str, Any] = json.loads(json.dumps(document))
        change(copy["data"])
        return copy

    def set_in(path: list[str], value: object) -> Callable[[dict[str, Any]], None]:
        def change(data: dict[str, Any]) -> None:
            for key in path[:-1]:
                data = data[key]
            data[path[-1]] = value

        return change

    package["campaigns"] = [
        variant(set_in(["draft_version", "schedule", "timezone"], "Mars/Base")),
        variant(set_in(["name"], "n" * 300)),
        variant(set_in(["tags"], ["t"] * 60)),
        variant(set_in(["description"], "d" * (checks.MAX_DESCRIPTION + 1))),
        variant(set_in(["draft_version", "audience"], "a" * 300)),
        {"schema": "campaign", "version": 2, "data": _deep(100_000)},
        {"schema": "campaign", "version": 2, "data": [1, 2]},
        ["not", "a", "document"],
    ]
    problems = refused(env, lambda e: e.admin.import_(package))
    prefixes = [p.split(":")[0] for p in problems]
    assert prefixes == [f"campaign {n}" for n in range(1, 9)], problems
    names(problems, "campaign 1", "unknown time zone")
    names(problems, "campaign 2", f"the limit is {checks.MAX_NAME}")
    names(problems, "campaign 3", f"the limit is {checks.MAX_TAGS}")
    names(problems, "campaign 4", f"the limit is {checks.MAX_DESCRIPTION}")
    names(problems, "campaign 6", "required field missing")
    names(problems, "campaign 7", "is invalid")
    names(problems, "campaign 5", "audience is 300 characters long")
    names(problems, "campaign 8", "not a campaignkit document envelope")


def test_import_refuses_a_version_beyond_the_action_limit(env: Env) -> None:
    full = env.admin.create_campaign(name="Full", actions=[env.action()])
    package = env.admin.export([full.id])
    version = package["campaigns"][0]["data"]["draft_version"]
    version["actions"] = version["actions"] * (checks.MAX_ACTIONS + 1)
    problems = refused(env, lambda e: e.admin.import_(package))
    names(problems, "campaign 1", "actions has 51 items; the limit is 50")


def test_import_refuses_a_package_of_too_many_campaigns(env: Env) -> None:
    package = env.admin.export([env.draft.id])
    package["campaigns"] = package["campaigns"] * 1001
    names(refused(env, lambda e: e.admin.import_(package)), "import at most 1000")


def test_import_names_a_malformed_surface_entry(env: Env) -> None:
    package = env.admin.export([env.draft.id])
    package["surfaces"] = {"srf": "News"}
    names(refused(env, lambda e: e.admin.import_(package)), "surfaces['srf'] must be")
