"""Rules that never fire (accepted, without occurrences, found quickly), rare and edge
occurrences, no third-party warnings, and schedules refused at activation."""

from __future__ import annotations

import itertools
import time
import warnings

import pendulum
import pytest

from campaignkit.domain.recurrence import Recurrence, occurrences
from campaignkit.domain.schedule import Schedule
from campaignkit.domain.validation import occurrence_problems
from tests.unit.rrule_strict.support import _dateutil_instants, problems_of, utc

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
