"""Authoring verbs on campaigns: create_campaign and update_draft name each bad argument (all
at once), accept the documented limits, and malformed ids are refused; listing and the
calendar check their arguments."""

from __future__ import annotations

from typing import Any

import pytest

import campaignkit as ck
from campaignkit.domain import checks
from campaignkit.domain.creation import copy_name, normalize_tags
from tests.unit.boundary_authoring.support import SURROGATE, T0, Env, names, refused

# ---------------------------------------------------------------- create_campaign and update_draft


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"name": None}, "name must be a string, not NoneType None"),
        ({"name": "n" * (checks.MAX_NAME + 1)}, f"the limit is {checks.MAX_NAME}"),
        ({"type": "WEEKLY"}, "type: str 'WEEKLY' is not a CampaignType"),
        ({"category": 3}, "category: int 3 is not a Category"),
        ({"description": None}, "description must be a string"),
        (
            {"description": "d" * (checks.MAX_DESCRIPTION + 1)},
            f"the limit is {checks.MAX_DESCRIPTION}",
        ),
        ({"tags": ["t"] * (checks.MAX_TAGS + 1)}, f"the limit is {checks.MAX_TAGS}"),
        ({"tags": ["t" * (checks.MAX_TAG + 1)]}, f"the limit is {checks.MAX_TAG}"),
        ({"tags": [""]}, "tags[0] must not be empty"),
        ({"tags": 5}, "tags must be a list of strings, not int 5"),
        ({"namespace": 5}, "namespace must be a string"),
        ({"audience": "a" * (checks.MAX_NAME + 1)}, "audience is 257 characters long"),
        ({"actions": "send it"}, "actions must be a list of Action values"),
        ({"actions": 5}, "actions must be a list of Action values"),
        ({"quiet_hours": ck.QuietHours("21:00", "08:00")}, "quiet_hours must be a list"),
        ({"create_profiles": "yes"}, "create_profiles must be True or False"),
        ({"quiet_hours": ["21:00-08:00"]}, "quiet_hours takes ck.QuietHours values"),
        ({"actions": [None]}, "action 1 is a NoneType, not an Action"),
    ],
)
def test_create_campaign_names_each_bad_argument(
    env: Env, kwargs: dict[str, Any], expected: str
) -> None:
    arguments = {"name": "X", **kwargs}
    names(refused(env, lambda e: e.admin.create_campaign(**arguments)), expected)


def test_create_campaign_lists_every_bad_argument_at_once(env: Env) -> None:
    problems = refused(
        env,
        lambda e: e.admin.create_campaign(name=5, tags="a", audience=[1], schedule="now"),  # type: ignore[arg-type]
    )
    assert len(problems) == 4, problems


def test_the_documented_limits_themselves_are_accepted(env: Env) -> None:
    action = env.action()
    campaign = env.admin.create_campaign(
        name="n" * checks.MAX_NAME,
        description="d" * checks.MAX_DESCRIPTION,
        tags=[f"{i:0{checks.MAX_TAG}d}" for i in range(checks.MAX_TAGS)],
        actions=[action] * checks.MAX_ACTIONS,
        audience="a" * checks.MAX_NAME,
    )
    again = env.admin.get(campaign.id)
    assert (len(again.name), len(again.tags), len(again.newest_version.actions)) == (
        checks.MAX_NAME,
        checks.MAX_TAGS,
        checks.MAX_ACTIONS,
    )
    problems = refused(env, lambda e: e.admin.create_campaign(name="X", actions=[action] * 51))
    names(problems, "actions has 51 items; the limit is 50")


