"""Unit and property tests for recurrence rules and ``Schedule.occurrences()``.

These cover:

- the ``Recurrence`` constructors (daily, weekly, monthly, RRULE) and the
  ``ValidationError`` each one raises for a bad value;
- the local-time rules of ``campaignkit.domain.recurrence``: a wall time in the
  spring-forward gap moves forward by the gap, an ambiguous fall-back wall time
  means the first (summer-time) instant, and a monthly day that a month lacks
  falls on that month's last day;
- every-N spacing, chosen weekdays, the ``after`` and ``end`` bounds, and RRULE
  rules that give the same occurrences as the matching structured rules;
- the profile-time-zone helpers ``local_instant``, ``same_wall_time`` and
  ``earliest_slot``;
- one-shot schedules and ``schedule_problems()``.

The property tests check the code against a model built on the standard
library's ``zoneinfo``. With ``fold=0`` (PEP 495), ``zoneinfo`` takes the first
instant of an ambiguous wall time and reads a wall time in the gap with the
offset from before the change, which moves it forward by the gap. Those are
the two documented rules.
"""

from __future__ import annotations

import calendar
import datetime as dt
import itertools
from collections.abc import Callable, Sequence
from zoneinfo import ZoneInfo

import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaignkit import ValidationError
from campaignkit.domain.recurrence import (
    _MAX_STEPS,
    EARLIEST_OFFSET,
    Frequency,
    Recurrence,
    Weekday,
    _days,
    earliest_slot,
    local_instant,
    occurrences,
    same_wall_time,
)
from campaignkit.domain.schedule import Schedule, schedule_problems

ZONES = [
    "Europe/Paris",
    "America/New_York",
    "Asia/Kolkata",
    "Pacific/Kiritimati",
    "Pacific/Honolulu",
]
"""Zones with DST on either side of UTC, a half-hour offset, UTC+14 and UTC-10."""

