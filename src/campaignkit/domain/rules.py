"""Business rules: quiet hours and frequency caps (SPEC section 5).

Pure values and functions. Quiet hours say when marketing messages must not
arrive (discard them, or queue them until the quiet time ends); frequency
caps limit how many marketing messages one profile gets per channel over a
rolling period, across all campaigns. Transactional messages are exempt from
both.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping
from typing import Final, Literal, TypeAlias

import attrs
import pendulum

from campaignkit.domain import checks
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.recurrence import Weekday, is_time_of_day, local_instant
from campaignkit.errors import ValidationError
from campaignkit.timeutil import calendar_units_problem, check_timezone

Zone: TypeAlias = str | pendulum.FixedTimezone
"""An IANA zone name, or a fixed UTC offset (profiles may give ``"+05:30"``)."""

PROFILE_ZONE: Final = "profile"
"""``QuietHours.timezone`` value meaning "the recipient's own time zone"."""

MAX_QUIET_ITEMS: Final = 1000
"""Weekdays or dates in one quiet-hours rule (a few years of holidays)."""

_WEEKDAYS = list(Weekday)
_MAX_HOPS = 400  # enough to leave any combination of quiet days and dates


def _minutes(at: str) -> int:
    hour, minute = at.split(":")
    return int(hour) * 60 + int(minute)


def _code(day: object) -> str | None:
    if isinstance(day, Weekday):
        return day.value
    return day if isinstance(day, str) else None


def _collection(value: object) -> bool:
    """A list, tuple or set, never one bare string (``days="MO"`` is refused, not split)."""
    return isinstance(value, (list, tuple, set, frozenset))


def _weekdays(days: Iterable[Weekday | str]) -> tuple[Weekday, ...]:
    """Weekday codes as ``Weekday`` values; unknown ones are kept for validation to report."""
    if not _collection(days):
        return days  # type: ignore[return-value]  # refused by __attrs_post_init__
    return tuple(Weekday(_code(d)) if _code(d) in Weekday.__members__ else d for d in days)  # type: ignore[misc]


def _dates(dates: Iterable[datetime.date]) -> tuple[datetime.date, ...]:
    if not _collection(dates):
        return dates  # type: ignore[return-value]  # refused by __attrs_post_init__
    return tuple(dates)


def _is_date(value: object) -> bool:
    return isinstance(value, datetime.date) and not isinstance(value, datetime.datetime)


@attrs.frozen
class QuietHours:
    """A quiet period: messages falling inside are discarded or queued.

    Attributes:
        start: Local time the quiet period starts, ``HH:MM``.
        end: Local time it ends, ``HH:MM``; before ``start`` means it runs past midnight.
        timezone: ``"profile"`` (each recipient's zone, else the campaign's) or an IANA name.
        mode: ``"queue"`` (release when it ends) or ``"discard"`` (exclude).
        days: Weekdays the hours apply on (a period past midnight belongs to the
            day it starts); empty means every day. With ``start == end`` (no
            hours) these weekdays are quiet all day.
        dates: Whole local dates that are quiet all day.
    """

    start: str = "00:00"
    end: str = "00:00"
    timezone: str = PROFILE_ZONE
    mode: Literal["queue", "discard"] = "queue"
    days: tuple[Weekday, ...] = attrs.field(default=(), converter=_weekdays)
    dates: tuple[datetime.date, ...] = attrs.field(default=(), converter=_dates)

    def __attrs_post_init__(self) -> None:
        problems = [
            f"quiet hours {label} {checks.shown(value)} must be HH:MM, e.g. '21:00'"
            for label, value in (("start", self.start), ("end", self.end))
            if not is_time_of_day(value)
        ]
        if self.timezone != PROFILE_ZONE:
            zone_problem = check_timezone(self.timezone)
            if zone_problem:
                problems.append(zone_problem)
        given: tuple[tuple[str, object, str], ...] = (
            ("days", self.days, "['SA', 'SU']"),
            ("dates", self.dates, "[datetime.date(2026, 12, 25)]"),
        )
        for label, values, example in given:
            if not isinstance(values, tuple):
                problems.append(
                    f"quiet hours {label} must be a list such as {example}, "
                    f"not {checks.describe(values)}"
                )
            elif len(values) > MAX_QUIET_ITEMS:
                problems.append(
                    f"quiet hours {label} has {len(values)} items; the limit is {MAX_QUIET_ITEMS}"
                )
        listed = not problems or all(isinstance(v, tuple) for _, v, _ in given)
        problems.extend(
            f"quiet hours day {checks.shown(day)} is not a weekday; use MO TU WE TH FR SA SU"
            for day in (self.days if listed else ())
            if _code(day) not in Weekday.__members__
        )
        problems.extend(
            f"quiet hours date {checks.shown(date)} must be a date (datetime.date), "
            f"not a {type(date).__name__}"
            for date in (self.dates if listed else ())
            if not _is_date(date)
        )
        mode: object = self.mode
        if not isinstance(mode, str) or mode not in ("queue", "discard"):
            problems.append(
                f"quiet hours mode {checks.shown(self.mode)} must be 'queue' or 'discard'"
            )
        if self.start == self.end and not self.dates and not self.days:
            problems.append(
                "quiet hours need start != end (hours), days (whole weekdays), or dates"
            )
        if problems:
            raise ValidationError(problems)

    def _quiet_local(self, local: pendulum.DateTime) -> bool:
        if local.date() in self.dates:
            return True
        if self.start == self.end:  # no hours: the chosen weekdays are quiet all day
            return bool(self.days) and _WEEKDAYS[local.weekday()] in self.days
        minute = local.hour * 60 + local.minute
        start, end = _minutes(self.start), _minutes(self.end)
        if start < end:
            inside, started_on = start <= minute < end, local
        else:  # past midnight: 21:00-08:00
            inside = minute >= start or minute < end
            started_on = local if minute >= start else local.subtract(days=1)
        if not inside:
            return False
        return not self.days or _WEEKDAYS[started_on.weekday()] in self.days

    def quiet_until(self, instant: pendulum.DateTime, zone: Zone) -> pendulum.DateTime | None:
        """When the quiet time around ``instant`` ends (UTC), or None if it is not quiet.

        Args:
            instant: The moment a message would arrive.
            zone: The zone to read local time in (the resolved ``timezone``).
        """
        local = instant.in_timezone(zone)
        if not self._quiet_local(local):
            return None
        for _ in range(_MAX_HOPS):
            local = self._next_boundary(local, zone)
            if not self._quiet_local(local):
                return local.in_timezone("UTC")
        raise ValidationError(["quiet hours never end; check their days and dates"])

    def _next_boundary(self, local: pendulum.DateTime, zone: Zone) -> pendulum.DateTime:
        """The next local instant the answer may change: the end time or midnight.

        The end is a wall time, placed like a recurrence's (a DST day keeps 08:00
        at 08:00; an end inside the spring-forward gap moves forward by the gap).
        """
        day = local.date()
        end = local_instant(day, self.end, zone).in_timezone(zone)
        if end <= local:
            end = local_instant(day + datetime.timedelta(days=1), self.end, zone).in_timezone(zone)
        return min(end, local.start_of("day").add(days=1))


@attrs.frozen
class FrequencyCap:
    """At most ``max`` marketing messages per profile per rolling ``per``, on a channel.

    Attributes:
        max: The most messages allowed in the period.
        per: The rolling period.
    """

    max: int
    per: pendulum.Duration = attrs.field(converter=checks.as_duration)

    def __attrs_post_init__(self) -> None:
        problems = []
        limit: object = self.max
        if isinstance(limit, bool) or not isinstance(limit, int):
            problems.append(
                "frequency cap max must be a whole number of messages, "
                f"not {checks.describe(limit)}"
            )
        elif limit < 1:
            problems.append(f"frequency cap max={limit} must be at least 1")
        period = calendar_units_problem(self.per, "frequency cap period")
        if period is not None:
            problems.append(period)
        elif self.per.total_seconds() <= 0:
            problems.append("frequency cap period must be positive")
        elif self.per > checks.MAX_PERIOD:
            problems.append(
                f"frequency cap period is longer than the limit of {checks.MAX_PERIOD.days} days"
            )
        if problems:
            raise ValidationError(problems)


@attrs.frozen
class BusinessRules:
    """The rules that apply to one channel's marketing messages.

    Attributes:
        quiet_hours: Every quiet period.
        caps: Every frequency cap.
    """

    quiet_hours: tuple[QuietHours, ...] = ()
    caps: tuple[FrequencyCap, ...] = ()


@attrs.frozen
class RuleBook:
    """Business rules per channel (``kit.rules``), as stored.

    Attributes:
        channels: The rules of each channel that has any.
        revision: Store revision for optimistic concurrency.
    """

    channels: Mapping[ChannelType, BusinessRules] = attrs.field(factory=dict)
    revision: int = 0

    def for_channel(self, channel: ChannelType) -> BusinessRules:
        """The rules of ``channel`` (none: an empty set)."""
        return self.channels.get(channel, BusinessRules())


def zone_of(rule: QuietHours, recipient_zone: Zone) -> Zone:
    """The zone a quiet-hours rule is read in for a recipient."""
    return recipient_zone if rule.timezone == PROFILE_ZONE else rule.timezone


def quiet_until(
    rules: Iterable[QuietHours], instant: pendulum.DateTime, recipient_zone: Zone
) -> tuple[pendulum.DateTime, bool] | None:
    """If ``instant`` is quiet under any rule: when it stops being quiet, and whether to discard.

    A discarding rule wins; queued messages wait until no rule is quiet.
    """
    wait_until: pendulum.DateTime | None = None
    for _ in range(_MAX_HOPS):
        at = wait_until or instant
        quiet = False
        for rule in rules:
            until = rule.quiet_until(at, zone_of(rule, recipient_zone))
            if until is None:
                continue
            if rule.mode == "discard":
                return until, True
            quiet = True
            wait_until = until if wait_until is None or until > wait_until else wait_until
        if not quiet:
            return None if wait_until is None else (wait_until, False)
    raise ValidationError(["quiet hours never end; check their days and dates"])


def recipient_zone(profile_zone: str | None, campaign_zone: str) -> tuple[Zone, bool]:
    """The recipient's zone (IANA name or UTC offset), else the campaign's.

    Returns:
        The zone, and True when the profile's was missing or invalid (a fallback).
    """
    if profile_zone:
        if check_timezone(profile_zone) is None:
            return profile_zone, False
        offset = _offset_zone(profile_zone)
        if offset is not None:
            return offset, False
    return campaign_zone, True


_OFFSET = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)


def _offset_zone(text: str) -> pendulum.FixedTimezone | None:
    """``"+05:30"``, ``"UTC-10"`` ... as a fixed-offset zone, or None."""
    match = _OFFSET.match(text.strip())
    if match is None:
        return None
    sign, hours, minutes = match.group(1), int(match.group(2)), int(match.group(3) or 0)
    if hours > 14 or minutes >= 60 or (hours == 14 and minutes):
        return None
    seconds = (hours * 3600 + minutes * 60) * (-1 if sign == "-" else 1)
    return pendulum.FixedTimezone(seconds)
