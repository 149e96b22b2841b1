"""Business-rule values (SPEC section 5): quiet hours, frequency caps, zones and waves.

Pure tests of ``campaignkit.domain.rules`` and ``campaignkit.domain.waves``:
validation says what is wrong, quiet hours release at the first minute that is
not quiet (in the rule's or the recipient's zone), recipient zones fall back
to the campaign's, and waves place every profile in at most one wave without
overfilling any.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import campaignkit as ck
from campaignkit.domain.rules import (
    PROFILE_ZONE,
    BusinessRules,
    FrequencyCap,
    QuietHours,
    RuleBook,
    Zone,
    quiet_until,
    recipient_zone,
    zone_of,
)
from campaignkit.domain.waves import (
    MAX_WAVES,
    MIN_SPACING,
    MIN_WAVES,
    Waves,
    WaveSizing,
    assign_wave,
    preferred_wave,
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


# ================================================================ QuietHours: validation


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        (
            {"start": "9:00", "end": "08:00"},
            ["quiet hours start '9:00' must be HH:MM, e.g. '21:00'"],
        ),
        (
            {"start": "21:00", "end": "24:00"},
            ["quiet hours end '24:00' must be HH:MM, e.g. '21:00'"],
        ),
        (
            {"start": "21:60", "end": "08:00"},
            ["quiet hours start '21:60' must be HH:MM, e.g. '21:00'"],
        ),
        (
            {"start": "21h00", "end": "08:00"},
            ["quiet hours start '21h00' must be HH:MM, e.g. '21:00'"],
        ),
        ({"start": "", "end": "08:00"}, ["quiet hours start '' must be HH:MM, e.g. '21:00'"]),
        (
            {"start": "21:00:00", "end": "8"},
            [
                "quiet hours start '21:00:00' must be HH:MM, e.g. '21:00'",
                "quiet hours end '8' must be HH:MM, e.g. '21:00'",
            ],
        ),
        ({}, [NEED_HOURS]),
        ({"start": "10:00", "end": "10:00"}, [NEED_HOURS]),
        (
            {"start": "21:00", "end": "08:00", "mode": "later"},
            ["quiet hours mode 'later' must be 'queue' or 'discard'"],
        ),
    ],
)
def test_quiet_hours_refuse_bad_times_modes_and_empty_rules(
    kwargs: dict[str, object], expected: list[str]
) -> None:
    with pytest.raises(ck.ValidationError) as error:
        QuietHours(**kwargs)  # type: ignore[arg-type]
    assert problems_of(error) == expected


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "+05:30", "paris"])
def test_quiet_hours_refuse_an_unknown_fixed_zone(zone: str) -> None:
    with pytest.raises(ck.ValidationError) as error:
        QuietHours(start="21:00", end="08:00", timezone=zone)
    (problem,) = problems_of(error)
    assert problem.startswith(f"unknown time zone {zone!r}")
    assert "IANA" in problem


def test_quiet_hours_list_every_problem_at_once() -> None:
    with pytest.raises(ck.ValidationError) as error:
        QuietHours(start="25:00", end="8:00", timezone="Nowhere/City", mode="drop")  # type: ignore[arg-type]
    assert len(problems_of(error)) == 4
    assert "4 problems" in str(error.value)


def test_quiet_hours_defaults_are_profile_zone_and_queue() -> None:
    rule = QuietHours(start="21:00", end="08:00")
    assert (rule.timezone, rule.mode, rule.days, rule.dates) == (PROFILE_ZONE, "queue", (), ())
    assert PROFILE_ZONE == "profile"


def test_quiet_hours_with_only_dates_are_valid() -> None:
    rule = QuietHours(dates=(dt.date(2026, 12, 25),))
    assert rule.quiet_until(utc(2026, 12, 25, 12), "UTC") == utc(2026, 12, 26)
    assert rule.quiet_until(utc(2026, 12, 24, 12), "UTC") is None


def test_quiet_hours_accept_valid_iana_zones_and_both_modes() -> None:
    for zone in ("UTC", PARIS, "Pacific/Kiritimati", PROFILE_ZONE):
        assert QuietHours(start="21:00", end="08:00", timezone=zone).timezone == zone
    assert QuietHours(start="00:00", end="23:59", mode="discard").mode == "discard"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        (
            {"days": ("Monday",)},
            ["quiet hours day 'Monday' is not a weekday; use MO TU WE TH FR SA SU"],
        ),
        (
            {"days": ["mo", W.FR]},
            ["quiet hours day 'mo' is not a weekday; use MO TU WE TH FR SA SU"],
        ),
        ({"days": (3,)}, ["quiet hours day 3 is not a weekday; use MO TU WE TH FR SA SU"]),
        (
            {"dates": (dt.datetime(2026, 12, 25, 9),)},
            [
                "quiet hours date datetime.datetime(2026, 12, 25, 9, 0)"
                " must be a date (datetime.date), not a datetime"
            ],
        ),
        (
            {"dates": ["2026-12-25"]},
            ["quiet hours date '2026-12-25' must be a date (datetime.date), not a str"],
        ),
    ],
)
def test_quiet_hours_refuse_unknown_weekdays_and_non_dates(
    kwargs: dict[str, object], expected: list[str]
) -> None:
    with pytest.raises(ck.ValidationError) as error:
        QuietHours(start="21:00", end="08:00", **kwargs)  # type: ignore[arg-type]
    assert problems_of(error) == expected


def test_quiet_hours_keep_days_and_dates_as_tuples_of_weekdays_and_dates() -> None:
    rule = QuietHours(start="21:00", end="08:00", days=["SA", W.SU], dates=[dt.date(2026, 12, 25)])
    assert rule.days == (W.SA, W.SU)
    assert all(type(day) is W for day in rule.days)
    assert rule.dates == (dt.date(2026, 12, 25),)
    # hashable, and equal to the same rule built from tuples and enum members
    assert rule == QuietHours(
        start="21:00", end="08:00", days=(W.SA, W.SU), dates=(dt.date(2026, 12, 25),)
    )
    assert (
        len(
            {
                rule,
                QuietHours(
                    start="21:00", end="08:00", days=("SA", "SU"), dates=(dt.date(2026, 12, 25),)
                ),
            }
        )
        == 1
    )


# ================================================================ QuietHours.quiet_until


@pytest.mark.parametrize(
    ("at", "released"),
    [
        (utc(2026, 12, 1, 21), utc(2026, 12, 2, 8)),  # the very start is quiet
        (utc(2026, 12, 1, 23, 59), utc(2026, 12, 2, 8)),
        (utc(2026, 12, 2, 0, 0), utc(2026, 12, 2, 8)),  # past midnight
        (utc(2026, 12, 2, 7, 59, second=59), utc(2026, 12, 2, 8)),
    ],
)
def test_night_hours_past_midnight_release_at_the_local_end(
    at: pendulum.DateTime, released: pendulum.DateTime
) -> None:
    assert NIGHT.quiet_until(at, "UTC") == released


@pytest.mark.parametrize(
    "at", [utc(2026, 12, 2, 8), utc(2026, 12, 2, 12), utc(2026, 12, 2, 20, 59, second=59)]
)
def test_outside_night_hours_nothing_is_quiet(at: pendulum.DateTime) -> None:
    assert NIGHT.quiet_until(at, "UTC") is None


def test_daytime_hours_end_the_same_day_and_the_end_is_exclusive() -> None:
    lunch = QuietHours(start="12:00", end="14:00")
    assert lunch.quiet_until(utc(2026, 12, 1, 11, 59), "UTC") is None
    assert lunch.quiet_until(utc(2026, 12, 1, 12), "UTC") == utc(2026, 12, 1, 14)
    assert lunch.quiet_until(utc(2026, 12, 1, 13, 30), "UTC") == utc(2026, 12, 1, 14)
    assert lunch.quiet_until(utc(2026, 12, 1, 14), "UTC") is None


def test_the_release_is_returned_in_utc() -> None:
    released = NIGHT.quiet_until(paris(2026, 12, 1, 22), PARIS)
    assert released is not None
    assert released.timezone_name == "UTC"
    assert released == utc(2026, 12, 2, 7)  # 08:00 in Paris (winter, UTC+1)


def test_local_time_is_read_in_the_given_zone() -> None:
    at = utc(2026, 12, 1, 20)  # 20:00 UTC, 21:00 in Paris, 01:30 in India
    assert NIGHT.quiet_until(at, "UTC") is None
    assert NIGHT.quiet_until(at, PARIS) == utc(2026, 12, 2, 7)
    kolkata = pendulum.FixedTimezone(5 * 3600 + 30 * 60)
    assert NIGHT.quiet_until(at, kolkata) == utc(2026, 12, 2, 2, 30)  # 08:00 +05:30


def test_summer_and_winter_release_at_the_same_local_time() -> None:
    assert NIGHT.quiet_until(paris(2027, 6, 1, 23), PARIS) == utc(2027, 6, 2, 6)
    assert NIGHT.quiet_until(paris(2026, 12, 1, 23), PARIS) == utc(2026, 12, 2, 7)


def test_weekday_hours_apply_only_on_those_days() -> None:
    friday_nights = QuietHours(start="21:00", end="08:00", days=(W.FR,))
    # Friday 4 December 2026
    assert friday_nights.quiet_until(utc(2026, 12, 4, 22), "UTC") == utc(2026, 12, 5, 8)
    # Saturday 03:00 belongs to the night that started on Friday
    assert friday_nights.quiet_until(utc(2026, 12, 5, 3), "UTC") == utc(2026, 12, 5, 8)
    # Saturday night and Friday 03:00 (Thursday's night) are not quiet
    assert friday_nights.quiet_until(utc(2026, 12, 5, 22), "UTC") is None
    assert friday_nights.quiet_until(utc(2026, 12, 4, 3), "UTC") is None


def test_weekday_codes_given_as_plain_strings_work_like_weekdays() -> None:
    rule = QuietHours(start="09:00", end="17:00", days=("SA", "SU"))
    assert rule.quiet_until(utc(2026, 12, 6, 10), "UTC") == utc(2026, 12, 6, 17)
    assert rule.quiet_until(utc(2026, 12, 7, 10), "UTC") is None


def test_every_weekday_is_recognised() -> None:
    monday = utc(2026, 11, 30, 10)
    for offset, day in enumerate(W):
        rule = QuietHours(start="09:00", end="11:00", days=(day,))
        for other in range(7):
            at = monday.add(days=other)
            expected = at.set(hour=11) if other == offset else None
            assert rule.quiet_until(at, "UTC") == expected, (day, other)


def test_a_quiet_date_is_quiet_all_day_in_the_rules_zone() -> None:
    christmas = QuietHours(dates=(dt.date(2026, 12, 25),), timezone=PARIS)
    released = utc(2026, 12, 25, 23)  # midnight in Paris
    assert christmas.quiet_until(utc(2026, 12, 24, 23), christmas.timezone) == released
    assert christmas.quiet_until(utc(2026, 12, 25, 22, 59), christmas.timezone) == released
    assert christmas.quiet_until(utc(2026, 12, 24, 22, 59), christmas.timezone) is None
    assert christmas.quiet_until(utc(2026, 12, 25, 23), christmas.timezone) is None


def test_a_quiet_date_followed_by_night_hours_releases_after_the_night() -> None:
    # Sunday 6 December 2026 is quiet all day; nights 21:00-08:00 every day
    rule = QuietHours(start="21:00", end="08:00", dates=(dt.date(2026, 12, 6),))
    # Saturday night -> Sunday (whole day) -> Sunday night -> Monday 08:00
    assert rule.quiet_until(utc(2026, 12, 5, 22), "UTC") == utc(2026, 12, 7, 8)
    assert rule.quiet_until(utc(2026, 12, 6, 12), "UTC") == utc(2026, 12, 7, 8)
    assert rule.quiet_until(utc(2026, 12, 7, 8), "UTC") is None


def test_consecutive_quiet_dates_chain_into_one_release() -> None:
    holidays = tuple(dt.date(2026, 12, day) for day in (24, 25, 26))
    rule = QuietHours(start="12:00", end="13:00", dates=holidays)
    assert rule.quiet_until(utc(2026, 12, 24, 9), "UTC") == utc(2026, 12, 27)
    # 27 December at 12:30 is ordinary lunch
    assert rule.quiet_until(utc(2026, 12, 27, 12, 30), "UTC") == utc(2026, 12, 27, 13)


def test_a_quiet_date_in_the_morning_of_a_night_releases_at_midnight_after_it() -> None:
    # the night started on the 24th ends at 08:00 on the 25th, but the 25th is quiet
    rule = QuietHours(start="21:00", end="06:00", dates=(dt.date(2026, 12, 25),))
    assert rule.quiet_until(utc(2026, 12, 24, 23), "UTC") == utc(2026, 12, 26, 6)


def test_weekday_nights_and_a_quiet_date_chain() -> None:
    # Saturday nights only; Sunday 6 December is a quiet date
    rule = QuietHours(start="22:00", end="07:00", days=(W.SA,), dates=(dt.date(2026, 12, 6),))
    # Saturday 22:00 -> Sunday 07:00 is still the quiet date -> Monday 00:00,
    # and Sunday night is not a Saturday night
    assert rule.quiet_until(utc(2026, 12, 5, 22), "UTC") == utc(2026, 12, 7)


def test_quiet_hours_that_never_end_raise_a_validation_error() -> None:
    start = dt.date(2026, 1, 1)
    every_day = tuple(start + dt.timedelta(days=n) for n in range(500))
    rule = QuietHours(dates=every_day)
    with pytest.raises(ck.ValidationError, match="quiet hours never end"):
        rule.quiet_until(utc(2026, 1, 1, 12), "UTC")


# ---------------------------------------------------------------- daylight saving (Paris)


def test_night_hours_on_an_ordinary_night_next_to_a_dst_change() -> None:
    # the nights right after the changes are ordinary
    assert NIGHT.quiet_until(paris(2026, 10, 25, 22), PARIS) == paris(2026, 10, 26, 8)
    assert NIGHT.quiet_until(paris(2027, 3, 28, 22), PARIS) == paris(2027, 3, 29, 8)
    # and the night before, released the day before the change
    assert NIGHT.quiet_until(paris(2026, 10, 23, 22), PARIS) == paris(2026, 10, 24, 8)


def test_daytime_hours_on_dst_days_are_not_quiet_outside_them() -> None:
    assert NIGHT.quiet_until(paris(2026, 10, 25, 12), PARIS) is None
    assert NIGHT.quiet_until(paris(2027, 3, 28, 12), PARIS) is None


@pytest.mark.parametrize(
    "at", [paris(2026, 10, 24, 22), paris(2026, 10, 25, 1, 30), paris(2026, 10, 25, 7, 30)]
)
def test_night_ending_on_the_autumn_dst_day_releases_at_0800_local(
    at: pendulum.DateTime,
) -> None:
    assert NIGHT.quiet_until(at, PARIS) == paris(2026, 10, 25, 8)  # 07:00 UTC


@pytest.mark.parametrize(
    "at", [paris(2027, 3, 27, 22), paris(2027, 3, 28, 5), paris(2027, 3, 28, 7, 59)]
)
def test_night_ending_on_the_spring_dst_day_releases_at_0800_local(
    at: pendulum.DateTime,
) -> None:
    assert NIGHT.quiet_until(at, PARIS) == paris(2027, 3, 28, 8)  # 06:00 UTC


# ---------------------------------------------------------------- Hypothesis property


def oracle_quiet(rule: QuietHours, instant: pendulum.DateTime, zone: Zone) -> bool:
    """Is ``instant`` quiet, read straight from the documented meaning of the fields."""
    local = instant.in_timezone(zone)
    if local.date() in rule.dates:
        return True
    codes = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
    if rule.start == rule.end:  # no hours: the chosen weekdays are quiet all day
        return codes[local.weekday()] in rule.days
    minute = local.hour * 60 + local.minute
    start_h, start_m = map(int, rule.start.split(":"))
    end_h, end_m = map(int, rule.end.split(":"))
    start, end = start_h * 60 + start_m, end_h * 60 + end_m
    if start < end:
        if not start <= minute < end:
            return False
        day = local.date()
    elif minute >= start:
        day = local.date()
    elif minute < end:
        day = local.date() - dt.timedelta(days=1)  # the night started yesterday
    else:
        return False
    return not rule.days or codes[day.weekday()] in rule.days


# zones without daylight saving: local minutes map one-to-one onto instants
NO_DST_ZONES: list[Zone] = [
    "UTC",
    "Asia/Kolkata",
    "Pacific/Kiritimati",
    "Pacific/Honolulu",
    pendulum.FixedTimezone(-(3 * 3600 + 30 * 60)),
    pendulum.FixedTimezone(14 * 3600),
]

times = st.builds(
    lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.sampled_from([0, 15, 30, 59])
)
instants = st.builds(
    lambda minutes, seconds: utc(2026, 1, 1).add(minutes=minutes, seconds=seconds),
    st.integers(0, 2 * 365 * 24 * 60),
    st.integers(0, 59),
)


@st.composite
def rules_around(draw: st.DrawFn, instant: pendulum.DateTime) -> QuietHours:
    """A valid queueing rule whose dates (if any) lie near ``instant``."""
    dates = draw(
        st.lists(st.integers(-2, 6), max_size=4, unique=True).map(
            lambda offsets: tuple(instant.date() + dt.timedelta(days=n) for n in offsets)
        )
    )
    start, end = draw(times), draw(times)
    if start == end and not dates:
        end = "23:59" if start != "23:59" else "00:00"
    days = tuple(draw(st.lists(st.sampled_from(list(W)), max_size=6, unique=True)))
    return QuietHours(start=start, end=end, days=days, dates=dates)


def sample_between(
    start: pendulum.DateTime, end: pendulum.DateTime, count: int = 12
) -> list[pendulum.DateTime]:
    """Some instants in ``[start, end)``, including the last minute before ``end``."""
    span = (end - start).total_seconds()
    found = [start.add(seconds=int(span * k / count)) for k in range(count)]
    last = end - MINUTE
    if last > start:
        found.append(last)
    return found


@settings(deadline=None, max_examples=100)
@given(instant=instants, zone=st.sampled_from(NO_DST_ZONES), data=st.data())
def test_release_is_the_first_quiet_free_instant(
    instant: pendulum.DateTime, zone: Zone, data: st.DataObject
) -> None:
    rule = data.draw(rules_around(instant))
    released = rule.quiet_until(instant, zone)
    if released is None:
        assert not oracle_quiet(rule, instant, zone)
        return
    assert oracle_quiet(rule, instant, zone)
    assert released > instant
    assert released.timezone_name == "UTC"
    assert not oracle_quiet(rule, released, zone)
    assert rule.quiet_until(released, zone) is None
    for between in sample_between(instant, released):
        assert oracle_quiet(rule, between, zone), between
        # any instant of the same quiet stretch is released at the same moment
        assert rule.quiet_until(between, zone) == released


# ================================================================ zone_of and quiet_until(rules)


def test_zone_of_uses_the_recipients_zone_only_for_profile_rules() -> None:
    kolkata = pendulum.FixedTimezone(19800)
    assert zone_of(NIGHT, "Asia/Tokyo") == "Asia/Tokyo"
    assert zone_of(NIGHT, kolkata) is kolkata
    fixed = QuietHours(start="21:00", end="08:00", timezone=PARIS)
    assert zone_of(fixed, "Asia/Tokyo") == PARIS


def test_profile_rules_follow_the_recipient_and_fixed_rules_do_not() -> None:
    at = utc(2026, 12, 1, 13)  # 22:00 in Tokyo, 14:00 in Paris
    fixed = QuietHours(start="21:00", end="08:00", timezone=PARIS)
    assert quiet_until([NIGHT], at, "Asia/Tokyo") == (utc(2026, 12, 1, 23), False)
    assert quiet_until([fixed], at, "Asia/Tokyo") is None
    assert quiet_until([NIGHT], at, PARIS) is None


def test_no_rules_or_no_quiet_rule_means_not_quiet() -> None:
    assert quiet_until([], utc(2026, 12, 1, 22), "UTC") is None
    assert quiet_until([NIGHT], utc(2026, 12, 1, 12), "UTC") is None


def test_queued_rules_wait_until_none_is_quiet() -> None:
    late = QuietHours(start="07:00", end="10:00", timezone="UTC")
    # 22:00 -> night ends 08:00, but 07:00-10:00 is quiet too -> 10:00
    assert quiet_until([NIGHT, late], utc(2026, 12, 1, 22), "UTC") == (
        utc(2026, 12, 2, 10),
        False,
    )
    assert quiet_until([late, NIGHT], utc(2026, 12, 1, 22), "UTC") == (
        utc(2026, 12, 2, 10),
        False,
    )


def test_a_discarding_rule_wins_over_a_queueing_one() -> None:
    lunch = QuietHours(start="12:00", end="14:00", timezone="UTC", mode="discard")
    assert quiet_until([NIGHT, lunch], utc(2026, 12, 1, 12, 30), "UTC") == (
        utc(2026, 12, 1, 14),
        True,
    )
    # queued past the night into a discarding period: discarded
    at_release = QuietHours(start="08:00", end="09:00", timezone="UTC", mode="discard")
    assert quiet_until([NIGHT, at_release], utc(2026, 12, 1, 22), "UTC") == (
        utc(2026, 12, 2, 9),
        True,
    )


def test_queueing_rules_in_different_zones_combine() -> None:
    # recipient in New York (UTC-5 in December): night there is 02:00-13:00 UTC
    paris_evening = QuietHours(start="18:00", end="20:00", timezone=PARIS)
    at = utc(2026, 12, 1, 3)  # 22:00 in New York
    assert quiet_until([NIGHT, paris_evening], at, "America/New_York") == (
        utc(2026, 12, 1, 13),
        False,
    )


def test_rules_that_hand_over_forever_raise_a_validation_error() -> None:
    day = QuietHours(start="08:00", end="21:00", timezone="UTC")
    night = QuietHours(start="21:00", end="08:00", timezone="UTC")
    with pytest.raises(ck.ValidationError, match="quiet hours never end"):
        quiet_until([day, night], utc(2026, 12, 1, 12), "UTC")


@settings(deadline=None, max_examples=60)
@given(instant=instants, zone=st.sampled_from(NO_DST_ZONES), data=st.data())
def test_several_queueing_rules_release_when_none_is_quiet(
    instant: pendulum.DateTime, zone: Zone, data: st.DataObject
) -> None:
    rules = data.draw(st.lists(rules_around(instant), min_size=1, max_size=3))

    def quiet(at: pendulum.DateTime) -> bool:
        return any(oracle_quiet(rule, at, zone) for rule in rules)

    try:
        found = quiet_until(rules, instant, zone)
    except ck.ValidationError:
        return  # complementary rules may be quiet for ever; covered above
    if found is None:
        assert not quiet(instant)
        return
    released, discard = found
    assert not discard
    assert released > instant
    assert not quiet(released)
    for between in sample_between(instant, released):
        assert quiet(between), between


# ================================================================ FrequencyCap


@pytest.mark.parametrize(
    ("count", "per", "expected"),
    [
        (0, pendulum.duration(days=1), ["frequency cap max=0 must be at least 1"]),
        (-3, pendulum.duration(days=1), ["frequency cap max=-3 must be at least 1"]),
        (1, pendulum.duration(), ["frequency cap period must be positive"]),
        (1, pendulum.duration(hours=-1), ["frequency cap period must be positive"]),
        (
            0,
            pendulum.duration(seconds=0),
            ["frequency cap max=0 must be at least 1", "frequency cap period must be positive"],
        ),
    ],
)
def test_frequency_cap_refuses_a_zero_count_or_a_non_positive_period(
    count: int, per: pendulum.Duration, expected: list[str]
) -> None:
    with pytest.raises(ck.ValidationError) as error:
        FrequencyCap(max=count, per=per)
    assert problems_of(error) == expected


def test_frequency_cap_accepts_the_smallest_valid_values() -> None:
    cap = FrequencyCap(max=1, per=pendulum.duration(seconds=1))
    assert (cap.max, cap.per) == (1, pendulum.duration(seconds=1))


def test_frequency_caps_compare_by_value() -> None:
    week = pendulum.duration(days=7)
    assert FrequencyCap(max=2, per=week) == FrequencyCap(max=2, per=pendulum.duration(weeks=1))
    assert FrequencyCap(max=2, per=week) != FrequencyCap(max=3, per=week)
    assert len({FrequencyCap(max=2, per=week), FrequencyCap(max=2, per=week)}) == 1


# ================================================================ BusinessRules and RuleBook


def test_business_rules_are_empty_by_default() -> None:
    assert BusinessRules().quiet_hours == ()
    assert BusinessRules().caps == ()


def test_rule_book_gives_each_channels_rules_and_empty_rules_otherwise() -> None:
    cap = FrequencyCap(max=1, per=pendulum.duration(days=1))
    email = BusinessRules(quiet_hours=(NIGHT,), caps=(cap,))
    book = RuleBook(channels={ck.ChannelType.EMAIL: email}, revision=3)
    assert book.for_channel(ck.ChannelType.EMAIL) == email
    assert book.for_channel(ck.ChannelType.SMS) == BusinessRules()
    assert book.for_channel(ck.ChannelType.PUSH) == BusinessRules()
    assert RuleBook().channels == {}
    assert RuleBook().revision == 0
    for channel in ck.ChannelType:
        assert RuleBook().for_channel(channel) == BusinessRules()


# ================================================================ recipient_zone


def offset_of(zone: Zone) -> int:
    """The zone's UTC offset in seconds (in December 2026)."""
    offset = utc(2026, 12, 1, 12).in_timezone(zone).utcoffset()
    assert offset is not None
    return int(offset.total_seconds())


