"""The PostgreSQL unit of work: the SQLite repositories, plus the locks of parallel units.

A unit opened inside :func:`campaignkit.concurrency.shared_units` runs beside
other such units (see :mod:`.connection`); what it reads to decide a write it
locks first, through the two methods here.
"""

from __future__ import annotations

from typing import ClassVar, Final

import attrs

from campaignkit.adapters.postgres.connection import PostgresDatabase
from campaignkit.adapters.sqlite.runs import _SELECT, SQLiteRuns
from campaignkit.adapters.sqlite.shards import SQLiteShards
from campaignkit.adapters.sqlite.store import SQLiteUnitOfWork
from campaignkit.domain.delivery import Run
from campaignkit.errors import NotFound

_GET_LOCKED: Final = f"{_SELECT} WHERE id = ? FOR UPDATE"


class PostgresRuns(SQLiteRuns):
    """The SQLite runs repository, whose rows a parallel unit locks.

    In a unit that runs beside others, reading a run locks its row until the
    unit ends (``SELECT ... FOR UPDATE``, the same round trip): whatever the
    unit decides from it and writes back, no other unit changes meanwhile.

    Args:
        db: The store's connections.
    """

    def __init__(self, db: PostgresDatabase) -> None:
        super().__init__(db)
        self._pg = db

    def get(self, run_id: str) -> Run:
        """Return the run, its row locked in a parallel unit; ``NotFound`` if there is none."""
        if not self._pg.shared:
            return super().get(run_id)
        row = self._pg.one(_GET_LOCKED, (run_id,))
        if row is None:
            raise NotFound("run", run_id)
        return self._decode(row)

    def lock(self, run_id: str, *, wait: bool = True) -> bool:
        """Lock the run's row until the unit ends (``FOR UPDATE``).

        Args:
            run_id: The run.
            wait: False to skip a row another unit holds (``SKIP LOCKED``).

        Returns:
            False only when ``wait`` is False and another unit holds the row.
        """
        return self._pg.lock_row("runs", run_id, wait=wait)


@attrs.define
class PostgresUnitOfWork(SQLiteUnitOfWork):
    """A unit of work of a PostgreSQL store: the SQLite repositories on its connection."""

    db: PostgresDatabase
    shards: PostgresShards

    def lock(self, name: str) -> None:
        """Hold ``name`` until the unit ends, if it runs beside others (an advisory lock).

        Args:
            name: What to serialize on (``"caps"``, ``"campaign:<id>"``).
        """
        self.db.lock(name)


class PostgresShards(SQLiteShards):
    """The SQLite shards repository, locking as PostgreSQL's parallel units need.

    ``hold`` reads the shard ``FOR UPDATE``: a claim that would move its epoch
    waits until the holder's unit ends, so a unit that found its epoch current
    writes under it. ``claim`` skips a shard another unit holds (``FOR UPDATE
    SKIP LOCKED``): claimers never wait on each other.
    """

    HOLD: ClassVar[str] = f"{SQLiteShards.HOLD} FOR UPDATE"
    CLAIM_SUFFIX: ClassVar[str] = f"{SQLiteShards.CLAIM_SUFFIX} FOR UPDATE SKIP LOCKED"
