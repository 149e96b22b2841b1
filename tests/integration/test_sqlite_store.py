"""SQLiteStore on real files: migrations, processes, crashes, foreign files, plans.

Everything here runs against database files under ``tmp_path``. Other
processes are real Python interpreters (``sys.executable -c``) that talk to
the test through blocking pipes: the test waits for a child's line, never for
time to pass, so every interleaving below is forced, not hoped for.
"""

from __future__ import annotations

import contextlib
import functools
import queue
import random
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit.adapters.sqlite import SQLiteStore, connection
from campaignkit.adapters.sqlite.campaigns import listing_sql
from campaignkit.adapters.sqlite.connection import migrate, refuse_newer
from campaignkit.adapters.sqlite.schema import APPLICATION_ID, MIGRATIONS
from campaignkit.domain.listing import CampaignQuery, encode_cursor
from campaignkit.testing import ManualClock, SequentialIds
from campaignkit.testing.factories import EPOCH, make_campaign
from tests.factories import T0, World

S = ck.CampaignStatus
CHILD_TIMEOUT: Final = 60.0
"""Seconds a blocking read from a child may take before the test fails (never slept)."""

Migration = tuple[int, str, Sequence[str]]


# ---------------------------------------------------------------- helpers


def fill(path: Path, count: int = 20, *, tags: Sequence[str] = ("seed",)) -> list[ck.Campaign]:
    """Create a store at ``path`` holding ``count`` campaigns; close it; return them."""
    with SQLiteStore(path) as store, store.unit_of_work() as uow:
        return [
            uow.campaigns.add(
                make_campaign(f"c{i:04d}", tags=tags, created_at=EPOCH.add(minutes=i))
            )
            for i in range(count)
        ]


def read_all(path: Path) -> list[ck.Campaign]:
    """Every campaign of the store at ``path``, oldest first."""
    with SQLiteStore(path) as store, store.unit_of_work() as uow:
        page = uow.campaigns.query(CampaignQuery(statuses=ck.ALL_STATUSES, limit=500))
    return sorted(page.items, key=lambda c: (c.created_at, c.id))


