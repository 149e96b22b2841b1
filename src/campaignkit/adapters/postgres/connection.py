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
``BEGIN`` and the lock go in one pipeline with the unit's first statement
(before it, so nothing is read without the lock), and writes whose result
nobody reads wait for the next read or the ``COMMIT`` (see
:class:`PostgresDatabase`): a round trip costs more here than most statements.
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
import contextvars
import sqlite3
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final, NoReturn, cast

import psycopg
from psycopg import errors, sql
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool, PoolTimeout

from campaignkit.adapters.postgres.dialect import translate
from campaignkit.adapters.postgres.statements import (
    LOCK_CLASS,
    HeldCursor,
    _Held,
    _Parked,
    describe_dsn,
    lock_key,
    name_key,
    postgres_error,
)
from campaignkit.adapters.sqlite.connection import Database, Row
from campaignkit.concurrency import parking, reading_ahead, units_are_shared
from campaignkit.errors import ConflictError, StorageError, StorageUnavailable

__all__ = [  # with the names that moved to .statements, importable from here as before
    "LOCK_CLASS",
    "UNKNOWN",
    "HeldCursor",
    "PostgresDatabase",
    "_Held",
    "describe_dsn",
    "lock_key",
    "name_key",
    "postgres_error",
]

_ONE_READ: Final = contextvars.ContextVar("campaignkit_postgres_one_read", default=False)
"""Set by :meth:`PostgresDatabase.one_read` for the unit it opens."""


