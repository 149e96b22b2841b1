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
**last day** of those months.

Times have minute resolution (one second for an RRULE with ``BYSECOND``). A
start with seconds or microseconds is in its minute: a slot less than that
resolution before the start counts as the first occurrence and fires at the
start itself (RFC 5545: DTSTART is the first instance when the rule matches
it), never before it.

RRULE text is read strictly by :mod:`campaignkit.domain.rrules` and expanded
by ``dateutil.rrule``. A rule whose dates can never match (``BYMONTH=2;
BYMONTHDAY=30``) has no occurrence at once, without dateutil walking its
calendar to the year 9999.
"""

from __future__ import annotations

import calendar
import datetime
import itertools
import re
from collections.abc import Iterator, Sequence
from typing import Final

import attrs
import pendulum

from campaignkit.domain.checks import describe
from campaignkit.domain.rrules import MAX_RULE_LENGTH, dateutil_rule, parse_rule
from campaignkit.domain.text_enum import TextEnum
from campaignkit.errors import ValidationError

_AT = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class Frequency(TextEnum):
    """How a recurring schedule repeats."""

    DAILY = "DAILY"
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"
    RRULE = "RRULE"

    def __str__(self) -> str:
        return self.value


class Weekday(TextEnum):
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
    if type(every) is not int:
        raise ValidationError(
            [f"recurrence every must be a whole number of at least 1, not {describe(every)}"]
        )
    if every < 1:
        raise ValidationError([f"recurrence every={every} must be at least 1"])


def _check_at(at: object) -> None:
    if not isinstance(at, str):
        raise ValidationError(
            [f"recurrence time must be HH:MM in 24-hour form, e.g. '09:00', not {describe(at)}"]
        )
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
        if not isinstance(self.frequency, Frequency):
            raise ValidationError(
                [
                    "recurrence frequency must be a Frequency (DAILY, WEEKLY, MONTHLY or "
                    f"RRULE), not {describe(self.frequency)}; build it with Recurrence.daily() etc."
                ]
            )
        if self.frequency is Frequency.RRULE:
            _rrule_text(self.rule)
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
        so it may not carry its own ``DTSTART``; ``UNTIL`` is a date-time, local
        or UTC (``...Z``). It is read strictly: every RFC 5545 (section 3.3.10)
        "MUST NOT" and every value out of its range is refused, naming the part
        (``BYMONTH=13``, ``COUNT`` with ``UNTIL``, ``BYDAY=1MO`` with
        ``FREQ=WEEKLY``, a part given twice, an unknown part). A rule that is
        well formed but never fires (``FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30``)
        is accepted here and refused when the campaign is activated.

        Raises:
            ValidationError: the text is not a valid RRULE, with every problem listed.
        """
        return cls(Frequency.RRULE, rule=_rrule_text(rule))


def _rrule_text(rule: object) -> str:
    """The RRULE text without an ``RRULE:`` prefix, once it is read without a problem."""
    if not isinstance(rule, str):
        raise ValidationError(
            [f"rrule must be a string such as 'FREQ=DAILY', not {describe(rule)}"]
        )
    if len(rule) > MAX_RULE_LENGTH:
        raise ValidationError(
            [f"rrule is {len(rule)} characters long; the limit is {MAX_RULE_LENGTH}: shorten it"]
        )
    text = rule.strip()
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
    parse_rule(text)
    return text


def _weekdays(days: Sequence[Weekday | str]) -> tuple[Weekday, ...]:
    """Weekday codes as distinct ``Weekday`` values in week order (at least one)."""
    if isinstance(days, (str, bytes)) or not isinstance(days, (list, tuple, set, frozenset)):
        raise ValidationError(
            [f"weekly days must be a list of weekday codes such as ['MO'], not {describe(days)}"]
        )
    problems = []
    chosen = set()
    for day in days:
        code = day.value if isinstance(day, Weekday) else day
        if not isinstance(code, str):
            problems.append(f"a weekday must be a code such as 'MO', not {describe(day)}")
        elif code not in Weekday.__members__:
            problems.append(f"unknown weekday {code!r}; use MO TU WE TH FR SA SU")
        else:
            chosen.add(Weekday(code))
    if not days:
        problems.append("a weekly recurrence needs at least one weekday")
    if problems:
        raise ValidationError(problems)
    return tuple(sorted(chosen, key=list(Weekday).index))


