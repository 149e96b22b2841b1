"""``PostgresStore`` and ``PostgresProfileStore``: everything the SQLite file holds, in PostgreSQL.

The repositories are the SQLite store's own classes running on a
:class:`~campaignkit.adapters.postgres.connection.PostgresDatabase`, whose
statements are translated once each (:mod:`.dialect`); the tables are the
same (:mod:`.schema`), in the store's own schema.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Final, cast

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from campaignkit.adapters.postgres.connection import PostgresDatabase
from campaignkit.adapters.postgres.ledger import PostgresLedger
from campaignkit.adapters.postgres.migration import migrate
from campaignkit.adapters.postgres.statements import describe_dsn
from campaignkit.adapters.postgres.units import (
    PostgresCampaigns,
    PostgresRuns,
    PostgresShards,
    PostgresSuppressions,
    PostgresUnitOfWork,
)
from campaignkit.adapters.sqlite.delivery import (
    SQLiteContacts,
    SQLiteFeedback,
    SQLiteStaticAudiences,
)
from campaignkit.adapters.sqlite.others import (
    SQLiteAccess,
    SQLiteApprovalPolicies,
    SQLiteRules,
    SQLiteSurfaces,
)
from campaignkit.adapters.sqlite.profiles import SQLiteProfileStore
from campaignkit.adapters.sqlite.runs import SQLiteExecutions
from campaignkit.adapters.sqlite.store import SQLiteStore
from campaignkit.domain import checks
from campaignkit.domain.profile import Profile
from campaignkit.errors import StorageError

MAX_POOL_SIZE: Final = 1_000
"""The largest ``pool_size`` (a server allows 100 connections by default)."""
MAX_CONNECT_TIMEOUT: Final = 3_600
"""The longest ``connect_timeout`` in seconds (an hour)."""


def _schema_problem(schema: object) -> str | None:
    """What is wrong with ``schema`` as the store's schema name, or None."""
    shape = "a PostgreSQL schema name of 1 to 63 bytes (such as 'campaignkit')"
    if (
        not isinstance(schema, str)
        or not schema
        or not checks.encodable(schema)
        or len(schema.encode()) > 63
        or "\0" in schema
    ):
        return f"schema must be {shape}, not {checks.describe(schema)}"
    if schema.startswith("pg_") or schema == "information_schema":
        return (
            f"schema {schema!r} is reserved for PostgreSQL's own catalogs; "
            "name another, such as 'campaignkit'"
        )
    return None


def store_argument_problems(
    dsn: object, schema: object, pool_size: object, connect_timeout: object
) -> list[str]:
    """Every problem with the arguments of :class:`PostgresStore` (empty if none)."""
    problems: list[str] = []
    if not isinstance(dsn, str):
        problems.append(
            "dsn must be a PostgreSQL connection string such as "
            f"'postgresql://host:5432/dbname', not {checks.describe(dsn)}"
        )
    schema_problem = _schema_problem(schema)
    if schema_problem is not None:
        problems.append(schema_problem)
    if (
        isinstance(pool_size, bool)
        or not isinstance(pool_size, int)
        or not 1 <= pool_size <= MAX_POOL_SIZE
    ):
        problems.append(
            f"pool_size must be a whole number of connections from 1 to {MAX_POOL_SIZE:,}, "
            f"not {checks.describe(pool_size)}"
        )
    if (
        isinstance(connect_timeout, bool)
        or not isinstance(connect_timeout, (int, float))
        or not math.isfinite(connect_timeout)
        or not 1 <= connect_timeout <= MAX_CONNECT_TIMEOUT
    ):
        problems.append(
            f"connect_timeout must be a number of seconds from 1 to {MAX_CONNECT_TIMEOUT:,}, "
            f"not {checks.describe(connect_timeout)}"
        )
    return problems


