"""No silent zero: unknown profiles and missing attributes become reasons and warnings, and a
clean run logs no warning."""

from __future__ import annotations

import logging

import pytest

import campaignkit as ck
from tests.factories import person

# ---------------------------------------------------------------- no silent zero


def test_unknown_profiles_and_missing_attributes_are_reasons_and_warnings(
    make_env: object, caplog: pytest.LogCaptureFixture
) -> None:
    env = make_env()  # type: ignore[operator]
    env.kit.profiles.upsert(person("known", firstName="Kim"))
    env.kit.profiles.upsert(person("nameless"))
    env.kit.audiences.define("mixed", ["known", "nameless", "ghost"])
    campaign = env.campaign("Mixed", "mixed", subject="Hi {{ profile.firstName }}")
    env.admin.activate(campaign.id)
    with caplog.at_level(logging.WARNING, logger="campaignkit"):
        env.kit.tick()
    report = env.admin.report(campaign.id)
    assert report.sent == 1
    assert dict(report.excluded) == {
        ck.ExclusionReason.UNKNOWN_PROFILE: 1,
        ck.ExclusionReason.MISSING_ATTRIBUTE: 1,
    }
    # reported in precedence order, not in the order they were met or by name
    assert list(report.excluded) == [
        ck.ExclusionReason.UNKNOWN_PROFILE,
        ck.ExclusionReason.MISSING_ATTRIBUTE,
    ]
    assert "unknown_profile: 1, missing_attribute: 1" in report._repr_html_()
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "1 for unknown_profile" in warning
    assert "1 for missing_attribute" in warning
    assert campaign.id in warning


def test_a_clean_run_logs_no_warning(make_env: object, caplog: pytest.LogCaptureFixture) -> None:
    env = make_env()  # type: ignore[operator]
    env.kit.profiles.upsert(person("known", firstName="Kim"))
    env.kit.audiences.define("one", ["known"])
    campaign = env.campaign("One", "one", subject="Hi {{ profile.firstName }}")
    env.admin.activate(campaign.id)
    with caplog.at_level(logging.WARNING, logger="campaignkit"):
        env.kit.tick()
    assert env.admin.report(campaign.id).sent == 1
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_unknown_profile_comes_right_after_duplicate() -> None:
    order = list(ck.ExclusionReason)
    assert order[:3] == [
        ck.ExclusionReason.DUPLICATE,
        ck.ExclusionReason.UNKNOWN_PROFILE,
        ck.ExclusionReason.MISSING_IDENTITY,
    ]
