"""What time it is: the :class:`Clock` port and the one real clock.

Nothing in campaignkit reads the wall clock except :class:`SystemClock`.
Tests and notebooks use :class:`campaignkit.testing.ManualClock` instead.
"""

from __future__ import annotations

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


class SystemClock:
    """The wall clock. The only place in campaignkit that reads real time."""

    def now(self) -> pendulum.DateTime:
        """Return the current wall-clock instant in UTC."""
        return pendulum.now("UTC")

    def __repr__(self) -> str:
        return "SystemClock()"