@pytest.mark.parametrize("name", ["Europe/Paris", "Asia/Kolkata", "UTC", "America/New_York"])
def test_recipient_zone_keeps_an_iana_name(name: str) -> None:
    assert recipient_zone(name, "Asia/Tokyo") == (name, False)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("+05:30", 5 * 3600 + 30 * 60),
        ("UTC-10", -10 * 3600),
        ("GMT+14", 14 * 3600),
        ("-0330", -(3 * 3600 + 30 * 60)),
        ("+5", 5 * 3600),
        ("-12:00", -12 * 3600),
        ("UTC+00:00", 0),
        (" +05:30 ", 5 * 3600 + 30 * 60),
        ("GMT -03", -3 * 3600),
    ],
)
def test_recipient_zone_reads_a_utc_offset(text: str, seconds: int) -> None:
    zone, fell_back = recipient_zone(text, "Asia/Tokyo")
    assert not fell_back
    assert isinstance(zone, pendulum.FixedTimezone)
    assert offset_of(zone) == seconds


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "Mars/Olympus_Mons",
        "+14:30",
        "+15",
        "-15:00",
        "+05:60",
        "05:30",
        "UTC+",
        "+5:3",
        "++05",
    ],
)
def test_recipient_zone_falls_back_to_the_campaign_zone(text: str | None) -> None:
    assert recipient_zone(text, "Asia/Tokyo") == ("Asia/Tokyo", True)


