"""Recurrence: how a schedule repeats, and when it fires.

Occurrences are computed in local wall time and then placed in the time zone,
so a 09:00 daily campaign fires at 09:00 local on both sides of a DST change.

Rules for local times that do not exist or happen twice:

- a **non-existent** local time (the spring-forward gap, e.g. 02:30 on the
  night clocks jump from 02:00 to 03:00) is moved **forward by the gap**
  (02:30 becomes 03:30);
- an **ambiguous** local time (the fall-back hour, which happens twice)
  means the **first** of the two instants.

Monthly recurrences on a day some months lack (29, 30, 31) fire on the
**last day** of those months. RRULE strings are parsed by ``dateutil.rrule``.
"""

from __future__ import annotations

import calendar
import datetime
import enum
import re
from collections.abc import Iterator, Sequence
from typing import Final

import attrs
import pendulum
from dateutil import rrule

from campaignkit.errors import ValidationError

_AT = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class Frequency(str, enum.Enum):
    """How a recurring schedule repeats."""

    DAILY = "DAILY"
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"
    RRULE = "RRULE"

    def __str__(self) -> str:
        return self.value


class Weekday(str, enum.Enum):
    """A day of the week (RFC 5545 two-letter codes)."""

    MO = "MO"
    TU = "TU"
    WE = "WE"
    TH = "TH"
    FR = "FR"
    SA = "SA"
    SU = "SU"


def is_time_of_day(value: object) -> bool:
    """True for a 24-hour ``HH:MM`` string, such as ``"09:00"``."""
    return isinstance(value, str) and _AT.fullmatch(value) is not None


def _check_every(every: object) -> None:
    if type(every) is not int or every < 1:
        raise ValidationError([f"recurrence every={every} must be at least 1"])


def _check_at(at: str) -> None:
    if not is_time_of_day(at):
        raise ValidationError(
            [f"recurrence time {at!r} must be HH:MM in 24-hour form, e.g. '09:00'"]
        )


@attrs.frozen
class Recurrence:
    """A repeat rule. Build one with a class method, not the constructor.

    Examples: ``Recurrence.daily(at="09:00")``,
    ``Recurrence.weekly(days=["MO", "WE"], at="18:30", every=2)``,
    ``Recurrence.monthly(day=31, at="08:00")``,
    ``Recurrence.rrule("FREQ=WEEKLY;BYDAY=MO,WE")``.

    Attributes:
        frequency: DAILY, WEEKLY, MONTHLY or RRULE.
        at: Local time of day ``HH:MM`` in the schedule's time zone.
        every: Repeat every N periods (1 = every period).
        days: Weekdays, for WEEKLY.
        day: Day of month, for MONTHLY.
        rule: The RFC 5545 RRULE text, for RRULE.
    """

    frequency: Frequency
    at: str = "00:00"
    every: int = 1
    days: tuple[Weekday, ...] = ()
    day: int | None = None
    rule: str | None = None

    def __attrs_post_init__(self) -> None:
        """Refuse a rule the builders would refuse (values loaded from a document too)."""
        if self.frequency is Frequency.RRULE:
            _rrule_text(str(self.rule or ""))
            return
        _check_at(self.at)
        _check_every(self.every)
        if self.frequency is Frequency.WEEKLY:
            _weekdays(self.days)
        elif self.frequency is Frequency.MONTHLY:
            _check_day(self.day)

    @classmethod
    def daily(cls, *, at: str, every: int = 1) -> Recurrence:
        """Every ``every`` days at local time ``at``."""
        _check_at(at)
        _check_every(every)
        return cls(Frequency.DAILY, at=at, every=every)

    @classmethod
    def weekly(cls, *, days: Sequence[Weekday | str], at: str, every: int = 1) -> Recurrence:
        """On the given weekdays of every ``every`` weeks, at local time ``at``."""
        _check_at(at)
        _check_every(every)
        return cls(Frequency.WEEKLY, at=at, every=every, days=_weekdays(days))

    @classmethod
    def monthly(cls, *, day: int, at: str, every: int = 1) -> Recurrence:
        """On day ``day`` (1-31) of every ``every`` months, at local time ``at``."""
        _check_at(at)
        _check_every(every)
        _check_day(day)
        return cls(Frequency.MONTHLY, at=at, every=every, day=day)

    @classmethod
    def rrule(cls, rule: str) -> Recurrence:
        """An RFC 5545 RRULE, such as ``"FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=9"``.

        The rule is read in the schedule's time zone from the schedule's start,
        so it may not carry its own ``DTSTART``; ``UNTIL`` may be local or UTC
        (``...Z``).

        Raises:
            ValidationError: the text is not a valid RRULE.
        """
        return cls(Frequency.RRULE, rule=_rrule_text(rule))


