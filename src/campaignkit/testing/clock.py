"""A clock that only moves when told to, for tests and notebooks."""

from __future__ import annotations

import threading

import pendulum

from campaignkit.errors import ClockError, ValidationError
from campaignkit.timeutil import ensure_utc

WAKE_CHECK = 0.01
"""Real seconds between checks of the wake event while ``ManualClock.wait_until`` waits."""


class ManualClock:
    """A settable clock that never moves on its own and never goes backwards.

    Like trio's ``MockClock``: tests decide what time it is, so every rule that
    depends on time can be checked to the second.

    Args:
        start: The initial instant; must be timezone-aware.
    """

    def __init__(self, start: pendulum.DateTime | None = None) -> None:
        self._lock = threading.Condition(threading.Lock())  # notified when the clock moves
        initial = start if start is not None else pendulum.datetime(2026, 1, 1, tz="UTC")
        self._now = ensure_utc(initial, "ManualClock start")
        self._waiting: list[pendulum.DateTime] = []  # the instants threads wait for

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
            self._lock.notify_all()

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
            self._lock.notify_all()

    def wait_until(self, when: pendulum.DateTime, wake: threading.Event) -> bool:
        """Block until another thread moves the clock to ``when`` or later, or ``wake`` is set.

        A ``set`` or ``advance`` wakes the waiter at once. ``wake`` cannot
        notify the clock, so it is checked every :data:`WAKE_CHECK` real seconds
        while waiting: a worker stopped from another thread returns that soon.

        Returns:
            True if ``wake`` is set, False once the clock reads ``when`` or later.
        """
        target = ensure_utc(when, "ManualClock.wait_until(when)")
        with self._lock:
            self._waiting.append(target)
            self._lock.notify_all()  # for wait_for_waiters
            try:
                while True:
                    if wake.is_set():
                        return True
                    if self._now >= target:
                        return False
                    self._lock.wait(WAKE_CHECK)
            finally:
                self._waiting.remove(target)

    def wait_for_waiters(self, count: int = 1, *, timeout: float = 10.0) -> bool:
        """Block until ``count`` threads wait in :meth:`wait_until` for an instant still ahead.

        A test driving a worker (``kit.run_forever``) from another thread calls
        this to know the worker has finished its tick and is idle, before it
        moves the clock or looks at the results. A waiter whose instant the
        clock has reached no longer counts, so after ``advance`` this waits for
        the worker to wake, tick and wait again.

        Args:
            count: How many waiting threads to wait for.
            timeout: Real seconds to wait at most (a safety bound for tests).

        Returns:
            True once that many threads wait; False if ``timeout`` passed first.
        """
        with self._lock:
            return self._lock.wait_for(
                lambda: sum(target > self._now for target in self._waiting) >= count, timeout
            )

    def __repr__(self) -> str:
        return f"ManualClock({self._now.isoformat()})"
