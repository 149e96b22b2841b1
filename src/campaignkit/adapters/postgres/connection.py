"""A PostgreSQL connection pool behind the SQLite repositories' ``Database`` interface.

:class:`PostgresDatabase` has the methods of
:class:`campaignkit.adapters.sqlite.connection.Database` (``execute``,
``executemany``, ``one``, ``all``, ``transaction``), so the SQLite
repositories run on it unchanged: each statement is translated once
(:mod:`.dialect`) and sent on the connection of the current unit of work.

A unit of work is one transaction on a pooled connection that first takes
``pg_advisory_xact_lock`` on the store's key: writers are serialized across
threads, processes and machines exactly as SQLite's ``BEGIN IMMEDIATE``
serializes them, so the repositories' read-check-write steps (run leases,
revisions) keep their meaning; the lock is released at commit or rollback.
A unit opened inside :func:`campaignkit.concurrency.shared_units` takes that
key in shared mode instead: such units (the delivery runner's) run beside
each other and serialize only on the rows and names they lock
(:meth:`PostgresDatabase.lock`, ``runs`` rows ``FOR UPDATE``), while a unit
of any other kind still runs alone.
Driver errors become ``StorageError``; a unique violation becomes
``sqlite3.IntegrityError`` (which the repositories turn into
``ConflictError``), raised after rolling back to a savepoint so the
transaction stays usable, as in SQLite.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final, cast

import psycopg
from psycopg import errors, sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool, PoolTimeout

from campaignkit.adapters.postgres.dialect import Statement, translate
from campaignkit.adapters.postgres.schema import MIGRATIONS, SEARCH_INDEX
from campaignkit.adapters.sqlite.connection import Database, Row
from campaignkit.concurrency import units_are_shared
from campaignkit.errors import ConflictError, StorageError, StorageUnavailable

LOCK_CLASS: Final = 0x434B4954
"""The first key of campaignkit's advisory locks ("CKIT"); the second is the schema's."""


def describe_dsn(dsn: str) -> str:
    """``host:port/dbname`` of a DSN, never its password (for messages)."""
    try:
        parts = conninfo_to_dict(dsn)
    except psycopg.Error:
        return "an unparsable DSN"
    host = parts.get("host") or parts.get("hostaddr") or "localhost"
    port = parts.get("port") or "5432"
    return f"{host}:{port}/{parts.get('dbname') or parts.get('user') or ''}"


def lock_key(schema: str) -> int:
    """The second advisory-lock key of ``schema`` (a signed 32-bit CRC of its name)."""
    key = zlib.crc32(schema.encode())
    return key - (1 << 32) if key >= 1 << 31 else key


def name_key(schema: str, name: str) -> int:
    """The one-key (``bigint``) advisory lock of ``name`` in ``schema``.

    PostgreSQL keeps one-key and two-key advisory locks apart, so these never
    meet the store's own two-key lock; two names sharing a key only wait on
    each other.
    """
    digest = hashlib.blake2b(f"{schema}\0{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class PostgresDatabase(Database):
    """The connections of one PostgreSQL store, used like a SQLite ``Database``.

    Args:
        pool: Connections whose ``search_path`` is the store's schema.
        label: How to name the store in messages (host, database, schema).
        schema: The store's schema (its advisory-lock key).
        timeout: Seconds to wait for a pooled connection.
    """

    def __init__(self, pool: ConnectionPool, label: str, schema: str, timeout: float) -> None:
        self.pool = pool
        self.label = label
        self.schema = schema
        self.timeout = timeout
        self.current: psycopg.Connection[Any] | None = None
        self.shared = False
        """Whether the unit in progress runs beside others (``shared_units``)."""
        self._begin = f"BEGIN; SELECT pg_advisory_xact_lock({LOCK_CLASS}, {lock_key(schema)})"
        self._begin_shared = (
            f"BEGIN; SELECT pg_advisory_xact_lock_shared({LOCK_CLASS}, {lock_key(schema)})"
        )

    def _connection(self) -> psycopg.Connection[Any]:
        if self.current is None:
            raise StorageError(
                f"store {self.label}: a statement was run outside a unit of work; "
                "open one with store.unit_of_work()"
            )
        return self.current

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """Run one statement (translated); the cursor has ``rowcount`` and ``fetch*``."""
        statement = translate(sql)
        connection = self._connection()
        with self._errors(connection, statement):
            cursor = connection.execute(  # type: ignore[call-overload]
                statement.sql, statement.parameters(params) if params else None
            )
        return cast("sqlite3.Cursor", cursor)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for every row (psycopg pipelines them: one round trip)."""
        statement = translate(sql)
        values = [statement.parameters(row) for row in rows]
        if not values:
            return
        connection = self._connection()
        with self._errors(connection, statement):
            connection.cursor().executemany(statement.sql, values)  # type: ignore[arg-type]

    def copy(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """``COPY`` rows into ``table``, inside a savepoint (a unique violation keeps the unit).

        Raises:
            sqlite3.IntegrityError: a row breaks a unique index; nothing was copied.
            StorageError: any other driver error.
        """
        connection = self._connection()
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        with self._errors(connection, _GUARDED), connection.cursor().copy(statement) as copy:
            for row in rows:
                copy.write_row(row)

    def lock(self, name: str) -> None:
        """Hold ``name`` until the unit ends (a no-op in a unit that runs alone anyway)."""
        if not self.shared:
            return
        connection = self._connection()
        with self._errors(connection, _UNGUARDED):
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (name_key(self.schema, name),))

    def lock_row(self, table: str, key: str, *, wait: bool) -> bool:
        """Lock the row of ``table`` whose ``id`` is ``key`` until the unit ends.

        A no-op in a unit that runs alone anyway. With ``wait`` False, a row
        another unit holds is skipped (``SKIP LOCKED``) and False returned; a
        missing row is True (the caller's read then finds it missing).
        """
        if not self.shared:
            return True
        connection = self._connection()
        table_name = sql.Identifier(table)
        locking = sql.SQL("SELECT 1 FROM {} WHERE id = %s FOR UPDATE{}").format(
            table_name, sql.SQL("" if wait else " SKIP LOCKED")
        )
        with self._errors(connection, _UNGUARDED):
            if connection.execute(locking, (key,)).fetchone() is not None or wait:
                return True
            exists = sql.SQL("SELECT 1 FROM {} WHERE id = %s").format(table_name)
            return connection.execute(exists, (key,)).fetchone() is None

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """The first row of a query, or None."""
        row: Row | None = self.execute(sql, params).fetchone()
        return row

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Every row of a query."""
        return list(self.execute(sql, params).fetchall())

    @contextmanager
    def _errors(self, connection: psycopg.Connection[Any], statement: Statement) -> Iterator[None]:
        """Translate driver errors; a guarded statement runs inside a savepoint."""
        if not statement.guarded:
            try:
                yield
            except psycopg.Error as exc:
                raise postgres_error(exc, self.label) from exc
            return
        try:
            connection.execute("SAVEPOINT ck_statement")
            try:
                yield
            except psycopg.errors.IntegrityError as exc:
                connection.execute("ROLLBACK TO SAVEPOINT ck_statement")
                raise sqlite3.IntegrityError(" ".join(str(exc).split())) from exc
            connection.execute("RELEASE SAVEPOINT ck_statement")
        except psycopg.Error as exc:
            raise postgres_error(exc, self.label) from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction holding the store's advisory lock, on a pooled connection.

        The lock is taken in shared mode inside
        :func:`campaignkit.concurrency.shared_units`, else exclusively.

        A pooled connection found dead when the unit starts (the server
        restarted, the backend was terminated) is dropped, the pool's idle
        connections are checked, and the unit begins once more.
        """
        shared = units_are_shared()
        connection = self._begin_on_fresh_connection(self._begin_shared if shared else self._begin)
        self.current = connection
        self.shared = shared
        try:
            try:
                yield
            except BaseException:
                with contextlib.suppress(psycopg.Error):
                    connection.execute("ROLLBACK")
                raise
            if connection.info.transaction_status == TransactionStatus.INERROR:
                with contextlib.suppress(psycopg.Error):
                    connection.execute("ROLLBACK")
                raise StorageError(
                    f"store {self.label}: a statement of this unit of work failed, so "
                    "PostgreSQL rolled the whole unit back; nothing was written"
                )
            try:
                connection.execute("COMMIT")
            except psycopg.Error as exc:
                raise postgres_error(exc, self.label) from exc
        finally:
            self.current = None
            self.shared = False
            self.pool.putconn(connection)

    def _begin_on_fresh_connection(self, begin: str) -> psycopg.Connection[Any]:
        connection = self._getconn()
        try:
            connection.execute(begin)
        except psycopg.Error as exc:
            self.pool.putconn(connection)  # a closed one is dropped: the pool replaces it
            if not (connection.closed or connection.broken):
                raise postgres_error(exc, self.label) from exc
        else:
            return connection
        # it died while idle (a restart, pg_terminate_backend): so may the other idle
        # ones; the pool checks them all, then the unit begins once more on a new one
        self.pool.check()
        connection = self._getconn()
        try:
            connection.execute(begin)
        except psycopg.Error as exc:
            self.pool.putconn(connection)
            raise postgres_error(exc, self.label) from exc
        return connection

    def _getconn(self) -> psycopg.Connection[Any]:
        try:
            return self.pool.getconn(timeout=self.timeout)
        except PoolTimeout as exc:
            raise StorageUnavailable(
                f"store {self.label}: no connection to PostgreSQL within {self.timeout} s "
                f"({exc}); check that the server is up, or raise pool_size"
            ) from exc

    def close(self) -> None:
        """Close every connection."""
        self.pool.close()


