"""The next slot, ``after`` and ``end``: starts with seconds, past first slots, monthly day 31,
the every-N rhythm years on, and bounded candidate days."""

from __future__ import annotations

import datetime as dt
import itertools

import pendulum
import pytest

from campaignkit.domain.recurrence import (
    _MAX_STEPS,
    Recurrence,
    _days,
    occurrences,
)
from tests.unit.recurrence.support import local, take, utc

# ------------------------------------------------------------------ next slot, after, end


def test_a_first_slot_already_past_at_the_start_moves_to_the_next_slot() -> None:
    start = local(2027, 6, 1, 10, zone="Europe/Paris")
    assert take(Recurrence.daily(at="09:00"), "Europe/Paris", start, 1) == [
        dt.datetime(2027, 6, 2, 9)
    ]
    # 2027-06-01 is a Tuesday: Tuesday 09:00 has passed, Wednesday has not.
    weekly = Recurrence.weekly(days=["TU", "WE"], at="09:00")
    assert take(weekly, "Europe/Paris", start, 2) == [
        dt.datetime(2027, 6, 2, 9),
        dt.datetime(2027, 6, 8, 9),
    ]
    monthly = Recurrence.monthly(day=1, at="09:00")
    assert take(monthly, "Europe/Paris", start, 1) == [dt.datetime(2027, 7, 1, 9)]


def test_a_slot_exactly_at_the_start_counts() -> None:
    start = local(2027, 6, 1, 9, zone="Europe/Paris")
    assert take(Recurrence.daily(at="09:00"), "Europe/Paris", start, 1) == [
        dt.datetime(2027, 6, 1, 9)
    ]


START_WITH_SECONDS = [
    pendulum.duration(seconds=20),
    pendulum.duration(microseconds=1),
    pendulum.duration(seconds=59, microseconds=999_999),
]


@pytest.mark.parametrize("late", START_WITH_SECONDS, ids=["20s", "1us", "59.999999s"])
@pytest.mark.parametrize(
    "rule",
    [
        Recurrence.daily(at="09:00"),
        Recurrence.rrule("FREQ=DAILY"),
        Recurrence.rrule("FREQ=DAILY;BYHOUR=9;BYMINUTE=0"),
        Recurrence.rrule("FREQ=HOURLY;INTERVAL=24"),
    ],
    ids=["daily", "rrule-from-start", "rrule-at-9", "rrule-hourly"],
)
def test_a_start_with_seconds_is_the_first_occurrence_at_the_start_itself(
    rule: Recurrence, late: pendulum.Duration
) -> None:
    start = local(2027, 6, 1, 9, zone="Europe/Paris") + late
    found = list(
        itertools.islice(occurrences(rule, zone="Europe/Paris", anchor=start, end=None), 3)
    )
    nine = [local(2027, 6, day, 9, zone="Europe/Paris") for day in (2, 3)]
    assert found == [start, *nine]  # never before the start, then the rule's own times


def test_a_slot_a_full_minute_before_the_start_has_passed() -> None:
    start = local(2027, 6, 1, 9, 1, zone="Europe/Paris")
    for rule in (Recurrence.daily(at="09:00"), Recurrence.rrule("FREQ=DAILY;BYHOUR=9;BYMINUTE=0")):
        first = next(occurrences(rule, zone="Europe/Paris", anchor=start))
        assert first == local(2027, 6, 2, 9, zone="Europe/Paris")


def test_an_rrule_count_includes_a_start_with_seconds() -> None:
    start = utc(2027, 6, 1, 10, 37).add(seconds=15, microseconds=123)
    found = list(occurrences(Recurrence.rrule("FREQ=DAILY;COUNT=3"), zone="UTC", anchor=start))
    assert found == [start, utc(2027, 6, 2, 10, 37), utc(2027, 6, 3, 10, 37)]


def test_with_bysecond_the_start_counts_only_in_its_own_second() -> None:
    rule = Recurrence.rrule("FREQ=MINUTELY;BYSECOND=0,30;COUNT=3")
    in_its_second = utc(2027, 6, 1, 9).add(seconds=30, microseconds=500)
    assert list(occurrences(rule, zone="UTC", anchor=in_its_second)) == [
        in_its_second,
        utc(2027, 6, 1, 9, 1),
        utc(2027, 6, 1, 9, 1).add(seconds=30),
    ]
    between = utc(2027, 6, 1, 9).add(seconds=10)  # 09:00:10 is no instance: COUNT starts later
    assert list(occurrences(rule, zone="UTC", anchor=between)) == [
        utc(2027, 6, 1, 9).add(seconds=30),
        utc(2027, 6, 1, 9, 1),
        utc(2027, 6, 1, 9, 1).add(seconds=30),
    ]


