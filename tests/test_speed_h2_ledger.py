"""SQLite ledger: intents written in whole statements of rows (``INSERT_PENDING_ROWS``).

``add_pending`` groups a batch's rows by run, action, campaign, channel, due
time and zone presence, and writes each group ``ROWS_PER_INSERT`` rows at a
time in one statement, the rest row by row. What the ledger then holds must be
exactly the entries the rows stand for, whatever the mix of groups.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from campaignkit.adapters.sqlite import SQLiteStore
from campaignkit.adapters.sqlite.ledger import (
    INSERT_PENDING_BY_SHAPE,
    INSERT_PENDING_ROWS,
    ROWS_PER_INSERT,
)
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import PendingRow, pending_entry
from campaignkit.errors import ConflictError
from campaignkit.testing.contracts._support import _by_key, _entries, make_message
from campaignkit.testing.factories import EPOCH


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    """An empty SQLite file store."""
    with SQLiteStore(tmp_path / "ledger.db") as store:
        yield store


def _traced(store: SQLiteStore, rows: list[PendingRow]) -> list[str]:
    """The INSERT statements ``add_pending(rows)`` runs, as SQLite saw them."""
    statements: list[str] = []
    connection = store.database.connection
    with store.unit_of_work() as uow:
        connection.set_trace_callback(statements.append)
        try:
            uow.ledger.add_pending(rows)
        finally:
            connection.set_trace_callback(None)
    return [s for s in statements if s.startswith("INSERT")]


def _mixed_rows(count: int) -> list[PendingRow]:
    """Rows of two actions, two channels, three due times and some zones, interleaved."""
    rows: list[PendingRow] = []
    later = EPOCH.add(hours=2)
    for number in range(count):
        profile_id = f"p{number:04d}"
        due = (EPOCH, None, later)[number % 7 // 3]  # runs of three with one due time
        zone = "Europe/Paris" if number % 5 == 0 else None
        rows.append((make_message(profile_id, action_id="act_a"), due, zone))
        rows.append(
            (make_message(profile_id, channel=ChannelType.SMS, action_id="act_b"), due, None)
        )
    return rows


def test_rows_of_many_groups_read_back_as_their_entries(store: SQLiteStore) -> None:
    rows = _mixed_rows(400)
    executed = _traced(store, rows)
    with store.unit_of_work() as uow:
        assert _entries(uow) == _by_key([pending_entry(row) for row in rows])
    shapes = {sql.split(" VALUES ")[0] for sql in INSERT_PENDING_ROWS}
    assert shapes == {INSERT_PENDING_BY_SHAPE[0].split(" VALUES ")[0]}
    whole = [sql for sql in executed if sql.count("'pending'") == ROWS_PER_INSERT]
    single = [sql for sql in executed if sql.count("'pending'") == 1]
    assert whole  # groups of at least ROWS_PER_INSERT rows went in whole statements
    assert len(whole) * ROWS_PER_INSERT + len(single) == len(rows)


@pytest.mark.parametrize("count", [ROWS_PER_INSERT - 1, ROWS_PER_INSERT, 3 * ROWS_PER_INSERT + 7])
def test_one_group_goes_in_whole_statements_then_row_by_row(store: SQLiteStore, count: int) -> None:
    """Each shape (due time or not, zone or not): the same entries, the same statement count."""
    for shape, (due, zone) in enumerate(
        [(None, None), (None, "UTC"), (EPOCH, None), (EPOCH, "UTC")]
    ):
        run_id = f"run_{shape}"
        # ids equal but not identical: grouped by value, not by identity
        rows: list[PendingRow] = [
            (make_message(f"p{n:04d}", run_id="".join(["run_", str(shape)])), due, zone)
            for n in range(count)
        ]
        executed = _traced(store, rows)
        with store.unit_of_work() as uow:
            assert _entries(uow, run_id) == _by_key([pending_entry(row) for row in rows])
        whole, rest = divmod(count, ROWS_PER_INSERT)
        assert len(executed) == whole + rest
        assert all(sql.startswith(INSERT_PENDING_ROWS[shape].split("?")[0]) for sql in executed)


def test_a_key_twice_or_recorded_already_is_refused(store: SQLiteStore) -> None:
    rows = _mixed_rows(ROWS_PER_INSERT)
    with pytest.raises(ConflictError, match="recorded already"), store.unit_of_work() as uow:
        uow.ledger.add_pending([*rows, rows[0]])
    with store.unit_of_work() as uow:
        assert _entries(uow) == []
        uow.ledger.add_pending(rows)
    with pytest.raises(ConflictError, match="recorded already"), store.unit_of_work() as uow:
        uow.ledger.add_pending(rows[:ROWS_PER_INSERT])
    with store.unit_of_work() as uow:
        assert _entries(uow) == _by_key([pending_entry(row) for row in rows])
