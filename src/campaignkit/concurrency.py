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

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol, cast, runtime_checkable

_SHARED: ContextVar[bool] = ContextVar("campaignkit_shared_units", default=False)
_PARKING: ContextVar[Callable[[], object] | None] = ContextVar(
    "campaignkit_parked_commits", default=None
)
_AHEAD: ContextVar[bool] = ContextVar("campaignkit_reads_ahead", default=False)


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


@contextmanager
def parked_commits(redo: Callable[[], object]) -> Iterator[None]:
    """Let a unit that ends in the block leave its ``COMMIT`` in flight.

    A store that can (PostgreSQL, with two connections or more in its pool)
    then sends the unit's last statements and its ``COMMIT`` without waiting
    for the server's answer, and keeps the unit's connection aside: the
    server finishes the unit on its own while the caller goes on. The store
    reads the answer (:func:`finish_parked`) when its next unit begins,
    unless that unit is opened in :func:`reads_ahead`. If the parked unit
    turns out to have failed a check (``ConflictError``: nothing of it was
    written), ``redo`` is called then instead, to write it again in line;
    any other error is raised. Other stores commit as usual.

    The delivery runner parks a batch's outcomes while it reads and decides
    the next batch (see docs/decisions/postgresql.md, "Parked outcomes").
    """
    token = _PARKING.set(redo)
    try:
        yield
    finally:
        _PARKING.reset(token)


def parking() -> Callable[[], object] | None:
    """The ``redo`` of :func:`parked_commits` around this call, or None outside one."""
    return _PARKING.get()


@contextmanager
def reads_ahead() -> Iterator[None]:
    """Open units that only read what a parked unit does not change, leaving it parked.

    For the delivery runner's reads of its next batch (members, what the
    ledger holds of them, suppressions), which a batch's outcomes never change.
    """
    token = _AHEAD.set(True)
    try:
        yield
    finally:
        _AHEAD.reset(token)


def reading_ahead() -> bool:
    """True inside :func:`reads_ahead` (read by stores when a unit begins)."""
    return _AHEAD.get()


@runtime_checkable
class ParksCommits(Protocol):
    """A store that can park a unit's ``COMMIT`` (see :func:`parked_commits`)."""

    @property
    def parks_commits(self) -> bool:
        """Whether a unit ending now may be parked."""

    def finish_parked(self) -> None:
        """Read the parked unit's answer (redo it, or raise), if one is parked."""


def can_park(store: object) -> bool:
    """Whether ``store`` parks the ``COMMIT`` of a unit ending now."""
    return isinstance(store, ParksCommits) and store.parks_commits


def finish_parked(store: object) -> None:
    """Finish ``store``'s parked unit, if it has one (see :func:`parked_commits`).

    Raises:
        StorageError: the parked unit failed for another reason than a check.
    """
    if isinstance(store, ParksCommits):
        store.finish_parked()


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