def test_recipient_zones_drive_profile_quiet_hours() -> None:
    at = utc(2026, 12, 1, 16)  # 21:30 in India, 17:00 in Paris
    india, _ = recipient_zone("+05:30", PARIS)
    missing, fell_back = recipient_zone(None, PARIS)
    assert fell_back
    assert quiet_until([NIGHT], at, india) == (utc(2026, 12, 2, 2, 30), False)
    assert quiet_until([NIGHT], at, missing) is None


# ================================================================ Waves: validation

EVERY = pendulum.duration(hours=1)


@pytest.mark.parametrize("count", [0, 1, MAX_WAVES + 1, 50])
def test_equal_waves_need_two_to_ten_waves(count: int) -> None:
    with pytest.raises(ck.ValidationError) as error:
        Waves.equal(count=count, every=EVERY)
    assert problems_of(error) == [f"waves: {count} waves; use 2 to 10"]


@pytest.mark.parametrize("count", [MIN_WAVES, 5, MAX_WAVES])
def test_equal_waves_accept_two_to_ten(count: int) -> None:
    waves = Waves.equal(count=count, every=EVERY)
    assert waves.sizing is WaveSizing.EQUAL
    assert waves.sizes == (1,) * count
    assert waves.every == EVERY


@pytest.mark.parametrize(
    "every", [pendulum.duration(minutes=29, seconds=59), pendulum.duration(), -EVERY]
)
def test_waves_must_be_at_least_thirty_minutes_apart(every: pendulum.Duration) -> None:
    builds: list[Callable[[], Waves]] = [
        lambda: Waves.equal(count=2, every=every),
        lambda: Waves.percentages([50, 50], every=every),
        lambda: Waves.counts([10, 10], every=every),
    ]
    for build in builds:
        with pytest.raises(ck.ValidationError) as error:
            build()
        (problem,) = problems_of(error)
        assert problem.startswith("waves must be at least 30 minutes apart")


