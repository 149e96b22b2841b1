"""SQLite ledger: intents written in whole statements of rows (``INSERT_PENDING_ROWS``).

``add_pending`` groups a batch's rows by run, action, campaign, channel, due
time and zone presence, and writes each group ``ROWS_PER_INSERT`` rows at a
time in one statement, the rest row by row. What the ledger then holds must be
exactly the entries the rows stand for, whatever the mix of groups.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from campaignkit.adapters.sqlite import SQLiteStore
from campaignkit.adapters.sqlite.ledger_codec import _encode_own
from campaignkit.adapters.sqlite.ledger_sql import (
    INSERT_PENDING_BY_SHAPE,
    INSERT_PENDING_ROWS,
    ROWS_PER_INSERT,
)
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import Message, PendingRow, pending_entry
from campaignkit.domain.surface import EmailSettings
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


def _variants() -> list[Message]:
    """Messages of every shape the inlined message text must give exactly as ``_encode_own``."""
    other_settings = EmailSettings(sender="other@example.com", reply_to="r@example.com")
    base = make_message("p0", fields={"subject": 'Hi "Ann" ü\n', "html": "<p>\u2028</p>"})
    plain = {"subject": "Hi", "html": "x"}
    variants = [
        base,
        make_message("p1", fields=plain),
        make_message("p2", fields={"title": "T", "body": "B"}),  # other names, same count
        make_message("p3", fields=plain, proof=True),
        make_message("p4", fields=plain, transactional=True),
        make_message("p5", fields={"text": "one field"}),
        make_message("p6"),  # three fields
        attrs.evolve(make_message("p7", fields=plain), unsubscribe_url="https://u.example/x"),
        attrs.evolve(make_message("p8", fields=plain), idempotency_key="custom"),
        attrs.evolve(make_message("p9", fields=plain), settings=other_settings),
        make_message("p10", fields=plain),  # back to the first settings
        make_message("p11", fields={"subject": 1, "html": "x"}),  # type: ignore[dict-item]
        make_message("p12", fields={2: "x", "html": "x"}),  # type: ignore[dict-item]
        make_message("p13", fields=plain),  # names again after a refusal
    ]
    # each followed by a copy for another profile with the same settings object
    return [
        copy
        for v in variants
        for copy in (
            v,
            attrs.evolve(
                v,
                profile_id=v.profile_id + "b",
                idempotency_key=v.idempotency_key.replace(v.profile_id, v.profile_id + "b"),
            ),
        )
    ]


def test_message_texts_are_those_of_the_codec(store: SQLiteStore) -> None:
    """Whatever the message's shape, the row keeps exactly ``_encode_own``'s text."""
    messages = _variants()
    with store.unit_of_work() as uow:
        uow.ledger.add_pending([(message, None, None) for message in messages])
    rows: dict[object, object] = dict(store.database.all("SELECT profile_id, message FROM ledger"))
    assert rows == {message.profile_id: _encode_own(message) for message in messages}
    with store.unit_of_work() as uow:
        entries = {e.profile_id: e.message for e in uow.ledger.entries("run_1")}
    # (a number as a field's name comes back as text, as the codec always gave it)
    kept = {k: v for k, v in entries.items() if not k.startswith("p12")}
    assert kept == {m.profile_id: m for m in messages if not m.profile_id.startswith("p12")}
    assert entries["p12"] is not None
    assert dict(entries["p12"].fields) == {"2": "x", "html": "x"}