def rows(store: SQLiteStore, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run raw SQL on the store's own connection."""
    return list(store._db.connection.execute(sql, params).fetchall())


@attrs.frozen
class FileState:
    """What must not change when campaignkit refuses a file."""

    content: bytes
    size: int
    mtime_ns: int
    siblings: frozenset[str]

    @classmethod
    def of(cls, path: Path) -> FileState:
        stat = path.stat()
        siblings = frozenset(p.name for p in path.parent.iterdir() if p.name != path.name)
        return cls(path.read_bytes(), stat.st_size, stat.st_mtime_ns, siblings)


def assert_refused(path: Path, *fragments: str) -> ck.StorageError:
    """Opening ``path`` raises StorageError naming it, and leaves everything as it was."""
    before = FileState.of(path)
    with pytest.raises(ck.StorageError) as raised:
        SQLiteStore(path)
    message = str(raised.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    assert FileState.of(path) == before, "the refused file (or its -wal/-shm) changed"
    return raised.value


class Child:
    """A second Python process running ``script``; lines in via stdin, out via stdout.

    ``expect`` blocks on the child's stdout (through a reader thread and a
    queue, so a dead child fails the test instead of hanging it).
    """

    _EOF: Final = "\x00EOF"

    def __init__(self, script: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", script, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(self._EOF)

    def expect(self, prefix: str) -> str:
        """Block until the child prints its next line; it must start with ``prefix``."""
        line = self._lines.get(timeout=CHILD_TIMEOUT)
        if line == self._EOF:
            self.proc.wait(timeout=CHILD_TIMEOUT)
            assert self.proc.stderr is not None
            pytest.fail(f"child exited ({self.proc.returncode}) early:\n{self.proc.stderr.read()}")
        assert line.startswith(prefix), line
        return line

    def send(self, line: str) -> None:
        """Write one line to the child's stdin."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def finish(self) -> int:
        """Wait for the child to exit by itself; return its exit code."""
        code = self.proc.wait(timeout=CHILD_TIMEOUT)
        if code != 0:
            assert self.proc.stderr is not None
            pytest.fail(f"child failed ({code}):\n{self.proc.stderr.read()}")
        return code

    def kill(self) -> None:
        """SIGKILL the child (no cleanup of any kind runs in it) and reap it."""
        self.proc.kill()
        self.proc.wait(timeout=CHILD_TIMEOUT)

    def __enter__(self) -> Child:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.proc.poll() is None:
            self.kill()
        self._reader.join(timeout=CHILD_TIMEOUT)
        self.proc.__exit__(exc_type, exc, tb)


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


# ---------------------------------------------------------------- two processes

CONFLICT_CHILD: Final = """
import sys
import attrs
from campaignkit.adapters.sqlite import SQLiteStore
from campaignkit.errors import ConflictError

with SQLiteStore(sys.argv[1]) as store:
    with store.unit_of_work() as uow:
        stale = uow.campaigns.get("shared")
    print("loaded", stale.revision, flush=True)
    sys.stdin.readline()  # the parent saves meanwhile
    try:
        with store.unit_of_work() as uow:
            uow.campaigns.save(attrs.evolve(stale, name="child"))
    except ConflictError as exc:
        print("CONFLICT", exc, flush=True)
    else:
        print("SAVED", flush=True)
"""


def test_two_processes_the_stale_writer_gets_a_conflict_and_no_update_is_lost(
    tmp_path: Path,
) -> None:
    path = tmp_path / "shared.db"
    with SQLiteStore(path) as store, store.unit_of_work() as uow:
        uow.campaigns.add(make_campaign("shared", name="original"))
    with Child(CONFLICT_CHILD, str(path)) as child:
        assert child.expect("loaded") == "loaded 1"
        with SQLiteStore(path) as store:
            with store.unit_of_work() as uow:
                mine = uow.campaigns.save(attrs.evolve(uow.campaigns.get("shared"), name="parent"))
            assert mine.revision == 2
            child.send("save now")
            line = child.expect("CONFLICT")
            child.finish()
        assert "revision 2, yours 1" in line
    [final] = read_all(path)
    assert (final.name, final.revision) == ("parent", 2)


HOLDING_CHILD: Final = """
import sys
import attrs
from campaignkit.adapters.sqlite import SQLiteStore

with SQLiteStore(sys.argv[1]) as store:
    with store.unit_of_work() as uow:
        current = uow.campaigns.get("shared")
        print("holding", flush=True)  # the write lock is ours until the unit ends
        sys.stdin.readline()
        uow.campaigns.save(attrs.evolve(current, tags=(*current.tags, "child")))
    print("committed", flush=True)
"""


def test_a_writer_in_another_process_waits_for_the_lock_or_says_it_is_locked(
    tmp_path: Path,
) -> None:
    path = tmp_path / "locked.db"
    with SQLiteStore(path) as store, store.unit_of_work() as uow:
        uow.campaigns.add(make_campaign("shared"))
    with (
        Child(HOLDING_CHILD, str(path)) as child,
        SQLiteStore(path, busy_timeout=10.0) as patient,
        SQLiteStore(path, busy_timeout=0.05) as hasty,
    ):
        child.expect("holding")
        with pytest.raises(ck.StorageError, match="locked") as raised, hasty.unit_of_work():
            pytest.fail("the unit must not start while another process holds the lock")
        assert isinstance(raised.value.__cause__, sqlite3.OperationalError)
        child.send("commit")
        # whether the child commits before or while we wait, ours starts after
        with patient.unit_of_work() as uow:
            current = uow.campaigns.get("shared")
            uow.campaigns.save(attrs.evolve(current, tags=(*current.tags, "parent")))
        child.expect("committed")
        child.finish()
    [final] = read_all(path)
    assert final.tags == ("child", "parent")
    assert final.revision == 3


# ---------------------------------------------------------------- crashes

CRASH_CHILD: Final = """
import sys
import attrs
from campaignkit.adapters.sqlite import SQLiteStore
from campaignkit.testing.factories import make_campaign

path, mode = sys.argv[1], sys.argv[2]
store = SQLiteStore(path)
store._db.execute("PRAGMA cache_size = 4")  # spill the open transaction into the WAL

def change(uow):
    for i in range(150):
        uow.campaigns.add(make_campaign(f"new{i:03d}", name="x" * 500, tags=("crash",)))
    existing = uow.campaigns.get("existing")
    uow.campaigns.save(attrs.evolve(existing, name="changed", tags=("crash",)))

if mode == "inside":
    with store.unit_of_work() as uow:
        change(uow)
        print("inside", flush=True)
        sys.stdin.readline()  # killed here, in the middle of the unit
else:
    with store.unit_of_work() as uow:
        change(uow)
    print("committed", flush=True)
    sys.stdin.readline()  # killed here, with the connection still open
"""


def _crash(tmp_path: Path, mode: str) -> tuple[Path, ck.Campaign]:
    path = tmp_path / f"crash-{mode}.db"
    [existing] = _add(path, make_campaign("existing", name="before"))
    with Child(CRASH_CHILD, str(path), mode) as child:
        child.expect(mode)
        child.kill()
    assert child.proc.returncode == -9
    return path, existing


def _add(path: Path, *campaigns: ck.Campaign) -> list[ck.Campaign]:
    with SQLiteStore(path) as store, store.unit_of_work() as uow:
        return [uow.campaigns.add(c) for c in campaigns]


def test_a_process_killed_inside_a_unit_of_work_leaves_none_of_it(tmp_path: Path) -> None:
    path, existing = _crash(tmp_path, "inside")
    assert Path(f"{path}-wal").stat().st_size > 0, "the test should leave uncommitted frames"
    with SQLiteStore(path) as store:
        assert rows(store, "PRAGMA integrity_check") == [("ok",)]
        assert rows(store, "SELECT count(*) FROM campaigns") == [(1,)]
        assert rows(store, "SELECT count(*) FROM campaign_tags WHERE tag = 'crash'") == [(0,)]
        with store.unit_of_work() as uow:
            assert uow.campaigns.get("existing") == existing
            assert uow.campaigns.query(CampaignQuery(tag="crash")).items == ()
            uow.campaigns.add(make_campaign("after"))  # and the store is writable again
    assert [c.id for c in read_all(path)] == ["after", "existing"]


def test_a_process_killed_after_committing_keeps_all_of_it(tmp_path: Path) -> None:
    path, existing = _crash(tmp_path, "committed")
    with SQLiteStore(path) as store:
        assert rows(store, "PRAGMA integrity_check") == [("ok",)]
        assert rows(store, "SELECT count(*) FROM campaigns") == [(151,)]
        with store.unit_of_work() as uow:
            changed = uow.campaigns.get("existing")
            assert (changed.name, changed.tags, changed.revision) == ("changed", ("crash",), 2)
            assert attrs.evolve(changed, name="before", tags=(), revision=1) == existing
            page = uow.campaigns.query(CampaignQuery(tag="crash", limit=500))
            assert len(page) == 151
            assert uow.campaigns.get("new149").name == "x" * 500


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


# ---------------------------------------------------------------- query plans

PLAN_CAMPAIGNS: Final = 3000


@pytest.fixture
def big_store(tmp_path: Path) -> Iterator[SQLiteStore]:
    """A store with a few thousand campaigns in every status; a third tagged promo."""
    statuses = list(S)
    with SQLiteStore(tmp_path / "big.db") as store:
        with store.unit_of_work() as uow:
            for i in range(PLAN_CAMPAIGNS):
                uow.campaigns.add(
                    make_campaign(
                        f"c{i:05d}",
                        status=statuses[i % len(statuses)],
                        created_at=EPOCH.add(minutes=i // 2),
                        tags=("promo", "winter") if i % 3 == 0 else ("other",),
                        due_at=EPOCH.add(hours=i) if i % 2 else None,
                    )
                )
        yield store


def plan(store: SQLiteStore, sql: str, params: Sequence[Any] = ()) -> list[str]:
    """The detail column of ``EXPLAIN QUERY PLAN``."""
    return [str(row[3]) for row in rows(store, f"EXPLAIN QUERY PLAN {sql}", params)]


def assert_indexed(steps: list[str], index: str) -> None:
    assert any(index in step for step in steps), steps
    for step in steps:
        if step.startswith("SCAN"):
            assert "USING INDEX" in step or "USING COVERING INDEX" in step, steps
        assert "TEMP B-TREE" not in step, steps


def traced(store: SQLiteStore, call: Callable[[], object]) -> list[str]:
    """The SELECT statements ``call`` runs on the store's connection."""
    statements: list[str] = []
    store._db.connection.set_trace_callback(statements.append)
    try:
        call()
    finally:
        store._db.connection.set_trace_callback(None)
    return [s for s in statements if s.lstrip().upper().startswith("SELECT")]


CURSOR: Final = encode_cursor((EPOCH.add(minutes=700), "c01400"))
LISTINGS: Final = {
    "default": (CampaignQuery(), "campaigns_by_created"),
    "default, next page": (CampaignQuery(cursor=CURSOR), "campaigns_by_created"),
    "every status": (CampaignQuery(statuses=ck.ALL_STATUSES), "campaigns_by_created"),
    "tag": (CampaignQuery(tag="promo"), "campaign_tags_by_created"),
    "tag, next page": (CampaignQuery(tag="promo", cursor=CURSOR), "campaign_tags_by_created"),
    "tag, every status": (
        CampaignQuery(tag="promo", statuses=ck.ALL_STATUSES),
        "campaign_tags_by_created",
    ),
}


@pytest.mark.parametrize("analyze", [False, True], ids=["fresh", "analyzed"])
def test_listing_walks_an_index_newest_first(big_store: SQLiteStore, analyze: bool) -> None:
    if analyze:
        big_store._db.execute("ANALYZE")
    for name, (query, index) in LISTINGS.items():
        sql, params = listing_sql(query)
        assert_indexed(plan(big_store, sql, params), index)
        # the statement the repository really runs has the same plan
        with big_store.unit_of_work() as uow:
            [executed] = traced(big_store, functools.partial(uow.campaigns.query, query))
            page = uow.campaigns.query(query)
        assert_indexed(plan(big_store, executed), index)
        keys = [(c.created_at, c.id) for c in page]
        assert keys == sorted(keys, reverse=True), name
        assert len(page) == query.limit, name
        assert all(c.status in query.statuses for c in page), name
        if query.tag is not None:
            assert all(query.tag in c.tags for c in page), name


@pytest.mark.parametrize("analyze", [False, True], ids=["fresh", "analyzed"])
def test_the_due_query_walks_the_due_index(big_store: SQLiteStore, analyze: bool) -> None:
    if analyze:
        big_store._db.execute("ANALYZE")
    until = EPOCH.add(hours=100)
    with big_store.unit_of_work() as uow:
        statements = traced(
            big_store, lambda: (uow.campaigns.due(until, 10), uow.campaigns.next_due_at())
        )
        due = uow.campaigns.due(until, 10)
        first = uow.campaigns.next_due_at()
    assert len(statements) == 2
    for statement in statements:
        assert_indexed(plan(big_store, statement), "campaigns_by_due")
    assert due == [(EPOCH.add(hours=i), f"c{i:05d}") for i in range(1, 20, 2)]
    assert first == EPOCH.add(hours=1)


# ---------------------------------------------------------------- reopening a kit


def open_world(path: Path, clock: ManualClock) -> World:
    """A kit on ``path`` with the test suite's usual users, surfaces and audience."""
    kit = ck.CampaignKit.sqlite(path, clock=clock, ids=SequentialIds())
    kit.audiences.define("vip", ["p1", "p2"])
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    admin = kit.as_user("ada")
    email = admin.create_surface(
        name="Newsletter",
        channel=ck.ChannelType.EMAIL,
        settings=ck.EmailSettings(sender="news@example.com"),
    )
    sms = admin.create_surface(
        name="Alerts", channel=ck.ChannelType.SMS, settings=ck.SmsSettings(sender_id="SHOP")
    )
    push = admin.create_surface(
        name="App", channel=ck.ChannelType.PUSH, settings=ck.PushSettings(app_id="com.shop")
    )
    return World(kit, clock, admin, email, sms, push, [])


def everything(kit: ck.CampaignKit) -> dict[str, object]:
    """Every fact a host can read back from a kit."""
    admin = kit.as_user("ada")
    campaigns: list[ck.Campaign] = []
    cursor: str | None = None
    while True:  # small pages: paging over a reopened file works too
        page = admin.list_campaigns(statuses=ck.ALL_STATUSES, limit=2, cursor=cursor)
        campaigns.extend(page)
        cursor = page.next_cursor
        if cursor is None:
            break
    users = ("ada", "max", "april", "olga", "vic")
    with kit.store.unit_of_work() as uow:
        due = list(uow.campaigns.due(T0.add(years=2), 100))
    return {
        "campaigns": campaigns,
        "each": {c.id: admin.get(c.id) for c in campaigns},
        "approval trails": {c.id: admin.approval_history(c.id) for c in campaigns},
        "surfaces": admin.list_surfaces(),
        "approval policies": admin.list_approval_policies(),
        "assignments": kit.access.assignments(),
        "groups": {user: kit.access.groups_of(user) for user in users},
        "members": {group: kit.access.members_of(group) for group in ("legal", "brand")},
        "profiles": {user: kit.access.profiles_of(user) for user in users},
        "audit log": admin.access_audit_log(),
        "due": due,
        "next due": kit.engine.next_due_at(),
    }


def test_reopening_a_kit_finds_everything_again(tmp_path: Path) -> None:
    path = tmp_path / "kit.db"
    clock = ManualClock(T0)
    world = open_world(path, clock)
    kit, ada = world.kit, world.admin
    kit.access.assign("max", ck.ProductProfile.MANAGER)
    ada.add_group_member("legal", "april")
    ada.add_group_member("legal", "olga")
    ada.assign_group_profile("legal", ck.ProductProfile.APPROVER)
    ada.assign_profile("vic", ck.ProductProfile.VIEWER)
    ada.add_group_member("brand", "vic")
    ada.remove_group_member("brand", "vic")
    ada.revoke_profile("vic", ck.ProductProfile.VIEWER)
    max_, april = kit.as_user("max"), kit.as_user("april")

    draft = world.draft("Plain draft", tags=["winter", "promo"])
    ada.update_draft(draft.id, description="kept as a draft")
    live = world.live("Live with versions", recurrence=ck.Recurrence.daily(at="10:00"))
    clock.advance(hours=1)
    ada.modify(live.id)
    ada.update_draft(live.id, actions=[world.email_action("Second subject")])
    ada.activate(live.id)  # version 2 replaces version 1 at once
    clock.advance(hours=1)
    ada.modify(live.id)
    ada.update_draft(live.id, actions=[world.sms_action("Third, still a draft")])
    scheduled = world.scheduled("Starts tomorrow", days=1)

    policy = ada.create_approval_policy(
        name="Legal review", reviewer_groups=["legal"], tags=["legal"]
    )
    ada.activate_approval_policy(policy.id)
    spare = ada.create_approval_policy(name="Spare", reviewers=["april"], name_equals="never")
    reviewed = world.draft("Reviewed", tags=["legal"], session=max_)
    max_.request_approval(reviewed.id, "please look")
    april.request_changes(reviewed.id, "fix the subject")
    max_.update_draft(reviewed.id, actions=[world.email_action("Fixed subject")])
    max_.request_approval(reviewed.id, "fixed")
    april.approve(reviewed.id, "fine now")
    kit.tick()
    pending = world.draft("Waiting for review", tags=["legal"], session=max_)
    max_.request_approval(pending.id, "when you can")
    stopped = world.live("Stopped early")
    ada.stop(stopped.id)

    before = everything(kit)
    by_id = before["each"]
    assert isinstance(by_id, dict)
    assert {c.status for c in by_id.values()} >= {S.DRAFT, S.LIVE, S.SCHEDULED, S.IN_REVIEW}
    assert by_id[live.id].has_open_draft
    assert len(by_id[live.id].superseded_versions) == 1
    assert by_id[reviewed.id].status is S.LIVE
    assert len(by_id[reviewed.id].approvals) == 4
    assert by_id[pending.id].review is not None
    assert by_id[scheduled.id].due_at is not None
    assert spare.id in {p.id for p in ada.list_approval_policies()}
    kit.close()

    with ck.CampaignKit.sqlite(path, clock=clock) as reopened:
        assert everything(reopened) == before
        # and it goes on working from the file: tomorrow's campaign goes live
        reopened.audiences.define("vip", ["p1", "p2"])
        reopened.run_until(clock.now().add(days=2))
        assert reopened.as_user("ada").get(scheduled.id).status is S.LIVE


# ---------------------------------------------------------------- threads


def test_threads_sharing_file_kits_lose_nothing(tmp_path: Path) -> None:
    """Threads on two kits over one file (two connections) run session verbs at once."""
    path = tmp_path / "threads.db"
    clock = ManualClock(T0)
    kits = [ck.CampaignKit.sqlite(path, clock=clock) for _ in range(2)]
    try:
        kits[0].access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        shared = kits[0].as_user("ada").create_campaign(name="Shared", tags=["start"])
        workers, rounds = 6, 5
        barrier = threading.Barrier(workers)
        errors: list[BaseException] = []
        own: dict[int, str] = {}
        conflicts = [0]
        lock = threading.Lock()

        def work(worker: int) -> None:
            session = kits[worker % 2].as_user("ada")
            try:
                barrier.wait()
                mine = session.create_campaign(name=f"Worker {worker}", tags=[f"w{worker}"])
                own[worker] = mine.id
                for round_ in range(rounds):
                    session.update_draft(mine.id, description=f"round {round_}")
                    while True:  # read-modify-write on the shared campaign, retried
                        current = session.get(shared.id)
                        try:
                            session.update_draft(
                                shared.id,
                                tags=[*current.tags, f"w{worker}-{round_}"],
                                expected_revision=current.revision,
                            )
                            break
                        except ck.ConflictError:
                            with lock:
                                conflicts[0] += 1
                    session.list_campaigns(tag=f"w{worker}")
            except BaseException as exc:  # pragma: no cover - reported below
                with lock:
                    errors.append(exc)

        threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        ada = kits[1].as_user("ada")
        final = ada.get(shared.id)
        assert len(final.tags) == len(set(final.tags)) == 1 + workers * rounds
        assert final.revision == 1 + workers * rounds
        assert len(final.history) == 1 + workers * rounds
        for worker, campaign_id in own.items():
            campaign = ada.get(campaign_id)
            assert (campaign.revision, campaign.description) == (1 + rounds, f"round {rounds - 1}")
            assert [c.id for c in ada.list_campaigns(tag=f"w{worker}")] == [campaign_id]
        assert len(ada.list_campaigns(limit=500)) == 1 + workers
        with contextlib.closing(sqlite3.connect(path)) as raw:
            assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        for kit in kits:
            kit.close()


# ---------------------------------------------------------------- driver errors


def test_a_busy_file_raises_storage_error_not_a_driver_error(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    with SQLiteStore(path) as first, SQLiteStore(path, busy_timeout=0.05) as second:
        with first.unit_of_work() as uow:
            uow.campaigns.add(make_campaign("held"))
            with pytest.raises(ck.StorageError) as raised, second.unit_of_work():
                pytest.fail("the second connection must not get the write lock")
            # opening yet another store needs the lock too (for its migration check)
            with pytest.raises(ck.StorageError, match="locked"):
                SQLiteStore(path, busy_timeout=0.05)
        message = str(raised.value)
        for fragment in ("locked", "busy_timeout", str(path)):
            assert fragment in message
        assert not isinstance(raised.value, sqlite3.Error)
        assert isinstance(raised.value.__cause__, sqlite3.OperationalError)
        with second.unit_of_work() as uow:  # once the first unit commits, all is well
            assert uow.campaigns.get("held").revision == 1


def test_a_closed_store_raises_storage_error(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "closed.db")
    store.close()
    with pytest.raises(ck.StorageError, match="closed"), store.unit_of_work():
        pytest.fail("a closed store cannot open a unit of work")


def test_a_unit_that_fails_to_commit_is_rolled_back(tmp_path: Path) -> None:
    """A deferred foreign key violated at COMMIT is reported and rolled back."""
    path = tmp_path / "deferred.db"
    with SQLiteStore(path) as store:
        store._db.execute("PRAGMA defer_foreign_keys = ON")
        with pytest.raises(ck.StorageError, match="FOREIGN KEY"), store.unit_of_work() as uow:
            uow.campaigns.add(make_campaign("ok"))
            store._db.execute(
                "INSERT INTO campaign_tags VALUES ('t', 'no-such-campaign', 'DRAFT', 0)"
            )
        assert not store._db.connection.in_transaction
        with store.unit_of_work() as uow:
            assert uow.campaigns.find("ok") is None


def test_stored_instants_are_exact_microseconds(tmp_path: Path) -> None:
    odd = pendulum.datetime(2026, 3, 29, 1, 59, 59, 999_999, tz="UTC")
    [added] = _add(tmp_path / "instants.db", make_campaign("c", created_at=odd, due_at=odd))
    [again] = read_all(tmp_path / "instants.db")
    assert again == added
    assert again.due_at == odd
    assert again.created_at.microsecond == 999_999
