"""``schedule_problems``: consistent schedules, past starts, ends not after the start or not in
the future, every problem at once, and the ends of time (year 9999)."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest

from campaignkit import ValidationError
from campaignkit.domain.recurrence import (
    Recurrence,
    occurrences,
)
from campaignkit.domain.schedule import Schedule, schedule_problems
from tests.unit.recurrence.support import utc

# ------------------------------------------------------------------ schedule_problems

NOW = utc(2027, 6, 1, 12)


@pytest.mark.parametrize(
    "schedule",
    [
        Schedule(),
        Schedule(start=NOW),
        Schedule(start=NOW.add(days=1), end=NOW.add(days=2)),
        Schedule(end=NOW.add(seconds=1)),
    ],
    ids=["on-activation", "start-now", "future-start-and-end", "future-end"],
)
def test_a_consistent_schedule_has_no_problems(schedule: Schedule) -> None:
    assert schedule_problems(schedule, now=NOW) == []


def test_a_start_in_the_past_is_a_problem_unless_not_checked() -> None:
    schedule = Schedule(start=NOW.subtract(minutes=1))
    assert schedule_problems(schedule, now=NOW) == [
        "schedule start 2027-06-01T11:59:00+00:00 is in the past (now 2027-06-01T12:00:00+00:00); "
        "move it forward or remove it to start on activation"
    ]
    assert schedule_problems(schedule, now=NOW, check_start=False) == []


@pytest.mark.parametrize("gap", [pendulum.duration(), pendulum.duration(hours=-1)])
def test_an_end_not_after_the_start_is_a_problem(gap: pendulum.Duration) -> None:
    start = NOW.add(days=1)
    end = start + gap
    problems = schedule_problems(Schedule(start=start, end=end), now=NOW)
    assert problems == [
        f"schedule end {end.isoformat()} must be after its start {start.isoformat()}"
    ]


@pytest.mark.parametrize("end", [NOW, NOW.subtract(days=1)])
def test_an_end_not_in_the_future_is_a_problem(end: pendulum.DateTime) -> None:
    problems = schedule_problems(Schedule(end=end), now=NOW)
    assert problems == [f"schedule end {end.isoformat()} is not in the future"]


def test_a_live_versions_past_end_is_reported_even_without_checking_the_start() -> None:
    schedule = Schedule(start=NOW.subtract(days=10), end=NOW.subtract(days=1))
    problems = schedule_problems(schedule, now=NOW, check_start=False)
    assert problems == [f"schedule end {NOW.subtract(days=1).isoformat()} is not in the future"]


def test_every_schedule_problem_is_reported_at_once() -> None:
    start, end = NOW.subtract(days=1), NOW.subtract(days=2)
    problems = schedule_problems(Schedule(start=start, end=end), now=NOW)
    assert len(problems) == 2
    assert "is in the past" in problems[0]
    assert "must be after its start" in problems[1]


def test_rrule_seconds_come_from_bysecond_only() -> None:
    half_minutes = Recurrence.rrule("FREQ=MINUTELY;BYSECOND=0,30")
    anchor = utc(2027, 6, 1, 9).add(seconds=10)  # the start's own seconds are not inherited
    found = list(occurrences(half_minutes, zone="UTC", anchor=anchor, end=utc(2027, 6, 1, 9, 2)))
    assert found == [
        utc(2027, 6, 1, 9).add(seconds=30),
        utc(2027, 6, 1, 9, 1),
        utc(2027, 6, 1, 9, 1).add(seconds=30),
    ]


@pytest.mark.parametrize(
    "recurrence",
    [
        Recurrence.daily(at="09:00", every=10**9),
        Recurrence.weekly(days=["MO"], at="09:00", every=10**9),
        Recurrence.monthly(day=7, at="09:00", every=10**6),
    ],
    ids=["daily", "weekly", "monthly"],
)
def test_a_series_whose_next_slot_is_after_the_year_9999_ends(recurrence: Recurrence) -> None:
    # An accepted every= once raised OverflowError at activation (weekly) or at
    # every tick (daily, monthly): past the last representable date there is no slot.
    anchor = utc(2027, 6, 7, 6)  # a Monday, 08:00 in Paris
    found = list(occurrences(recurrence, zone="Europe/Paris", anchor=anchor))
    assert len(found) == 1
    assert len(found) == 1  # the first slot, then nothing
    assert found[0] >= anchor


def test_a_start_late_in_9999_has_no_daily_occurrence_after_it() -> None:
    start = pendulum.datetime(9999, 12, 31, 23, tz="UTC")
    daily = Schedule(start=start, recurrence=Recurrence.daily(at="09:00"))
    assert list(daily.occurrences()) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("start", dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=14)))),
        ("end", dt.datetime.max.replace(tzinfo=dt.timezone(dt.timedelta(hours=-14)))),
    ],
)
def test_a_date_time_with_no_utc_instant_is_refused(field: str, value: dt.datetime) -> None:
    with pytest.raises(ValidationError, match=f"schedule {field} .* is outside the date-times"):
        Schedule(start=value) if field == "start" else Schedule(end=value)
