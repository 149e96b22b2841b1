"""Local times across DST: a wall time in the spring-forward gap moves forward by the gap, an
ambiguous fall-back wall time means the first instant, for every kind of rule."""

from __future__ import annotations

import datetime as dt

import pendulum
from hypothesis import given
from hypothesis import strategies as st

from campaignkit.domain.recurrence import (
    Recurrence,
    local_instant,
    occurrences,
)
from tests.unit.recurrence.support import (
    PROPERTY,
    at_times,
    local,
    local_days,
    model_instant,
    take,
    utc,
    zones,
)

# ------------------------------------------------------------------ local times and DST


def test_a_daily_time_stays_the_same_local_time_across_both_dst_changes() -> None:
    rule = Recurrence.daily(at="09:00")
    anchor = local(2027, 3, 13, zone="America/New_York")
    walls = take(rule, "America/New_York", anchor, 2)
    assert walls == [dt.datetime(2027, 3, 13, 9), dt.datetime(2027, 3, 14, 9)]
    found = list(occurrences(rule, zone="America/New_York", anchor=anchor, end=utc(2027, 3, 15)))
    assert found == [utc(2027, 3, 13, 14), utc(2027, 3, 14, 13)]  # EST, then EDT
    autumn = list(
        occurrences(rule, zone="Europe/Paris", anchor=utc(2027, 10, 30), end=utc(2027, 11, 1))
    )
    assert autumn == [utc(2027, 10, 30, 7), utc(2027, 10, 31, 8)]  # CEST, then CET


def test_a_time_in_the_spring_forward_gap_moves_forward_by_the_gap() -> None:
    rule = Recurrence.daily(at="02:30")
    anchor = local(2027, 3, 27, zone="Europe/Paris")
    walls = take(rule, "Europe/Paris", anchor, 3)
    assert walls == [
        dt.datetime(2027, 3, 27, 2, 30),
        dt.datetime(2027, 3, 28, 3, 30),  # 02:30 does not exist that night
        dt.datetime(2027, 3, 29, 2, 30),
    ]
    assert local_instant(dt.date(2027, 3, 28), "02:30", "Europe/Paris") == utc(2027, 3, 28, 1, 30)
    new_york = local_instant(dt.date(2027, 3, 14), "02:30", "America/New_York")
    assert new_york.in_timezone("America/New_York").naive() == dt.datetime(2027, 3, 14, 3, 30)


def test_an_ambiguous_fall_back_time_means_the_first_instant() -> None:
    paris = local_instant(dt.date(2027, 10, 31), "02:30", "Europe/Paris")
    assert paris == utc(2027, 10, 31, 0, 30)  # 02:30 CEST, not 02:30 CET (01:30 UTC)
    assert paris.in_timezone("Europe/Paris").utcoffset() == dt.timedelta(hours=2)
    new_york = local_instant(dt.date(2027, 11, 7), "01:30", "America/New_York")
    assert new_york == utc(2027, 11, 7, 5, 30)  # 01:30 EDT, not 01:30 EST
    rule = Recurrence.daily(at="02:30")
    found = list(
        occurrences(rule, zone="Europe/Paris", anchor=utc(2027, 10, 30), end=utc(2027, 11, 2))
    )
    assert found == [utc(2027, 10, 30, 0, 30), utc(2027, 10, 31, 0, 30), utc(2027, 11, 1, 1, 30)]


def test_local_instant_keeps_seconds_and_accepts_a_fixed_offset() -> None:
    instant = local_instant(dt.date(2027, 6, 1), "09:00", "Asia/Kolkata", second=15)
    assert instant == utc(2027, 6, 1, 3, 30).add(seconds=15)
    assert instant.timezone_name == "UTC"
    fixed = local_instant(dt.date(2027, 6, 1), "09:00", pendulum.FixedTimezone(-3 * 3600))
    assert fixed == utc(2027, 6, 1, 12)


