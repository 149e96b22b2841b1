"""SQLite contacts: a keyed batch of one instant is one statement, with the same rows.

``SQLiteContacts.record`` writes a batch sent at one instant under distinct
keys as one ``INSERT ... SELECT`` from a JSON object; anything else row by
row. Both must leave exactly the rows (and their order) the row-by-row
statement leaves.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from unittest import mock

import pendulum
import pytest

from campaignkit.adapters.sqlite import SQLiteStore
from campaignkit.adapters.sqlite.delivery import SQLiteContacts
from campaignkit.domain.channels import ChannelType

T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
ODD = ['a"b', "c\\d", "e\nf\x01", "é", "😀x", "tab\there", "\u2028", " "]
"""Text JSON must escape, or that a decoder could get wrong."""

Contacts = Sequence[tuple[str, pendulum.DateTime]]


def _rows(store: SQLiteStore) -> list[tuple[object, ...]]:
    return store.database.all(
        "SELECT rowid, channel, profile_id, sent_us, message_key FROM contacts ORDER BY rowid"
    )


def _written(
    path: Path, contacts: Contacts, keys: Sequence[str] | None, *, one_by_one: bool
) -> tuple[list[tuple[object, ...]], list[str]]:
    store = SQLiteStore(path)
    statements: list[str] = []
    store.database.connection.set_trace_callback(statements.append)
    try:
        with store.unit_of_work() as uow:
            if one_by_one:  # the reference: what record wrote before the keyed statement
                with mock.patch.object(SQLiteContacts, "_keyed", return_value=False):
                    uow.contacts.record(ChannelType.EMAIL, contacts, keys)
            else:
                uow.contacts.record(ChannelType.EMAIL, contacts, keys)
        return _rows(store), statements
    finally:
        store.close()


def _same(tmp_path: Path, contacts: Contacts, keys: Sequence[str] | None) -> bool:
    """Assert both ways write the same rows; True if the keyed statement wrote them."""
    fast, statements = _written(tmp_path / "fast.db", contacts, keys, one_by_one=False)
    slow, _ = _written(tmp_path / "slow.db", contacts, keys, one_by_one=True)
    assert fast == slow
    return any("json_each" in statement for statement in statements)


def test_a_batch_of_one_instant_is_one_statement_with_the_same_rows(tmp_path: Path) -> None:
    ids = [f"p{i:04d}" for i in range(600)]
    keys = [f"run_1:act_1:{i}" for i in ids]
    assert _same(tmp_path, [(i, T0) for i in ids], keys)


def test_text_json_escapes_reads_back_unchanged(tmp_path: Path) -> None:
    ids = [*ODD, *(f"{text}-id" for text in ODD)]
    keys = [f"key:{text}:{n}" for n, text in enumerate(ids)]
    assert _same(tmp_path, [(i, T0) for i in ids], keys)


def test_an_instant_in_another_zone_is_the_same_instant(tmp_path: Path) -> None:
    other = T0.in_timezone("Europe/Paris")
    assert _same(tmp_path, [("p1", T0), ("p2", other)], ["k1", "k2"])


@pytest.mark.parametrize(
    ("contacts", "keys"),
    [
        ([("p1", T0), ("p2", T0.add(seconds=1))], ["k1", "k2"]),  # two instants
        ([("p1", T0), ("p2", T0)], ["k", "k"]),  # a key twice
        ([("p1", T0), ("p2", T0)], None),  # no keys
        ([("p\x00", T0)], ["k1"]),  # a NUL SQLite's JSON would cut at
        ([("p1", T0)], ["k\x00"]),
        ([("p1", T0)], ["k\\u0000"]),  # (only looks like one in JSON: written row by row too)
        ([], []),
    ],
)
def test_other_batches_are_written_row_by_row(
    tmp_path: Path, contacts: Contacts, keys: Sequence[str] | None
) -> None:
    assert not _same(tmp_path, contacts, keys)


def test_keys_or_ids_that_are_not_text_are_written_row_by_row(tmp_path: Path) -> None:
    # JSON would write a number key as text and a number id as a number
    assert not _same(tmp_path, [("p1", T0)], [7])  # type: ignore[list-item]
    assert not _same(tmp_path, [(7, T0)], ["k1"])  # type: ignore[list-item]


@pytest.mark.parametrize("one_by_one", [True, False])
def test_a_lone_surrogate_fails_to_bind_either_way(tmp_path: Path, one_by_one: bool) -> None:
    """Not handed to json_each as an escape it would store as invalid UTF-8."""
    with pytest.raises(UnicodeEncodeError):
        _written(
            tmp_path / "s.db", [("p1", T0), ("x\udc80", T0)], ["k1", "k2"], one_by_one=one_by_one
        )