def test_thirty_minutes_apart_is_enough() -> None:
    assert pendulum.duration(minutes=30) == MIN_SPACING
    assert Waves.equal(count=2, every=MIN_SPACING).every == MIN_SPACING


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ([50, 40], ["waves: percentages must total 100, not 90"]),
        ([60, 60], ["waves: percentages must total 100, not 120"]),
        ([100], ["waves: 1 waves; use 2 to 10"]),
        ([0, 100], ["waves: every wave size must be positive, got [0, 100]"]),
        ([-10, 110], ["waves: every wave size must be positive, got [-10, 110]"]),
        ([10] * 11, ["waves: 11 waves; use 2 to 10", "waves: percentages must total 100, not 110"]),
        ([], ["waves: 0 waves; use 2 to 10", "waves: percentages must total 100, not 0"]),
    ],
)
def test_percentage_waves_are_validated(parts: list[int], expected: list[str]) -> None:
    with pytest.raises(ck.ValidationError) as error:
        Waves.percentages(parts, every=EVERY)
    assert problems_of(error) == expected


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ([5], ["waves: 1 waves; use 2 to 10"]),
        ([5, 0], ["waves: every wave size must be positive, got [5, 0]"]),
        ([5, -1, 3], ["waves: every wave size must be positive, got [5, -1, 3]"]),
        ([1] * 11, ["waves: 11 waves; use 2 to 10"]),
    ],
)
def test_count_waves_are_validated(parts: list[int], expected: list[str]) -> None:
    with pytest.raises(ck.ValidationError) as error:
        Waves.counts(parts, every=EVERY)
    assert problems_of(error) == expected


