"""The delivery ledger on PostgreSQL: the SQLite ledger with two bulk paths of its own.

:class:`PostgresLedger` is :class:`~campaignkit.adapters.sqlite.ledger.SQLiteLedger`
(every query and write, translated by :mod:`.dialect`) except for the two
statements a batch of a run spends most on:

- ``add_pending`` writes each group of intents with one ``COPY`` (about
  3 ms for 500 rows, against 9 ms for 50-row ``INSERT`` statements or a
  pipelined ``executemany``; see docs/performance.md, "PostgreSQL");
- a keyed ``settle`` calls ``ck_settle_accepted`` (schema migration 3): one
  set-based ``UPDATE`` whose only possible plan probes the primary key once
  per member, whatever the table's statistics (the SQLite ledger's
  ``UPDATE ... FROM`` join was planned, before the table had statistics, as
  a scan of the run's whole ledger per batch; migration 2's
  ``ck_settle_keyed``, a loop of one ``UPDATE`` per member, took 1.7 times the
  server time). The function answers a provider id held by another entry
  with -1 instead of an error, having undone its own work, so a single call
  needs no savepoint: one round trip instead of five.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Final

from campaignkit.adapters.postgres.connection import PostgresDatabase
from campaignkit.adapters.sqlite.ledger import SQLiteLedger
from campaignkit.concurrency import parking
from campaignkit.errors import ConflictError

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


_PROVIDER_TAKEN: Final = (
    "ledger write refused: a provider message id is already held by another "
    "message (unique index ledger_by_provider_id); provider ids must be unique"
)


class PostgresLedger(SQLiteLedger):
    """The SQLite ledger on a :class:`PostgresDatabase`, with ``COPY`` intents.

    Args:
        db: The store's connections.
    """

    SETTLE_KEYED: ClassVar[str] = "SELECT ck_settle_accepted(?1, ?2, ?3, ?4, ?5)"
    """A keyed settle as one call of the schema's set-based function (same parameters).

    It returns the entries updated, or -1 when a provider id is held by
    another entry (nothing updated).
    """

    SETTLE_CHECKED: ClassVar[str] = (
        "SELECT 1 / (CASE WHEN ck_settle_accepted(?1, ?2, ?3, ?4, ?5) < 0 THEN 0 ELSE 1 END)"
    )
    """:attr:`SETTLE_KEYED` failing on the server (division by zero) on a provider id taken."""

    def __init__(self, db: PostgresDatabase) -> None:
        super().__init__(db)
        self._pg = db

    def recorded(self, run_id: str, profile_ids: Sequence[str]) -> set[tuple[str, str]]:
        """Pairs of ``run_id`` already in the ledger for these profiles.

        A batch's intents are copied right after this probe finds none of
        them: the savepoint their ``COPY`` needs goes with the probe
        (:meth:`PostgresDatabase.savepoint_ahead`), one round trip less.
        """
        if profile_ids:
            self._pg.savepoint_ahead()
        return super().recorded(run_id, profile_ids)

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

    def _settle_statements(
        self, statements: list[tuple[str, list[tuple[Any, ...]]]], *, many: bool
    ) -> None:
        """Run the settle's statements, all or nothing; a lone keyed call without a savepoint.

        Raises:
            ConflictError: a provider id another entry holds; nothing was written.
        """
        if many:  # the row-by-row statements: the SQLite ledger's savepoint and statements
            super()._settle_statements(statements, many=True)
            return
        calls = [params for _, values in statements for params in values]
        if len(calls) == 1:  # the common case: one action's accepted batch
            self._settle_accepted(calls[0])
            return
        db = self._db
        db.execute("SAVEPOINT ledger_settle")
        try:
            for params in calls:
                self._settle_accepted(params)
        except BaseException:
            db.execute("ROLLBACK TO ledger_settle")
            db.execute("RELEASE ledger_settle")
            raise
        db.execute("RELEASE ledger_settle")

    def _settle_accepted(self, params: tuple[Any, ...]) -> None:
        """Call ``ck_settle_accepted`` once; its -1 (a provider id taken) is a ``ConflictError``.

        In a unit that may be parked (:func:`campaignkit.concurrency.parked_commits`)
        the call is held back with the unit's ``COMMIT``, its -1 a division by
        zero that rolls the unit back (and makes the unit's ``redo`` run).
        """
        if parking() is not None:
            self._pg.defer(self.SETTLE_CHECKED, params, _PROVIDER_TAKEN)
            return
        ((done,),) = self._db.all(self.SETTLE_KEYED, params)  # the function's one value
        if done < 0:
            raise ConflictError(_PROVIDER_TAKEN)
