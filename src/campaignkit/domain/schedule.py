"""When a campaign runs: start, end, time zone and recurrence.

A schedule may be inconsistent while the campaign is a draft (end before
start, start in the past); :func:`schedule_problems` reports every problem at
activation. Malformed values (a naive date-time, an unknown time zone, a
recurrence at ``"25:00"``) are refused at once with a ``ValidationError``.
"""

from __future__ import annotations

import datetime
import enum
import re
from collections.abc import Sequence

import attrs
import pendulum

from campaignkit.errors import ValidationError
from campaignkit.timeutil import check_timezone, ensure_utc

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


def _check_every(every: int) -> None:
    if every < 1:
        raise ValidationError([f"recurrence every={every} must be at least 1"])


def _check_at(at: str) -> None:
    if not _AT.match(at):
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
        problems = [
            f"unknown weekday {d!r}; use MO TU WE TH FR SA SU"
            for d in days
            if str(getattr(d, "value", d)) not in Weekday.__members__
        ]
        if not days:
            problems.append("a weekly recurrence needs at least one weekday")
        if problems:
            raise ValidationError(problems)
        chosen = sorted(
            {Weekday(str(getattr(d, "value", d))) for d in days}, key=list(Weekday).index
        )
        return cls(Frequency.WEEKLY, at=at, every=every, days=tuple(chosen))

    @classmethod
    def monthly(cls, *, day: int, at: str, every: int = 1) -> Recurrence:
        """On day ``day`` (1-31) of every ``every`` months, at local time ``at``."""
        _check_at(at)
        _check_every(every)
        if not 1 <= day <= 31:
            raise ValidationError([f"monthly day {day} must be between 1 and 31"])
        return cls(Frequency.MONTHLY, at=at, every=every, day=day)

    @classmethod
    def rrule(cls, rule: str) -> Recurrence:
        """An RFC 5545 RRULE, such as ``"FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=9"``."""
        text = rule.strip()
        if text.upper().startswith("RRULE:"):
            text = text[len("RRULE:") :]
        if "FREQ=" not in text.upper():
            raise ValidationError([f"RRULE {rule!r} has no FREQ=...; e.g. 'FREQ=DAILY'"])
        return cls(Frequency.RRULE, rule=text)


def _optional_utc(value: datetime.datetime | None) -> pendulum.DateTime | None:
    return None if value is None else ensure_utc(value, "schedule date-time")


def _valid_zone(_instance: object, _attribute: object, value: str) -> None:
    problem = check_timezone(value)
    if problem:
        raise ValidationError([problem])


@attrs.frozen
class Schedule:
    """When a campaign runs.

    Attributes:
        start: When it goes live; ``None`` means on activation. Stored in UTC.
        end: When it stops running; ``None`` means no end. Stored in UTC.
        timezone: The IANA time zone of the campaign (local times are read in it).
        recurrence: ``None`` for a one-shot campaign, else the repeat rule.
    """

    start: pendulum.DateTime | None = attrs.field(default=None, converter=_optional_utc)
    end: pendulum.DateTime | None = attrs.field(default=None, converter=_optional_utc)
    timezone: str = attrs.field(default="UTC", validator=_valid_zone)
    recurrence: Recurrence | None = None

    @property
    def is_recurring(self) -> bool:
        """True when the schedule repeats."""
        return self.recurrence is not None


def schedule_problems(
    schedule: Schedule, *, now: pendulum.DateTime, check_start: bool = True
) -> list[str]:
    """Return every problem that prevents activating ``schedule`` at ``now``.

    Args:
        schedule: The schedule to check.
        now: The activation instant.
        check_start: False for a new version of a LIVE campaign, whose start is past.
    """
    found = []
    start, end = schedule.start, schedule.end
    if check_start and start is not None and start < now:
        found.append(
            f"schedule start {start.isoformat()} is in the past (now {now.isoformat()}); "
            "move it forward or remove it to start on activation"
        )
    if end is not None:
        if start is not None and end <= start:
            found.append(
                f"schedule end {end.isoformat()} must be after its start {start.isoformat()}"
            )
        elif end <= now:
            found.append(f"schedule end {end.isoformat()} is not in the future")
    return found