_GUARDED: Final = Statement("COPY", None, guarded=True)
"""What :meth:`PostgresDatabase.copy` is, for the savepoint around it."""
_UNGUARDED: Final = Statement("LOCK", None, guarded=False)
"""What the lock statements are: no savepoint (they break no unique index)."""


def postgres_error(exc: psycopg.Error, label: str) -> StorageError | ConflictError:
    """Explain a driver error in campaignkit terms (``ConflictError`` for a lost race)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, (errors.SerializationFailure, errors.DeadlockDetected)):
        return ConflictError(f"store {label}: a concurrent transaction won ({text}); retry")
    if isinstance(exc, psycopg.OperationalError):
        return StorageUnavailable(
            f"store {label}: the connection to PostgreSQL failed ({text}); "
            "nothing of this unit of work was written: retry when the server is back"
        )
    return StorageError(f"store {label}: PostgreSQL error: {text}")


def _schema_exists(connection: psycopg.Connection[Any], schema: str) -> bool:
    row = connection.execute(
        "SELECT count(*) FROM pg_namespace WHERE nspname = %s", (schema,)
    ).fetchone()
    return row is not None and row[0] > 0


def migrate(
    connection: psycopg.Connection[Any],
    schema: str,
    label: str,
    migrations: Sequence[tuple[int, str, Sequence[str]]] = MIGRATIONS,
) -> list[int]:
    """Create the schema if missing and apply pending migrations, in one transaction.

    The transaction first takes the store's advisory lock, so two processes
    opening a new database at once apply each migration once. A schema that
    records a migration this campaignkit does not know is refused before
    anything is written.

    Args:
        connection: An autocommit connection (no transaction open).
        schema: The store's schema.
        label: How to name the store in messages.
        migrations: ``(version, description, statements)``, oldest first.

    Returns:
        The versions applied now.

    Raises:
        StorageError: a newer campaignkit wrote the schema, or a driver error.
    """
    name = sql.Identifier(schema)
    applied: list[int] = []
    try:
        with connection.transaction():
            connection.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_CLASS, lock_key(schema))
            )
            if not _schema_exists(connection, schema):
                connection.execute(sql.SQL("CREATE SCHEMA {}").format(name))
            connection.execute(sql.SQL("SET LOCAL search_path TO {}").format(name))
            connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, description TEXT NOT NULL)"
            )
            done = {row[0] for row in connection.execute("SELECT version FROM schema_migrations")}
            unknown = done - {version for version, _, _ in migrations}
            if unknown:
                raise StorageError(
                    f"store {label} has schema migration(s) {sorted(unknown)} from a newer "
                    "campaignkit; nothing was changed: upgrade campaignkit to open it"
                )
            for version, description, statements in migrations:
                if version in done:
                    continue
                for statement in statements:
                    connection.execute(statement)
                connection.execute(
                    "INSERT INTO schema_migrations (version, description) VALUES (%s, %s)",
                    (version, description),
                )
                applied.append(version)
            if 2 in done:  # pg_trgm may have been installed since: index search then
                connection.execute(SEARCH_INDEX)
    except psycopg.Error as exc:
        raise postgres_error(exc, label) from exc
    return applied