def _rrule_text(rule: str) -> str:
    """The RRULE text without an ``RRULE:`` prefix, once dateutil accepts it."""
    text = str(rule).strip()
    if text.upper().startswith("RRULE:"):
        text = text[len("RRULE:") :]
    if "FREQ=" not in text.upper():
        raise ValidationError([f"RRULE {rule!r} has no FREQ=...; e.g. 'FREQ=DAILY'"])
    if "DTSTART" in text.upper() or "\n" in text:
        raise ValidationError(
            [
                f"RRULE {rule!r} must be a single RRULE line without DTSTART: "
                "the schedule's start and time zone anchor it"
            ]
        )
    interval = _INTERVAL.search(text)
    if interval is not None and int(interval.group(1)) < 1:
        raise ValidationError([f"RRULE {rule!r}: INTERVAL must be at least 1"])
    try:
        _parse_rrule(text, datetime.datetime(2000, 1, 1), "UTC")
    except (ValueError, TypeError) as error:
        raise ValidationError([f"RRULE {rule!r} is not valid: {error}"]) from None
    return text


def _weekdays(days: Sequence[Weekday | str]) -> tuple[Weekday, ...]:
    """Weekday codes as distinct ``Weekday`` values in week order (at least one)."""
    problems = [
        f"unknown weekday {d!r}; use MO TU WE TH FR SA SU"
        for d in days
        if str(getattr(d, "value", d)) not in Weekday.__members__
    ]
    if not days:
        problems.append("a weekly recurrence needs at least one weekday")
    if problems:
        raise ValidationError(problems)
    chosen = {Weekday(str(getattr(d, "value", d))) for d in days}
    return tuple(sorted(chosen, key=list(Weekday).index))


def _check_day(day: object) -> None:
    if type(day) is not int or not 1 <= day <= 31:
        raise ValidationError([f"monthly day {day} must be between 1 and 31"])


_INTERVAL = re.compile(r"INTERVAL=(-?\d+)", re.IGNORECASE)
_UTC_UNTIL = re.compile(r"UNTIL=(\d{8}T\d{6})Z", re.IGNORECASE)


def _parse_rrule(text: str, start: datetime.datetime, zone: str) -> rrule.rrule:
    """Parse ``text`` with dateutil from naive local ``start``; a UTC ``UNTIL`` is made local."""

    def local_until(match: re.Match[str]) -> str:
        until = pendulum.from_format(match.group(1), "YYYYMMDDTHHmmss", tz="UTC")
        return f"UNTIL={until.in_timezone(zone).format('YYYYMMDDTHHmmss')}"

    parsed = rrule.rrulestr(_UTC_UNTIL.sub(local_until, text), dtstart=start)
    assert isinstance(parsed, rrule.rrule)  # a single RRULE line, checked by the caller
    return parsed


_WEEKDAYS = list(Weekday)
_MAX_STEPS = 100_000  # no recurrence needs more candidates to find its next slot


def local_instant(
    day: datetime.date,
    at: str,
    zone: str | pendulum.FixedTimezone,
    second: int = 0,
    microsecond: int = 0,
) -> pendulum.DateTime:
    """The UTC instant of wall time ``at`` on ``day`` in ``zone`` (see module rules)."""
    hour, minute = (int(part) for part in at.split(":"))
    wall = (day.year, day.month, day.day, hour, minute, second, microsecond)
    first = pendulum.datetime(*wall, tz=zone, fold=0)
    if (first.hour, first.minute) != (hour, minute):  # in the gap: fold=0 moved it back
        first = pendulum.datetime(*wall, tz=zone, fold=1)
    return first.in_timezone("UTC")


EARLIEST_OFFSET: Final = pendulum.FixedTimezone(14 * 3600)
"""UTC+14, the earliest time zone on Earth (Kiribati's Line Islands)."""


