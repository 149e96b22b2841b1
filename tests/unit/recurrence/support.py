"""Shared parts of the recurrence tests: zones, instant helpers, a brute-force model of the
occurrences of structured rules, and Hypothesis strategies for zones, times, days and rules."""

from __future__ import annotations

import calendar
import datetime as dt
import itertools
from collections.abc import Callable
from zoneinfo import ZoneInfo

import pendulum
import pytest
from hypothesis import settings
from hypothesis import strategies as st

from campaignkit import ValidationError
from campaignkit.domain.recurrence import (
    Frequency,
    Recurrence,
    Weekday,
    occurrences,
)

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