def test_iterables_that_are_not_lists_still_work(env: Env) -> None:
    campaign = env.admin.create_campaign(
        name="Gen",
        tags=(t for t in ["a", "b"]),
        actions=(a for a in [env.action()]),
        quiet_hours=(q for q in [ck.QuietHours("21:00", "08:00")]),
    )
    assert campaign.tags == ("a", "b")
    assert len(campaign.newest_version.actions) == 1
    updated = env.admin.update_draft(campaign.id, tags=iter(["c"]), actions=iter([]))
    assert (updated.tags, updated.newest_version.actions) == (("c",), ())


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"name": None}, "name must be a string"),
        ({"tags": "x"}, "tags must be a list of strings"),
        ({"actions": "x"}, "actions must be a list of Action values"),
        ({"schedule": None}, "schedule must be a Schedule, not NoneType None"),
        ({"quiet_hours": 5}, "quiet_hours must be a list"),
        ({"description": 5}, "description must be a string"),
        ({"expected_revision": "1"}, "expected_revision must be a whole number"),
        ({"expected_revision": -1}, "expected_revision is -1"),
    ],
)
def test_update_draft_names_each_bad_argument(
    env: Env, kwargs: dict[str, Any], expected: str
) -> None:
    names(refused(env, lambda e: e.admin.update_draft(e.draft.id, **kwargs)), expected)


@pytest.mark.parametrize("campaign_id", [None, 5, "", "c" * (checks.MAX_ID + 1), SURROGATE])
@pytest.mark.parametrize(
    "verb",
    ["get", "delete", "activate", "modify", "discard_draft", "stop", "archive", "duplicate"],
)
def test_campaign_id_verbs_refuse_a_malformed_id(env: Env, verb: str, campaign_id: object) -> None:
    names(refused(env, lambda e: getattr(e.admin, verb)(campaign_id)), "campaign_id")


def test_duplicate_checks_the_name_and_cuts_the_default_one(env: Env) -> None:
    names(refused(env, lambda e: e.admin.duplicate(e.draft.id, name=5)), "name must be a string")  # type: ignore[arg-type]
    long = env.admin.create_campaign(name="n" * checks.MAX_NAME)
    copy = env.admin.duplicate(long.id)
    assert copy.name == copy_name(long.name)
    assert len(copy.name) == checks.MAX_NAME
    assert copy.name.endswith(" (copy)")


def test_normalize_tags_refuses_a_bare_string_and_too_many_tags() -> None:
    with pytest.raises(ck.ValidationError, match="not the string 'vip'"):
        normalize_tags("vip")
    with pytest.raises(ck.ValidationError, match="tags must be a list of strings, not int 5"):
        normalize_tags(5)  # type: ignore[arg-type]
    with pytest.raises(ck.ValidationError, match="the limit is 50"):
        normalize_tags(["t"] * 51)
    assert normalize_tags(iter(["a", " a "])) == ("a",)


# ---------------------------------------------------------------- listing and calendar


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"statuses": 5}, "statuses must be a CampaignStatus"),
        ({"statuses": ["SLEEPING"]}, "statuses: str 'SLEEPING' is not a CampaignStatus"),
        ({"statuses": [["DRAFT"]]}, "statuses: list ['DRAFT'] is not a CampaignStatus"),
        ({"statuses": {"DRAFT": 1}}, "statuses must be a CampaignStatus"),
        ({"types": b"SCHEDULED"}, "types must be a CampaignType"),
        ({"channels": ["email"] * 101}, "channels has 101 items"),
        ({"tag": 5}, "tag must be a string"),
        ({"tag": "t" * (checks.MAX_TAG + 1)}, f"the limit is {checks.MAX_TAG}"),
        ({"search": 5}, "search must be a string"),
        ({"limit": "10"}, "limit must be a whole number, not str '10'"),
        ({"limit": True}, "limit must be a whole number"),
        ({"cursor": 5}, "cursor must be the next_cursor string of a previous page"),
        ({"created_from": "2026-01-01"}, "created_from must be a date-time"),
    ],
)
def test_list_campaigns_names_each_bad_argument(
    env: Env, kwargs: dict[str, Any], expected: str
) -> None:
    names(refused(env, lambda e: e.admin.list_campaigns(**kwargs)), expected)


def test_calendar_names_a_bound_that_is_not_a_datetime(env: Env) -> None:
    problems = refused(env, lambda e: e.admin.calendar("2026-12-01", T0))  # type: ignore[arg-type]
    names(problems, "calendar start must be a date-time")
