"""Frequency caps, the rule book per channel, and recipient zones: IANA names, UTC offsets and
the fallback to the campaign's zone."""

from __future__ import annotations

import pendulum
import pytest

import campaignkit as ck
from campaignkit.domain.rules import (
    BusinessRules,
    FrequencyCap,
    RuleBook,
    Zone,
    quiet_until,
    recipient_zone,
)
from tests.unit.business_rule_values.support import NIGHT, PARIS, problems_of, utc

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


@pytest.mark.parametrize("text", ["utc+3", "gmt+03:00", "Utc+0300"])
def test_offsets_are_read_whatever_the_case_of_their_prefix(text: str) -> None:
    assert recipient_zone(text, PARIS) == (pendulum.FixedTimezone(3 * 3600), False)
