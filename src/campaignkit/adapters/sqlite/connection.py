"""Opening a SQLite store file safely, migrating it, and translating driver errors.

Before anything is written, a file is checked: it must be a SQLite database
(header), pass ``PRAGMA quick_check``, be a campaignkit store (its
``application_id``) or empty, and record no schema migration this
campaignkit does not know. A foreign, corrupt or newer file raises
``StorageError`` and is left exactly as it was: byte for byte, its journal
mode included, with no ``-wal``/``-shm`` left behind.
"""

from __future__ import annotations

import calendar
import contextlib
import datetime
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pendulum

from campaignkit.adapters.sqlite.schema import APPLICATION_ID, MIGRATIONS
from campaignkit.errors import StorageError

SQLITE_HEADER = b"SQLite format 3\x00"
MEMORY = ":memory:"
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

Row = tuple[Any, ...]


_EPOCH_DAY = _EPOCH.toordinal()
_DAY_US = 86_400_000_000
_UTC = pendulum.UTC


def to_us(instant: datetime.datetime) -> int:
    """An aware instant as integer microseconds since the Unix epoch (exact)."""
    if instant.tzinfo is _UTC:  # from its fields: no offset to ask for (a 7th of the cost)
        return (
            (instant.toordinal() - _EPOCH_DAY) * 86_400
            + instant.hour * 3_600
            + instant.minute * 60
            + instant.second
        ) * 1_000_000 + instant.microsecond
    return calendar.timegm(instant.utctimetuple()) * 1_000_000 + instant.microsecond


def from_us(value: int) -> pendulum.DateTime:
    """The inverse of :func:`to_us`, in UTC (worked out with integers)."""
    days, rest = divmod(value, _DAY_US)
    seconds, micro = divmod(rest, 1_000_000)
    day = datetime.date.fromordinal(days + _EPOCH_DAY)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return pendulum.DateTime(day.year, day.month, day.day, hour, minute, second, micro, tzinfo=_UTC)