def _check_day(day: object) -> None:
    if type(day) is not int:
        raise ValidationError(
            [f"monthly day must be a whole number between 1 and 31, not {describe(day)}"]
        )
    if not 1 <= day <= 31:
        raise ValidationError([f"monthly day {day} must be between 1 and 31"])


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


def _wall(instant: pendulum.DateTime, zone: str) -> datetime.datetime:
    local = instant.in_timezone(zone)
    return datetime.datetime(
        local.year, local.month, local.day, local.hour, local.minute, local.second
    )


def _rrule_instants(
    recurrence: Recurrence, anchor: pendulum.DateTime, zone: str
) -> Iterator[pendulum.DateTime]:
    """The rule's instants from ``anchor``, its DTSTART (the first ``COUNT`` if it has one)."""
    assert recurrence.rule is not None
    parts = parse_rule(recurrence.rule)
    # Minute resolution, like every campaign time: seconds come only from BYSECOND.
    start = _wall(anchor, zone) if parts.has_seconds else _wall(anchor, zone).replace(second=0)
    until = parts.until
    if until is not None and parts.until_utc:
        until = _wall(pendulum.instance(until, tz="UTC"), zone)
    rule = dateutil_rule(parts, start, until)
    if rule is None:
        return
    walls = iter(rule)
    for _ in range(parts.count) if parts.count is not None else itertools.count():
        try:
            wall = next(walls, None)
        except ValueError:  # dateutil: the BYxxx times are never reached from this start
            return
        if wall is None:
            return
        at = f"{wall.hour:02d}:{wall.minute:02d}"
        yield local_instant(wall.date(), at, zone, wall.second)


def _until_calendar_ends(
    instants: Iterator[pendulum.DateTime],
) -> Iterator[pendulum.DateTime]:
    """``instants`` until the next would fall after the year 9999, where the series ends.

    A large ``every`` (``Recurrence.daily(at=..., every=10**9)``) or a start
    late in 9999 puts the next slot past the last date Python can represent:
    it has no next occurrence, rather than raising ``OverflowError``.
    """
    while True:
        try:
            slot = next(instants, None)
        except (OverflowError, ValueError):  # date value (or year) out of range
            return
        if slot is None:
            return
        yield slot


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
            it, and every-N periods (and an RRULE's COUNT) count from its local
            date. A slot in its own minute (second, for an RRULE with BYSECOND)
            counts and fires at ``anchor`` itself.
        after: Only occurrences strictly after this instant.
        end: Only occurrences strictly before this instant (finite when given).
    """
    resolution = pendulum.duration(minutes=1)
    if recurrence.frequency is Frequency.RRULE:
        instants: Iterator[pendulum.DateTime] = _rrule_instants(recurrence, anchor, zone)
        if parse_rule(str(recurrence.rule)).has_seconds:
            resolution = pendulum.duration(seconds=1)
    else:
        anchor_day = anchor.in_timezone(zone).date()
        near = max(anchor, after or anchor).in_timezone(zone).date()
        instants = (
            local_instant(day, recurrence.at, zone) for day in _days(recurrence, anchor_day, near)
        )
    last: pendulum.DateTime | None = None
    for slot in _until_calendar_ends(instants):
        instant = slot
        if slot < anchor:
            if slot <= anchor - resolution:
                continue
            instant = anchor  # the start's own minute (second): it counts, at the start
        if end is not None and instant >= end:
            return
        if after is not None and instant <= after:
            continue
        if last is not None and instant <= last:
            continue  # two wall times folded onto one instant: keep it once
        last = instant
        yield instant
