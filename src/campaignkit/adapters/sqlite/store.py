"""``SQLiteStore``: the embedded default store, one SQLite file (or ``:memory:``)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs

from campaignkit.adapters.sqlite.campaigns import SQLiteCampaigns
from campaignkit.adapters.sqlite.connection import Database, open_database
from campaignkit.adapters.sqlite.delivery import (
    SQLiteContacts,
    SQLiteFeedback,
    SQLiteStaticAudiences,
    SQLiteSuppressions,
)
from campaignkit.adapters.sqlite.ledger import SQLiteLedger
from campaignkit.adapters.sqlite.others import (
    SQLiteAccess,
    SQLiteApprovalPolicies,
    SQLiteRules,
    SQLiteSurfaces,
)
from campaignkit.adapters.sqlite.runs import SQLiteExecutions, SQLiteRuns
from campaignkit.adapters.sqlite.shards import SQLiteShards


@attrs.define
class SQLiteUnitOfWork:
    """A unit of work of :class:`SQLiteStore`: one ``BEGIN IMMEDIATE`` transaction."""

    campaigns: SQLiteCampaigns
    surfaces: SQLiteSurfaces
    access: SQLiteAccess
    approval_policies: SQLiteApprovalPolicies
    runs: SQLiteRuns
    ledger: SQLiteLedger
    feedback: SQLiteFeedback
    suppressions: SQLiteSuppressions
    audiences: SQLiteStaticAudiences
    executions: SQLiteExecutions
    contacts: SQLiteContacts
    rules: SQLiteRules
    shards: SQLiteShards = attrs.field(kw_only=True)


class SQLiteStore:
    """A store in one SQLite file, safe across threads and processes.

    Opening verifies the file (a foreign or corrupt file raises
    ``StorageError`` and is left untouched), turns on WAL for files, and
    applies pending schema migrations. Each unit of work is one transaction
    that takes the write lock up front (``BEGIN IMMEDIATE``); other processes
    wait up to ``busy_timeout`` seconds for it. Within a process, units are
    serialized by a lock; a unit opened inside another on the same thread
    joins it.

    Args:
        path: A file path, or ``":memory:"`` for a private in-memory database.
        busy_timeout: Seconds to wait for another connection's write lock.
    """

    def __init__(self, path: str | os.PathLike[str] = ":memory:", *, busy_timeout: float = 10.0):
        self.path = str(path) if str(path) == ":memory:" else str(Path(path))
        self._db: Database = open_database(self.path, busy_timeout=busy_timeout)
        self._lock = threading.RLock()
        self._local = threading.local()
        db = self._db  # the adapters keep no state of their own: one set serves every unit
        self._uow = SQLiteUnitOfWork(
            SQLiteCampaigns(db),
            SQLiteSurfaces(db),
            SQLiteAccess(db),
            SQLiteApprovalPolicies(db),
            SQLiteRuns(db),
            SQLiteLedger(db),
            SQLiteFeedback(db),
            SQLiteSuppressions(db),
            SQLiteStaticAudiences(db),
            SQLiteExecutions(db),
            SQLiteContacts(db),
            SQLiteRules(db),
            shards=SQLiteShards(db),
        )

    @contextmanager
    def unit_of_work(self) -> Iterator[SQLiteUnitOfWork]:
        """Open a unit of work (one transaction); nested units join the outer one."""
        with self._lock:
            outer: SQLiteUnitOfWork | None = getattr(self._local, "uow", None)
            if outer is not None:
                yield outer
                return
            uow = self._uow
            with self._db.transaction():
                self._local.uow = uow
                try:
                    yield uow
                finally:
                    self._local.uow = None

    @property
    def database(self) -> Database:
        """The connection wrapper (for adapters sharing this file, such as profiles)."""
        return self._db

    def close(self) -> None:
        """Close the connection; the store cannot be used afterwards."""
        with self._lock:
            self._db.connection.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"
