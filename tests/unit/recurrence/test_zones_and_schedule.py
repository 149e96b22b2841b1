"""Profile time zones (the same wall time in another zone, the earliest slot at UTC+14) and
``Schedule``: one-shot and recurring occurrences, UTC storage and refusals."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaignkit.domain.recurrence import (
    EARLIEST_OFFSET,
    Recurrence,
    earliest_slot,
    same_wall_time,
)
from campaignkit.domain.schedule import Schedule
from tests.unit.recurrence.support import (
    PROPERTY,
    ZONES,
    anchors,
    local,
    problems_of,
    utc,
    zones,
)

# ------------------------------------------------------------------ profile time zones


def test_same_wall_time_moves_the_local_time_to_another_zone() -> None:
    nine_in_paris = local(2027, 6, 1, 9, zone="Europe/Paris")
    tokyo = same_wall_time(nine_in_paris, "Europe/Paris", "Asia/Tokyo")
    assert tokyo == local(2027, 6, 1, 9, zone="Asia/Tokyo")
    assert tokyo.timezone_name == "UTC"
    honolulu = same_wall_time(nine_in_paris, "Europe/Paris", "Pacific/Honolulu")
    assert honolulu == nine_in_paris.add(hours=12)
    with_seconds = same_wall_time(
        utc(2027, 6, 1, 9).add(seconds=45), "UTC", pendulum.FixedTimezone(3600)
    )
    assert with_seconds == utc(2027, 6, 1, 8).add(seconds=45)
    assert same_wall_time(nine_in_paris, "Europe/Paris", "Europe/Paris") == nine_in_paris


def test_same_wall_time_into_a_gap_follows_the_gap_rule() -> None:
    half_past_two = utc(2027, 3, 28, 2, 30)
    in_paris = same_wall_time(half_past_two, "UTC", "Europe/Paris")
    assert in_paris.in_timezone("Europe/Paris").naive() == dt.datetime(2027, 3, 28, 3, 30)


def test_same_wall_time_keeps_the_sub_second_part() -> None:
    start = utc(2027, 6, 1, 9).add(microseconds=500_000)
    assert same_wall_time(start, "UTC", "UTC") == start
    assert earliest_slot(start, "UTC") == start.subtract(hours=14)


def test_earliest_slot_is_the_wall_time_at_utc_plus_14() -> None:
    assert EARLIEST_OFFSET.utcoffset(None) == dt.timedelta(hours=14)
    nine_in_paris = local(2027, 6, 1, 9, zone="Europe/Paris")
    slot = earliest_slot(nine_in_paris, "Europe/Paris")
    assert slot == utc(2027, 5, 31, 19)  # 12 hours before 09:00 CEST
    assert slot.in_timezone(EARLIEST_OFFSET).naive() == dt.datetime(2027, 6, 1, 9)
    assert slot == same_wall_time(nine_in_paris, "Europe/Paris", "Pacific/Kiritimati")
    nine_utc = utc(2027, 6, 1, 9)
    assert earliest_slot(nine_utc, "UTC") == nine_utc.subtract(hours=14)


@PROPERTY
@given(start=anchors, zone=zones, other=st.sampled_from([*ZONES, "UTC", "Asia/Tokyo"]))
def test_earliest_slot_comes_no_later_than_the_slot_in_any_zone(
    start: pendulum.DateTime, zone: str, other: str
) -> None:
    start = start.set(microsecond=0)
    slot = earliest_slot(start, zone)
    assert slot <= same_wall_time(start, zone, other)
    offset = start.in_timezone(zone).utcoffset()
    assert offset is not None
    assert start - slot == dt.timedelta(hours=14) - offset


# ------------------------------------------------------------------ Schedule


def test_a_default_schedule_is_one_shot_on_activation_in_utc() -> None:
    schedule = Schedule()
    assert (schedule.start, schedule.end, schedule.timezone) == (None, None, "UTC")
    assert not schedule.is_recurring
    assert schedule.send_window == pendulum.duration(hours=12)
    assert Schedule(recurrence=Recurrence.daily(at="09:00")).is_recurring


def test_schedule_stores_start_and_end_in_utc() -> None:
    start = dt.datetime(2027, 6, 1, 9, tzinfo=ZoneInfo("Europe/Paris"))
    schedule = Schedule(start=start, end=local(2027, 7, 1, zone="America/New_York"))
    assert schedule.start == utc(2027, 6, 1, 7)
    assert schedule.end == utc(2027, 7, 1, 4)
    assert schedule.start is not None
    assert schedule.start.timezone_name == "UTC"


@pytest.mark.parametrize("field", ["start", "end"])
def test_schedule_refuses_a_naive_date_time(field: str) -> None:
    naive = dt.datetime(2027, 6, 1, 9)
    problems = problems_of(
        lambda: Schedule(start=naive) if field == "start" else Schedule(end=naive)
    )
    assert len(problems) == 1
    assert f"schedule {field} must be timezone-aware" in problems[0]
    assert "2027-06-01T09:00:00" in problems[0]


@pytest.mark.parametrize("zone", ["Mars/Olympus", "Paris", ""])
def test_schedule_refuses_an_unknown_time_zone(zone: str) -> None:
    problems = problems_of(lambda: Schedule(timezone=zone))
    assert problems == [
        f"schedule timezone: unknown time zone {zone!r}; "
        "use an IANA name such as 'Europe/Paris' or 'UTC'"
    ]


def test_one_shot_schedule_fires_once_at_its_start() -> None:
    start = utc(2027, 6, 1, 9)
    schedule = Schedule(start=start, timezone="Europe/Paris")
    assert list(schedule.occurrences()) == [start]
    assert list(schedule.occurrences(after=start.subtract(seconds=1))) == [start]
    assert list(schedule.occurrences(after=start)) == []  # strictly after
    assert list(Schedule(start=start, end=start.add(seconds=1)).occurrences()) == [start]
    assert list(Schedule(start=start, end=start).occurrences()) == []  # end is exclusive
    assert list(Schedule(start=start, end=start.subtract(days=1)).occurrences()) == []


def test_one_shot_schedule_without_start_has_no_occurrences_of_its_own() -> None:
    assert list(Schedule().occurrences(after=utc(2027, 6, 1))) == []


@pytest.mark.parametrize("recurrence", [None, Recurrence.daily(at="09:00")])
def test_schedule_without_start_or_after_cannot_list_occurrences(
    recurrence: Recurrence | None,
) -> None:
    schedule = Schedule(recurrence=recurrence)
    problems = problems_of(lambda: next(schedule.occurrences()))
    assert problems == [
        "this schedule has no start: pass anchor= (for example the activation instant)"
    ]


def test_recurring_schedule_runs_from_its_start_until_its_end() -> None:
    schedule = Schedule(
        start=local(2027, 6, 1, 10, zone="Europe/Paris"),
        end=local(2027, 6, 4, 9, zone="Europe/Paris"),
        timezone="Europe/Paris",
        recurrence=Recurrence.daily(at="09:00"),
    )
    walls = [i.in_timezone("Europe/Paris").naive() for i in schedule.occurrences()]
    assert walls == [dt.datetime(2027, 6, 2, 9), dt.datetime(2027, 6, 3, 9)]
    assert list(schedule.occurrences(after=utc(2020, 1, 1))) == list(schedule.occurrences())
    assert list(schedule.occurrences(after=utc(2027, 6, 2, 7))) == [utc(2027, 6, 3, 7)]


def test_recurring_schedule_without_start_counts_from_after() -> None:
    schedule = Schedule(
        timezone="America/New_York", recurrence=Recurrence.daily(at="09:00", every=2)
    )
    activation = local(2027, 6, 1, 9, zone="America/New_York")
    found = list(itertools.islice(schedule.occurrences(after=activation), 2))
    # Strictly after the activation instant, and every 2 days from its local date.
    assert [i.in_timezone("America/New_York").naive() for i in found] == [
        dt.datetime(2027, 6, 3, 9),
        dt.datetime(2027, 6, 5, 9),
    ]
