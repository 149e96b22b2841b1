"""The ``Recurrence`` constructors (daily, weekly, monthly, RRULE) and the
``ValidationError`` each one raises for a bad value."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from campaignkit.domain.recurrence import (
    Frequency,
    Recurrence,
    Weekday,
    occurrences,
)
from tests.unit.recurrence.support import problems_of, utc

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
