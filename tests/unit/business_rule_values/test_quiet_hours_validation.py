"""Quiet hours validation: bad times, modes, zones, weekdays and dates are refused with
every problem at once; defaults and valid values are kept."""

from __future__ import annotations

import datetime as dt

import pytest

import campaignkit as ck
from campaignkit.domain.rules import (
    PROFILE_ZONE,
    QuietHours,
)
from tests.unit.business_rule_values.support import NEED_HOURS, PARIS, W, problems_of, utc

# ================================================================ QuietHours: validation


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        (
            {"start": "9:00", "end": "08:00"},
            ["quiet hours start '9:00' must be HH:MM, e.g. '21:00'"],
        ),
        (
            {"start": "21:00", "end": "24:00"},
            ["quiet hours end '24:00' must be HH:MM, e.g. '21:00'"],
        ),
        (
            {"start": "21:60", "end": "08:00"},
            ["quiet hours start '21:60' must be HH:MM, e.g. '21:00'"],
        ),
        (
            {"start": "21h00", "end": "08:00"},
            ["quiet hours start '21h00' must be HH:MM, e.g. '21:00'"],
        ),
        ({"start": "", "end": "08:00"}, ["quiet hours start '' must be HH:MM, e.g. '21:00'"]),
        (
            {"start": "21:00:00", "end": "8"},
            [
                "quiet hours start '21:00:00' must be HH:MM, e.g. '21:00'",
                "quiet hours end '8' must be HH:MM, e.g. '21:00'",
            ],
        ),
        ({}, [NEED_HOURS]),
        ({"start": "10:00", "end": "10:00"}, [NEED_HOURS]),
        (
            {"start": "21:00", "end": "08:00", "mode": "later"},
            ["quiet hours mode 'later' must be 'queue' or 'discard'"],
        ),
    ],
)
def test_quiet_hours_refuse_bad_times_modes_and_empty_rules(
    kwargs: dict[str, object], expected: list[str]
) -> None:
    with pytest.raises(ck.ValidationError) as error:
        QuietHours(**kwargs)  # type: ignore[arg-type]
    assert problems_of(error) == expected


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "+05:30", "paris"])
def test_quiet_hours_refuse_an_unknown_fixed_zone(zone: str) -> None:
    with pytest.raises(ck.ValidationError) as error:
        QuietHours(start="21:00", end="08:00", timezone=zone)
    (problem,) = problems_of(error)
    assert problem.startswith(f"unknown time zone {zone!r}")
    assert "IANA" in problem


def test_quiet_hours_list_every_problem_at_once() -> None:
    with pytest.raises(ck.ValidationError) as error:
        QuietHours(start="25:00", end="8:00", timezone="Nowhere/City", mode="drop")  # type: ignore[arg-type]
    assert len(problems_of(error)) == 4
    assert "4 problems" in str(error.value)


def test_quiet_hours_defaults_are_profile_zone_and_queue() -> None:
    rule = QuietHours(start="21:00", end="08:00")
    assert (rule.timezone, rule.mode, rule.days, rule.dates) == (PROFILE_ZONE, "queue", (), ())
    assert PROFILE_ZONE == "profile"


def test_quiet_hours_with_only_dates_are_valid() -> None:
    rule = QuietHours(dates=(dt.date(2026, 12, 25),))
    assert rule.quiet_until(utc(2026, 12, 25, 12), "UTC") == utc(2026, 12, 26)
    assert rule.quiet_until(utc(2026, 12, 24, 12), "UTC") is None


def test_quiet_hours_accept_valid_iana_zones_and_both_modes() -> None:
    for zone in ("UTC", PARIS, "Pacific/Kiritimati", PROFILE_ZONE):
        assert QuietHours(start="21:00", end="08:00", timezone=zone).timezone == zone
    assert QuietHours(start="00:00", end="23:59", mode="discard").mode == "discard"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        (
            {"days": ("Monday",)},
            ["quiet hours day 'Monday' is not a weekday; use MO TU WE TH FR SA SU"],
        ),
        (
            {"days": ["mo", W.FR]},
            ["quiet hours day 'mo' is not a weekday; use MO TU WE TH FR SA SU"],
        ),
        ({"days": (3,)}, ["quiet hours day 3 is not a weekday; use MO TU WE TH FR SA SU"]),
        (
            {"dates": (dt.datetime(2026, 12, 25, 9),)},
            [
                "quiet hours date datetime.datetime(2026, 12, 25, 9, 0)"
                " must be a date (datetime.date), not a datetime"
            ],
        ),
        (
            {"dates": ["2026-12-25"]},
            ["quiet hours date '2026-12-25' must be a date (datetime.date), not a str"],
        ),
    ],
)
def test_quiet_hours_refuse_unknown_weekdays_and_non_dates(
    kwargs: dict[str, object], expected: list[str]
) -> None:
    with pytest.raises(ck.ValidationError) as error:
        QuietHours(start="21:00", end="08:00", **kwargs)  # type: ignore[arg-type]
    assert problems_of(error) == expected


def test_quiet_hours_keep_days_and_dates_as_tuples_of_weekdays_and_dates() -> None:
    rule = QuietHours(start="21:00", end="08:00", days=["SA", W.SU], dates=[dt.date(2026, 12, 25)])
    assert rule.days == (W.SA, W.SU)
    assert all(type(day) is W for day in rule.days)
    assert rule.dates == (dt.date(2026, 12, 25),)
    # hashable, and equal to the same rule built from tuples and enum members
    assert rule == QuietHours(
        start="21:00", end="08:00", days=(W.SA, W.SU), dates=(dt.date(2026, 12, 25),)
    )
    assert (
        len(
            {
                rule,
                QuietHours(
                    start="21:00", end="08:00", days=("SA", "SU"), dates=(dt.date(2026, 12, 25),)
                ),
            }
        )
        == 1
    )
