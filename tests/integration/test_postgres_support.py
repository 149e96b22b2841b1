"""The PostgreSQL test fixtures: a reachable server, a fresh schema per test, skip or fail."""

from __future__ import annotations

import pytest

from tests import postgres_support


def test_a_schema_is_fresh_and_dropped_afterwards(postgres_dsn: str) -> None:
    import psycopg

    schema = postgres_support.unique_schema()
    assert schema != postgres_support.unique_schema()
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'CREATE TABLE "{schema}".t (x int)')
        postgres_support.drop_schema(postgres_dsn, schema)
        row = conn.execute(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = %s", (schema,)
        ).fetchone()
    assert row == (0,)


def test_the_schema_fixture_names_a_schema_not_yet_created(
    postgres_dsn: str, postgres_schema: str
) -> None:
    import psycopg

    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = %s",
            (postgres_schema,),
        ).fetchone()
    assert row == (0,)
    assert postgres_schema.startswith("ck_test_")


def test_an_unreachable_server_is_explained_in_one_line() -> None:
    # port 1 on localhost: nothing listens there
    problem = postgres_support._probe("postgresql://127.0.0.1:1/test")
    assert problem is not None
    assert "\n" not in problem


def test_without_a_server_a_test_is_skipped_with_how_to_enable_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="CAMPAIGNKIT_TEST_POSTGRES=postgresql://"):
        postgres_support.unavailable("postgresql://db:5432/x", "refused")


def test_under_ci_a_missing_server_fails_the_test(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="PostgreSQL not reachable at postgresql://db"):
        postgres_support.unavailable("postgresql://db:5432/x", "refused")
