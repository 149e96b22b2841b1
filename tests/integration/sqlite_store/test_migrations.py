"""Migrations on real files: every migration recorded once, older files upgraded with their
data, newer or unknown files refused untouched (journal mode and every byte), and concurrent
openers."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import pytest

import campaignkit as ck
from campaignkit.adapters.sqlite import SQLiteStore, connection
from campaignkit.adapters.sqlite.connection import migrate, refuse_newer
from campaignkit.adapters.sqlite.schema import APPLICATION_ID, MIGRATIONS
from campaignkit.domain.listing import CampaignQuery
from tests.integration.sqlite_store.support import Migration, assert_refused, fill, read_all, rows

# ---------------------------------------------------------------- migrations

NEXT: Final = len(MIGRATIONS) + 1
"""The version of a migration this campaignkit does not have yet."""
NOTES: Final[Migration] = (
    NEXT,
    "test only: campaign notes",
    (
        """CREATE TABLE campaign_notes (
            campaign_id TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
            note TEXT NOT NULL
        )""",
        "CREATE INDEX campaign_notes_by_campaign ON campaign_notes (campaign_id)",
    ),
)
EXTENDED: Final[tuple[Migration, ...]] = (*MIGRATIONS, NOTES)


def use_extended_schema(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """From now on every open applies ``EXTENDED`` (as a newer campaignkit would).

    ``open_database`` calls ``connection.refuse_newer(db)`` and
    ``connection.migrate(db)``, whose default lists are bound at import, so the
    functions, not ``MIGRATIONS``, are replaced.

    Returns:
        The versions each open applied, in order.
    """
    applied: list[list[int]] = []

    def migrate_extended(
        db: connection.Database, migrations: Sequence[Migration] = EXTENDED
    ) -> list[int]:
        result = migrate(db, migrations)
        applied.append(result)
        return result

    def refuse_newer_extended(
        db: connection.Database, migrations: Sequence[Migration] = EXTENDED
    ) -> None:
        refuse_newer(db, migrations)

    monkeypatch.setattr(connection, "migrate", migrate_extended)
    monkeypatch.setattr(connection, "refuse_newer", refuse_newer_extended)
    return applied


def test_a_new_file_records_every_migration_once(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with SQLiteStore(path) as store:
        expected = [(version, description) for version, description, _ in MIGRATIONS]
        assert rows(store, "SELECT version, description FROM schema_migrations") == expected
        assert rows(store, "PRAGMA application_id") == [(APPLICATION_ID,)]
        assert rows(store, "PRAGMA journal_mode") == [("wal",)]
        assert migrate(store._db) == []  # up to date: nothing to apply
    with SQLiteStore(path) as store:  # reopening applies nothing and duplicates nothing
        assert migrate(store._db) == []
        assert rows(store, "SELECT version, description FROM schema_migrations") == expected
        assert rows(store, "PRAGMA application_id") == [(APPLICATION_ID,)]


def test_an_empty_file_becomes_a_store(tmp_path: Path) -> None:
    """A zero-byte file (``touch``) is not foreign: it is a store yet to be created."""
    path = tmp_path / "touched.db"
    path.touch()
    with SQLiteStore(path) as store:
        assert [v for (v,) in rows(store, "SELECT version FROM schema_migrations")] == [
            v for v, _, _ in MIGRATIONS
        ]


def test_an_older_file_gets_the_missing_migrations_and_keeps_its_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.db"
    original = fill(path, 5, tags=("kept",))  # written by today's campaignkit: migration 1
    applied = use_extended_schema(monkeypatch)  # opened by one that also has migration 2
    with SQLiteStore(path) as store:
        assert applied == [[NEXT]]  # only the missing one, on open
        assert rows(store, "SELECT version FROM schema_migrations ORDER BY version") == [
            (v,) for v in range(1, NEXT + 1)
        ]
        tables = {name for (name,) in rows(store, "SELECT name FROM sqlite_master")}
        assert {"campaign_notes", "campaign_notes_by_campaign"} <= tables
        store._db.execute("INSERT INTO campaign_notes VALUES ('c0000', 'the new table works')")
        assert rows(store, "PRAGMA integrity_check") == [("ok",)]
        assert rows(store, "PRAGMA foreign_key_check") == []
        assert rows(store, "PRAGMA application_id") == [(APPLICATION_ID,)]
    assert read_all(path) == original  # the data is kept, documents and all
    assert applied[-1] == []  # and opening it again applied nothing
    with SQLiteStore(path) as store, store.unit_of_work() as uow:
        assert [c.id for c in uow.campaigns.query(CampaignQuery(tag="kept"))] == [
            f"c{i:04d}" for i in reversed(range(5))
        ]


def test_a_new_file_gets_a_later_migration_with_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    applied = use_extended_schema(monkeypatch)
    with SQLiteStore(tmp_path / "new.db") as store:
        assert applied == [[*range(1, NEXT + 1)]]
        assert rows(store, "SELECT version FROM schema_migrations ORDER BY version") == [
            (v,) for v in range(1, NEXT + 1)
        ]


def test_migrate_applies_a_later_migration_once_on_an_open_store(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "store.db") as store:
        assert migrate(store._db, EXTENDED) == [NEXT]
        assert migrate(store._db, EXTENDED) == []
        assert rows(store, "SELECT count(*) FROM schema_migrations WHERE version = 2") == [(1,)]


def test_a_file_from_a_newer_campaignkit_is_refused_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "newer.db"
    with monkeypatch.context() as patch:  # written by a campaignkit that has migration 2
        use_extended_schema(patch)
        fill(path, 3)
    assert_refused(path, "newer campaignkit", "upgrade", f"[{NEXT}]")


def _journal_mode_byte(path: Path) -> int:
    """Bytes 18 and 19 of a SQLite header: 1 rollback journal, 2 WAL."""
    header = path.read_bytes()[:20]
    assert header[18] == header[19]
    return header[18]


@pytest.mark.parametrize("mode", ["DELETE", "WAL"])
def test_a_newer_file_keeps_its_journal_mode_and_every_byte(tmp_path: Path, mode: str) -> None:
    """The version is read before WAL is switched on: a refused file is not converted."""
    path = tmp_path / "newer-journal.db"
    fill(path, 3)
    with contextlib.closing(sqlite3.connect(path)) as raw:
        with raw:
            raw.execute(
                "INSERT INTO schema_migrations VALUES (?, 'from a newer campaignkit')", (NEXT,)
            )
        raw.execute(f"PRAGMA journal_mode = {mode}")
    expected = 2 if mode == "WAL" else 1
    assert _journal_mode_byte(path) == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["newer-journal.db"]
    assert_refused(path, "newer campaignkit", f"[{NEXT}]", "nothing was changed")
    assert _journal_mode_byte(path) == expected
    with pytest.raises(ck.StorageError, match="newer campaignkit"):  # and again, through a kit
        ck.CampaignKit.sqlite(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["newer-journal.db"]


def test_refuse_newer_reads_a_store_without_migrations_as_not_newer(tmp_path: Path) -> None:
    path = tmp_path / "bare.db"
    with contextlib.closing(sqlite3.connect(path)) as raw:
        db = connection.Database(raw, str(path))
        refuse_newer(db)  # no schema_migrations table: nothing to refuse
        assert rows_of(raw, "SELECT count(*) FROM sqlite_master") == [(0,)]


def rows_of(raw: sqlite3.Connection, sql: str) -> list[tuple[Any, ...]]:
    """Run raw SQL on a plain driver connection."""
    return list(raw.execute(sql).fetchall())


def test_a_file_with_an_unknown_migration_number_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    fill(path, 2)
    with contextlib.closing(sqlite3.connect(path)) as raw, raw:
        raw.execute("INSERT INTO schema_migrations VALUES (99, 'from the future')")
    assert_refused(path, "[99]", "upgrade campaignkit")


def test_several_threads_opening_one_file_at_once_all_succeed(tmp_path: Path) -> None:
    path = tmp_path / "crowd.db"
    fill(path, 1)
    workers = 6
    barrier = threading.Barrier(workers)
    stores: list[SQLiteStore] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def open_it() -> None:
        barrier.wait()
        try:
            store = SQLiteStore(path)
        except BaseException as exc:  # pragma: no cover - reported below
            with lock:
                errors.append(exc)
            return
        with lock:
            stores.append(store)

    threads = [threading.Thread(target=open_it) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert len(stores) == workers
        assert rows(stores[0], "SELECT version FROM schema_migrations") == [
            (v,) for v, _, _ in MIGRATIONS
        ]
    finally:
        for store in stores:
            store.close()


def test_a_new_file_created_by_another_opener_meanwhile_is_not_foreign(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two openers race on a new file; the loser verifies while the winner migrates.

    The interleaving that happens now and then with threads or processes
    (observed with six threads) is forced here: right after the loser has read
    the application id of the still-empty file, the winner creates the store.
    (Reading the id and the table count in one statement makes this safe.)
    """
    path = tmp_path / "race.db"
    real_one = connection.Database.one
    raced: list[bool] = []

    def one(self: connection.Database, sql: str, params: Sequence[Any] = ()) -> Any:
        row = real_one(self, sql, params)
        if "application_id" in sql and not raced:
            raced.append(True)
            SQLiteStore(path).close()  # the winner, complete, before the loser reads on
        return row

    monkeypatch.setattr(connection.Database, "one", one)
    with SQLiteStore(path) as store:
        assert rows(store, "PRAGMA application_id") == [(APPLICATION_ID,)]
    assert raced == [True]
