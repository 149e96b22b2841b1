"""Helpers of the strict RRULE tests: instants in UTC and the problems of a validation
error."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable

import pendulum
import pytest
from dateutil import rrule as dateutil_rrule

from campaignkit import ValidationError


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> pendulum.DateTime:
    """A UTC instant."""
    return pendulum.datetime(year, month, day, hour, minute, tz="UTC")


def problems_of(call: Callable[[], object]) -> list[str]:
    """The problems of the ``ValidationError`` (exactly that class) ``call`` raises."""
    with pytest.raises(ValidationError) as caught:
        call()
    assert type(caught.value) is ValidationError
    return caught.value.problems


def _dateutil_instants(start: str, rule: str, n: int) -> list[pendulum.DateTime]:
    """What dateutil itself expands, as UTC instants (the schedule's zone is UTC)."""
    try:
        parsed = dateutil_rrule.rrulestr(rule, dtstart=dt.datetime.strptime(start, "%Y%m%dT%H%M%S"))
        walls = list(itertools.islice(parsed, n))
    except ValueError:  # dateutil finds the BYxxx times never reached from this start
        return []
    return [pendulum.instance(wall, tz="UTC") for wall in walls]
