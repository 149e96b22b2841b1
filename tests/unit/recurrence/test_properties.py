"""Properties of recurrence rules: structured rules match the model, occurrences increase
within bounds at the local time, every-N spacing and weekdays hold, and RRULE rules give the
same occurrences as the matching structured rules."""

from __future__ import annotations

import calendar
import datetime as dt
import itertools
from collections.abc import Sequence

import pendulum
from hypothesis import given
from hypothesis import strategies as st

from campaignkit.domain.recurrence import (
    Recurrence,
    occurrences,
)
from tests.unit.recurrence.support import (
    CODES,
    PROPERTY,
    anchors,
    at_times,
    everies,
    local,
    model_instant,
    model_occurrences,
    structured_rules,
    take,
    utc,
    weekday_sets,
    zones,
)

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
