"""How tests find a PostgreSQL server: the ``postgres_dsn`` and ``postgres_schema`` fixtures.

The server is ``CAMPAIGNKIT_TEST_POSTGRES`` (a libpq DSN), by default
``postgresql://127.0.0.1:5432/test``. It is probed once per session (a 2 s
connect timeout). Without a server a test needing it is skipped with one
line saying how to enable it, except under ``CI=true``, where it fails: CI
always exercises PostgreSQL.

Each test gets a fresh, uniquely named schema (not created: the store
creates it, as on a host's first open), dropped with everything in it
afterwards. The fixtures are imported into ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Final

import pytest

DEFAULT_DSN: Final = "postgresql://127.0.0.1:5432/test"
ENVIRONMENT: Final = "CAMPAIGNKIT_TEST_POSTGRES"
PROBE_TIMEOUT: Final = 2


def _probe(dsn: str) -> str | None:
    """None if a server answers at ``dsn``, else why not (one line)."""
    try:
        import psycopg  # an optional dependency (campaignkit[postgres])
    except ImportError:
        return "psycopg is not installed (pip install -e '.[dev]')"
    try:
        with psycopg.connect(dsn, connect_timeout=PROBE_TIMEOUT, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


def unavailable(dsn: str, reason: str) -> None:
    """Skip the test (fail it under ``CI=true``): no PostgreSQL at ``dsn``."""
    message = (
        f"PostgreSQL not reachable at {dsn}: start one or set "
        f"{ENVIRONMENT}=postgresql://... ({reason})"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def _postgres_probe() -> tuple[str, str | None]:
    dsn = os.environ.get(ENVIRONMENT) or DEFAULT_DSN
    return dsn, _probe(dsn)


@pytest.fixture
def postgres_dsn(_postgres_probe: tuple[str, str | None]) -> str:
    """The DSN of a reachable PostgreSQL server (skips, or fails under CI=true, without one)."""
    dsn, problem = _postgres_probe
    if problem is not None:
        unavailable(dsn, problem)
    return dsn


def drop_schema(dsn: str, schema: str) -> None:
    """``DROP SCHEMA ... CASCADE`` if it exists."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn, connect_timeout=PROBE_TIMEOUT, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def unique_schema() -> str:
    """A schema name no other test uses."""
    return f"ck_test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def postgres_schema(postgres_dsn: str) -> Iterator[str]:
    """A fresh schema name on ``postgres_dsn`` (not created), dropped after the test."""
    schema = unique_schema()
    try:
        yield schema
    finally:
        drop_schema(postgres_dsn, schema)


@pytest.fixture(scope="module")
def postgres_module_schema(_postgres_probe: tuple[str, str | None]) -> Iterator[str]:
    """A schema shared by one test module (for suites that empty it between tests)."""
    dsn, problem = _postgres_probe
    if problem is not None:
        unavailable(dsn, problem)
    schema = unique_schema()
    try:
        yield schema
    finally:
        drop_schema(dsn, schema)
