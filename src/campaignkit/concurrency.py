"""Which units of work may overlap: hints from the shell to stores that run units in parallel.

SQLite and the in-memory store run one unit of work at a time, so they ignore
everything here. A store whose units can overlap (PostgreSQL) runs every
unit alone by default, exactly as SQLite does, except units opened inside
:func:`shared_units`: those run beside each other and serialize only on what
they lock. The delivery runner opens its units there, and locks what it
reads, checks and then writes:

- :func:`lock_run` before reading a run it will write (every unit of a run's
  delivery begins so), or to claim a due run without waiting for a worker
  that holds it (``wait=False``: PostgreSQL's ``FOR UPDATE SKIP LOCKED``);
- :func:`lock` with a name for a check across runs: ``"caps"`` before reading
  the contact counts a frequency cap decides on, ``"campaign:<id>"`` before a
  run's end updates its campaign.

A unit opened elsewhere (authoring, approvals, triggers accepted, feedback)
still runs alone: it waits for shared units in flight, and they for it. See
docs/decisions/postgresql.md, "Parallel delivery units".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol, cast, runtime_checkable

_SHARED: ContextVar[bool] = ContextVar("campaignkit_shared_units", default=False)


@contextmanager
def shared_units() -> Iterator[None]:
    """Let the units this thread opens in the block run beside other shared units.

    Only code that locks, with :func:`lock_run` and :func:`lock`, everything it
    reads to decide a write may open units here.
    """
    token = _SHARED.set(True)
    try:
        yield
    finally:
        _SHARED.reset(token)


def units_are_shared() -> bool:
    """True inside :func:`shared_units` (read by stores when a unit begins)."""
    return _SHARED.get()


@runtime_checkable
class LockingUnit(Protocol):
    """A unit of work that can lock a name until it ends (PostgreSQL's)."""

    def lock(self, name: str) -> None:
        """Wait until no other unit holds ``name``, then hold it until this unit ends."""


@runtime_checkable
class LockingRuns(Protocol):
    """A runs repository that can lock one run's row until the unit ends."""

    def lock(self, run_id: str, *, wait: bool = True) -> bool:
        """Lock the run's row; with ``wait=False``, False at once if another unit holds it."""


def lock(uow: object, name: str) -> None:
    """Hold ``name`` until ``uow`` ends, if its store runs units in parallel.

    Args:
        uow: The open unit of work.
        name: What to serialize on (``"caps"``, ``"campaign:<id>"``).
    """
    locking = getattr(uow, "lock", None)  # cheaper than isinstance(uow, LockingUnit)
    if locking is not None:
        cast("LockingUnit", uow).lock(name)


def lock_run(uow: object, run_id: str, *, wait: bool = True) -> bool:
    """Lock the run ``run_id`` until ``uow`` ends, if its store runs units in parallel.

    Args:
        uow: The open unit of work (its ``runs`` repository locks).
        run_id: The run.
        wait: False to give up at once when another unit holds the run.

    Returns:
        False only when ``wait`` is False and another unit holds the run.
    """
    runs = getattr(uow, "runs", None)
    if getattr(runs, "lock", None) is None:  # SQLite, memory: units run one at a time
        return True
    return cast("LockingRuns", runs).lock(run_id, wait=wait)
