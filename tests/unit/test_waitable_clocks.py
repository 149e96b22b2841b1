"""Waitable clocks: SystemClock sleeps on the wake event; ManualClock wakes waiters when moved."""

from __future__ import annotations

import threading

import pendulum
import pytest

import campaignkit as ck
from campaignkit.testing import ManualClock
from tests.factories import T0

JOIN = 10.0
"""Seconds a test waits at most for a waiting thread (a safety bound, never reached)."""


def test_the_system_clock_waits_on_the_wake_event() -> None:
    clock = ck.SystemClock()
    wake = threading.Event()
    assert clock.wait_until(clock.now().subtract(seconds=1), wake) is False  # already past
    assert clock.wait_until(clock.now().add(microseconds=20_000), wake) is False  # reached
    far = clock.now().add(days=1)
    waker = threading.Timer(0.01, wake.set)
    waker.start()
    assert clock.wait_until(far, wake) is True  # woken long before
    waker.join()
    assert clock.wait_until(far, wake) is True  # already set: at once


def test_the_manual_clock_wakes_its_waiters_when_it_moves() -> None:
    clock = ManualClock(T0)
    wake = threading.Event()
    assert clock.wait_until(T0, wake) is False
    assert clock.wait_for_waiters(timeout=0.01) is False  # nobody waits
    results: list[bool] = []
    waiter = threading.Thread(
        target=lambda: results.append(clock.wait_until(T0.add(hours=1), wake))
    )
    waiter.start()
    assert clock.wait_for_waiters()
    clock.set(T0.add(hours=2))
    waiter.join(JOIN)
    assert results == [False]
    assert clock.wait_for_waiters(timeout=0.01) is False  # its instant passed: not waiting
    waiter = threading.Thread(target=lambda: results.append(clock.wait_until(T0.add(days=1), wake)))
    waiter.start()
    assert clock.wait_for_waiters()
    wake.set()
    waiter.join(JOIN)
    assert results == [False, True]


def test_a_naive_instant_is_refused_by_the_manual_clock() -> None:
    with pytest.raises(ck.ValidationError):
        ManualClock(T0).wait_until(pendulum.naive(2026, 12, 1), threading.Event())
