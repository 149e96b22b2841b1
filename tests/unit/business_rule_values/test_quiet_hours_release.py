"""When quiet hours release: night and daytime hours, weekdays, quiet dates and their chains,
daylight saving in Paris, and whole quiet weekdays."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest

import campaignkit as ck
from campaignkit.domain.rules import (
    QuietHours,
    quiet_until,
)
from tests.unit.business_rule_values.support import NIGHT, PARIS, W, paris, utc

# ================================================================ QuietHours.quiet_until


@pytest.mark.parametrize(
    ("at", "released"),
    [
        (utc(2026, 12, 1, 21), utc(2026, 12, 2, 8)),  # the very start is quiet
        (utc(2026, 12, 1, 23, 59), utc(2026, 12, 2, 8)),
        (utc(2026, 12, 2, 0, 0), utc(2026, 12, 2, 8)),  # past midnight
        (utc(2026, 12, 2, 7, 59, second=59), utc(2026, 12, 2, 8)),
    ],
)
def test_night_hours_past_midnight_release_at_the_local_end(
    at: pendulum.DateTime, released: pendulum.DateTime
) -> None:
    assert NIGHT.quiet_until(at, "UTC") == released


@pytest.mark.parametrize(
    "at", [utc(2026, 12, 2, 8), utc(2026, 12, 2, 12), utc(2026, 12, 2, 20, 59, second=59)]
)
def test_outside_night_hours_nothing_is_quiet(at: pendulum.DateTime) -> None:
    assert NIGHT.quiet_until(at, "UTC") is None


def test_daytime_hours_end_the_same_day_and_the_end_is_exclusive() -> None:
    lunch = QuietHours(start="12:00", end="14:00")
    assert lunch.quiet_until(utc(2026, 12, 1, 11, 59), "UTC") is None
    assert lunch.quiet_until(utc(2026, 12, 1, 12), "UTC") == utc(2026, 12, 1, 14)
    assert lunch.quiet_until(utc(2026, 12, 1, 13, 30), "UTC") == utc(2026, 12, 1, 14)
    assert lunch.quiet_until(utc(2026, 12, 1, 14), "UTC") is None


def test_the_release_is_returned_in_utc() -> None:
    released = NIGHT.quiet_until(paris(2026, 12, 1, 22), PARIS)
    assert released is not None
    assert released.timezone_name == "UTC"
    assert released == utc(2026, 12, 2, 7)  # 08:00 in Paris (winter, UTC+1)


def test_local_time_is_read_in_the_given_zone() -> None:
    at = utc(2026, 12, 1, 20)  # 20:00 UTC, 21:00 in Paris, 01:30 in India
    assert NIGHT.quiet_until(at, "UTC") is None
    assert NIGHT.quiet_until(at, PARIS) == utc(2026, 12, 2, 7)
    kolkata = pendulum.FixedTimezone(5 * 3600 + 30 * 60)
    assert NIGHT.quiet_until(at, kolkata) == utc(2026, 12, 2, 2, 30)  # 08:00 +05:30


def test_summer_and_winter_release_at_the_same_local_time() -> None:
    assert NIGHT.quiet_until(paris(2027, 6, 1, 23), PARIS) == utc(2027, 6, 2, 6)
    assert NIGHT.quiet_until(paris(2026, 12, 1, 23), PARIS) == utc(2026, 12, 2, 7)


def test_weekday_hours_apply_only_on_those_days() -> None:
    friday_nights = QuietHours(start="21:00", end="08:00", days=(W.FR,))
    # Friday 4 December 2026
    assert friday_nights.quiet_until(utc(2026, 12, 4, 22), "UTC") == utc(2026, 12, 5, 8)
    # Saturday 03:00 belongs to the night that started on Friday
    assert friday_nights.quiet_until(utc(2026, 12, 5, 3), "UTC") == utc(2026, 12, 5, 8)
    # Saturday night and Friday 03:00 (Thursday's night) are not quiet
    assert friday_nights.quiet_until(utc(2026, 12, 5, 22), "UTC") is None
    assert friday_nights.quiet_until(utc(2026, 12, 4, 3), "UTC") is None


def test_weekday_codes_given_as_plain_strings_work_like_weekdays() -> None:
    rule = QuietHours(start="09:00", end="17:00", days=("SA", "SU"))
    assert rule.quiet_until(utc(2026, 12, 6, 10), "UTC") == utc(2026, 12, 6, 17)
    assert rule.quiet_until(utc(2026, 12, 7, 10), "UTC") is None


def test_every_weekday_is_recognised() -> None:
    monday = utc(2026, 11, 30, 10)
    for offset, day in enumerate(W):
        rule = QuietHours(start="09:00", end="11:00", days=(day,))
        for other in range(7):
            at = monday.add(days=other)
            expected = at.set(hour=11) if other == offset else None
            assert rule.quiet_until(at, "UTC") == expected, (day, other)


def test_a_quiet_date_is_quiet_all_day_in_the_rules_zone() -> None:
    christmas = QuietHours(dates=(dt.date(2026, 12, 25),), timezone=PARIS)
    released = utc(2026, 12, 25, 23)  # midnight in Paris
    assert christmas.quiet_until(utc(2026, 12, 24, 23), christmas.timezone) == released
    assert christmas.quiet_until(utc(2026, 12, 25, 22, 59), christmas.timezone) == released
    assert christmas.quiet_until(utc(2026, 12, 24, 22, 59), christmas.timezone) is None
    assert christmas.quiet_until(utc(2026, 12, 25, 23), christmas.timezone) is None


def test_a_quiet_date_followed_by_night_hours_releases_after_the_night() -> None:
    # Sunday 6 December 2026 is quiet all day; nights 21:00-08:00 every day
    rule = QuietHours(start="21:00", end="08:00", dates=(dt.date(2026, 12, 6),))
    # Saturday night -> Sunday (whole day) -> Sunday night -> Monday 08:00
    assert rule.quiet_until(utc(2026, 12, 5, 22), "UTC") == utc(2026, 12, 7, 8)
    assert rule.quiet_until(utc(2026, 12, 6, 12), "UTC") == utc(2026, 12, 7, 8)
    assert rule.quiet_until(utc(2026, 12, 7, 8), "UTC") is None


def test_consecutive_quiet_dates_chain_into_one_release() -> None:
    holidays = tuple(dt.date(2026, 12, day) for day in (24, 25, 26))
    rule = QuietHours(start="12:00", end="13:00", dates=holidays)
    assert rule.quiet_until(utc(2026, 12, 24, 9), "UTC") == utc(2026, 12, 27)
    # 27 December at 12:30 is ordinary lunch
    assert rule.quiet_until(utc(2026, 12, 27, 12, 30), "UTC") == utc(2026, 12, 27, 13)


def test_a_quiet_date_in_the_morning_of_a_night_releases_at_midnight_after_it() -> None:
    # the night started on the 24th ends at 08:00 on the 25th, but the 25th is quiet
    rule = QuietHours(start="21:00", end="06:00", dates=(dt.date(2026, 12, 25),))
    assert rule.quiet_until(utc(2026, 12, 24, 23), "UTC") == utc(2026, 12, 26, 6)


def test_weekday_nights_and_a_quiet_date_chain() -> None:
    # Saturday nights only; Sunday 6 December is a quiet date
    rule = QuietHours(start="22:00", end="07:00", days=(W.SA,), dates=(dt.date(2026, 12, 6),))
    # Saturday 22:00 -> Sunday 07:00 is still the quiet date -> Monday 00:00,
    # and Sunday night is not a Saturday night
    assert rule.quiet_until(utc(2026, 12, 5, 22), "UTC") == utc(2026, 12, 7)


def test_quiet_hours_that_never_end_raise_a_validation_error() -> None:
    start = dt.date(2026, 1, 1)
    every_day = tuple(start + dt.timedelta(days=n) for n in range(500))
    rule = QuietHours(dates=every_day)
    with pytest.raises(ck.ValidationError, match="quiet hours never end"):
        rule.quiet_until(utc(2026, 1, 1, 12), "UTC")


# ---------------------------------------------------------------- daylight saving (Paris)


def test_night_hours_on_an_ordinary_night_next_to_a_dst_change() -> None:
    # the nights right after the changes are ordinary
    assert NIGHT.quiet_until(paris(2026, 10, 25, 22), PARIS) == paris(2026, 10, 26, 8)
    assert NIGHT.quiet_until(paris(2027, 3, 28, 22), PARIS) == paris(2027, 3, 29, 8)
    # and the night before, released the day before the change
    assert NIGHT.quiet_until(paris(2026, 10, 23, 22), PARIS) == paris(2026, 10, 24, 8)


def test_daytime_hours_on_dst_days_are_not_quiet_outside_them() -> None:
    assert NIGHT.quiet_until(paris(2026, 10, 25, 12), PARIS) is None
    assert NIGHT.quiet_until(paris(2027, 3, 28, 12), PARIS) is None


@pytest.mark.parametrize(
    "at", [paris(2026, 10, 24, 22), paris(2026, 10, 25, 1, 30), paris(2026, 10, 25, 7, 30)]
)
def test_night_ending_on_the_autumn_dst_day_releases_at_0800_local(
    at: pendulum.DateTime,
) -> None:
    assert NIGHT.quiet_until(at, PARIS) == paris(2026, 10, 25, 8)  # 07:00 UTC


@pytest.mark.parametrize(
    "at", [paris(2027, 3, 27, 22), paris(2027, 3, 28, 5), paris(2027, 3, 28, 7, 59)]
)
def test_night_ending_on_the_spring_dst_day_releases_at_0800_local(
    at: pendulum.DateTime,
) -> None:
    assert NIGHT.quiet_until(at, PARIS) == paris(2027, 3, 28, 8)  # 06:00 UTC


# ---------------------------------------------------------------- whole quiet weekdays


def test_weekdays_without_hours_are_quiet_all_day() -> None:
    sundays = QuietHours(days=(W.SU,))  # start == end: no hours, the whole day
    saturday_night = paris(2027, 1, 2, 23, 59)
    sunday_noon = paris(2027, 1, 3, 12)
    assert sundays.quiet_until(saturday_night, PARIS) is None
    assert sundays.quiet_until(sunday_noon, PARIS) == paris(2027, 1, 4)  # Monday 00:00 local


def test_a_quiet_weekend_then_a_night_releases_on_monday_morning() -> None:
    weekend = QuietHours(days=(W.SA, W.SU))
    nights = QuietHours(start="21:00", end="08:00")
    released = quiet_until((weekend, nights), paris(2027, 1, 1, 22), PARIS)
    assert released == (paris(2027, 1, 4, 8), False)  # Friday night -> Monday 08:00
