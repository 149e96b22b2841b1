"""Foreign files are refused untouched: text, random bytes, short, garbled, truncated or
damaged stores, other applications' databases, and directories."""

from __future__ import annotations

import contextlib
import random
import sqlite3
from pathlib import Path

import pytest

import campaignkit as ck
from campaignkit.adapters.sqlite import SQLiteStore
from tests.integration.sqlite_store.support import FileState, assert_refused, fill

# ---------------------------------------------------------------- foreign files


def test_a_text_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("shopping list:\n- milk\n- campaigns\n")
    assert_refused(path, "not a SQLite database", "nothing was changed")


def test_random_bytes_are_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "noise.bin"
    path.write_bytes(random.Random(4).randbytes(10_000))
    assert_refused(path, "not a SQLite database")


def test_a_short_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "short.db"
    path.write_bytes(b"SQLite")
    assert_refused(path, "not a SQLite database")


def test_a_sqlite_header_followed_by_garbage_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "header-only.db"
    path.write_bytes(b"SQLite format 3\x00" + random.Random(5).randbytes(5000))
    assert_refused(path, "corrupt or not a SQLite database")


def test_a_truncated_store_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "truncated.db"
    fill(path, 200)
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    assert_refused(path, "corrupt")


def test_a_store_with_a_damaged_page_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "damaged-page.db"
    fill(path, 200)
    content = bytearray(path.read_bytes())
    page = 4096
    content[3 * page : 3 * page + 100] = b"\xff" * 100  # the header of the fourth page
    path.write_bytes(bytes(content))
    assert_refused(path, "failed its integrity check", "nothing was changed")


def test_a_store_overwritten_in_the_middle_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "overwritten.db"
    fill(path, 200)
    content = bytearray(path.read_bytes())
    middle = len(content) // 2
    content[middle : middle + 4096] = random.Random(1).randbytes(4096)
    path.write_bytes(bytes(content))
    assert_refused(path, "corrupt")


def _foreign(path: Path, *statements: str) -> Path:
    with contextlib.closing(sqlite3.connect(path)) as raw, raw:
        for statement in statements:
            raw.execute(statement)
    return path


def test_another_applications_database_is_refused_untouched(tmp_path: Path) -> None:
    path = _foreign(
        tmp_path / "crm.db",
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT)",
        "INSERT INTO customers (email) VALUES ('a@example.com')",
    )
    assert_refused(path, "another application", "application_id 0x0", "nothing was changed")


def test_another_applications_wal_database_is_refused_untouched(tmp_path: Path) -> None:
    path = _foreign(
        tmp_path / "wal.db",
        "PRAGMA journal_mode = WAL",
        "CREATE TABLE notes (body TEXT)",
        "INSERT INTO notes VALUES ('hello')",
    )
    assert_refused(path, "another application")


def test_a_database_with_another_application_id_is_refused_untouched(tmp_path: Path) -> None:
    path = _foreign(tmp_path / "other.db", "PRAGMA application_id = 1234")  # no tables at all
    assert_refused(path, "another application", "0x4d2")


def test_a_directory_is_refused_with_a_storage_error(tmp_path: Path) -> None:
    folder = tmp_path / "folder.db"
    folder.mkdir()
    with pytest.raises(ck.StorageError, match=r"folder\.db"):
        SQLiteStore(folder)
    assert list(folder.iterdir()) == []


def test_kit_sqlite_refuses_a_foreign_file_too(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a store")
    before = FileState.of(path)
    with pytest.raises(ck.StorageError, match="not a SQLite database"):
        ck.CampaignKit.sqlite(path)
    assert FileState.of(path) == before