class PostgresStore:
    """A store in a PostgreSQL schema, shared by threads, processes and machines.

    Opening connects once, creates the schema if missing and applies pending
    migrations in one transaction holding the store's advisory lock (safe when
    several processes open the same database at once); a schema written by a
    newer campaignkit is refused with ``StorageError``, untouched. Other
    schemas of the database are never read or written.

    Each unit of work is one transaction on a pooled connection that first
    takes ``pg_advisory_xact_lock`` on the store's key, so units are
    serialized across processes as SQLite's ``BEGIN IMMEDIATE`` serializes
    them; within a process they are serialized by a lock, and a unit opened
    inside another on the same thread joins it. The delivery runner's units
    (opened in :func:`campaignkit.concurrency.shared_units`) take the key in
    shared mode and lock their run's row instead, so workers of several
    processes deliver different runs at once; a due run another worker is
    claiming or delivering is skipped (``FOR UPDATE SKIP LOCKED``), never
    waited for.

    Args:
        dsn: A libpq connection string (``postgresql://user@host:5432/dbname``).
        schema: The schema holding every table (created if missing).
        pool_size: The most connections the store keeps open.
        connect_timeout: Seconds to wait for the server when connecting.

    Raises:
        ValidationError: an argument of the wrong type or value.
        StorageError: the server cannot be reached (the message names the
            host, never the password), or the schema was written by a newer
            campaignkit.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "campaignkit",
        pool_size: int = 4,
        connect_timeout: float = 10.0,
    ) -> None:
        checks.raise_if(
            store_argument_problems(dsn, schema, pool_size, connect_timeout), "PostgresStore"
        )
        self.schema = schema
        self.location = describe_dsn(dsn)
        self.label = f"postgresql://{self.location} (schema {schema})"
        timeout = math.ceil(connect_timeout)
        kwargs: dict[str, Any] = {"autocommit": True, "connect_timeout": timeout}
        try:
            with psycopg.connect(dsn, **kwargs) as connection:
                migrate(connection, schema, self.label)
        except psycopg.Error as exc:
            raise StorageError(
                f"cannot connect to PostgreSQL at {self.location}: {_reason(exc, dsn)}; "
                "check the DSN and that the server is up"
            ) from exc
        search_path = sql.SQL("SET search_path TO {}").format(sql.Identifier(schema))

        def configure(connection: psycopg.Connection[Any]) -> None:
            connection.execute(search_path)

        pool: ConnectionPool = ConnectionPool(
            dsn,
            kwargs=kwargs,
            min_size=1,
            max_size=pool_size,
            configure=configure,
            open=False,
            name=f"campaignkit {schema}",
        )
        pool.open(wait=False)
        self._db = PostgresDatabase(pool, self.label, schema, float(timeout))
        self._lock = threading.RLock()
        self._local = threading.local()
        db = self._db  # the repositories keep no state of their own: one set serves every unit
        self._uow = PostgresUnitOfWork(
            PostgresCampaigns(db),
            SQLiteSurfaces(db),
            SQLiteAccess(db),
            SQLiteApprovalPolicies(db),
            PostgresRuns(db),
            PostgresLedger(db),
            SQLiteFeedback(db),
            PostgresSuppressions(db),
            SQLiteStaticAudiences(db),
            SQLiteExecutions(db),
            SQLiteContacts(db),
            SQLiteRules(db),
            db,
            PostgresShards(db),
        )

    @contextmanager
    def unit_of_work(self) -> Iterator[PostgresUnitOfWork]:
        """Open a unit of work (one transaction); nested units join the outer one."""
        with self._lock:
            outer: PostgresUnitOfWork | None = getattr(self._local, "uow", None)
            if outer is not None:
                yield outer
                return
            uow = self._uow
            with self._db.transaction():
                self._local.uow = uow
                try:
                    yield uow
                finally:
                    self._local.uow = None

    @property
    def parks_commits(self) -> bool:
        """Whether a unit ending now may be parked (see ``concurrency.parked_commits``)."""
        return self._db.parks

    def finish_parked(self) -> None:
        """Read the answer of the unit parked by this store, if any (see ``parked_commits``).

        Raises:
            StorageError: the parked unit failed otherwise than a check.
        """
        with self._lock:
            self._db.finish_parked()

    @property
    def database(self) -> PostgresDatabase:
        """The connection wrapper (for adapters sharing this schema, such as profiles)."""
        return self._db

    def close(self) -> None:
        """Close every connection; the store cannot be used afterwards."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PostgresStore({self.label!r})"


def _reason(exc: psycopg.Error, dsn: str) -> str:
    """The driver's message on one line, without the DSN's password should it appear."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    try:
        password = psycopg.conninfo.conninfo_to_dict(dsn).get("password")
    except psycopg.Error:
        password = None
    if password:
        text = text.replace(str(password), "***")
    return text.replace(dsn, "the DSN")


class PostgresProfileStore(SQLiteProfileStore):
    """The :class:`~campaignkit.ports.ProfileStore` of a :class:`PostgresStore`.

    It shares the store's connections and lock; called inside a unit of work
    it joins that transaction. Static audiences of the same store are read
    joined with their profiles in one query.

    Args:
        store: The PostgreSQL store whose schema holds the profiles.
    """

    STATIC_MEMBERS: ClassVar[str] = (
        "SELECT m.profile_id, p.document FROM audience_members m "
        "LEFT JOIN profiles p ON p.id = m.profile_id "
        "WHERE m.audience = ?1 AND m.position >= ?2 "
        "AND m.position < CAST(?2 AS BIGINT) + ?3 ORDER BY m.position LIMIT ?3"
    )
    """One page of a static audience, bounded on both sides of its positions.

    Positions are ``0 .. size - 1`` (``define`` numbers them), so the upper
    bound returns the same rows as ``LIMIT`` alone; with it, the planner walks
    ``limit`` members of the primary key whatever its statistics say (before
    the table was first analyzed it sorted every member from ``offset`` on
    for each page: 31 ms a page in the middle of 50,000, quadratic in all).
    """

    def __init__(self, store: PostgresStore) -> None:
        # the SQLite profile store needs only unit_of_work() and database
        super().__init__(cast("SQLiteStore", store))
        self._db = store.database

    def static_members(self, name: str, offset: int, limit: int) -> list[Profile]:
        """Members of static audience ``name`` from ``offset``, as profiles, in one query.

        As the SQLite profile store's, but the page is read as one statement
        without a transaction (:meth:`PostgresDatabase.one_read`): one round
        trip instead of two, each batch of a run. (A read-ahead of the next
        page on another connection was tried and removed: it served pages
        older than this process's own later writes, and stalled a pool of
        one; see docs/decisions/postgresql.md.)

        Args:
            name: The audience's name.
            offset: The position of the first member to return.
            limit: The most members to return.

        Returns:
            Up to ``limit`` profiles in definition order (empty past the end).
        """
        with self._db.one_read():
            return super().static_members(name, offset, limit)
