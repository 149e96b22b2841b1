"""Applying the PostgreSQL store's migrations when it opens (safe under concurrent opens).

Split from :mod:`.connection` (the connections of units of work): this runs
once, on a plain autocommit connection, before the pool exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from campaignkit.adapters.postgres.schema import MIGRATIONS, SEARCH_INDEX
from campaignkit.adapters.postgres.statements import LOCK_CLASS, lock_key, postgres_error
from campaignkit.errors import StorageError


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
