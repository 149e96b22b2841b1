"""What time it is: the :class:`Clock` port and the one real clock.

Nothing in campaignkit reads the wall clock except :class:`SystemClock`.
Tests and notebooks use :class:`campaignkit.testing.ManualClock` instead.

A clock may also be a :class:`WaitableClock`: the worker
(``kit.run_forever``) then waits for the next due instant through it, so a
``ManualClock`` moved by another thread wakes the worker at once.
"""

from __future__ import annotations

import threading
from typing import Protocol, runtime_checkable

import pendulum


@runtime_checkable
class Clock(Protocol):
    """Protocol: a source of the current instant (aware, UTC)."""

    def now(self) -> pendulum.DateTime:
        """Return the current instant as an aware UTC date-time."""
        ...


@runtime_checkable
class SettableClock(Clock, Protocol):
    """Protocol: a clock that can be moved forward (needed by ``run_until``)."""

    def set(self, when: pendulum.DateTime) -> None:
        """Move the clock to ``when``; must refuse to go backwards."""
        ...


@runtime_checkable
class WaitableClock(Clock, Protocol):
    """Protocol: a clock a worker can wait on until an instant (used by ``run_forever``).

    A clock without ``wait_until`` still works with ``run_forever``: the worker
    then waits on its stop event for at most its poll interval, in real seconds.
    """

    def wait_until(self, when: pendulum.DateTime, wake: threading.Event) -> bool:
        """Block until the clock reads ``when`` or later, or until ``wake`` is set.

        Returns:
            True if ``wake`` is set (the caller should stop), False once ``when`` is reached.
        """
        ...


_LONGEST_WAIT = 60.0
"""Seconds SystemClock waits at most before reading the clock again (it may be stepped)."""


class SystemClock:
    """The wall clock. The only place in campaignkit that reads real time."""

    def now(self) -> pendulum.DateTime:
        """Return the current wall-clock instant in UTC."""
        return pendulum.now("UTC")

    def wait_until(self, when: pendulum.DateTime, wake: threading.Event) -> bool:
        """Sleep until the wall clock reads ``when``, or until ``wake`` is set.

        Waits on ``wake`` in steps of at most a minute, reading the clock after
        each, so a stepped wall clock (NTP, a resumed laptop) is noticed.

        Returns:
            True if ``wake`` is set, False once ``when`` is reached.
        """
        while True:
            if wake.is_set():
                return True
            remaining = (when - self.now()).total_seconds()
            if remaining <= 0:
                return False
            if wake.wait(min(remaining, _LONGEST_WAIT)):
                return True

    def __repr__(self) -> str:
        return "SystemClock()"
