"""When a campaign runs: start, end, time zone and recurrence.

A schedule may be inconsistent while the campaign is a draft (end before
start, start in the past); :func:`schedule_problems` reports every problem at
activation. Malformed values (a naive date-time, an unknown time zone, a
recurrence at ``"25:00"``) are refused at once with a ``ValidationError``.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import attrs
import pendulum

from campaignkit.domain import checks
from campaignkit.domain.recurrence import Frequency, Recurrence, Weekday, occurrences
from campaignkit.domain.waves import Waves
from campaignkit.errors import ValidationError
from campaignkit.timeutil import calendar_units_problem, check_timezone, ensure_utc

__all__ = [
    "Frequency",
    "Recurrence",
    "Schedule",
    "Waves",
    "Weekday",
    "schedule_problems",
]


def _utc(value: object, label: str) -> pendulum.DateTime | None:
    if value is None:
        return None
    if not isinstance(value, datetime.datetime):
        raise ValidationError(
            [
                f"{label} must be a date-time such as pendulum.datetime(2026, 12, 1, tz='UTC'), "
                f"not {checks.describe(value)}"
            ],
            subject="schedule",
        )
    return ensure_utc(value, label)  # a naive one is refused there


def _start(value: datetime.datetime | None) -> pendulum.DateTime | None:
    return _utc(value, "schedule start")


def _end(value: datetime.datetime | None) -> pendulum.DateTime | None:
    return _utc(value, "schedule end")


def _valid_zone(_instance: object, _attribute: object, value: str) -> None:
    problem = check_timezone(value)
    if problem:
        raise ValidationError([f"schedule timezone: {problem}"], subject="schedule")


def _valid_window(_instance: object, _attribute: object, value: pendulum.Duration) -> None:
    problem = calendar_units_problem(value, "schedule send_window")
    if problem is None and value.total_seconds() <= 0:
        problem = "schedule send_window must be positive, such as pendulum.duration(hours=12)"
    elif problem is None and value > checks.MAX_PERIOD:
        problem = f"schedule send_window is longer than the limit of {checks.MAX_PERIOD.days} days"
    if problem:
        raise ValidationError([problem], subject="schedule")


@attrs.frozen
class Schedule:
    """When a campaign runs.

    Attributes:
        start: When it goes live; ``None`` means on activation. Stored in UTC.
        end: When it stops running; ``None`` means no end. Stored in UTC.
        timezone: The IANA time zone of the campaign (local times are read in it).
        recurrence: ``None`` for a one-shot campaign, else the repeat rule.
        use_profile_timezone: Deliver at the scheduled wall-clock time in each
            recipient's own time zone.
        waves: Send the audience in timed parts.
        send_window: How long after a recipient's own due time a message may
            still go out; after that it is excluded (``send_window``).
    """

    start: pendulum.DateTime | None = attrs.field(default=None, converter=_start)
    end: pendulum.DateTime | None = attrs.field(default=None, converter=_end)
    timezone: str = attrs.field(default="UTC", validator=_valid_zone)
    recurrence: Recurrence | None = None
    use_profile_timezone: bool = False
    waves: Waves | None = None
    send_window: pendulum.Duration = attrs.field(
        factory=lambda: pendulum.duration(hours=12),
        converter=checks.as_duration,
        validator=_valid_window,
    )

    def __attrs_post_init__(self) -> None:
        """Refuse a recurrence, waves or flag of the wrong type (loaded values too)."""
        problems: list[str] = []
        if self.recurrence is not None:
            checks.instance(problems, "schedule recurrence", self.recurrence, Recurrence)
        if self.waves is not None:
            checks.instance(problems, "schedule waves", self.waves, Waves)
        checks.boolean(problems, "schedule use_profile_timezone", self.use_profile_timezone)
        checks.raise_if(problems, "schedule")

    @property
    def is_recurring(self) -> bool:
        """True when the schedule repeats."""
        return self.recurrence is not None

    def occurrences(
        self,
        after: pendulum.DateTime | None = None,
        *,
        anchor: pendulum.DateTime | None = None,
    ) -> Iterator[pendulum.DateTime]:
        """The instants (UTC) the schedule fires at, strictly after ``after``.

        A one-shot schedule fires once, at its start. A recurring one fires per
        its rule from its start, until its end (exclusive): finite when an end
        is set. A schedule without a start is anchored on ``anchor`` (the
        campaign's activation: every-N periods and RRULE counts run from it),
        else on ``after``.

        Raises:
            ValidationError: neither a start, ``anchor`` nor ``after`` gives a first day.
        """
        anchor = self.start or anchor or after
        if anchor is None:
            raise ValidationError(
                ["this schedule has no start: pass anchor= (for example the activation instant)"]
            )
        if self.recurrence is None:
            start = self.start
            if (
                start is not None
                and (after is None or start > after)
                and (self.end is None or start < self.end)
            ):
                yield start
            return
        yield from occurrences(
            self.recurrence, zone=self.timezone, anchor=anchor, after=after, end=self.end
        )


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
