"""A clock that only moves when told to, for tests and notebooks."""

from __future__ import annotations

import threading

import pendulum

from campaignkit.errors import ClockError, ValidationError
from campaignkit.timeutil import ensure_utc


class ManualClock:
    """A settable clock that never moves on its own and never goes backwards.

    Like trio's ``MockClock``: tests decide what time it is, so every rule that
    depends on time can be checked to the second.

    Args:
        start: The initial instant; must be timezone-aware.
    """

    def __init__(self, start: pendulum.DateTime | None = None) -> None:
        self._lock = threading.Lock()
        initial = start if start is not None else pendulum.datetime(2026, 1, 1, tz="UTC")
        self._now = ensure_utc(initial, "ManualClock start")

    def now(self) -> pendulum.DateTime:
        """Return the clock's current instant (UTC)."""
        with self._lock:
            return self._now

    def set(self, when: pendulum.DateTime) -> None:
        """Move the clock to ``when``.

        Raises:
            ClockError: ``when`` is earlier than the current instant.
            ValidationError: ``when`` is naive.
        """
        target = ensure_utc(when, "ManualClock.set(when)")
        with self._lock:
            if target < self._now:
                raise ClockError(
                    f"ManualClock cannot go backwards from {self._now.isoformat()} "
                    f"to {target.isoformat()}; create a new clock to restart time"
                )
            self._now = target

    def advance(self, duration: pendulum.Duration | None = None, **units: float) -> None:
        """Move the clock forward by a duration, or by keyword units.

        Example: ``clock.advance(days=3)`` or ``clock.advance(pendulum.duration(hours=1))``.

        Raises:
            ClockError: the step is negative.
            ValidationError: both a duration and units were given.
        """
        if duration is not None and units:
            raise ValidationError(["give either a duration or keyword units, not both"])
        step = duration if duration is not None else pendulum.duration(**units)
        if step.total_seconds() < 0:
            raise ClockError(f"ManualClock cannot advance by a negative step ({step})")
        with self._lock:
            self._now = self._now + step

    def __repr__(self) -> str:
        return f"ManualClock({self._now.isoformat()})"