def test_the_first_occurrence_at_a_start_with_seconds_is_after_nothing_before_it() -> None:
    start = utc(2027, 6, 1, 9).add(seconds=20)
    rule = Recurrence.daily(at="09:00")
    just_before = start.subtract(microseconds=1)
    assert next(occurrences(rule, zone="UTC", anchor=start, after=just_before)) == start
    assert list(occurrences(rule, zone="UTC", anchor=start, after=start, end=utc(2027, 6, 2))) == []
    assert list(occurrences(rule, zone="UTC", anchor=start, end=start)) == []


def test_monthly_day_31_falls_on_the_last_day_of_shorter_months() -> None:
    rule = Recurrence.monthly(day=31, at="08:00")
    walls = take(rule, "Europe/Paris", local(2027, 12, 1, zone="Europe/Paris"), 6)
    assert [wall.date() for wall in walls] == [
        dt.date(2027, 12, 31),
        dt.date(2028, 1, 31),
        dt.date(2028, 2, 29),  # leap year
        dt.date(2028, 3, 31),
        dt.date(2028, 4, 30),
        dt.date(2028, 5, 31),
    ]
    assert all(wall.time() == dt.time(8) for wall in walls)
    every_3 = Recurrence.monthly(day=30, at="08:00", every=3)
    later = take(every_3, "UTC", utc(2026, 11, 1), 3)
    assert [wall.date() for wall in later] == [
        dt.date(2026, 11, 30),
        dt.date(2027, 2, 28),
        dt.date(2027, 5, 30),
    ]


def test_after_is_exclusive_and_end_is_exclusive() -> None:
    rule = Recurrence.daily(at="09:00")
    anchor = utc(2027, 6, 1)
    found = list(
        occurrences(
            rule, zone="UTC", anchor=anchor, after=utc(2027, 6, 2, 9), end=utc(2027, 6, 5, 9)
        )
    )
    assert found == [utc(2027, 6, 3, 9), utc(2027, 6, 4, 9)]


def test_after_years_past_the_start_keeps_the_every_n_rhythm() -> None:
    anchor = local(2027, 1, 1, zone="Europe/Paris")
    after = local(2035, 6, 1, 12, zone="Europe/Paris")
    daily = occurrences(
        Recurrence.daily(at="09:00", every=3), zone="Europe/Paris", anchor=anchor, after=after
    )
    first = next(daily).in_timezone("Europe/Paris")
    assert first > after
    assert (first.date() - anchor.date()).days % 3 == 0
    assert (first.date() - after.date()).days <= 3
    weekly = Recurrence.weekly(days=["FR"], at="09:00", every=2)
    friday = next(occurrences(weekly, zone="Europe/Paris", anchor=anchor, after=after))
    assert friday.in_timezone("Europe/Paris").naive() == dt.datetime(2035, 6, 8, 9)
    assert (friday.toordinal() - dt.date(2027, 1, 1).toordinal()) % 14 == 0  # a Friday
    monthly = Recurrence.monthly(day=15, at="09:00", every=5)
    fifteenth = next(occurrences(monthly, zone="Europe/Paris", anchor=anchor, after=after))
    assert fifteenth.in_timezone("Europe/Paris").naive() == dt.datetime(2035, 10, 15, 9)


def test_after_before_the_start_changes_nothing() -> None:
    rule = Recurrence.weekly(days=["MO"], at="07:00")
    anchor, end = utc(2027, 6, 1), utc(2027, 7, 1)
    plain = list(occurrences(rule, zone="Asia/Kolkata", anchor=anchor, end=end))
    early = list(
        occurrences(rule, zone="Asia/Kolkata", anchor=anchor, end=end, after=utc(2020, 1, 1))
    )
    assert early == plain
    assert len(plain) == 4


def test_candidate_days_are_bounded_so_every_search_ends() -> None:
    first_day = dt.date(1, 1, 1)  # a Monday
    daily = list(_days(Recurrence.daily(at="09:00"), first_day, first_day))
    weekly = list(_days(Recurrence.weekly(days=["MO", "TH"], at="09:00"), first_day, first_day))
    monthly = list(_days(Recurrence.monthly(day=31, at="09:00"), first_day, first_day))
    assert (len(daily), len(weekly), len(monthly)) == (_MAX_STEPS, 2 * _MAX_STEPS, _MAX_STEPS)
    assert daily == sorted(set(daily))
    assert weekly == sorted(set(weekly))
    assert monthly == sorted(set(monthly))