def same_wall_time(
    instant: pendulum.DateTime, from_zone: str, to_zone: str | pendulum.FixedTimezone
) -> pendulum.DateTime:
    """The instant (UTC) when ``to_zone`` shows the wall time ``instant`` shows in ``from_zone``.

    A 09:00 Paris start is 09:00 in Tokyo, 09:00 in Honolulu ... (profile-time-zone delivery).
    """
    wall = instant.in_timezone(from_zone)
    at = f"{wall.hour:02d}:{wall.minute:02d}"
    return local_instant(wall.date(), at, to_zone, wall.second, wall.microsecond)


def earliest_slot(instant: pendulum.DateTime, zone: str) -> pendulum.DateTime:
    """When the wall-clock time of ``instant`` (in ``zone``) first comes anywhere: at UTC+14."""
    return same_wall_time(instant, zone, EARLIEST_OFFSET)


def _days(
    recurrence: Recurrence, anchor: datetime.date, near: datetime.date
) -> Iterator[datetime.date]:
    """Candidate local days, in order, aligned on ``anchor`` for every-N periods.

    Starts a period or so before ``near`` (a day the caller needs no earlier
    candidate than), so finding the next slot years after the anchor is cheap.
    """
    every = recurrence.every
    if recurrence.frequency is Frequency.DAILY:
        first = max(0, (near - anchor).days // every - 1)
        for step in range(first, first + _MAX_STEPS):
            yield anchor + datetime.timedelta(days=step * every)
    elif recurrence.frequency is Frequency.WEEKLY:
        monday = anchor - datetime.timedelta(days=anchor.weekday())
        chosen = sorted(_WEEKDAYS.index(day) for day in recurrence.days)
        first = max(0, (near - monday).days // (7 * every) - 1)
        for step in range(first, first + _MAX_STEPS):
            week = monday + datetime.timedelta(weeks=step * every)
            for offset in chosen:
                yield week + datetime.timedelta(days=offset)
    else:  # MONTHLY
        assert recurrence.day is not None
        months = (near.year - anchor.year) * 12 + near.month - anchor.month
        first = max(0, months // every - 1)
        for step in range(first, first + _MAX_STEPS):
            month_index = anchor.month - 1 + step * every
            year, month = anchor.year + month_index // 12, month_index % 12 + 1
            last = calendar.monthrange(year, month)[1]
            yield datetime.date(year, month, min(recurrence.day, last))


def _rrule_instants(
    recurrence: Recurrence, anchor: pendulum.DateTime, zone: str
) -> Iterator[pendulum.DateTime]:
    local = anchor.in_timezone(zone)
    # minute resolution, like every campaign time: seconds come only from BYSECOND
    start = datetime.datetime(local.year, local.month, local.day, local.hour, local.minute)
    assert recurrence.rule is not None
    for wall in _parse_rrule(recurrence.rule, start, zone):
        at = f"{wall.hour:02d}:{wall.minute:02d}"
        yield local_instant(wall.date(), at, zone, wall.second)


def occurrences(
    recurrence: Recurrence,
    *,
    zone: str,
    anchor: pendulum.DateTime,
    after: pendulum.DateTime | None = None,
    end: pendulum.DateTime | None = None,
) -> Iterator[pendulum.DateTime]:
    """Instants (UTC) of ``recurrence``, strictly increasing.

    Args:
        recurrence: The rule.
        zone: The IANA zone whose wall clock the rule is read in.
        anchor: The schedule's start (or activation): no occurrence is before
            it, and every-N periods count from its local date.
        after: Only occurrences strictly after this instant.
        end: Only occurrences strictly before this instant (finite when given).
    """
    if recurrence.frequency is Frequency.RRULE:
        instants: Iterator[pendulum.DateTime] = _rrule_instants(recurrence, anchor, zone)
    else:
        anchor_day = anchor.in_timezone(zone).date()
        near = max(anchor, after or anchor).in_timezone(zone).date()
        instants = (
            local_instant(day, recurrence.at, zone) for day in _days(recurrence, anchor_day, near)
        )
    last: pendulum.DateTime | None = None
    for instant in instants:
        if end is not None and instant >= end:
            return
        if instant < anchor or (after is not None and instant <= after):
            continue
        if last is not None and instant <= last:
            continue  # two wall times folded onto one instant: keep it once
        last = instant
        yield instant
