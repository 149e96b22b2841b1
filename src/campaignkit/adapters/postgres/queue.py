"""API triggers queued on procrastinate, in the transaction that accepts them (issue 15).

Once :func:`enable` has run on a :class:`~campaignkit.adapters.postgres.PostgresStore`,
every unitary trigger run its units add (``trigger``, ``trigger_many``, the AJO
verbs) is also a procrastinate job, inserted by procrastinate's own SQL function
``procrastinate_defer_jobs_v1`` on the connection of the unit that inserts the
run: the run, its execution and its job commit together or not at all.

procrastinate's tables, types and functions (all named ``procrastinate_*``) live
in the store's own schema, beside campaignkit's tables, none of which has that
prefix: the unit's ``search_path`` finds them, jobs name runs of this store
only, and dropping the store drops its queue.
"""

from __future__ import annotations

import json
from typing import Any, Final

import psycopg
from psycopg import sql

from campaignkit.adapters.postgres.connection import PostgresDatabase
from campaignkit.adapters.postgres.statements import LOCK_CLASS, lock_key, postgres_error
from campaignkit.adapters.postgres.units import PostgresRuns
from campaignkit.domain.delivery import Run, RunKind
from campaignkit.errors import StorageError, ValidationError

QUEUE: Final = "campaignkit_triggers"
"""The procrastinate queue of trigger deliveries (its NOTIFY channel stays under 63 bytes)."""

TASK: Final = "campaignkit.deliver_trigger"
"""The procrastinate task name of a trigger delivery (registered by ``campaignkit.queue``)."""

_DEFER: Final = (
    "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW(%s, %s, 0, %s, NULL, %s::jsonb, "
    "CASE WHEN %s::float8 > 0 THEN now() + make_interval(secs => %s::float8) END"
    ")::procrastinate_job_to_defer_v1])"
)
"""Insert one job through procrastinate's own deferring function (its schema.sql)."""

_HAS_QUEUE: Final = (
    "SELECT count(*) FROM pg_tables WHERE schemaname = %s AND tablename = 'procrastinate_jobs'"
)


def job_lock(run_id: str) -> str:
    """The procrastinate ``lock`` of a run's jobs: two of them never run at once."""
    return f"campaignkit run {run_id}"


def enqueue(db: PostgresDatabase, run_id: str, delay: float = 0.0) -> None:
    """Defer the delivery of ``run_id`` in the unit of work open on ``db``.

    Args:
        db: The store's connections; a unit of work must be open on it.
        run_id: The run the job delivers.
        delay: Seconds from the server's ``now()`` before a worker may take
            the job (0: at once).

    Raises:
        StorageError: no unit of work is open, or the server refused the job
            (procrastinate's schema missing: call :func:`enable` first).
    """
    connection = db.current
    if connection is None:
        raise StorageError(
            f"store {db.label}: a trigger job was deferred outside a unit of work; "
            "open one with store.unit_of_work()"
        )
    args = json.dumps({"run_id": run_id})
    try:
        connection.execute(_DEFER, (QUEUE, TASK, job_lock(run_id), args, delay, delay))
    except psycopg.Error as exc:
        raise postgres_error(exc, db.label) from exc


class QueuedRuns(PostgresRuns):
    """The PostgreSQL runs repository, deferring a job for each unitary trigger run it adds."""

    def add(self, run: Run) -> Run:
        """Insert a new run; a unitary trigger's delivery is deferred in the same transaction."""
        stored = super().add(run)
        if run.kind is RunKind.TRIGGER:
            enqueue(self._pg, run.id)
        return stored


def install(connection: psycopg.Connection[Any], schema: str, label: str) -> bool:
    """Apply procrastinate's schema in ``schema`` unless it is there; True if applied now.

    One transaction holding the store's advisory lock, as campaignkit's own
    migrations do, so two processes opening at once apply it once.

    Args:
        connection: An autocommit connection (no transaction open).
        schema: The store's schema (it exists: the store migrated it).
        label: How to name the store in messages.

    Raises:
        StorageError: a driver error (the message names the store).
    """
    from procrastinate.schema import SchemaManager  # noqa: PLC0415 - the optional extra

    try:
        with connection.transaction():
            connection.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_CLASS, lock_key(schema))
            )
            row = connection.execute(_HAS_QUEUE, (schema,)).fetchone()
            if row is not None and row[0]:
                return False
            connection.execute(
                sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema))
            )
            connection.execute(SchemaManager.get_schema())
    except psycopg.Error as exc:
        raise postgres_error(exc, label) from exc
    return True


def enable(store: Any) -> bool:
    """Queue the deliveries of ``store``'s unitary triggers on procrastinate from now on.

    Applies procrastinate's schema in the store's schema if it is not there,
    then makes the store's units defer a job for each unitary trigger run they
    add. Idempotent.

    Args:
        store: A :class:`~campaignkit.adapters.postgres.PostgresStore`.

    Returns:
        True if procrastinate's schema was applied now.

    Raises:
        ValidationError: ``store`` is not a PostgreSQL store.
        StorageError: the server refused the schema.
    """
    from campaignkit.adapters.postgres.store import PostgresStore  # noqa: PLC0415 - no cycle

    if not isinstance(store, PostgresStore):
        raise ValidationError(
            [
                "store must be a PostgresStore (the kit of CampaignKit.postgres): "
                f"procrastinate's queue lives in PostgreSQL, not in {type(store).__name__}"
            ],
            subject="trigger queue",
        )
    db = store.database
    with db.pool.connection() as connection:
        applied = install(connection, store.schema, store.label)
    with store.unit_of_work() as uow:  # every unit shares this one set of repositories
        if not isinstance(uow.runs, QueuedRuns):
            uow.runs = QueuedRuns(db)
    return applied