def test_all_wave_problems_are_reported_together() -> None:
    with pytest.raises(ck.ValidationError) as error:
        Waves.percentages([0], every=pendulum.duration(minutes=5))
    assert len(problems_of(error)) == 4


def test_percentages_and_counts_keep_their_parts_as_a_tuple() -> None:
    percentages = Waves.percentages([10, 30, 60], every=EVERY)
    counts = Waves.counts((100, 500), every=EVERY)
    assert (percentages.sizing, percentages.sizes) == (WaveSizing.PERCENTAGES, (10, 30, 60))
    assert (counts.sizing, counts.sizes) == (WaveSizing.COUNTS, (100, 500))


def test_wave_sizing_prints_as_its_value() -> None:
    assert [str(sizing) for sizing in WaveSizing] == ["equal", "percentages", "counts"]
    assert WaveSizing("counts") is WaveSizing.COUNTS


# ================================================================ Waves: starts and capacities


def test_waves_start_every_interval_from_the_first() -> None:
    waves = Waves.equal(count=4, every=pendulum.duration(minutes=45))
    first = utc(2026, 12, 1, 9)
    assert waves.starts(first) == [
        utc(2026, 12, 1, 9),
        utc(2026, 12, 1, 9, 45),
        utc(2026, 12, 1, 10, 30),
        utc(2026, 12, 1, 11, 15),
    ]


