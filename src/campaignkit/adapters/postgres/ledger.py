"""The delivery ledger on PostgreSQL: the SQLite ledger with two bulk paths of its own.

:class:`PostgresLedger` is :class:`~campaignkit.adapters.sqlite.ledger.SQLiteLedger`
(every query and write, translated by :mod:`.dialect`) except for the two
statements a batch of a run spends most on:

- ``add_pending`` writes each group of intents with one ``COPY`` (about
  3 ms for 500 rows, against 9 ms for 50-row ``INSERT`` statements or a
  pipelined ``executemany``; see docs/performance.md, "PostgreSQL");
- a keyed ``settle`` calls ``ck_settle_keyed`` (schema migration 2), one
  ``UPDATE`` by full primary key per member in a server-side loop: the
  ``UPDATE ... FROM`` join the SQLite ledger uses was planned, before the
  table had statistics, as a scan of the run's whole ledger per batch.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

from campaignkit.adapters.postgres.connection import PostgresDatabase
from campaignkit.adapters.sqlite.ledger import SQLiteLedger

PENDING_COLUMNS: Final = (
    "run_id",
    "action_id",
    "profile_id",
    "campaign_id",
    "channel",
    "state",
    "address",
    "due_us",
    "timezone",
    "message",
)
"""The columns ``add_pending`` copies, in order."""


class PostgresLedger(SQLiteLedger):
    """The SQLite ledger on a :class:`PostgresDatabase`, with ``COPY`` intents.

    Args:
        db: The store's connections.
    """

    SETTLE_KEYED: ClassVar[str] = "SELECT ck_settle_keyed(?1, ?2, ?3, ?4, ?5)"
    """A keyed settle as one call of the schema's server-side loop (same parameters)."""

    def __init__(self, db: PostgresDatabase) -> None:
        super().__init__(db)
        self._pg = db

    def _insert_group(self, key: tuple[Any, ...], values: list[Any]) -> None:
        """Copy one ``add_pending`` group (its rows' own values, flat) in one ``COPY``."""
        run_id, action_id, campaign_id, channel, due_us, zoned = key
        width = 4 if zoned else 3
        self._pg.copy(
            "ledger",
            PENDING_COLUMNS,
            (
                (
                    run_id,
                    action_id,
                    values[at],
                    campaign_id,
                    channel,
                    "pending",
                    values[at + 1],
                    due_us,
                    values[at + 2] if zoned else None,
                    values[at + width - 1],
                )
                for at in range(0, len(values), width)
            ),
        )
