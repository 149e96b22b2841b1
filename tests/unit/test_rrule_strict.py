"""Strict RRULEs: every RFC 5545 "MUST NOT" and out-of-range value refused, naming the part.

RFC 5545 section 3.3.10 (with its verified errata) is the reference:

- ``FREQ`` is required; ``UNTIL`` and ``COUNT`` must not both occur; no part
  may occur more than once;
- ranges: BYSECOND 0..60, BYMINUTE 0..59, BYHOUR 0..23, BYMONTHDAY ±1..31,
  BYYEARDAY ±1..366, BYWEEKNO ±1..53, BYMONTH 1..12, BYSETPOS ±1..366, a BYDAY
  position ±1..53; COUNT and INTERVAL positive;
- BYDAY must not have a position unless FREQ is MONTHLY or YEARLY, nor with
  YEARLY and BYWEEKNO; BYMONTHDAY must not be used with WEEKLY; BYYEARDAY not
  with DAILY, WEEKLY or MONTHLY; BYWEEKNO only with YEARLY; BYSETPOS only with
  another BYxxx part.

On top of the RFC, a BYDAY position within a month (MONTHLY, or YEARLY with
BYMONTH) beyond 5 is refused: it can never match.

The regression set is every single-RRULE case of python-dateutil's own test
suite (``tests/test_rrule.py``) that RFC 5545 allows: each stays accepted and
fires exactly where dateutil says. The cases that suite holds and the RFC
forbids (BYWEEKNO with DAILY, BYYEARDAY with MONTHLY, COUNT with UNTIL...) are
among the refusals below.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
import warnings
from collections.abc import Callable

import pendulum
import pytest
from dateutil import rrule as dateutil_rrule

from campaignkit import ValidationError
from campaignkit.domain.recurrence import Frequency, Recurrence, occurrences
from campaignkit.domain.rrules import MAX_RULE_LENGTH, parse_rule
from campaignkit.domain.schedule import Schedule
from campaignkit.domain.validation import occurrence_problems


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> pendulum.DateTime:
    """A UTC instant."""
    return pendulum.datetime(year, month, day, hour, minute, tz="UTC")


def problems_of(call: Callable[[], object]) -> list[str]:
    """The problems of the ``ValidationError`` (exactly that class) ``call`` raises."""
    with pytest.raises(ValidationError) as caught:
        call()
    assert type(caught.value) is ValidationError
    return caught.value.problems


# ------------------------------------------------------------------ refusals

REFUSED: dict[str, tuple[str, str]] = {
    # id: (rule, the one problem it has)
    "count-with-until": (
        "FREQ=DAILY;COUNT=3;UNTIL=20270105T090000Z",
        "RRULE: COUNT and UNTIL must not both be given (RFC 5545); keep one",
    ),
    "numeric-byday-daily": (
        "FREQ=DAILY;BYDAY=1MO",
        "RRULE: BYDAY=1MO has a position, which FREQ=DAILY must not have; "
        "use MO, or FREQ=MONTHLY or YEARLY",
    ),
    "numeric-byday-weekly": (
        "FREQ=WEEKLY;BYDAY=-1FR",
        "RRULE: BYDAY=-1FR has a position, which FREQ=WEEKLY must not have; "
        "use FR, or FREQ=MONTHLY or YEARLY",
    ),
    "numeric-byday-hourly": (
        "FREQ=HOURLY;BYDAY=+2TU",
        "RRULE: BYDAY=+2TU has a position, which FREQ=HOURLY must not have; "
        "use TU, or FREQ=MONTHLY or YEARLY",
    ),
    "numeric-byday-yearly-byweekno": (
        "FREQ=YEARLY;BYWEEKNO=20;BYDAY=1MO",
        "RRULE: BYDAY=1MO has a position, which must not be used with BYWEEKNO",
    ),
    "numeric-byday-monthly-6": (
        "FREQ=MONTHLY;BYDAY=6MO",
        "RRULE: BYDAY=6MO is out of range: a month has at most 5 of each weekday (1..5 or -5..-1)",
    ),
    "numeric-byday-yearly-bymonth-minus-6": (
        "FREQ=YEARLY;BYMONTH=3;BYDAY=-6SU",
        "RRULE: BYDAY=-6SU is out of range: a month has at most 5 of each weekday (1..5 or -5..-1)",
    ),
    "numeric-byday-54": (
        "FREQ=YEARLY;BYDAY=54MO",
        "RRULE: BYDAY=54MO is out of range: positions are 1..53 or -53..-1",
    ),
    "numeric-byday-0": (
        "FREQ=MONTHLY;BYDAY=0MO",
        "RRULE: BYDAY=0MO is out of range: positions are 1..53 or -53..-1",
    ),
    "byday-unknown": (
        "FREQ=WEEKLY;BYDAY=MO,XX",
        "RRULE: BYDAY=XX is not a weekday; use MO TU WE TH FR SA SU, "
        "optionally with a position such as 1MO or -1FR",
    ),
    "bymonthday-weekly": (
        "FREQ=WEEKLY;BYMONTHDAY=1",
        "RRULE: BYMONTHDAY must not be used with FREQ=WEEKLY; use BYDAY",
    ),
    "byyearday-daily": (
        "FREQ=DAILY;BYYEARDAY=100",
        "RRULE: BYYEARDAY must not be used with FREQ=DAILY; "
        "use it with YEARLY, HOURLY, MINUTELY or SECONDLY",
    ),
    "byyearday-weekly": (
        "FREQ=WEEKLY;BYYEARDAY=100",
        "RRULE: BYYEARDAY must not be used with FREQ=WEEKLY; "
        "use it with YEARLY, HOURLY, MINUTELY or SECONDLY",
    ),
    "byyearday-monthly": (
        "FREQ=MONTHLY;BYYEARDAY=100",
        "RRULE: BYYEARDAY must not be used with FREQ=MONTHLY; "
        "use it with YEARLY, HOURLY, MINUTELY or SECONDLY",
    ),
    "byweekno-monthly": (
        "FREQ=MONTHLY;BYWEEKNO=1",
        "RRULE: BYWEEKNO must only be used with FREQ=YEARLY, not FREQ=MONTHLY",
    ),
    "byweekno-daily": (
        "FREQ=DAILY;BYWEEKNO=1",
        "RRULE: BYWEEKNO must only be used with FREQ=YEARLY, not FREQ=DAILY",
    ),
    "bymonth-13": ("FREQ=YEARLY;BYMONTH=13", "RRULE: BYMONTH=13 is out of range 1..12"),
    "bymonth-0": ("FREQ=YEARLY;BYMONTH=0", "RRULE: BYMONTH=0 is out of range 1..12"),
    "bymonth-negative": (
        "FREQ=YEARLY;BYMONTH=-1",
        "RRULE: BYMONTH=-1 must be a whole number in 1..12 (several separated by commas)",
    ),
    "bymonthday-32": (
        "FREQ=MONTHLY;BYMONTHDAY=32",
        "RRULE: BYMONTHDAY=32 is out of range 1..31 or -31..-1",
    ),
    "bymonthday-0": (
        "FREQ=MONTHLY;BYMONTHDAY=0",
        "RRULE: BYMONTHDAY=0 is out of range 1..31 or -31..-1",
    ),
    "bymonthday-minus-32": (
        "FREQ=MONTHLY;BYMONTHDAY=-32",
        "RRULE: BYMONTHDAY=-32 is out of range 1..31 or -31..-1",
    ),
    "byyearday-367": (
        "FREQ=YEARLY;BYYEARDAY=367",
        "RRULE: BYYEARDAY=367 is out of range 1..366 or -366..-1",
    ),
    "byyearday-0": (
        "FREQ=YEARLY;BYYEARDAY=0",
        "RRULE: BYYEARDAY=0 is out of range 1..366 or -366..-1",
    ),
    "byweekno-54": (
        "FREQ=YEARLY;BYWEEKNO=54",
        "RRULE: BYWEEKNO=54 is out of range 1..53 or -53..-1",
    ),
    "byweekno-minus-54": (
        "FREQ=YEARLY;BYWEEKNO=-54",
        "RRULE: BYWEEKNO=-54 is out of range 1..53 or -53..-1",
    ),
    "byhour-24": ("FREQ=DAILY;BYHOUR=24", "RRULE: BYHOUR=24 is out of range 0..23"),
    "byminute-60": ("FREQ=DAILY;BYMINUTE=60", "RRULE: BYMINUTE=60 is out of range 0..59"),
    "bysecond-61": ("FREQ=DAILY;BYSECOND=61", "RRULE: BYSECOND=61 is out of range 0..60"),
    "bysetpos-367": (
        "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=367",
        "RRULE: BYSETPOS=367 is out of range 1..366 or -366..-1",
    ),
    "bysetpos-0": (
        "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=0",
        "RRULE: BYSETPOS=0 is out of range 1..366 or -366..-1",
    ),
    "bysetpos-alone": (
        "FREQ=MONTHLY;BYSETPOS=1",
        "RRULE: BYSETPOS must be used with another BYxxx part (such as BYDAY=MO,TU,WE,TH,FR)",
    ),
    "count-0": (
        "FREQ=DAILY;COUNT=0",
        "RRULE: COUNT=0 is not valid: COUNT must be at least 1 (a whole number)",
    ),
    "count-negative": (
        "FREQ=DAILY;COUNT=-2",
        "RRULE: COUNT=-2 is not valid: COUNT must be at least 1 (a whole number)",
    ),
    "count-not-a-number": (
        "FREQ=DAILY;COUNT=three",
        "RRULE: COUNT=THREE is not valid: COUNT must be at least 1 (a whole number)",
    ),
    "interval-0": (
        "FREQ=DAILY;INTERVAL=0",
        "RRULE: INTERVAL=0 is not valid: INTERVAL must be at least 1 (a whole number)",
    ),
    "interval-negative": (
        "FREQ=DAILY;INTERVAL=-1",
        "RRULE: INTERVAL=-1 is not valid: INTERVAL must be at least 1 (a whole number)",
    ),
    "duplicated-part": (
        "FREQ=WEEKLY;BYDAY=MO;BYDAY=TU",
        "RRULE: BYDAY is given more than once; give each part once",
    ),
    "duplicated-freq": (
        "FREQ=WEEKLY;FREQ=DAILY",
        "RRULE: FREQ is given more than once; give each part once",
    ),
    "unknown-part": (
        "FREQ=DAILY;FOO=1",
        "RRULE: unknown part FOO; RFC 5545 parts are FREQ, UNTIL, COUNT, INTERVAL, BYDAY, "
        "WKST, BYSECOND, BYMINUTE, BYHOUR, BYMONTHDAY, BYYEARDAY, BYWEEKNO, BYMONTH, BYSETPOS",
    ),
    "dateutil-byeaster": (
        "FREQ=YEARLY;BYEASTER=0",
        "RRULE: unknown part BYEASTER; RFC 5545 parts are FREQ, UNTIL, COUNT, INTERVAL, BYDAY, "
        "WKST, BYSECOND, BYMINUTE, BYHOUR, BYMONTHDAY, BYYEARDAY, BYWEEKNO, BYMONTH, BYSETPOS",
    ),
    "wkst-unknown": (
        "FREQ=WEEKLY;WKST=XX",
        "RRULE: WKST=XX is not a weekday; use one of MO TU WE TH FR SA SU",
    ),
    "wkst-numeric": (
        "FREQ=WEEKLY;WKST=1MO",
        "RRULE: WKST=1MO is not a weekday; use one of MO TU WE TH FR SA SU",
    ),
    "freq-unknown": (
        "FREQ=SOMETIMES",
        "RRULE: FREQ=SOMETIMES is not valid: "
        "use one of YEARLY, MONTHLY, WEEKLY, DAILY, HOURLY, MINUTELY, SECONDLY",
    ),
    "empty-value": ("FREQ=DAILY;BYHOUR=", "RRULE: BYHOUR has no value"),
    "not-name-value": (
        "FREQ=DAILY;BYHOUR",
        "RRULE: 'BYHOUR' is not a NAME=VALUE part; separate parts with one ';'",
    ),
    "trailing-semicolon": (
        "FREQ=DAILY;",
        "RRULE: '' is not a NAME=VALUE part; separate parts with one ';'",
    ),
    "until-date-only": (
        "FREQ=DAILY;UNTIL=20271224",
        "RRULE: UNTIL=20271224 must be a date-time such as 20271224T235959Z (UTC) "
        "or 20271224T235959 (the schedule's time zone)",
    ),
    "until-offset": (
        "FREQ=DAILY;UNTIL=20271224T090000+0100",
        "RRULE: UNTIL=20271224T090000+0100 must be a date-time such as 20271224T235959Z (UTC) "
        "or 20271224T235959 (the schedule's time zone)",
    ),
    "until-impossible-date": (
        "FREQ=DAILY;UNTIL=20270230T090000Z",
        "RRULE: UNTIL=20270230T090000Z is not a valid date-time",
    ),
    "huge-number": (
        "FREQ=DAILY;BYHOUR=" + "9" * 30,
        "RRULE: BYHOUR=" + "9" * 30 + " must be a whole number in 0..23 "
        "(several separated by commas)",
    ),
}


@pytest.mark.parametrize(("rule", "problem"), REFUSED.values(), ids=REFUSED.keys())
def test_each_forbidden_rule_is_refused_naming_its_part(rule: str, problem: str) -> None:
    assert problems_of(lambda: Recurrence.rrule(rule)) == [problem]


@pytest.mark.parametrize(("rule", "problem"), REFUSED.values(), ids=REFUSED.keys())
def test_a_forbidden_rule_loaded_from_a_document_is_refused_too(rule: str, problem: str) -> None:
    assert problems_of(lambda: Recurrence(Frequency.RRULE, rule=rule)) == [problem]


def test_every_problem_of_a_rule_is_listed_at_once() -> None:
    problems = problems_of(
        lambda: Recurrence.rrule("FREQ=WEEKLY;BYMONTH=13;COUNT=0;UNTIL=20270101T000000Z;BYDAY=1MO")
    )
    assert problems == [
        "RRULE: BYMONTH=13 is out of range 1..12",
        "RRULE: COUNT=0 is not valid: COUNT must be at least 1 (a whole number)",
        "RRULE: COUNT and UNTIL must not both be given (RFC 5545); keep one",
        "RRULE: BYDAY=1MO has a position, which FREQ=WEEKLY must not have; "
        "use MO, or FREQ=MONTHLY or YEARLY",
    ]


def test_a_rule_without_freq_is_refused_by_the_reader_too() -> None:
    assert problems_of(lambda: parse_rule("BYDAY=MO")) == [
        "RRULE: FREQ is missing; e.g. 'FREQ=DAILY'"
    ]
    assert problems_of(lambda: Recurrence.rrule("BYFREQ=DAILY")) == [
        "RRULE: unknown part BYFREQ; RFC 5545 parts are FREQ, UNTIL, COUNT, INTERVAL, BYDAY, "
        "WKST, BYSECOND, BYMINUTE, BYHOUR, BYMONTHDAY, BYYEARDAY, BYWEEKNO, BYMONTH, BYSETPOS",
        "RRULE: FREQ is missing; e.g. 'FREQ=DAILY'",
    ]


def test_lower_case_and_blanks_around_parts_are_read_like_upper_case() -> None:
    rule = Recurrence.rrule("freq=monthly; byday=-1fr ;byhour=9")
    assert rule.rule == "freq=monthly; byday=-1fr ;byhour=9"
    assert parse_rule("FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=9") == parse_rule(str(rule.rule))


@pytest.mark.parametrize(
    "rule",
    [5, None, b"FREQ=DAILY", ["FREQ=DAILY"]],
    ids=["int", "none", "bytes", "list"],
)
def test_a_rule_that_is_not_a_string_is_refused(rule: object) -> None:
    [problem] = problems_of(lambda: Recurrence.rrule(rule))  # type: ignore[arg-type]
    assert problem.startswith("rrule must be a string such as 'FREQ=DAILY', not ")


def test_a_rule_longer_than_the_limit_is_refused() -> None:
    rule = "FREQ=YEARLY;BYYEARDAY=" + ",".join(["1"] * MAX_RULE_LENGTH)
    assert problems_of(lambda: Recurrence.rrule(rule)) == [
        f"rrule is {len(rule)} characters long; the limit is {MAX_RULE_LENGTH}: shorten it"
    ]
    every_day = "FREQ=YEARLY;BYYEARDAY=" + ",".join(str(-d) for d in range(1, 367))
    assert len(every_day) <= MAX_RULE_LENGTH
    assert Recurrence.rrule(every_day).rule == every_day


def test_a_frequency_that_is_not_a_frequency_is_refused() -> None:
    [problem] = problems_of(lambda: Recurrence("DAILY"))  # type: ignore[arg-type]
    assert problem.startswith("recurrence frequency must be a Frequency (DAILY, WEEKLY, MONTHLY")


@pytest.mark.parametrize("days", ["MO", 5, None, {"MO": 1}], ids=["str", "int", "none", "dict"])
def test_weekly_days_must_be_a_list_of_codes(days: object) -> None:
    [problem] = problems_of(lambda: Recurrence.weekly(days=days, at="09:00"))  # type: ignore[arg-type]
    assert problem.startswith("weekly days must be a list of weekday codes such as ['MO'], not ")


# ------------------------------------------------------------------ what RFC 5545 allows

RFC_EXAMPLES = [
    # RFC 5545 section 3.8.5.3 examples, without their DTSTART
    "FREQ=DAILY;COUNT=10",
    "FREQ=DAILY;UNTIL=19971224T000000Z",
    "FREQ=DAILY;INTERVAL=2",
    "FREQ=DAILY;INTERVAL=10;COUNT=5",
    "FREQ=YEARLY;UNTIL=20000131T140000Z;BYMONTH=1;BYDAY=SU,MO,TU,WE,TH,FR,SA",
    "FREQ=DAILY;UNTIL=20000131T140000Z;BYMONTH=1",
    "FREQ=WEEKLY;COUNT=10",
    "FREQ=WEEKLY;UNTIL=19971224T000000Z",
    "FREQ=WEEKLY;INTERVAL=2;WKST=SU",
    "FREQ=WEEKLY;UNTIL=19971007T000000Z;WKST=SU;BYDAY=TU,TH",
    "FREQ=WEEKLY;INTERVAL=2;UNTIL=19971224T000000Z;WKST=SU;BYDAY=MO,WE,FR",
    "FREQ=MONTHLY;COUNT=10;BYDAY=1FR",
    "FREQ=MONTHLY;INTERVAL=2;COUNT=10;BYDAY=1SU,-1SU",
    "FREQ=MONTHLY;COUNT=6;BYDAY=-2MO",
    "FREQ=MONTHLY;BYMONTHDAY=-3",
    "FREQ=MONTHLY;COUNT=10;BYMONTHDAY=1,-1",
    "FREQ=MONTHLY;INTERVAL=18;COUNT=10;BYMONTHDAY=10,11,12,13,14,15",
    "FREQ=MONTHLY;INTERVAL=2;BYDAY=TU",
    "FREQ=YEARLY;COUNT=10;BYMONTH=6,7",
    "FREQ=YEARLY;INTERVAL=3;COUNT=10;BYYEARDAY=1,100,200",
    "FREQ=YEARLY;BYDAY=20MO",
    "FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO",
    "FREQ=YEARLY;BYMONTH=3;BYDAY=TH",
    "FREQ=YEARLY;BYDAY=TH;BYMONTH=6,7,8",
    "FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13",
    "FREQ=MONTHLY;BYDAY=SA;BYMONTHDAY=7,8,9,10,11,12,13",
    "FREQ=YEARLY;INTERVAL=4;BYMONTH=11;BYDAY=TU;BYMONTHDAY=2,3,4,5,6,7,8",
    "FREQ=MONTHLY;COUNT=3;BYDAY=TU,WE,TH;BYSETPOS=3",
    "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-2",
    "FREQ=HOURLY;INTERVAL=3;UNTIL=19970902T170000Z",
    "FREQ=MINUTELY;INTERVAL=15;COUNT=6",
    "FREQ=MINUTELY;INTERVAL=90;COUNT=4",
    "FREQ=DAILY;BYHOUR=9,10,11,12,13,14,15,16;BYMINUTE=0,20,40",
    "FREQ=MINUTELY;INTERVAL=20;BYHOUR=9,10,11,12,13,14,15,16",
    "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=MO",
    "FREQ=MONTHLY;BYMONTHDAY=15,30;COUNT=5",
    "FREQ=YEARLY;BYMONTH=1;BYDAY=+1MO,-1FR;BYSECOND=0,60",
]


@pytest.mark.parametrize("rule", RFC_EXAMPLES)
def test_the_rfc_5545_examples_are_accepted(rule: str) -> None:
    assert Recurrence.rrule(f"RRULE:{rule}").rule == rule


DATEUTIL_CASES = [
    # (DTSTART, RRULE) of every single-RRULE case in python-dateutil's tests/test_rrule.py
    # that RFC 5545 allows
    ("19830401T000000", "FREQ=YEARLY;COUNT=2;BYDAY=TH"),
    ("19910603T000000", "FREQ=WEEKLY;COUNT=4;BYDAY=FR"),
    ("19910614T000000", "FREQ=WEEKLY;INTERVAL=2;COUNT=2"),
    ("19940103T000000", "FREQ=MONTHLY;COUNT=3"),
    ("19970101T000000", "FREQ=YEARLY;COUNT=1"),
    ("19970101T000000", "FREQ=YEARLY;COUNT=1;BYMONTHDAY=5"),
    ("19970101T000000", "FREQ=YEARLY;COUNT=1;BYMONTHDAY=6"),
    ("19970101T000000", "FREQ=YEARLY;UNTIL=19990101T000000"),
    ("19970105T083000", "FREQ=YEARLY;INTERVAL=2"),
    ("19970901T000000", "FREQ=MONTHLY;BYDAY=+3MO"),
    ("19970902T000000", "FREQ=DAILY;COUNT=3"),
    ("19970902T000000", "FREQ=YEARLY;COUNT=2"),
    ("19970902T000000", "FREQ=YEARLY;COUNT=4;BYDAY=TU,TH"),
    ("19970902T090000", "FREQ=DAILY"),
    ("19970902T090000", "FREQ=DAILY;COUNT=15"),
    ("19970902T090000", "FREQ=DAILY;COUNT=3"),
    ("19970902T090000", "FREQ=DAILY;COUNT=3;BYDAY=TU,TH"),
    ("19970902T090000", "FREQ=DAILY;COUNT=3;BYHOUR=6,18"),
    ("19970902T090000", "FREQ=DAILY;COUNT=3;BYHOUR=6,18;BYMINUTE=6,18"),
    ("19970902T090000", "FREQ=DAILY;COUNT=3;BYHOUR=6,18;BYMINUTE=6,18;BYSECOND=6,18"),
    ("19970902T090000", "FREQ=DAILY;COUNT=3;BYHOUR=6,18;BYSECOND=6,18"),
    ("19970902T090000", "FREQ=DAILY;COUNT=3;BYMINUTE=6,18"),
    ("19970902T090000", "FREQ=DAILY;COUNT=3;BYMINUTE=6,18;BYSECOND=6,18"),
    ("19970902T090000", "FREQ=DAILY;COUNT=3;BYMONTH=1,3"),
    ("19970902T090000", "FREQ=DAILY;COUNT=3;BYMONTH=1,3;BYDAY=TU,TH"),
    ("19970902T090000", "FREQ=DAILY;COUNT=3;BYMONTH=1,3;BYMONTHDAY=1,3;BYDAY=TU,TH"),
    ("19970902T090000", "FREQ=DAILY;COUNT=3;BYMONTH=1,3;BYMONTHDAY=5,7"),
    ("19970902T090000", "FREQ=DAILY;COUNT=3;BYMONTHDAY=1,3"),
    ("19970902T090000", "FREQ=DAILY;COUNT=3;BYMONTHDAY=1,3;BYDAY=TU,TH"),
    ("19970902T090000", "FREQ=DAILY;COUNT=3;BYSECOND=6,18"),
    ("19970902T090000", "FREQ=DAILY;COUNT=3;BYSETPOS=3,-3;BYHOUR=6,18;BYMINUTE=15,45"),
    ("19970902T090000", "FREQ=DAILY;INTERVAL=2;COUNT=3"),
    ("19970902T090000", "FREQ=DAILY;INTERVAL=92;COUNT=3"),
    ("19970902T090000", "FREQ=DAILY;UNTIL=19970901T090000"),
    ("19970902T090000", "FREQ=DAILY;UNTIL=19970902T090000"),
    ("19970902T090000", "FREQ=DAILY;UNTIL=19970904T090000"),
    ("19970902T090000", "FREQ=DAILY;UNTIL=19970905T000000"),
    ("19970902T090000", "FREQ=DAILY;UNTIL=19970905T080000"),
    ("19970902T090000", "FREQ=HOURLY;COUNT=3"),
    ("19970902T090000", "FREQ=HOURLY;COUNT=3;BYDAY=TU,TH"),
    ("19970902T090000", "FREQ=HOURLY;COUNT=3;BYHOUR=6,18"),
    ("19970902T090000", "FREQ=HOURLY;COUNT=3;BYHOUR=6,18;BYMINUTE=6,18"),
    ("19970902T090000", "FREQ=HOURLY;COUNT=3;BYHOUR=6,18;BYMINUTE=6,18;BYSECOND=6,18"),
    ("19970902T090000", "FREQ=HOURLY;COUNT=3;BYHOUR=6,18;BYSECOND=6,18"),
    ("19970902T090000", "FREQ=HOURLY;COUNT=3;BYMINUTE=6,18"),
    ("19970902T090000", "FREQ=HOURLY;COUNT=3;BYMINUTE=6,18;BYSECOND=6,18"),
    ("19970902T090000", "FREQ=HOURLY;COUNT=3;BYMONTH=1,3"),
    ("19970902T090000", "FREQ=HOURLY;COUNT=3;BYMONTH=1,3;BYDAY=TU,TH"),
    ("19970902T090000", "FREQ=HOURLY;COUNT=3;BYMONTH=1,3;BYMONTHDAY=1,3;BYDAY=TU,TH"),
    ("19970902T090000", "FREQ=HOURLY;COUNT=3;BYMONTH=1,3;BYMONTHDAY=5,7"),
    ("19970902T090000", "FREQ=HOURLY;COUNT=3;BYMONTHDAY=1,3"),
    ("19970902T090000", "FREQ=HOURLY;COUNT=3;BYMONTHDAY=1,3;BYDAY=TU,TH"),
    ("19970902T090000", "FREQ=HOURLY;COUNT=3;BYSECOND=6,18"),
    ("19970902T090000", "FREQ=HOURLY;COUNT=3;BYSETPOS=3,-3;BYMINUTE=15,45;BYSECOND=15,45"),
    ("19970902T090000", "FREQ=HOURLY;COUNT=4;BYMONTH=4,7;BYYEARDAY=-365,-266,-166,-1"),
    ("19970902T090000", "FREQ=HOURLY;COUNT=4;BYMONTH=4,7;BYYEARDAY=1,100,200,365"),
    ("19970902T090000", "FREQ=HOURLY;COUNT=4;BYYEARDAY=-365,-266,-166,-1"),
    ("19970902T090000", "FREQ=HOURLY;COUNT=4;BYYEARDAY=1,100,200,365"),
    ("19970902T090000", "FREQ=HOURLY;INTERVAL=2;COUNT=3"),
    ("19970902T090000", "FREQ=HOURLY;INTERVAL=769;COUNT=3"),
    ("19970902T090000", "FREQ=MINUTELY;COUNT=3"),
    ("19970902T090000", "FREQ=MINUTELY;COUNT=3;BYDAY=TU,TH"),
    ("19970902T090000", "FREQ=MINUTELY;COUNT=3;BYHOUR=6,18"),
    ("19970902T090000", "FREQ=MINUTELY;COUNT=3;BYHOUR=6,18;BYMINUTE=6,18"),
    ("19970902T090000", "FREQ=MINUTELY;COUNT=3;BYHOUR=6,18;BYMINUTE=6,18;BYSECOND=6,18"),
    ("19970902T090000", "FREQ=MINUTELY;COUNT=3;BYHOUR=6,18;BYSECOND=6,18"),
    ("19970902T090000", "FREQ=MINUTELY;COUNT=3;BYMINUTE=6,18"),
    ("19970902T090000", "FREQ=MINUTELY;COUNT=3;BYMINUTE=6,18;BYSECOND=6,18"),
    ("19970902T090000", "FREQ=MINUTELY;COUNT=3;BYMONTH=1,3"),
    ("19970902T090000", "FREQ=MINUTELY;COUNT=3;BYMONTH=1,3;BYDAY=TU,TH"),
    ("19970902T090000", "FREQ=MINUTELY;COUNT=3;BYMONTH=1,3;BYMONTHDAY=1,3;BYDAY=TU,TH"),
    ("19970902T090000", "FREQ=MINUTELY;COUNT=3;BYMONTH=1,3;BYMONTHDAY=5,7"),
    ("19970902T090000", "FREQ=MINUTELY;COUNT=3;BYMONTHDAY=1,3"),
    ("19970902T090000", "FREQ=MINUTELY;COUNT=3;BYMONTHDAY=1,3;BYDAY=TU,TH"),
    ("19970902T090000", "FREQ=MINUTELY;COUNT=3;BYSECOND=6,18"),
    ("19970902T090000", "FREQ=MINUTELY;COUNT=3;BYSETPOS=3,-3;BYSECOND=15,30,45"),
    ("19970902T090000", "FREQ=MINUTELY;COUNT=4;BYMONTH=4,7;BYYEARDAY=-365,-266,-166,-1"),
    ("19970902T090000", "FREQ=MINUTELY;COUNT=4;BYMONTH=4,7;BYYEARDAY=1,100,200,365"),
    ("19970902T090000", "FREQ=MINUTELY;COUNT=4;BYYEARDAY=-365,-266,-166,-1"),
    ("19970902T090000", "FREQ=MINUTELY;COUNT=4;BYYEARDAY=1,100,200,365"),
    ("19970902T090000", "FREQ=MINUTELY;INTERVAL=120;COUNT=2;BYHOUR=10,12,14,16"),
    ("19970902T090000", "FREQ=MINUTELY;INTERVAL=1501;COUNT=3"),
    ("19970902T090000", "FREQ=MINUTELY;INTERVAL=2;COUNT=3"),
    ("19970902T090000", "FREQ=MONTHLY;COUNT=3"),
    ("19970902T090000", "FREQ=MONTHLY;COUNT=3;BYDAY=+1TU,-1TH"),
    ("19970902T090000", "FREQ=MONTHLY;COUNT=3;BYDAY=+3TU,-3TH"),
    ("19970902T090000", "FREQ=MONTHLY;COUNT=3;BYDAY=TU,TH"),
    ("19970902T090000", "FREQ=MONTHLY;COUNT=3;BYHOUR=6,18"),
    ("19970902T090000", "FREQ=MONTHLY;COUNT=3;BYHOUR=6,18;BYMINUTE=6,18"),
    ("19970902T090000", "FREQ=MONTHLY;COUNT=3;BYHOUR=6,18;BYMINUTE=6,18;BYSECOND=6,18"),
    ("19970902T090000", "FREQ=MONTHLY;COUNT=3;BYHOUR=6,18;BYSECOND=6,18"),
    ("19970902T090000", "FREQ=MONTHLY;COUNT=3;BYMINUTE=6,18"),
    ("19970902T090000", "FREQ=MONTHLY;COUNT=3;BYMINUTE=6,18;BYSECOND=6,18"),
    ("19970902T090000", "FREQ=MONTHLY;COUNT=3;BYMONTH=1,3"),
    ("19970902T090000", "FREQ=MONTHLY;COUNT=3;BYMONTH=1,3;BYDAY=+1TU,-1TH"),
    ("19970902T090000", "FREQ=MONTHLY;COUNT=3;BYMONTH=1,3;BYDAY=+3TU,-3TH"),
    ("19970902T090000", "FREQ=MONTHLY;COUNT=3;BYMONTH=1,3;BYDAY=TU,TH"),
    ("19970902T090000", "FREQ=MONTHLY;COUNT=3;BYMONTH=1,3;BYMONTHDAY=1,3;BYDAY=TU,TH"),
    ("19970902T090000", "FREQ=MONTHLY;COUNT=3;BYMONTH=1,3;BYMONTHDAY=5,7"),
    ("19970902T090000", "FREQ=MONTHLY;COUNT=3;BYMONTHDAY=1,3"),
    ("19970902T090000", "FREQ=MONTHLY;COUNT=3;BYMONTHDAY=1,3;BYDAY=TU,TH"),
    ("19970902T090000", "FREQ=MONTHLY;COUNT=3;BYSECOND=6,18"),
    ("19970902T090000", "FREQ=MONTHLY;COUNT=3;BYSETPOS=3,-3;BYMONTHDAY=13,17;BYHOUR=6,18"),
    ("19970902T090000", "FREQ=MONTHLY;INTERVAL=18;COUNT=3"),
    ("19970902T090000", "FREQ=MONTHLY;INTERVAL=2;COUNT=3"),
    ("19970902T090000", "FREQ=SECONDLY;COUNT=3"),
    ("19970902T090000", "FREQ=SECONDLY;COUNT=3;BYDAY=TU,TH"),
    ("19970902T090000", "FREQ=SECONDLY;COUNT=3;BYHOUR=6,18"),
    ("19970902T090000", "FREQ=SECONDLY;COUNT=3;BYHOUR=6,18;BYMINUTE=6,18"),
    ("19970902T090000", "FREQ=SECONDLY;COUNT=3;BYHOUR=6,18;BYMINUTE=6,18;BYSECOND=6,18"),
    ("19970902T090000", "FREQ=SECONDLY;COUNT=3;BYHOUR=6,18;BYSECOND=6,18"),
    ("19970902T090000", "FREQ=SECONDLY;COUNT=3;BYMINUTE=6,18"),
    ("19970902T090000", "FREQ=SECONDLY;COUNT=3;BYMINUTE=6,18;BYSECOND=6,18"),
    ("19970902T090000", "FREQ=SECONDLY;COUNT=3;BYMONTH=1,3"),
    ("19970902T090000", "FREQ=SECONDLY;COUNT=3;BYMONTH=1,3;BYDAY=TU,TH"),
    ("19970902T090000", "FREQ=SECONDLY;COUNT=3;BYMONTH=1,3;BYMONTHDAY=1,3;BYDAY=TU,TH"),
    ("19970902T090000", "FREQ=SECONDLY;COUNT=3;BYMONTH=1,3;BYMONTHDAY=5,7"),
    ("19970902T090000", "FREQ=SECONDLY;COUNT=3;BYMONTHDAY=1,3"),
    ("19970902T090000", "FREQ=SECONDLY;COUNT=3;BYMONTHDAY=1,3;BYDAY=TU,TH"),
    ("19970902T090000", "FREQ=SECONDLY;COUNT=3;BYSECOND=6,18"),
    ("19970902T090000", "FREQ=SECONDLY;COUNT=4;BYMONTH=4,7;BYYEARDAY=-365,-266,-166,-1"),
    ("19970902T090000", "FREQ=SECONDLY;COUNT=4;BYMONTH=4,7;BYYEARDAY=1,100,200,365"),
    ("19970902T090000", "FREQ=SECONDLY;COUNT=4;BYYEARDAY=-365,-266,-166,-1"),
    ("19970902T090000", "FREQ=SECONDLY;COUNT=4;BYYEARDAY=1,100,200,365"),
    ("19970902T090000", "FREQ=SECONDLY;INTERVAL=2;COUNT=3"),
    ("19970902T090000", "FREQ=SECONDLY;INTERVAL=360;COUNT=4;BYMINUTE=10,28,49"),
    ("19970902T090000", "FREQ=SECONDLY;INTERVAL=43200;COUNT=4;BYHOUR=2,10,18,23"),
    ("19970902T090000", "FREQ=SECONDLY;INTERVAL=90061;COUNT=3"),
    ("19970902T090000", "FREQ=WEEKLY;COUNT=3"),
    ("19970902T090000", "FREQ=WEEKLY;COUNT=3;BYDAY=TU,TH"),
    ("19970902T090000", "FREQ=WEEKLY;COUNT=3;BYHOUR=6,18"),
    ("19970902T090000", "FREQ=WEEKLY;COUNT=3;BYHOUR=6,18;BYMINUTE=6,18"),
    ("19970902T090000", "FREQ=WEEKLY;COUNT=3;BYHOUR=6,18;BYMINUTE=6,18;BYSECOND=6,18"),
    ("19970902T090000", "FREQ=WEEKLY;COUNT=3;BYHOUR=6,18;BYSECOND=6,18"),
    ("19970902T090000", "FREQ=WEEKLY;COUNT=3;BYMINUTE=6,18"),
    ("19970902T090000", "FREQ=WEEKLY;COUNT=3;BYMINUTE=6,18;BYSECOND=6,18"),
    ("19970902T090000", "FREQ=WEEKLY;COUNT=3;BYMONTH=1,3"),
    ("19970902T090000", "FREQ=WEEKLY;COUNT=3;BYMONTH=1,3;BYDAY=TU,TH"),
    ("19970902T090000", "FREQ=WEEKLY;COUNT=3;BYSECOND=6,18"),
    ("19970902T090000", "FREQ=WEEKLY;COUNT=3;BYSETPOS=3,-3;BYDAY=TU,TH;BYHOUR=6,18"),
    ("19970902T090000", "FREQ=WEEKLY;INTERVAL=20;COUNT=3"),
    ("19970902T090000", "FREQ=WEEKLY;INTERVAL=2;COUNT=3"),
    ("19970902T090000", "FREQ=WEEKLY;INTERVAL=2;COUNT=3;BYDAY=TU,SU"),
    ("19970902T090000", "FREQ=WEEKLY;INTERVAL=2;WKST=SU;COUNT=3;BYDAY=TU,SU"),
    ("19970902T090000", "FREQ=WEEKLY;WKST=SU;COUNT=3"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=1;BYDAY=TH"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=1;BYDAY=TU"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=2"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=2;BYDAY=TU"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=3"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=3;BYDAY=+1TU,-1TH"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=3;BYDAY=+3TU,-3TH"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=3;BYDAY=TH"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=3;BYDAY=TU,TH"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=3;BYHOUR=6,18"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=3;BYHOUR=6,18;BYMINUTE=6,18"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=3;BYHOUR=6,18;BYMINUTE=6,18;BYSECOND=6,18"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=3;BYHOUR=6,18;BYSECOND=6,18"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=3;BYMINUTE=6,18"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=3;BYMINUTE=6,18;BYSECOND=6,18"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=3;BYMONTH=1,3"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=3;BYMONTH=1,3;BYDAY=+1TU,-1TH"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=3;BYMONTH=1,3;BYDAY=+3TU,-3TH"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=3;BYMONTH=1,3;BYDAY=TU,TH"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=3;BYMONTH=1,3;BYMONTHDAY=1,3;BYDAY=TU,TH"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=3;BYMONTH=1,3;BYMONTHDAY=5,7"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=3;BYMONTHDAY=1,3"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=3;BYMONTHDAY=1,3;BYDAY=TU,TH"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=3;BYSECOND=6,18"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=3;BYSETPOS=3,-3;BYMONTHDAY=15;BYHOUR=6,18"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=3;BYWEEKNO=-1;BYDAY=SU"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=3;BYWEEKNO=1;BYDAY=MO"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=3;BYWEEKNO=20"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=3;BYWEEKNO=52;BYDAY=SU"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=3;BYWEEKNO=53;BYDAY=MO"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=4;BYDAY=TU,TH"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=4;BYMONTH=4,7;BYYEARDAY=-365,-266,-166,-1"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=4;BYMONTH=4,7;BYYEARDAY=1,100,200,365"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=4;BYYEARDAY=-365,-266,-166,-1"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=4;BYYEARDAY=1,100,200,365"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=5"),
    ("19970902T090000", "FREQ=YEARLY;COUNT=6;BYDAY=TU,TH"),
    ("19970902T090000", "FREQ=YEARLY;INTERVAL=100;COUNT=3"),
    ("19970902T090000", "FREQ=YEARLY;INTERVAL=2;COUNT=3"),
    (
        "19970902T090000",
        "FREQ=YEARLY;INTERVAL=3;COUNT=3;BYMONTH=3;BYMONTHDAY=3;BYDAY=TH;BYHOUR=3;BYMINUTE=3;BYSECOND=3",
    ),
    ("19970902T090000", "FREQ=YEARLY;UNTIL=19990101T000000;BYDAY=+1TU,-1TH"),
    ("20040101T090000", "FREQ=MONTHLY;COUNT=5;BYMONTHDAY=10"),
    ("20100322T120100", "FREQ=SECONDLY;COUNT=3;BYMINUTE=1;BYSECOND=0"),
    ("99970902T090000", "FREQ=YEARLY;COUNT=3;BYMONTH=2;BYMONTHDAY=31"),
]


def _dateutil_instants(start: str, rule: str, n: int) -> list[pendulum.DateTime]:
    """What dateutil itself expands, as UTC instants (the schedule's zone is UTC)."""
    try:
        parsed = dateutil_rrule.rrulestr(rule, dtstart=dt.datetime.strptime(start, "%Y%m%dT%H%M%S"))
        walls = list(itertools.islice(parsed, n))
    except ValueError:  # dateutil finds the BYxxx times never reached from this start
        return []
    return [pendulum.instance(wall, tz="UTC") for wall in walls]


@pytest.mark.parametrize(("start", "rule"), DATEUTIL_CASES)
def test_dateutils_own_valid_cases_stay_accepted_and_fire_where_dateutil_says(
    start: str, rule: str
) -> None:
    recurrence = Recurrence.rrule(rule)
    anchor = pendulum.instance(dt.datetime.strptime(start, "%Y%m%dT%H%M%S"), tz="UTC")
    found = list(itertools.islice(occurrences(recurrence, zone="UTC", anchor=anchor), 12))
    assert found == _dateutil_instants(start, rule, 12)


# ------------------------------------------------------------------ never fires, no warnings

NEVER = [
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
    "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
    "FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30",
    "FREQ=MONTHLY;BYMONTHDAY=31;BYMONTH=4,6,9,11",
    "FREQ=HOURLY;INTERVAL=2;BYHOUR=1",  # from an even hour, dateutil finds no hour at all
    "FREQ=MINUTELY;BYSECOND=60",  # a leap second, which Python time never has
    "FREQ=DAILY;UNTIL=20270101T000000Z",  # ends before the start
]


@pytest.mark.parametrize("rule", NEVER)
def test_a_rule_that_never_fires_is_accepted_but_has_no_occurrence_and_ends_quickly(
    rule: str,
) -> None:
    recurrence = Recurrence.rrule(rule)  # well formed: a draft may hold it
    began = time.perf_counter()
    assert list(occurrences(recurrence, zone="Europe/Paris", anchor=utc(2027, 6, 1, 10))) == []
    # found at once, not by walking dateutil's calendar to the year 9999 (13 s for SECONDLY)
    assert time.perf_counter() - began < 5


def test_an_interval_of_whole_weeks_keeps_the_starts_weekday() -> None:
    tuesdays = Recurrence.rrule("FREQ=DAILY;INTERVAL=7;BYDAY=TU")
    monday, tuesday = utc(2027, 5, 31, 9), utc(2027, 6, 1, 9)
    assert list(occurrences(tuesdays, zone="UTC", anchor=monday)) == []  # only Mondays visited
    assert list(itertools.islice(occurrences(tuesdays, zone="UTC", anchor=tuesday), 2)) == [
        tuesday,
        tuesday.add(weeks=1),
    ]
    weekly_in_hours = Recurrence.rrule("FREQ=HOURLY;INTERVAL=168;BYDAY=TU")
    assert list(occurrences(weekly_in_hours, zone="UTC", anchor=monday)) == []


def test_a_leap_second_is_ignored_beside_other_seconds() -> None:
    rule = Recurrence.rrule("FREQ=MINUTELY;BYSECOND=0,60;COUNT=2")
    assert list(occurrences(rule, zone="UTC", anchor=utc(2027, 6, 1, 9))) == [
        utc(2027, 6, 1, 9),
        utc(2027, 6, 1, 9, 1),
    ]


def test_a_rule_that_fires_rarely_still_fires() -> None:
    every_400_years = Recurrence.rrule("FREQ=YEARLY;INTERVAL=400")
    anchor = utc(2027, 6, 1, 9)
    found = list(occurrences(every_400_years, zone="UTC", anchor=anchor, end=utc(2900, 1, 1)))
    assert found == [anchor, anchor.add(years=400), anchor.add(years=800)]
    leap_day_on_a_monday = Recurrence.rrule("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO")
    assert next(occurrences(leap_day_on_a_monday, zone="UTC", anchor=anchor)) == utc(2044, 2, 29, 9)


def test_occurrences_near_the_year_9999_end_there() -> None:
    anchor = pendulum.datetime(9999, 12, 29, 9, tz="UTC")
    found = list(occurrences(Recurrence.rrule("FREQ=DAILY"), zone="UTC", anchor=anchor))
    assert [instant.day for instant in found] == [29, 30, 31]


def test_an_until_in_utc_is_read_in_the_schedules_zone() -> None:
    # 07:00 UTC is 09:00 in Paris in June: the 09:00 occurrence of 3 June is the last
    rule = Recurrence.rrule("FREQ=DAILY;BYHOUR=9;BYMINUTE=0;UNTIL=20270603T070000Z")
    found = list(occurrences(rule, zone="Europe/Paris", anchor=utc(2027, 6, 1, 6)))
    assert found == [utc(2027, 6, 1, 7), utc(2027, 6, 2, 7), utc(2027, 6, 3, 7)]


WARNED_BEFORE = [
    "FREQ=DAILY;BYHOUR=9;UNTIL=20270603T070000Z",
    "FREQ=DAILY;COUNT=3;BYHOUR=9",
    "FREQ=WEEKLY;BYDAY=MO,WE;UNTIL=20270701T000000",
    "FREQ=MONTHLY;BYDAY=-1FR;COUNT=2",
]


@pytest.mark.parametrize("rule", WARNED_BEFORE)
def test_no_third_party_warning_reaches_the_caller(rule: str) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recurrence = Recurrence.rrule(rule)
        schedule = Schedule(
            start=utc(2027, 6, 1, 6),
            end=utc(2027, 8, 1),
            timezone="Europe/Paris",
            recurrence=recurrence,
        )
        assert list(schedule.occurrences())
        assert list(occurrences(recurrence, zone="Asia/Tokyo", anchor=utc(2027, 6, 1)))
    assert caught == []


# ------------------------------------------------------------------ refused at activation

NOW = utc(2027, 6, 1, 12)


def test_a_schedule_that_never_fires_is_an_activation_problem() -> None:
    schedule = Schedule(recurrence=Recurrence.rrule("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"))
    assert occurrence_problems(schedule, now=NOW, anchor=NOW) == [
        f"schedule recurrence never fires: it has no occurrence from {NOW.isoformat()}; "
        "check the rule (BYMONTH=2;BYMONTHDAY=30, for example, names a day that does not exist)"
    ]


def test_an_end_before_the_first_occurrence_is_an_activation_problem() -> None:
    end = NOW.add(hours=6)
    schedule = Schedule(end=end, recurrence=Recurrence.daily(at="09:00"))  # 09:00 UTC has passed
    assert occurrence_problems(schedule, now=NOW, anchor=NOW) == [
        f"schedule recurrence has no occurrence between {NOW.isoformat()} and its end "
        f"{end.isoformat()}: move the end later or change the rule"
    ]
    start = NOW.add(days=1)
    later = Schedule(start=start, end=start.add(hours=1), recurrence=Recurrence.daily(at="09:00"))
    [problem] = occurrence_problems(later, now=NOW, anchor=NOW)
    assert problem.startswith(f"schedule recurrence has no occurrence between {start.isoformat()}")


def test_a_count_used_up_before_now_leaves_no_occurrence() -> None:
    schedule = Schedule(recurrence=Recurrence.rrule("FREQ=DAILY;COUNT=2"))
    activated = NOW.subtract(days=5)
    [problem] = occurrence_problems(schedule, now=NOW, anchor=activated)
    assert problem.startswith("schedule recurrence never fires")
    assert occurrence_problems(schedule, now=NOW.subtract(days=4), anchor=activated) == []


@pytest.mark.parametrize(
    "schedule",
    [
        Schedule(),
        Schedule(start=NOW.add(days=1)),
        Schedule(recurrence=Recurrence.daily(at="09:00")),
        Schedule(start=NOW, end=NOW.add(days=2), recurrence=Recurrence.rrule("FREQ=DAILY")),
        Schedule(end=NOW.subtract(days=1), recurrence=Recurrence.daily(at="09:00")),
        Schedule(
            start=NOW.add(days=2), end=NOW.add(days=1), recurrence=Recurrence.daily(at="09:00")
        ),
    ],
    ids=["one-shot", "one-shot-later", "daily", "rrule", "end-past", "end-before-start"],
)
def test_a_schedule_that_fires_or_has_its_end_reported_elsewhere_has_no_occurrence_problem(
    schedule: Schedule,
) -> None:
    assert occurrence_problems(schedule, now=NOW, anchor=NOW) == []


DEEP: list[object] = []
for _ in range(5000):
    DEEP = [DEEP]


@pytest.mark.parametrize(
    "junk", [None, "1", 1.5, True, DEEP], ids=["none", "str", "float", "bool", "deep"]
)
def test_structured_rules_refuse_values_of_the_wrong_type_without_repr_trouble(
    junk: object,
) -> None:
    [every] = problems_of(lambda: Recurrence.daily(at="09:00", every=junk))  # type: ignore[arg-type]
    assert every.startswith("recurrence every must be a whole number of at least 1, not ")
    [day] = problems_of(lambda: Recurrence.monthly(day=junk, at="09:00"))  # type: ignore[arg-type]
    assert day.startswith("monthly day must be a whole number between 1 and 31, not ")
    [weekday] = problems_of(lambda: Recurrence.weekly(days=["MO", junk], at="09:00"))  # type: ignore[list-item]
    assert weekday.startswith("a weekday must be a code such as 'MO', not ") or junk == "1"
    if not isinstance(junk, str):
        [at] = problems_of(lambda: Recurrence.daily(at=junk))  # type: ignore[arg-type]
        assert at.startswith("recurrence time must be HH:MM in 24-hour form, e.g. '09:00', not ")


@pytest.mark.parametrize(
    ("rule", "start", "fires"),
    [
        ("FREQ=YEARLY;BYMONTH=2", utc(2027, 1, 31, 9), False),  # 31 February, from the start
        ("FREQ=YEARLY;BYMONTH=2", utc(2027, 1, 15, 9), True),
        ("FREQ=YEARLY;BYMONTH=4;BYMONTHDAY=31", utc(2027, 1, 1, 9), False),
        ("FREQ=YEARLY;BYYEARDAY=366;BYMONTH=1", utc(2027, 1, 1, 9), False),
        ("FREQ=YEARLY;BYYEARDAY=366", utc(2027, 1, 1, 9), True),  # 31 December of leap years
        ("FREQ=MONTHLY;BYMONTHDAY=30;BYMONTH=2", utc(2027, 1, 1, 9), False),
        ("FREQ=MONTHLY;INTERVAL=12;BYMONTHDAY=30", utc(2027, 2, 1, 9), False),  # Februaries only
        ("FREQ=MONTHLY;INTERVAL=12;BYMONTHDAY=30", utc(2027, 3, 1, 9), True),
        ("FREQ=MONTHLY;INTERVAL=6;BYMONTH=5", utc(2027, 3, 1, 9), False),  # March, September
        ("FREQ=MONTHLY", utc(2027, 1, 31, 9), True),  # the months that have a 31st
        ("FREQ=MONTHLY;BYDAY=1FR;BYMONTHDAY=1,2,3,4,5,6,7", utc(2027, 1, 1, 9), True),
        ("FREQ=DAILY;BYHOUR=9;BYSETPOS=2", utc(2027, 1, 1, 9), False),
        ("FREQ=DAILY;BYHOUR=9,18;BYSETPOS=2", utc(2027, 1, 1, 9), True),
        ("FREQ=HOURLY;BYMINUTE=0,30;BYSETPOS=-3", utc(2027, 1, 1, 9), False),
        ("FREQ=MINUTELY;BYSECOND=0;BYSETPOS=1", utc(2027, 1, 1, 9), True),
        ("FREQ=SECONDLY;BYMONTH=1;BYSETPOS=2", utc(2027, 1, 1, 9), False),
        ("FREQ=WEEKLY;BYMONTH=2;BYSETPOS=2", utc(2027, 1, 1, 9), False),  # one day a week
        ("FREQ=WEEKLY;BYDAY=MO,TU;BYSETPOS=-2", utc(2027, 1, 1, 9), True),
        ("FREQ=MONTHLY;BYDAY=MO;BYSETPOS=5", utc(2027, 1, 1, 9), True),
    ],
)
def test_rules_that_never_fire_are_found_without_dateutils_walk(
    rule: str, start: pendulum.DateTime, fires: bool
) -> None:
    began = time.perf_counter()
    first = next(occurrences(Recurrence.rrule(rule), zone="UTC", anchor=start), None)
    assert (first is not None) is fires
    assert time.perf_counter() - began < 0.3
    if first is not None:  # and where dateutil says
        assert first == _dateutil_instants(start.format("YYYYMMDDTHHmmss"), rule, 1)[0]
