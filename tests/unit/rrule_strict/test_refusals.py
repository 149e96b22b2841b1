"""Refused RRULEs: every RFC 5545 "MUST NOT" and out-of-range value, named by its part, also
when loaded from a document, all problems at once, and rules that are not strings or too
long."""

from __future__ import annotations

import pytest

from campaignkit.domain.recurrence import Frequency, Recurrence
from campaignkit.domain.rrules import MAX_RULE_LENGTH, parse_rule
from tests.unit.rrule_strict.support import problems_of

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