def test_every_sizing_has_one_start_per_wave() -> None:
    first = utc(2026, 12, 1, 9)
    assert len(Waves.percentages([10, 30, 60], every=EVERY).starts(first)) == 3
    assert Waves.counts([1, 1], every=pendulum.duration(days=1)).starts(first) == [
        first,
        utc(2026, 12, 2, 9),
    ]


@pytest.mark.parametrize(
    ("audience", "expected"),
    [
        (9, [3, 3, 3]),
        (10, [4, 3, 3]),
        (11, [4, 4, 3]),
        (2, [1, 1, 0]),
        (0, [0, 0, 0]),
        (None, [None, None, None]),
    ],
)
def test_equal_waves_split_the_audience_and_spread_the_remainder(
    audience: int | None, expected: list[int | None]
) -> None:
    assert Waves.equal(count=3, every=EVERY).capacities(audience) == expected


@pytest.mark.parametrize(
    ("audience", "expected"),
    [
        (1000, [100, 300, 600]),
        (7, [1, 2, 4]),
        (1, [1, 0, 0]),
        (None, [None, None, None]),
    ],
)
def test_percentage_waves_round_to_whole_profiles_that_sum_to_the_audience(
    audience: int | None, expected: list[int | None]
) -> None:
    assert Waves.percentages([10, 30, 60], every=EVERY).capacities(audience) == expected


