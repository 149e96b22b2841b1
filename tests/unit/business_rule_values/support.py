"""Shared helpers of the business-rule value tests: instants in UTC and in Paris, and reading
the problems of a validation error."""

from __future__ import annotations

import pendulum
import pytest
from hypothesis import strategies as st

import campaignkit as ck
from campaignkit.domain.rules import (
    QuietHours,
)
from campaignkit.domain.waves import (
    MAX_WAVES,
    MIN_WAVES,
    Waves,
)

W = ck.Weekday
PARIS = "Europe/Paris"
MINUTE = pendulum.duration(minutes=1)
HOUR = pendulum.duration(hours=1)
NIGHT = QuietHours(start="21:00", end="08:00")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, *, second: int = 0
) -> pendulum.DateTime:
    return pendulum.datetime(year, month, day, hour, minute, second, tz="UTC")


def paris(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> pendulum.DateTime:
    return pendulum.datetime(year, month, day, hour, minute, tz=PARIS)


NEED_HOURS = "quiet hours need start != end (hours), days (whole weekdays), or dates"


def problems_of(error: pytest.ExceptionInfo[ck.ValidationError]) -> list[str]:
    return error.value.problems


EVERY = pendulum.duration(hours=1)


percentage_parts = (
    st.integers(MIN_WAVES, MAX_WAVES)
    .flatmap(lambda n: st.lists(st.integers(1, 99), min_size=n - 1, max_size=n - 1, unique=True))
    .map(
        lambda cuts: [b - a for a, b in zip([0, *sorted(cuts)], [*sorted(cuts), 100], strict=True)]
    )
)
wave_sets = st.one_of(
    st.integers(MIN_WAVES, MAX_WAVES).map(lambda n: Waves.equal(count=n, every=EVERY)),
    percentage_parts.map(lambda parts: Waves.percentages(parts, every=EVERY)),
    st.lists(st.integers(1, 30), min_size=MIN_WAVES, max_size=MAX_WAVES).map(
        lambda parts: Waves.counts(parts, every=EVERY)
    ),
)
