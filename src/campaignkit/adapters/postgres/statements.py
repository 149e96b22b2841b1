"""Statements held back for one pipeline, and the keys and errors of the store's connections.

Split from :mod:`.connection`, which keeps :class:`~.connection.PostgresDatabase`
(the units of work) and re-exports these names: a statement held back until a
result is needed (:class:`_Held`), the cursor that sends it when read
(:class:`HeldCursor`), a unit whose ``COMMIT`` is in flight (:class:`_Parked`),
the advisory-lock keys (:data:`LOCK_CLASS`, :func:`lock_key`, :func:`name_key`),
how a DSN is named in messages (:func:`describe_dsn`) and how a driver error
becomes a campaignkit one (:func:`postgres_error`).
"""

from __future__ import annotations

import hashlib
import threading
import zlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Final

import psycopg
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict

from campaignkit.errors import ConflictError, StorageError, StorageUnavailable

if TYPE_CHECKING:
    from campaignkit.adapters.postgres.connection import PostgresDatabase

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


class _Held:
    """A statement held back until a result is needed: the next read, or the unit's end.

    Attributes:
        query: The PostgreSQL text (or composed ``sql``).
        params: Its parameters (one set), or for ``many`` every set.
        many: Whether it is an ``executemany``.
        conflict: Set on a run's deferred save: the ``ConflictError`` text if
            its check (a division by zero when no row matched) fails.
        cursor: The psycopg cursor, once sent.
    """

    __slots__ = ("conflict", "cursor", "many", "params", "query")

    def __init__(
        self, query: Any, params: Any = None, *, many: bool = False, conflict: str | None = None
    ) -> None:
        self.query = query
        self.params = params
        self.many = many
        self.conflict = conflict
        self.cursor: psycopg.Cursor[Any] | None = None

    def send(self, connection: psycopg.Connection[Any]) -> None:
        """Send it on ``connection`` (in pipeline mode: its result comes at the sync)."""
        if self.many:
            self.cursor = connection.cursor()
            self.cursor.executemany(self.query, self.params)
        else:
            self.cursor = connection.execute(self.query, self.params)


class HeldCursor:
    """The cursor of a statement that may not have been sent yet: reading it sends it.

    What the repositories read of a cursor (``rowcount``, ``fetchone``,
    ``fetchall``); any of them first sends every statement held back on the
    unit's connection, in one round trip.
    """

    __slots__ = ("_db", "_held")

    def __init__(self, db: PostgresDatabase, held: _Held) -> None:
        self._db = db
        self._held = held

    def _cursor(self) -> psycopg.Cursor[Any]:
        if self._held.cursor is None:
            self._db.flush()
        cursor = self._held.cursor
        assert cursor is not None  # flush sent it, or raised
        return cursor

    @property
    def rowcount(self) -> int:
        """The rows the statement changed (or returned)."""
        return self._cursor().rowcount

    def fetchone(self) -> Any:
        """The next row, or None."""
        return self._cursor().fetchone()

    def fetchall(self) -> list[Any]:
        """Every row left."""
        return self._cursor().fetchall()


class _Parked:
    """A unit whose last statements and ``COMMIT`` were sent unanswered.

    Kept by ``PostgresDatabase._park`` until its answer is read.
    """

    __slots__ = ("connection", "held", "pipeline", "redo", "thread")

    def __init__(
        self,
        connection: psycopg.Connection[Any],
        pipeline: AbstractContextManager[object],
        held: list[_Held],
        redo: Callable[[], object],
    ) -> None:
        self.connection = connection
        self.pipeline = pipeline
        self.held = held
        self.redo = redo
        self.thread = threading.get_ident()
        """The thread that parked it: only its next unit finishes it."""


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