class Database:
    """A connection whose every driver error becomes a ``StorageError``.

    Args:
        connection: An open connection in autocommit mode (``isolation_level=None``).
        label: How to name the store in messages (its path).
    """

    def __init__(self, connection: sqlite3.Connection, label: str) -> None:
        self.connection = connection
        self.label = label

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """Run one statement.

        A driver error becomes ``StorageError``, except ``sqlite3.IntegrityError``,
        which the caller turns into a ``ConflictError``.
        """
        try:
            return self.connection.execute(sql, params)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            raise storage_error(exc, self.label) from exc

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for every row."""
        try:
            self.connection.executemany(sql, rows)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            raise storage_error(exc, self.label) from exc

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """The first row of a query, or None."""
        cursor = self.execute(sql, params)
        try:
            row: Row | None = cursor.fetchone()
        except sqlite3.Error as exc:
            raise storage_error(exc, self.label) from exc
        return row

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Every row of a query."""
        cursor = self.execute(sql, params)
        try:
            return list(cursor.fetchall())
        except sqlite3.Error as exc:
            raise storage_error(exc, self.label) from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` if the block raises.

        IMMEDIATE takes the write lock up front, so two processes never
        deadlock upgrading a read to a write; a busy file is waited for up to
        the busy timeout.
        """
        self.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._rollback()
            raise
        try:
            self.connection.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise storage_error(exc, self.label) from exc

    def _rollback(self) -> None:
        if self.connection.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self.connection.execute("ROLLBACK")


def storage_error(exc: sqlite3.Error, label: str) -> StorageError:
    """Explain a driver error in campaignkit terms."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return StorageError(
            f"store {label} stayed locked by another connection beyond the busy timeout "
            f"({text}); retry, or raise busy_timeout"
        )
    if "malformed" in text or "not a database" in text:
        return StorageError(f"store {label} is corrupt or not a SQLite database ({text})")
    return StorageError(f"store {label}: SQLite error: {text}")


def _check_header(path: Path) -> None:
    try:
        if not path.exists() or path.stat().st_size == 0:
            return
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise StorageError(f"cannot open store {path}: {exc}") from exc
    if header != SQLITE_HEADER:
        raise StorageError(
            f"{path} is not a SQLite database, so it cannot be a campaignkit store; "
            "nothing was changed (pass a new path to create a store)"
        )


def open_database(path: str | Path, *, busy_timeout: float) -> Database:
    """Open (creating if needed), verify and migrate a store file or ``:memory:``.

    Raises:
        StorageError: the file is not SQLite, is corrupt, belongs to another
            application, or was written by a newer campaignkit. It is untouched.
    """
    label = str(path)
    is_file = label != MEMORY
    if is_file:
        _check_header(Path(path))
    try:
        connection = sqlite3.connect(
            label, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise storage_error(exc, label) from exc
    db = Database(connection, label)
    try:
        _verify(db)
        refuse_newer(db)  # reads only: a newer file is refused before WAL or any write
        db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        db.execute("PRAGMA foreign_keys = ON")
        if is_file:
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
        migrate(db)
    except BaseException:
        connection.close()
        raise
    return db


def _verify(db: Database) -> None:
    problems = [row[0] for row in db.all("PRAGMA quick_check")]
    if problems != ["ok"]:
        raise StorageError(
            f"store {db.label} is corrupt: it failed its integrity check "
            f"({'; '.join(problems[:3])}); nothing was changed: restore it from a backup"
        )
    # one statement, so another process creating the schema meanwhile cannot
    # make a new store look foreign (application id read before, tables after)
    row = db.one(
        "SELECT (SELECT application_id FROM pragma_application_id), "
        "(SELECT count(*) FROM sqlite_master)"
    )
    application_id, tables = row if row is not None else (0, 0)
    if application_id == APPLICATION_ID:
        return
    if application_id != 0 or tables > 0:
        raise StorageError(
            f"{db.label} is a SQLite database of another application "
            f"(application_id {application_id:#x}), not a campaignkit store; nothing was changed"
        )


def refuse_newer(
    db: Database, migrations: Sequence[tuple[int, str, Sequence[str]]] = MIGRATIONS
) -> None:
    """Refuse a store that records migrations missing from ``migrations``.

    It only reads, so ``open_database`` runs it before switching the journal
    mode or writing anything (``migrate`` checks again under the write lock,
    for a newer campaignkit that migrates the file meanwhile).

    Raises:
        StorageError: the file was written by a newer campaignkit.
    """
    row = db.one(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    )
    if row is None or not row[0]:
        return
    done = {version for (version,) in db.all("SELECT version FROM schema_migrations")}
    _refuse_unknown(db, done, migrations)


def _refuse_unknown(
    db: Database, done: set[int], migrations: Sequence[tuple[int, str, Sequence[str]]]
) -> None:
    unknown = done - {version for version, _, _ in migrations}
    if unknown:
        raise StorageError(
            f"store {db.label} has schema migration(s) {sorted(unknown)} from a newer "
            "campaignkit; nothing was changed: upgrade campaignkit to open it"
        )


def migrate(
    db: Database, migrations: Sequence[tuple[int, str, Sequence[str]]] = MIGRATIONS
) -> list[int]:
    """Apply every migration not yet recorded, each in its own transaction.

    Safe when several processes open the same new file at once: each
    migration re-checks, under the write lock, whether it was applied.

    Returns:
        The versions applied now.

    Raises:
        StorageError: the file has migrations this campaignkit does not know.
    """
    applied_now = []
    for version, description, statements in migrations:
        with db.transaction():
            db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, description TEXT NOT NULL)"
            )
            done = {row[0] for row in db.all("SELECT version FROM schema_migrations")}
            _refuse_unknown(db, done, migrations)
            if version in done:
                continue
            for statement in statements:
                db.execute(statement)
            db.execute(
                "INSERT INTO schema_migrations (version, description) VALUES (?, ?)",
                (version, description),
            )
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            applied_now.append(version)
    return applied_now