@PROPERTY
@given(zone=zones, day=local_days, at=at_times)
def test_local_instant_follows_the_gap_and_fold_rules(zone: str, day: dt.date, at: str) -> None:
    assert local_instant(day, at, zone) == model_instant(day, at, zone)


SPRING_FORWARD = [
    ("Europe/Paris", dt.date(2027, 3, 28), 2),
    ("Europe/Paris", dt.date(2028, 3, 26), 2),
    ("America/New_York", dt.date(2027, 3, 14), 2),
    ("America/New_York", dt.date(2028, 3, 12), 2),
]
"""(zone, day, hour the clocks skip)."""
FALL_BACK = [
    ("Europe/Paris", dt.date(2027, 10, 31), 2),
    ("Europe/Paris", dt.date(2028, 10, 29), 2),
    ("America/New_York", dt.date(2027, 11, 7), 1),
    ("America/New_York", dt.date(2028, 11, 5), 1),
]
"""(zone, day, hour the clocks repeat)."""
RULE_KINDS = ["daily", "weekly", "monthly", "rrule"]


def rule_through(kind: str, day: dt.date, hour: int, minute: int) -> Recurrence:
    """A rule of ``kind`` that fires on ``day`` (a Sunday) at ``hour:minute``."""
    at = f"{hour:02d}:{minute:02d}"
    if kind == "daily":
        return Recurrence.daily(at=at)
    if kind == "weekly":
        return Recurrence.weekly(days=["SU"], at=at)
    if kind == "monthly":
        return Recurrence.monthly(day=day.day, at=at)
    return Recurrence.rrule(f"FREQ=DAILY;BYHOUR={hour};BYMINUTE={minute}")


def on_day(
    rule: Recurrence, zone: str, day: dt.date
) -> tuple[pendulum.DateTime, list[pendulum.DateTime]]:
    """The one occurrence on local ``day``, and those earlier that month."""
    anchor = local(day.year, day.month, 1, zone=zone)
    end = local(day.year, day.month, day.day, zone=zone).add(days=1)
    found = [i.in_timezone(zone) for i in occurrences(rule, zone=zone, anchor=anchor, end=end)]
    assert sum(i.date() == day for i in found) == 1
    return found[-1], found[:-1]


@PROPERTY
@given(
    change=st.sampled_from(SPRING_FORWARD),
    minute=st.integers(0, 59),
    kind=st.sampled_from(RULE_KINDS),
)
def test_every_rule_moves_a_skipped_time_forward_by_the_gap(
    change: tuple[str, dt.date, int], minute: int, kind: str
) -> None:
    zone, day, hour = change
    fired, earlier = on_day(rule_through(kind, day, hour, minute), zone, day)
    assert (fired.hour, fired.minute) == (hour + 1, minute)
    assert fired.date() == day
    assert all((i.hour, i.minute) == (hour, minute) for i in earlier)
    summer = fired.utcoffset()
    winter = fired.subtract(days=1).utcoffset()
    assert summer is not None
    assert winter is not None
    assert summer - winter == dt.timedelta(hours=1)


@PROPERTY
@given(
    change=st.sampled_from(FALL_BACK),
    minute=st.integers(0, 59),
    kind=st.sampled_from(RULE_KINDS),
)
def test_every_rule_fires_a_repeated_time_at_its_first_instant(
    change: tuple[str, dt.date, int], minute: int, kind: str
) -> None:
    zone, day, hour = change
    fired, earlier = on_day(rule_through(kind, day, hour, minute), zone, day)
    assert (fired.hour, fired.minute) == (hour, minute)
    assert all((i.hour, i.minute) == (hour, minute) for i in earlier)
    second = fired.add(hours=1)  # the same wall time, one hour later
    assert (second.hour, second.minute) == (hour, minute)
    assert fired.subtract(hours=1).hour != hour  # nothing earlier shows that wall time
