"""The shared checks: short and safe descriptions of any value, identifiers and booleans, kit
lookups and helpers, unprintable values in AJO bodies, and stored profiles that no longer
load."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any, cast

import pytest

import campaignkit as ck
from campaignkit import ajo, serialization
from campaignkit.domain import checks
from campaignkit.testing import ManualClock
from tests.unit.boundary_recipients.support import DEEP, T0, Env, Unprintable, open_env, refused

# ---------------------------------------------------------------- the shared checks


def test_describe_is_short_and_safe_for_any_value() -> None:
    assert checks.describe(DEEP) == "dict {'a': {'a': {'a': {...}}}}"
    assert checks.describe({"start": "21:00", "end": "08:00"}) == (
        "dict {'start': '21:00', 'end': '08:00'}"
    )
    assert checks.describe({}) == "dict {}"
    assert checks.describe({n: n for n in range(6)}) == "dict {0: 0, 1: 1, 2: 2, 3: 3, ...}"
    assert checks.describe(Unprintable()).startswith("Unprintable <Unprintable instance at")
    assert len(checks.describe("x" * 1000)) < 80


def test_identifiers_and_booleans() -> None:
    problems: list[str] = []
    assert checks.identifiers(problems, "ids", ("a", "b"), max_items=2) == ("a", "b")
    assert checks.identifiers(problems, "ids", [], max_items=2) == ()
    assert problems == []
    assert checks.identifiers(problems, "ids", ["a", "b", "c"], max_items=2) == ()
    assert problems == ["ids has 3 items; the limit is 2"]
    checks.boolean(problems, "flag", 1)
    assert problems[-1] == "flag must be True or False, not int 1"


def test_kit_level_lookups_and_helpers_check_their_arguments(env: Env) -> None:
    kit = env.kit
    refused(env, lambda: kit.run_until(cast("Any", "tomorrow")), "when must be a date-time")
    refused(env, lambda: kit.run_until(T0.naive()), "when must be timezone-aware")
    refused(env, lambda: kit.subscribe(cast("Any", 5)), "listener must be a function")
    refused(env, lambda: kit.audiences.status(cast("Any", {})), "name must be a string")
    refused(env, lambda: kit.audiences.count(cast("Any", [1])), "name must be a string")
    refused(env, lambda: kit.audiences.status(cast("Any", DEEP)), "name must be a string")
    members = kit.audiences.members
    refused(env, lambda: list(members(cast("Any", None), namespace="", batch_size=5)), "name must")
    refused(env, lambda: list(members("vip", namespace="", batch_size=0)), "batch_size is 0")
    scan = kit.profiles.scan  # type: ignore[attr-defined]
    refused(env, lambda: list(scan("x")), "batch_size must be a whole number")
    refused(env, lambda: list(scan(True)), "batch_size must be a whole number")
    refused(env, lambda: list(scan(10**30)), "it must be at least 1 and at most 1000000")
    assert [len(batch) for batch in scan(1)] == [1, 1]
    assert kit.audiences.status("nobody") is None


def test_an_ajo_body_names_unprintable_values_without_failing(env: Env) -> None:
    body = {
        "requestId": Unprintable(),
        "campaignId": env.receipt,
        "recipients": [{"type": DEEP, "userId": "p1@example.com", "namespace": "email"}],
    }
    problems = refused(env, lambda: ajo.execute_unitary(env.admin, body))
    assert len(problems) == 2
    assert problems[0].startswith("requestId must be a non-empty string, not <Unprintable")
    assert problems[1] == (
        "recipients[0].type must be 'aep' or 'external', not {'a': {'a': {'a': {...}}}}"
    )
    audience = {"campaignId": env.mailing, "schedule": {"executeAt": Unprintable()}}
    [problem] = refused(env, lambda: ajo.execute_audience(env.admin, audience))
    assert problem.startswith("schedule.executeAt must be an ISO 8601 instant")


def test_a_stored_profile_that_no_longer_loads_is_skipped_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A profile written before the checks (a 300-character zone) is treated as absent."""
    env = open_env("sqlite", tmp_path)
    path = tmp_path / "kit.db"
    env.kit.close()
    legacy = json.loads(serialization.dumps(ck.Profile(id="old", identities={"email": "o@x.io"})))
    legacy["data"]["timezone"] = "X" * 300
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO profiles (id, document) VALUES ('old', ?)", (json.dumps(legacy),))
        db.execute(
            "INSERT INTO profile_identities (namespace, value, profile_id) "
            "VALUES ('email', 'o@x.io', 'old')"
        )
    db.close()
    kit = ck.CampaignKit.sqlite(path, clock=ManualClock(T0))  # random ids: no clash
    try:
        with caplog.at_level(logging.WARNING, logger="campaignkit.profiles"):
            assert set(kit.profiles.get_many(["p1", "old"])) == {"p1"}
            assert kit.profiles.get("old") is None
            assert kit.profiles.find_by_identity("email", "o@x.io") is None
            assert [p.id for batch in kit.profiles.scan(10) for p in batch] == ["p1", "p2"]  # type: ignore[attr-defined]
        assert "stored profile 'old' cannot be loaded and is skipped" in caplog.text
        kit.audiences.define("with-old", ["p1", "old", "p2"])
        admin = kit.as_user("ada")
        campaign = admin.create_campaign(
            name="Everyone",
            audience="with-old",
            namespace="email",
            actions=admin.get(env.draft).newest_version.actions,
        )
        admin.activate(campaign.id)
        kit.tick()
        report = admin.report(campaign.id)
        assert report.sent == 2
        assert report.excluded == {ck.ExclusionReason.UNKNOWN_PROFILE: 1}
        kit.profiles.upsert(ck.Profile(id="old", identities={"email": "o@x.io"}))
        assert kit.profiles.get("old") is not None  # a valid upsert repairs it
    finally:
        kit.close()