class PostgresDatabase(Database):
    """The connections of one PostgreSQL store, used like a SQLite ``Database``.

    Round trips are what a unit of work on PostgreSQL spends most on (each
    0.1-0.4 ms here), so statements are sent lazily: ``BEGIN`` and the
    advisory lock, and every write whose result nobody reads (``execute``
    whose cursor is not read, ``executemany``, :meth:`lock`, savepoint
    releases), are held back and sent in one pipeline with the next
    statement whose result is needed, or with the unit's ``COMMIT``. The
    server runs them in the order given, so the unit means what it did; an
    error of a held write is raised when it is sent (as ``StorageError``:
    the unit is then lost, as it was), not at its call. Statements that may
    break a unique index (``guarded``) are sent at once, each inside a
    savepoint, so their ``IntegrityError`` is raised at the call as before.

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
        self._current: psycopg.Connection[Any] | None = None
        self._held: list[_Held] = []
        self._open = False
        """Whether the unit's ``BEGIN`` has reached the server."""
        self._last: list[_Held] = []
        """The statements of the last send (to explain its error)."""
        self.shared = False
        """Whether the unit in progress runs beside others (``shared_units``)."""
        self.unit = 0
        """How many units of work began (so a repository can tell one unit from the next)."""
        self.writes = 0
        """How many writes were sent or held (so a read made earlier in a unit can be reused)."""
        self._alone = False
        """Whether the unit in progress is one read without a transaction (:meth:`one_read`)."""
        self._ahead: tuple[int, int] | None = None
        """The unit and write count at which :meth:`savepoint_ahead` was held."""
        self._known: dict[Hashable, object] = {}
        self._known_at = (0, 0)
        """The unit and write count at which :attr:`_known` was read."""
        self._parked: _Parked | None = None
        """A unit whose ``COMMIT`` is in flight (:func:`campaignkit.concurrency.parked_commits`)."""
        self._lock_sql = f"SELECT pg_advisory_xact_lock({LOCK_CLASS}, {lock_key(schema)})"
        self._lock_shared_sql = (
            f"SELECT pg_advisory_xact_lock_shared({LOCK_CLASS}, {lock_key(schema)})"
        )

    @property
    def current(self) -> psycopg.Connection[Any] | None:
        """The connection of the unit in progress, every held statement sent; None outside one.

        For code that runs its own statements on the unit's transaction.
        """
        if self._current is not None and self._held:
            self.flush()
        return self._current

    def _connection(self) -> psycopg.Connection[Any]:
        if self._current is None:
            raise StorageError(
                f"store {self.label}: a statement was run outside a unit of work; "
                "open one with store.unit_of_work()"
            )
        return self._current

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """Run one statement (translated); the cursor has ``rowcount`` and ``fetch*``.

        A write that is not guarded is held back until its cursor is read or
        another statement needs the server (see the class); a read is sent at
        once, with whatever is held.
        """
        statement = translate(sql)
        self._connection()
        held = _Held(statement.sql, statement.parameters(params) if params else None)
        reading = statement.sql.startswith("SELECT")
        self._check_alone(reading)
        if not reading or " FOR UPDATE" in statement.sql:  # a row lock counts as a write
            self.writes += 1
        if statement.guarded:
            self._guarded(held)
        else:
            self._held.append(held)
            if reading:  # a read is for its rows: they go now
                self.flush()
        return cast("sqlite3.Cursor", HeldCursor(self, held))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for every row (pipelined; held back unless guarded)."""
        statement = translate(sql)
        values = [statement.parameters(row) for row in rows]
        if not values:
            return
        self._connection()
        self._check_alone(reading=False)
        self.writes += 1
        held = _Held(statement.sql, values, many=True)
        if statement.guarded:
            self._guarded(held)
        else:
            self._held.append(held)

    def defer(self, sql: str, params: Sequence[Any], conflict: str) -> None:
        """Hold back a write that changes exactly one row or fails the unit with ``ConflictError``.

        ``sql`` is ``WITH ... (UPDATE ... RETURNING 1) SELECT 1 / count(*) ...``:
        when no row matched, the division fails on the server, the unit rolls
        back, and ``conflict`` is raised as ``ConflictError`` when it is sent.
        """
        statement = translate(sql)
        self._connection()
        self._check_alone(reading=False)
        self.writes += 1
        self._held.append(_Held(statement.sql, statement.parameters(params), conflict=conflict))

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
        self._check_alone(reading=False)
        if self._ahead != (self.unit, self.writes):  # no savepoint taken ahead, or writes since
            self._held.append(_Held("SAVEPOINT ck_statement"))
        self._ahead = None
        self.writes += 1
        if self._held:
            self.flush()  # COPY cannot run in a pipeline: what is held goes first
        connection = self._connection()
        try:
            with connection.cursor().copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
        except psycopg.errors.IntegrityError as exc:
            self._undo_statement(exc)
        except psycopg.Error as exc:
            raise postgres_error(exc, self.label) from exc
        self._held.append(_Held("RELEASE SAVEPOINT ck_statement"))

    def savepoint_ahead(self) -> None:
        """Hold the savepoint of a :meth:`copy` expected next, to go with the read before it.

        :meth:`copy` uses it if the unit wrote nothing and locked nothing
        since (rolling back to it then undoes the copy alone), else takes its
        own. Unused, it is released with the unit: a savepoint is only a name.
        """
        self._held.append(_Held("SAVEPOINT ck_statement"))
        self._ahead = (self.unit, self.writes)

    def lock(self, name: str) -> None:
        """Hold ``name`` until the unit ends (a no-op in a unit that runs alone anyway).

        Taken at once (with whatever is held), so it is held when this returns.
        """
        if not self.shared:
            return
        self._read(sql.SQL("SELECT pg_advisory_xact_lock(%s)"), (name_key(self.schema, name),))

    def lock_row(self, table: str, key: str, *, wait: bool) -> bool:
        """Lock the row of ``table`` whose ``id`` is ``key`` until the unit ends.

        A no-op in a unit that runs alone anyway. With ``wait`` False, a row
        another unit holds is skipped (``SKIP LOCKED``) and False returned; a
        missing row is True (the caller's read then finds it missing).
        """
        if not self.shared:
            return True
        self._connection()
        table_name = sql.Identifier(table)
        locking = sql.SQL("SELECT 1 FROM {} WHERE id = %s FOR UPDATE{}").format(
            table_name, sql.SQL("" if wait else " SKIP LOCKED")
        )
        if self._read(locking, (key,)) is not None or wait:
            return True
        exists = sql.SQL("SELECT 1 FROM {} WHERE id = %s").format(table_name)
        return self._read(exists, (key,)) is None

    def _read(self, query: Any, params: Sequence[Any]) -> Any:
        """The first row of ``query``, sent with whatever is held."""
        self._check_alone(reading=False)  # a lock: it needs the transaction
        self.writes += 1  # a savepoint taken before it must not be rolled back to
        held = _Held(query, params)
        self._held.append(held)
        return HeldCursor(self, held).fetchone()

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """The first row of a query, or None."""
        row: Row | None = self.execute(sql, params).fetchone()
        return row

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Every row of a query."""
        return list(self.execute(sql, params).fetchall())

    def flush(self) -> None:
        """Send every held statement in one pipeline (one round trip) and read their results.

        Raises:
            ConflictError: a deferred run save found its row changed.
            StorageError: a held statement failed (the unit is lost).
        """
        try:
            self._send()
        except psycopg.Error as exc:
            raise self._explain(exc) from exc

    def _send(self) -> None:
        """:meth:`flush`, the driver's errors as they come.

        The first statements of a unit carry its ``BEGIN``: a pooled
        connection found dead then (the server restarted, the backend was
        terminated) is dropped, the pool's idle connections are checked, and
        the same statements go once more on a new connection.
        """
        held, self._held = self._held, []
        self._last = held
        connection = self._connection()
        try:
            self._pipeline(connection, held)
        except psycopg.Error:
            if self._open or not (connection.closed or connection.broken):
                self._open = True
                raise
            # it died while idle (a restart, pg_terminate_backend): so may the other idle
            # ones; the pool checks them all, then the unit begins once more on a new one
            self._current = None
            self.pool.putconn(connection)  # a closed one is dropped: the pool replaces it
            self.pool.check()
            self._current = connection = self._getconn()
            self._open = True  # whatever happens now, the unit is under way on this one
            self._pipeline(connection, held)
        self._open = True

    @staticmethod
    def _pipeline(connection: psycopg.Connection[Any], held: list[_Held]) -> None:
        if len(held) == 1:  # a pipeline of one would cost the same round trip and more CPU
            held[0].send(connection)
            return
        with connection.pipeline():
            for statement in held:
                statement.send(connection)

    def _explain(self, exc: psycopg.Error) -> StorageError | ConflictError:
        """The campaignkit error of a failed send (a deferred save's own check is a conflict)."""
        if isinstance(exc, errors.DivisionByZero):
            conflict = next((h.conflict for h in self._last if h.conflict), None)
            if conflict is not None:
                return ConflictError(conflict)
        return postgres_error(exc, self.label)

    def _guarded(self, held: _Held) -> None:
        """Send ``held`` now, inside a savepoint: a unique violation leaves the unit usable.

        Raises:
            sqlite3.IntegrityError: it broke a unique index; its work is undone.
        """
        self._held += (_Held("SAVEPOINT ck_statement"), held)
        try:
            self._send()
        except psycopg.errors.IntegrityError as exc:
            self._undo_statement(exc)
        except psycopg.Error as exc:
            raise self._explain(exc) from exc
        self._held.append(_Held("RELEASE SAVEPOINT ck_statement"))

    def _undo_statement(self, exc: psycopg.Error) -> NoReturn:
        """Roll back to the statement's savepoint and raise its unique violation.

        Should the savepoint not be there (a held statement before it failed),
        the unit is lost: ``StorageError``.
        """
        try:
            self._connection().execute("ROLLBACK TO SAVEPOINT ck_statement")
        except psycopg.Error:
            raise postgres_error(exc, self.label) from exc
        raise sqlite3.IntegrityError(" ".join(str(exc).split())) from exc

    def remember(self, key: Hashable, value: object) -> None:
        """Keep ``value``, read in this unit, for :meth:`recall` until the unit's next write."""
        if self._known_at != (self.unit, self.writes):
            self._known = {}
            self._known_at = (self.unit, self.writes)
        self._known[key] = value

    def recall(self, key: Hashable) -> object:
        """A value :meth:`remember` kept in this unit with no write since, else :data:`UNKNOWN`.

        A unit's own writes could change it, and no other unit can meanwhile
        (see :mod:`campaignkit.adapters.postgres.units`).
        """
        if self._known_at != (self.unit, self.writes):
            return UNKNOWN
        return self._known.get(key, UNKNOWN)

    @contextmanager
    def one_read(self) -> Iterator[None]:
        """Open the next unit of work as one read, sent alone without a transaction.

        One statement sees one snapshot of what was committed, so a unit
        whose only statement is a read needs neither ``BEGIN`` nor the
        store's lock nor ``COMMIT``: it is as if it ran just before any unit
        still in progress, which is an order the lock allows too. One round
        trip instead of two (a page of a static audience, each batch).
        Nested in a unit already open, the read joins that unit.

        Raises:
            StorageError: the unit ran a second statement, or a write.
        """
        token = _ONE_READ.set(True)
        try:
            yield
        finally:
            _ONE_READ.reset(token)

    def _check_alone(self, reading: bool) -> None:
        """Refuse what a unit opened by :meth:`one_read` cannot do without a transaction."""
        if self._alone and (not reading or self._open):
            raise StorageError(
                f"store {self.label}: a unit opened as one read ran a second statement "
                "or a write; open it with unit_of_work() alone"
            )

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction holding the store's advisory lock, on a pooled connection.

        The lock is taken in shared mode inside
        :func:`campaignkit.concurrency.shared_units`, else exclusively. ``BEGIN``
        and the lock go with the unit's first statements (one round trip), and
        the ``COMMIT`` with its last writes; a unit that ran no statement
        sends nothing.

        A pooled connection found dead when the unit starts (the server
        restarted, the backend was terminated) is dropped, the pool's idle
        connections are checked, and the unit begins once more.
        """
        parked = self._parked
        if parked is not None and parked.thread == threading.get_ident() and not reading_ahead():
            # the parking thread's next unit: another thread's (a heartbeat's renewal, the
            # host's) goes on beside it, and its row locks wait on the server if they must
            self.finish_parked()
        shared = units_are_shared()
        self._current = self._getconn()
        self._open = False
        self._alone = _ONE_READ.get()
        self._held = (
            []
            if self._alone
            else [_Held(_BEGIN), _Held(self._lock_shared_sql if shared else self._lock_sql)]
        )
        self.shared = shared
        self.unit += 1
        try:
            try:
                yield
            except BaseException:
                self._held = []
                if self._open and not self._alone:
                    with contextlib.suppress(psycopg.Error):
                        self._connection().execute("ROLLBACK")
                raise
            self._commit()
        finally:
            connection = self._current
            self._current = None
            self._held = []
            self._open = False
            self._alone = False
            self.shared = False
            if connection is not None:
                self.pool.putconn(connection)

    def _commit(self) -> None:
        """Send what is held with ``COMMIT`` (nothing at all if the unit ran no statement)."""
        if self._alone or (not self._open and len(self._held) <= _OPENING):
            self._held = []  # nothing was begun (or the one read ran in autocommit)
            return
        connection = self._connection()
        if connection.info.transaction_status == TransactionStatus.INERROR:
            with contextlib.suppress(psycopg.Error):
                connection.execute("ROLLBACK")
            raise StorageError(
                f"store {self.label}: a statement of this unit of work failed, so "
                "PostgreSQL rolled the whole unit back; nothing was written"
            )
        self._held.append(_Held("COMMIT"))
        redo = parking()
        if redo is not None and self.parks and self._parked is None:
            self._park(connection, redo)
            return
        try:
            self._send()
        except psycopg.Error as exc:
            connection = self._connection()
            if (
                not connection.broken
                and connection.info.transaction_status != TransactionStatus.IDLE
            ):
                with contextlib.suppress(psycopg.Error):
                    connection.execute("ROLLBACK")
            raise self._explain(exc) from exc

    @property
    def parks(self) -> bool:
        """Whether units may be parked: the pool has a connection for the next unit."""
        return self.pool.max_size >= 2

    def _park(self, connection: psycopg.Connection[Any], redo: Callable[[], object]) -> None:
        """Send what is held, ``COMMIT`` last, without waiting for the answer; keep it aside.

        The connection stays out of the pool until :meth:`finish_parked`.
        """
        if not self._open:  # BEGIN first, in line: a connection found dead then is replaced
            opening, self._held = self._held[:_OPENING], self._held[_OPENING:]
            held, self._held = self._held, opening
            self.flush()
            self._held = held
            connection = self._connection()
        held, self._held = self._held, []
        self._last = held
        pipeline = connection.pipeline()
        try:
            pipeline.__enter__()
            for statement in held:  # each is sent as it is queued (psycopg's pipeline mode)
                statement.send(connection)
        except psycopg.Error as exc:
            # the connection failed, or the server already answered an error (a check that
            # failed while the last statements were being sent): as a COMMIT in line would
            with contextlib.suppress(psycopg.Error):
                pipeline.__exit__(None, None, None)
            if (
                not connection.broken
                and connection.info.transaction_status != TransactionStatus.IDLE
            ):
                with contextlib.suppress(psycopg.Error):
                    connection.execute("ROLLBACK")
            raise self._explain(exc) from exc
        self._current = None  # the unit's end must not give it back to the pool
        self._parked = _Parked(connection, pipeline, held, redo)

    def finish_parked(self) -> None:
        """Read the parked unit's answer, if one is parked; redo it if a check failed.

        Raises:
            StorageError: the parked unit failed otherwise (its connection
                broke, a statement failed); nothing of it was written, or, if
                the connection broke once the ``COMMIT`` was sent, it may have been.
        """
        parked, self._parked = self._parked, None
        if parked is None:
            return
        connection = parked.connection
        self._last = parked.held
        try:
            parked.pipeline.__exit__(None, None, None)  # sync, read every answer
        except psycopg.Error as exc:
            if (
                not connection.broken
                and connection.info.transaction_status != TransactionStatus.IDLE
            ):
                with contextlib.suppress(psycopg.Error):
                    connection.execute("ROLLBACK")
            self.pool.putconn(connection)
            error = self._explain(exc)
            if isinstance(error, ConflictError):  # a check failed: the unit was rolled back
                parked.redo()
                return
            raise error from exc
        self.pool.putconn(connection)

    def _getconn(self) -> psycopg.Connection[Any]:
        try:
            return self.pool.getconn(timeout=self.timeout)
        except PoolTimeout as exc:
            raise StorageUnavailable(
                f"store {self.label}: no connection to PostgreSQL within {self.timeout} s "
                f"({exc}); check that the server is up, or raise pool_size"
            ) from exc

    def close(self) -> None:
        """Close every connection (a parked unit is finished first, its errors ignored)."""
        with contextlib.suppress(Exception):
            self.finish_parked()
        self.pool.close()


UNKNOWN: Final = object()
"""What :meth:`PostgresDatabase.recall` answers when it holds nothing valid."""
_BEGIN: Final = "BEGIN"
_OPENING: Final = 2
"""How many statements a unit holds before any of its own: ``BEGIN`` and the lock."""
