"""Quiet hours against an oracle (the release is the first quiet-free instant), and several
rules together: the recipient's zone, queueing and discarding rules, and rules that hand over
forever."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import campaignkit as ck
from campaignkit.domain.rules import (
    QuietHours,
    Zone,
    quiet_until,
    zone_of,
)
from tests.unit.business_rule_values.support import MINUTE, NIGHT, PARIS, W, utc

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