CODES = [day.value for day in Weekday]
UTC = dt.timezone.utc
PROPERTY = settings(deadline=None, max_examples=60)
MINUTE = dt.timedelta(minutes=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> pendulum.DateTime:
    """A UTC instant."""
    return pendulum.datetime(year, month, day, hour, minute, tz="UTC")


def local(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, *, zone: str
) -> pendulum.DateTime:
    """An instant given by its (unambiguous) wall time in ``zone``."""
    return pendulum.datetime(year, month, day, hour, minute, tz=zone)


def problems_of(call: Callable[[], object]) -> list[str]:
    """The problems of the ``ValidationError`` (exactly that class) ``call`` raises."""
    with pytest.raises(ValidationError) as caught:
        call()
    assert type(caught.value) is ValidationError
    return caught.value.problems


def take(recurrence: Recurrence, zone: str, anchor: pendulum.DateTime, n: int) -> list[dt.datetime]:
    """The first ``n`` occurrences, as wall times in ``zone``."""
    found = itertools.islice(occurrences(recurrence, zone=zone, anchor=anchor), n)
    return [instant.in_timezone(zone).naive() for instant in found]


# ------------------------------------------------------------------ the model


def model_instant(day: dt.date, at: str, zone: str) -> pendulum.DateTime:
    """Wall time ``at`` on ``day`` in ``zone``, per the documented rules (via zoneinfo)."""
    hour, minute = (int(part) for part in at.split(":"))
    wall = dt.datetime.combine(day, dt.time(hour, minute), tzinfo=ZoneInfo(zone))  # fold=0
    return pendulum.instance(wall.astimezone(UTC))


def model_days(recurrence: Recurrence, anchor_day: dt.date) -> list[dt.date]:
    """The candidate local days of a structured rule, counted from ``anchor_day``.

    Enough of them for the four years the property tests look at.
    """
    every = recurrence.every
    if recurrence.frequency is Frequency.DAILY:
        return [anchor_day + dt.timedelta(days=k * every) for k in range(1600 // every + 2)]
    if recurrence.frequency is Frequency.WEEKLY:
        monday = anchor_day - dt.timedelta(days=anchor_day.weekday())
        offsets = [CODES.index(day.value) for day in recurrence.days]
        return [
            monday + dt.timedelta(weeks=k * every, days=offset)
            for k in range(230 // every + 2)
            for offset in offsets
        ]
    assert recurrence.day is not None
    days = []
    for k in range(54 // every + 2):
        index = anchor_day.month - 1 + k * every
        year, month = anchor_day.year + index // 12, index % 12 + 1
        days.append(dt.date(year, month, min(recurrence.day, calendar.monthrange(year, month)[1])))
    return days


def model_occurrences(
    recurrence: Recurrence,
    zone: str,
    anchor: pendulum.DateTime,
    end: pendulum.DateTime,
    after: pendulum.DateTime | None = None,
) -> list[pendulum.DateTime]:
    """What ``occurrences()`` should yield for a structured rule, with a finite end.

    A slot less than a minute before the anchor (the anchor's own minute, when
    it has seconds) counts and fires at the anchor itself.
    """
    anchor_day = anchor.in_timezone(zone).date()
    instants = [
        model_instant(day, recurrence.at, zone) for day in model_days(recurrence, anchor_day)
    ]
    assert instants[-1] >= end, "the model needs more candidate days"
    in_its_minute = [anchor if anchor - MINUTE < i < anchor else i for i in instants]
    return [
        instant
        for instant in in_its_minute
        if anchor <= instant < end and (after is None or instant > after)
    ]


# ------------------------------------------------------------------ strategies

zones = st.sampled_from(ZONES)
at_times = st.one_of(
    st.sampled_from(["00:00", "01:30", "02:00", "02:30", "09:00", "23:59"]),
    st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59)),
)
"""Local times of day, often one that DST skips or repeats in Paris or New York."""
DST_DAYS = [
    dt.date(2027, 3, 14),  # New York springs forward
    dt.date(2027, 3, 28),  # Paris springs forward
    dt.date(2027, 10, 31),  # Paris falls back
    dt.date(2027, 11, 7),  # New York falls back
    dt.date(2028, 3, 12),
    dt.date(2028, 3, 26),
    dt.date(2028, 10, 29),
    dt.date(2028, 11, 5),
]
"""Days a Paris or New York wall time is skipped or repeated."""
dst_days = st.sampled_from(DST_DAYS)
local_days = st.one_of(st.dates(dt.date(2025, 1, 1), dt.date(2030, 12, 31)), dst_days)
anchors = st.one_of(
    st.datetimes(
        min_value=dt.datetime(2025, 1, 1),
        max_value=dt.datetime(2029, 12, 31),
        timezones=st.just(UTC),
    ).map(pendulum.instance),
    st.builds(
        lambda day, back, minutes: utc(day.year, day.month, day.day).subtract(
            days=back, minutes=minutes
        ),
        dst_days,
        st.integers(0, 20),
        st.integers(0, 24 * 60 - 1),
    ),
)
"""Instants from 2025 to 2029, often a few weeks before a DST change."""
everies = st.integers(1, 4)
weekday_sets = st.lists(st.sampled_from(CODES), min_size=1, max_size=7, unique=True)


def structured_rules() -> st.SearchStrategy[Recurrence]:
    """Any daily, weekly or monthly rule (monthly days include 29-31)."""
    return st.one_of(
        st.builds(lambda at, n: Recurrence.daily(at=at, every=n), at_times, everies),
        st.builds(
            lambda days, at, n: Recurrence.weekly(days=days, at=at, every=n),
            weekday_sets,
            at_times,
            everies,
        ),
        st.builds(
            lambda day, at, n: Recurrence.monthly(day=day, at=at, every=n),
            st.integers(1, 31),
            at_times,
            everies,
        ),
    )


# ------------------------------------------------------------------ constructors


def test_daily_keeps_its_time_and_period() -> None:
    rule = Recurrence.daily(at="09:00")
    assert (rule.frequency, rule.at, rule.every) == (Frequency.DAILY, "09:00", 1)
    assert (rule.days, rule.day, rule.rule) == ((), None, None)
    assert Recurrence.daily(at="23:59", every=3).every == 3
    assert Recurrence.daily(at="00:00").at == "00:00"


def test_weekly_keeps_each_weekday_once_in_week_order() -> None:
    rule = Recurrence.weekly(days=["FR", Weekday.MO, "MO", "WE"], at="18:30", every=2)
    assert rule.frequency is Frequency.WEEKLY
    assert rule.days == (Weekday.MO, Weekday.WE, Weekday.FR)
    assert (rule.at, rule.every) == ("18:30", 2)


def test_monthly_accepts_every_day_from_1_to_31() -> None:
    assert Recurrence.monthly(day=1, at="08:00").day == 1
    rule = Recurrence.monthly(day=31, at="08:00", every=3)
    assert (rule.frequency, rule.day, rule.at, rule.every) == (Frequency.MONTHLY, 31, "08:00", 3)


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=9", "FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=9"),
        ("RRULE:FREQ=DAILY;INTERVAL=2", "FREQ=DAILY;INTERVAL=2"),
        ("  rrule:FREQ=DAILY\n", "FREQ=DAILY"),
        ("freq=daily", "freq=daily"),
    ],
)
def test_rrule_keeps_the_rule_without_prefix_or_blanks(text: str, kept: str) -> None:
    rule = Recurrence.rrule(text)
    assert (rule.frequency, rule.rule) == (Frequency.RRULE, kept)


def test_frequency_prints_as_its_name() -> None:
    assert str(Frequency.MONTHLY) == "MONTHLY"
    assert f"{Frequency.RRULE}" == "RRULE"


BAD_TIMES = ["24:00", "9:00", "09:60", "0900", "09:00:00", " 09:00", "", "ab:cd", "-1:00", "12h30"]
CONSTRUCTORS: dict[str, Callable[..., Recurrence]] = {
    "daily": Recurrence.daily,
    "weekly": lambda **kw: Recurrence.weekly(days=["MO"], **kw),
    "monthly": lambda **kw: Recurrence.monthly(day=1, **kw),
}


@pytest.mark.parametrize("kind", sorted(CONSTRUCTORS))
@pytest.mark.parametrize("at", BAD_TIMES)
def test_a_time_that_is_not_24_hour_hh_mm_is_refused(kind: str, at: str) -> None:
    problems = problems_of(lambda: CONSTRUCTORS[kind](at=at))
    assert problems == [f"recurrence time {at!r} must be HH:MM in 24-hour form, e.g. '09:00'"]


def test_a_time_with_a_trailing_newline_is_refused() -> None:
    problems = problems_of(lambda: Recurrence.daily(at="09:00\n"))
    assert "must be HH:MM" in problems[0]


@pytest.mark.parametrize("kind", sorted(CONSTRUCTORS))
@pytest.mark.parametrize("every", [0, -1, -7])
def test_a_period_below_one_is_refused(kind: str, every: int) -> None:
    problems = problems_of(lambda: CONSTRUCTORS[kind](at="09:00", every=every))
    assert problems == [f"recurrence every={every} must be at least 1"]


@pytest.mark.parametrize("day", ["XX", "mo", "Monday", "M"])
def test_weekly_refuses_an_unknown_weekday(day: str) -> None:
    problems = problems_of(lambda: Recurrence.weekly(days=["MO", day], at="09:00"))
    assert problems == [f"unknown weekday {day!r}; use MO TU WE TH FR SA SU"]


def test_weekly_lists_every_unknown_weekday_at_once() -> None:
    problems = problems_of(lambda: Recurrence.weekly(days=["XX", "MO", "YY"], at="09:00"))
    assert len(problems) == 2
    assert "'XX'" in problems[0]
    assert "'YY'" in problems[1]


def test_weekly_needs_at_least_one_weekday() -> None:
    problems = problems_of(lambda: Recurrence.weekly(days=[], at="09:00"))
    assert problems == ["a weekly recurrence needs at least one weekday"]


@pytest.mark.parametrize("day", [0, 32, -1, 100])
def test_monthly_refuses_a_day_outside_1_to_31(day: int) -> None:
    problems = problems_of(lambda: Recurrence.monthly(day=day, at="09:00"))
    assert problems == [f"monthly day {day} must be between 1 and 31"]


@pytest.mark.parametrize("text", ["", "   ", "BYDAY=MO,WE", "RRULE:", "DAILY"])
def test_rrule_without_freq_is_refused(text: str) -> None:
    problems = problems_of(lambda: Recurrence.rrule(text))
    assert problems == [f"RRULE {text!r} has no FREQ=...; e.g. 'FREQ=DAILY'"]


@pytest.mark.parametrize(
    "text",
    [
        "FREQ=SOMETIMES",
        "FREQ=DAILY;FOO=1",
        "FREQ=DAILY;BYHOUR=25",
        "FREQ=DAILY;INTERVAL=0",
        "FREQ=DAILY;INTERVAL=-1",
    ],
)
def test_rrule_refuses_a_malformed_rule_when_built(text: str) -> None:
    problems = problems_of(lambda: Recurrence.rrule(text))
    assert any("RRULE" in problem for problem in problems)


def test_rrule_with_its_own_dtstart_is_refused_as_conflicting_with_the_schedule() -> None:
    problems_of(lambda: Recurrence.rrule("DTSTART:20270101T090000\nRRULE:FREQ=DAILY"))


def test_rrule_until_in_utc_ends_the_occurrences() -> None:
    rule = Recurrence.rrule("FREQ=DAILY;BYHOUR=9;BYMINUTE=0;UNTIL=20270603T070000Z")
    found = list(occurrences(rule, zone="Europe/Paris", anchor=utc(2027, 6, 1, 6)))
    assert found == [utc(2027, 6, 1, 7), utc(2027, 6, 2, 7), utc(2027, 6, 3, 7)]


def test_rrule_until_in_local_time_ends_the_occurrences() -> None:
    rule = Recurrence.rrule("FREQ=DAILY;BYHOUR=9;BYMINUTE=0;UNTIL=20270603T090000")
    found = list(occurrences(rule, zone="Europe/Paris", anchor=utc(2027, 6, 1, 6)))
    assert found == [utc(2027, 6, 1, 7), utc(2027, 6, 2, 7), utc(2027, 6, 3, 7)]


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


# ------------------------------------------------------------------ properties


@PROPERTY
@given(
    rule=structured_rules(),
    zone=zones,
    anchor=anchors,
    window=st.integers(1, 400),
    after_offset=st.none() | st.integers(-30, 3 * 365),
)
def test_structured_rules_match_the_model(
    rule: Recurrence, zone: str, anchor: pendulum.DateTime, window: int, after_offset: int | None
) -> None:
    after = None if after_offset is None else anchor.add(days=after_offset, minutes=after_offset)
    end = max(anchor, after or anchor).add(days=window)
    found = list(occurrences(rule, zone=zone, anchor=anchor, after=after, end=end))
    assert found == model_occurrences(rule, zone, anchor, end, after)


@PROPERTY
@given(rule=structured_rules(), zone=zones, anchor=anchors, window=st.integers(1, 400))
def test_occurrences_increase_strictly_within_start_and_end(
    rule: Recurrence, zone: str, anchor: pendulum.DateTime, window: int
) -> None:
    end = anchor.add(days=window)
    found = list(occurrences(rule, zone=zone, anchor=anchor, end=end))
    assert all(earlier < later for earlier, later in itertools.pairwise(found))
    assert all(anchor <= instant < end for instant in found)
    assert all(instant.timezone_name == "UTC" for instant in found)


@PROPERTY
@given(rule=structured_rules(), zone=zones, anchor=anchors)
def test_each_occurrence_is_at_the_local_time_unless_dst_skips_it(
    rule: Recurrence, zone: str, anchor: pendulum.DateTime
) -> None:
    hour, minute = (int(part) for part in rule.at.split(":"))
    for instant in itertools.islice(occurrences(rule, zone=zone, anchor=anchor), 40):
        wall = instant.in_timezone(zone)
        if (wall.hour, wall.minute) != (hour, minute):
            # Only in the spring-forward gap: the time is moved forward by the gap.
            before, after = wall.subtract(hours=3).utcoffset(), wall.utcoffset()
            assert before is not None
            assert after is not None
            gap = after - before
            assert gap > dt.timedelta(0)
            slot = (wall.naive() - gap).replace(
                second=0, microsecond=0
            )  # the start may have seconds
            assert slot == dt.datetime.combine(wall.date(), dt.time(hour, minute))
        # the slot itself, or the start when the slot is in the start's own minute
        assert instant == max(model_instant(wall.date(), rule.at, zone), anchor)


@PROPERTY
@given(zone=zones, anchor=anchors, at=at_times, every=everies)
def test_daily_every_n_is_n_local_days_apart(
    zone: str, anchor: pendulum.DateTime, at: str, every: int
) -> None:
    rule = Recurrence.daily(at=at, every=every)
    found = list(itertools.islice(occurrences(rule, zone=zone, anchor=anchor), 30))
    dates = [instant.in_timezone(zone).date() for instant in found]
    assert all((later - earlier).days == every for earlier, later in itertools.pairwise(dates))
    assert 0 <= (dates[0] - anchor.in_timezone(zone).date()).days <= every


@PROPERTY
@given(zone=zones, anchor=anchors, at=at_times, every=everies, days=weekday_sets)
def test_weekly_fires_only_on_the_chosen_weekdays_of_every_nth_week(
    zone: str, anchor: pendulum.DateTime, at: str, every: int, days: list[str]
) -> None:
    rule = Recurrence.weekly(days=days, at=at, every=every)
    found = list(itertools.islice(occurrences(rule, zone=zone, anchor=anchor), 30))
    dates = [instant.in_timezone(zone).date() for instant in found]
    assert {CODES[date.weekday()] for date in dates} <= set(days)
    anchor_day = anchor.in_timezone(zone).date()
    anchor_monday = anchor_day - dt.timedelta(days=anchor_day.weekday())
    for date in dates:
        monday = date - dt.timedelta(days=date.weekday())
        assert (monday - anchor_monday).days % (7 * every) == 0
    if every == 1:
        assert {CODES[date.weekday()] for date in dates} == set(days)


@PROPERTY
@given(zone=zones, anchor=anchors, at=at_times, day=st.integers(1, 31), every=everies)
def test_monthly_fires_on_the_day_or_the_months_last_day(
    zone: str, anchor: pendulum.DateTime, at: str, day: int, every: int
) -> None:
    rule = Recurrence.monthly(day=day, at=at, every=every)
    found = list(itertools.islice(occurrences(rule, zone=zone, anchor=anchor), 24))
    dates = [instant.in_timezone(zone).date() for instant in found]
    for date in dates:
        assert date.day == min(day, calendar.monthrange(date.year, date.month)[1])
    months = [date.year * 12 + date.month for date in dates]
    assert all(later - earlier == every for earlier, later in itertools.pairwise(months))


@PROPERTY
@given(rule=structured_rules(), zone=zones, anchor=anchors, data=st.data())
def test_after_yields_only_the_occurrences_strictly_after_it(
    rule: Recurrence, zone: str, anchor: pendulum.DateTime, data: st.DataObject
) -> None:
    end = anchor.add(days=200)
    full = list(occurrences(rule, zone=zone, anchor=anchor, end=end))
    pick_an_occurrence = bool(full) and data.draw(st.booleans(), label="pick an occurrence")
    after = data.draw(st.sampled_from(full) if pick_an_occurrence else anchors, label="after")
    tail = list(occurrences(rule, zone=zone, anchor=anchor, after=after, end=end))
    assert tail == [instant for instant in full if instant > after]


def _rrule_time(at: str) -> str:
    hour, minute = (int(part) for part in at.split(":"))
    return f"BYHOUR={hour};BYMINUTE={minute}"


def _same(
    structured: Recurrence, text: str, zone: str, anchor: pendulum.DateTime, window: int
) -> tuple[list[pendulum.DateTime], list[pendulum.DateTime]]:
    end = anchor.add(days=window)
    by_rule = list(occurrences(Recurrence.rrule(text), zone=zone, anchor=anchor, end=end))
    by_fields = list(occurrences(structured, zone=zone, anchor=anchor, end=end))
    return by_rule, by_fields


@PROPERTY
@given(zone=zones, anchor=anchors, at=at_times, every=everies, window=st.integers(1, 400))
def test_daily_rrule_matches_the_daily_rule(
    zone: str, anchor: pendulum.DateTime, at: str, every: int, window: int
) -> None:
    text = f"FREQ=DAILY;INTERVAL={every};{_rrule_time(at)}"
    by_rule, by_fields = _same(Recurrence.daily(at=at, every=every), text, zone, anchor, window)
    assert by_rule == by_fields


@PROPERTY
@given(
    zone=zones,
    anchor=anchors,
    at=at_times,
    every=everies,
    days=weekday_sets,
)
def test_weekly_byday_rrule_matches_the_weekly_rule(
    zone: str, anchor: pendulum.DateTime, at: str, every: int, days: Sequence[str]
) -> None:
    text = f"RRULE:FREQ=WEEKLY;INTERVAL={every};BYDAY={','.join(days)};{_rrule_time(at)}"
    structured = Recurrence.weekly(days=days, at=at, every=every)
    by_rule, by_fields = _same(structured, text, zone, anchor, 200)
    assert by_rule == by_fields


@PROPERTY
@given(
    zone=zones,
    anchor=anchors,
    at=at_times,
    every=everies,
    day=st.integers(1, 28),
)
def test_monthly_bymonthday_rrule_matches_the_monthly_rule(
    zone: str, anchor: pendulum.DateTime, at: str, every: int, day: int
) -> None:
    text = f"FREQ=MONTHLY;INTERVAL={every};BYMONTHDAY={day};{_rrule_time(at)}"
    structured = Recurrence.monthly(day=day, at=at, every=every)
    by_rule, by_fields = _same(structured, text, zone, anchor, 800)
    assert by_rule == by_fields


def test_daily_rrule_every_2_days_at_9_matches_daily_every_2() -> None:
    anchor = local(2027, 3, 20, 10, zone="Europe/Paris")
    text = "FREQ=DAILY;INTERVAL=2;BYHOUR=9;BYMINUTE=0"
    by_rule, by_fields = _same(
        Recurrence.daily(at="09:00", every=2), text, "Europe/Paris", anchor, 20
    )
    assert by_rule == by_fields
    assert [i.in_timezone("Europe/Paris").naive() for i in by_rule[:3]] == [
        dt.datetime(2027, 3, 22, 9),
        dt.datetime(2027, 3, 24, 9),
        dt.datetime(2027, 3, 26, 9),
    ]


def test_rrule_without_a_time_fires_at_the_starts_local_time() -> None:
    anchor = local(2027, 6, 1, 10, 37, zone="Pacific/Honolulu")
    walls = take(Recurrence.rrule("FREQ=DAILY"), "Pacific/Honolulu", anchor, 3)
    assert walls == [dt.datetime(2027, 6, day, 10, 37) for day in (1, 2, 3)]


def test_rrule_with_count_is_finite_and_counts_from_the_start() -> None:
    rule = Recurrence.rrule("FREQ=DAILY;COUNT=3;BYHOUR=9;BYMINUTE=0")
    anchor = local(2027, 6, 1, 10, zone="Asia/Kolkata")
    walls = [
        i.in_timezone("Asia/Kolkata").naive()
        for i in occurrences(rule, zone="Asia/Kolkata", anchor=anchor)
    ]
    assert walls == [dt.datetime(2027, 6, day, 9) for day in (2, 3, 4)]


def test_rrule_wall_times_that_dst_folds_onto_one_instant_fire_once() -> None:
    # 02:30 does not exist on 2027-03-28 in Paris and becomes 03:30, already in the rule.
    rule = Recurrence.rrule("FREQ=DAILY;BYHOUR=2,3;BYMINUTE=30")
    found = list(
        occurrences(rule, zone="Europe/Paris", anchor=utc(2027, 3, 28), end=utc(2027, 3, 29))
    )
    assert [i.in_timezone("Europe/Paris").naive() for i in found] == [
        dt.datetime(2027, 3, 28, 3, 30)
    ]


def test_rrule_hourly_takes_the_first_instant_of_the_repeated_hour() -> None:
    rule = Recurrence.rrule("FREQ=HOURLY;BYMINUTE=30")
    found = list(
        occurrences(
            rule, zone="Europe/Paris", anchor=utc(2027, 10, 30, 23), end=utc(2027, 10, 31, 3)
        )
    )
    # 01:30 CEST, 02:30 CEST, (02:30 CET is the same wall time: not again), 03:30 CET.
    assert found == [utc(2027, 10, 30, 23, 30), utc(2027, 10, 31, 0, 30), utc(2027, 10, 31, 2, 30)]


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