@pytest.mark.parametrize("audience", [None, 0, 10, 600, 10_000])
def test_count_waves_have_their_own_sizes_whatever_the_audience(audience: int | None) -> None:
    assert Waves.counts([100, 500], every=EVERY).capacities(audience) == [100, 500]


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


@settings(deadline=None, max_examples=100)
@given(waves=wave_sets, audience=st.integers(0, 5000))
def test_capacities_sum_to_the_audience_and_are_fair_shares(waves: Waves, audience: int) -> None:
    capacities = waves.capacities(audience)
    assert len(capacities) == len(waves.sizes)
    if waves.sizing is WaveSizing.COUNTS:
        assert capacities == list(waves.sizes)
        return
    assert sum(c for c in capacities if c is not None) == audience
    total = sum(waves.sizes)
    for capacity, size in zip(capacities, waves.sizes, strict=True):
        assert capacity is not None
        share = audience * size // total
        assert share <= capacity <= share + 1


# ================================================================ preferred_wave


def test_preferred_wave_is_deterministic() -> None:
    waves = Waves.equal(count=5, every=EVERY)
    first = [preferred_wave(waves, "c1", f"p{n}") for n in range(200)]
    again = [preferred_wave(waves, "c1", f"p{n}") for n in range(200)]
    rebuilt = Waves.equal(count=5, every=EVERY)
    assert first == again == [preferred_wave(rebuilt, "c1", f"p{n}") for n in range(200)]
    assert set(first) == set(range(5))  # every wave is someone's preference


def test_preferred_wave_depends_on_the_campaign() -> None:
    waves = Waves.equal(count=5, every=EVERY)
    profiles = [f"p{n}" for n in range(100)]
    in_c1 = [preferred_wave(waves, "c1", p) for p in profiles]
    in_c2 = [preferred_wave(waves, "c2", p) for p in profiles]
    assert in_c1 != in_c2
    # ids are not simply concatenated: ("c1", "0p") and ("c10", "p") differ in general
    shifted = [preferred_wave(waves, "c1" + p[:1], p[1:]) for p in profiles]
    assert in_c1 != shifted


def test_preferred_wave_is_weighted_by_wave_size() -> None:
    waves = Waves.percentages([10, 90], every=EVERY)
    picks = [preferred_wave(waves, "campaign", f"profile-{n}") for n in range(4000)]
    assert 300 <= picks.count(0) <= 500  # about 10 %
    counts = Waves.counts([1, 3], every=EVERY)
    heavy = [preferred_wave(counts, "campaign", f"profile-{n}") for n in range(4000)]
    assert 800 <= heavy.count(0) <= 1200  # about 25 %


@settings(deadline=None, max_examples=100)
@given(waves=wave_sets, campaign=st.text(max_size=10), profile=st.text(max_size=10))
def test_preferred_wave_is_always_a_wave(waves: Waves, campaign: str, profile: str) -> None:
    assert 0 <= preferred_wave(waves, campaign, profile) < len(waves.sizes)


# ================================================================ assign_wave


def test_assign_wave_takes_the_preferred_wave_when_it_has_room() -> None:
    assert assign_wave(1, [0, 0, 0], [2, 2, 2]) == 1
    assert assign_wave(1, [2, 1, 2], [2, 2, 2]) == 1


def test_assign_wave_moves_on_to_the_next_wave_with_room() -> None:
    assert assign_wave(0, [2, 0, 0], [2, 2, 2]) == 1
    assert assign_wave(0, [2, 2, 0], [2, 2, 2]) == 2


def test_assign_wave_wraps_round_to_the_first_wave_with_room() -> None:
    assert assign_wave(2, [0, 2, 2], [2, 2, 2]) == 0
    assert assign_wave(1, [1, 2, 2], [2, 2, 2]) == 0


def test_assign_wave_gives_none_when_every_wave_is_full() -> None:
    assert assign_wave(0, [2, 2, 2], [2, 2, 2]) is None
    assert assign_wave(1, [100, 500], [100, 500]) is None


def test_assign_wave_without_known_capacities_keeps_the_preference() -> None:
    assert assign_wave(2, [50, 50, 50], [None, None, None]) == 2
    assert assign_wave(0, [10**6, 0], [None, None]) == 0


def test_assign_wave_skips_zero_capacity_waves() -> None:
    # an equal split of 2 over 3 waves leaves the last wave empty
    assert assign_wave(2, [0, 0, 0], [1, 1, 0]) == 0


def place(
    waves: Waves, campaign: str, profiles: Sequence[str], audience: int | None
) -> list[int | None]:
    """Place ``profiles`` in order, as a run does: the wave of each, or None (beyond)."""
    capacities = waves.capacities(audience)
    filled = [0] * len(waves.sizes)
    placed: list[int | None] = []
    for profile in profiles:
        index = assign_wave(preferred_wave(waves, campaign, profile), filled, capacities)
        if index is not None:
            filled[index] += 1
        placed.append(index)
    return placed


@settings(deadline=None, max_examples=100)
@given(
    waves=wave_sets,
    campaign=st.text(min_size=1, max_size=8),
    size=st.integers(0, 300),
    known=st.booleans(),
)
def test_every_profile_lands_in_one_wave_without_overfilling_any(
    waves: Waves, campaign: str, size: int, known: bool
) -> None:
    profiles = [f"p{n}" for n in range(size)]
    audience = size if known else None
    placed = place(waves, campaign, profiles, audience)
    assert len(placed) == size
    capacities = waves.capacities(audience)
    counts = [placed.count(index) for index in range(len(waves.sizes))]
    for count, capacity in zip(counts, capacities, strict=True):
        assert capacity is None or count <= capacity
    beyond = placed.count(None)
    assert sum(counts) + beyond == size
    if waves.sizing is WaveSizing.COUNTS:
        assert beyond == max(0, size - sum(waves.sizes))
    else:
        assert beyond == 0
        if known:  # the capacities sum to the audience: every wave is exactly full
            assert counts == capacities
    # the same run again places everyone the same way
    assert place(waves, campaign, profiles, audience) == placed


def test_count_waves_exclude_the_profiles_beyond_the_last_wave() -> None:
    waves = Waves.counts([2, 3], every=EVERY)
    placed = place(waves, "campaign", [f"p{n}" for n in range(7)], 7)
    assert placed.count(0) == 2
    assert placed.count(1) == 3
    assert placed.count(None) == 2
    # the first five profiles fill the waves; the last two find them full
    assert placed[5:] == [None, None]


# ---------------------------------------------------------------- whole quiet weekdays


def test_weekdays_without_hours_are_quiet_all_day() -> None:
    sundays = QuietHours(days=(W.SU,))  # start == end: no hours, the whole day
    saturday_night = paris(2027, 1, 2, 23, 59)
    sunday_noon = paris(2027, 1, 3, 12)
    assert sundays.quiet_until(saturday_night, PARIS) is None
    assert sundays.quiet_until(sunday_noon, PARIS) == paris(2027, 1, 4)  # Monday 00:00 local


def test_a_quiet_weekend_then_a_night_releases_on_monday_morning() -> None:
    weekend = QuietHours(days=(W.SA, W.SU))
    nights = QuietHours(start="21:00", end="08:00")
    released = quiet_until((weekend, nights), paris(2027, 1, 1, 22), PARIS)
    assert released == (paris(2027, 1, 4, 8), False)  # Friday night -> Monday 08:00


@pytest.mark.parametrize("text", ["utc+3", "gmt+03:00", "Utc+0300"])
def test_offsets_are_read_whatever_the_case_of_their_prefix(text: str) -> None:
    assert recipient_zone(text, PARIS) == (pendulum.FixedTimezone(3 * 3600), False)
