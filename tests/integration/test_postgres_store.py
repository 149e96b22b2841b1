"""PostgresStore on a real server: schema, migrations, concurrency, errors, connection loss."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from typing import Any

import pendulum
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

import campaignkit as ck
from campaignkit.adapters.postgres import PostgresProfileStore, PostgresStore, connection, migration
from campaignkit.adapters.postgres.schema import MIGRATIONS
from campaignkit.testing import ManualClock
from campaignkit.testing.factories import make_campaign

NOW = pendulum.datetime(2026, 12, 1, 9, tz="UTC")


def _connect(dsn: str) -> psycopg.Connection[Any]:
    return psycopg.connect(dsn, autocommit=True)


def _tables(dsn: str, schema: str) -> set[str]:
    with _connect(dsn) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchall()
    return {row[0] for row in rows}


@pytest.fixture
def store(postgres_dsn: str, postgres_schema: str) -> Iterator[PostgresStore]:
    with PostgresStore(postgres_dsn, schema=postgres_schema) as opened:
        yield opened


def test_opening_creates_the_schema_with_every_table_and_records_the_migrations(
    postgres_dsn: str, postgres_schema: str
) -> None:
    with PostgresStore(postgres_dsn, schema=postgres_schema):
        pass
    tables = _tables(postgres_dsn, postgres_schema)
    assert {"campaigns", "runs", "ledger", "profiles", "contacts", "schema_migrations"} <= tables
    with PostgresStore(postgres_dsn, schema=postgres_schema):  # a reopen changes nothing
        pass
    with _connect(postgres_dsn) as conn:
        rows = conn.execute(
            sql.SQL("SELECT version FROM {}.schema_migrations").format(
                sql.Identifier(postgres_schema)
            )
        ).fetchall()
    assert [row[0] for row in rows] == [version for version, _, _ in MIGRATIONS]


def test_a_table_of_the_same_name_in_another_schema_is_untouched(
    postgres_dsn: str, postgres_schema: str
) -> None:
    host = f"{postgres_schema}_host"
    with _connect(postgres_dsn) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(host)))
        conn.execute(
            sql.SQL("CREATE TABLE {}.campaigns (id int, note text)").format(sql.Identifier(host))
        )
        conn.execute(
            sql.SQL("INSERT INTO {}.campaigns VALUES (1, 'the host''s own')").format(
                sql.Identifier(host)
            )
        )
    try:
        with PostgresStore(postgres_dsn, schema=postgres_schema) as store:
            with store.unit_of_work() as uow:
                uow.campaigns.add(make_campaign("c1"))
            with store.unit_of_work() as uow:
                assert uow.campaigns.get("c1").revision == 1
        with _connect(postgres_dsn) as conn:
            rows = conn.execute(
                sql.SQL("SELECT * FROM {}.campaigns").format(sql.Identifier(host))
            ).fetchall()
        assert rows == [(1, "the host's own")]
    finally:
        with _connect(postgres_dsn) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(host)))


def test_two_stores_opening_a_fresh_schema_at_once_both_work(
    postgres_dsn: str, postgres_schema: str
) -> None:
    barrier = threading.Barrier(2)
    opened: list[PostgresStore] = []
    failures: list[BaseException] = []

    def open_store() -> None:
        barrier.wait()
        try:
            opened.append(PostgresStore(postgres_dsn, schema=postgres_schema))
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert failures == []
        assert len(opened) == 2
        with opened[0].unit_of_work() as uow:
            uow.campaigns.add(make_campaign("c1"))
        with opened[1].unit_of_work() as uow:
            assert uow.campaigns.get("c1").id == "c1"
    finally:
        for store in opened:
            store.close()


def test_a_schema_from_a_newer_campaignkit_is_refused_untouched(
    postgres_dsn: str, postgres_schema: str
) -> None:
    with PostgresStore(postgres_dsn, schema=postgres_schema):
        pass
    with _connect(postgres_dsn) as conn:
        conn.execute(
            sql.SQL("INSERT INTO {}.schema_migrations VALUES (999, 'from the future')").format(
                sql.Identifier(postgres_schema)
            )
        )
    with pytest.raises(ck.StorageError, match=r"\[999\] from a newer campaignkit.*upgrade"):
        PostgresStore(postgres_dsn, schema=postgres_schema)


def test_a_server_that_cannot_be_reached_is_named_without_the_password() -> None:
    with pytest.raises(ck.StorageError) as caught:
        PostgresStore("postgresql://ada:s3cret-pw@127.0.0.1:1/test", connect_timeout=2)
    message = str(caught.value)
    assert "127.0.0.1:1/test" in message
    assert "s3cret-pw" not in message


def test_the_password_never_appears_even_if_the_driver_repeats_it() -> None:
    exc = psycopg.OperationalError("failed for postgresql://ada:pw123@h/db with pw123")
    from campaignkit.adapters.postgres.store import _reason

    reason = _reason(exc, "postgresql://ada:pw123@h/db")
    assert "pw123" not in reason
    assert _reason(psycopg.OperationalError(""), "not a dsn ===") == "OperationalError"


def test_wrong_arguments_are_refused_before_connecting() -> None:
    with pytest.raises(ck.ValidationError) as caught:
        PostgresStore(42, schema="", pool_size=0, connect_timeout=0.5)  # type: ignore[arg-type]
    problems = caught.value.problems
    assert len(problems) == 4
    assert any(p.startswith("dsn must be") for p in problems)
    assert any(p.startswith("schema must be") for p in problems)
    assert any(p.startswith("pool_size must be") for p in problems)
    assert any(p.startswith("connect_timeout must be") for p in problems)


def test_the_kit_refuses_wrong_arguments_in_one_error() -> None:
    with pytest.raises(ck.ValidationError) as caught:
        ck.CampaignKit.postgres("postgresql://x", clock="now", pool_size=-1)  # type: ignore[arg-type]
    assert len(caught.value.problems) == 2


def test_the_kit_without_psycopg_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "campaignkit.adapters.postgres", None)
    with pytest.raises(ck.MissingDependency, match=r"campaignkit\[postgres\]"):
        ck.CampaignKit.postgres("postgresql://127.0.0.1/test")


def test_a_duplicate_is_a_conflict_and_the_unit_goes_on(store: PostgresStore) -> None:
    with store.unit_of_work() as uow:
        uow.campaigns.add(make_campaign("c1"))
        with pytest.raises(ck.ConflictError, match="exists already"):
            uow.campaigns.add(make_campaign("c1"))
        uow.campaigns.add(make_campaign("c2"))  # the transaction is still usable
    with store.unit_of_work() as uow:
        assert {uow.campaigns.get("c1").id, uow.campaigns.get("c2").id} == {"c1", "c2"}


def test_a_failed_statement_caught_inside_a_unit_rolls_the_unit_back(
    store: PostgresStore,
) -> None:
    with (
        pytest.raises(ck.StorageError, match="rolled the whole unit back"),
        store.unit_of_work() as uow,
    ):
        uow.campaigns.add(make_campaign("c1"))
        with pytest.raises(ck.StorageError, match="PostgreSQL error"):
            store.database.execute("SELECT * FROM no_such_table")
    with store.unit_of_work() as uow:
        assert uow.campaigns.find("c1") is None


def test_a_statement_outside_a_unit_of_work_is_refused(store: PostgresStore) -> None:
    with pytest.raises(ck.StorageError, match="outside a unit of work"):
        store.database.one("SELECT 1")


def _terminate_others(dsn: str, schema: str) -> int:
    """Terminate the server backends of the store's pool (their search_path is the schema)."""
    with _connect(dsn) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid() AND application_name = %s",
            (f"ck-{schema}",),
        ).fetchall()
    return len(rows)


def test_a_connection_terminated_between_units_is_replaced(
    postgres_dsn: str, postgres_schema: str
) -> None:
    dsn = make_conninfo(postgres_dsn, application_name=f"ck-{postgres_schema}")
    with PostgresStore(dsn, schema=postgres_schema, pool_size=1) as store:
        with store.unit_of_work() as uow:
            uow.campaigns.add(make_campaign("c1"))
        assert _terminate_others(postgres_dsn, postgres_schema) == 1
        with store.unit_of_work() as uow:  # the dead connection is dropped, another taken
            assert uow.campaigns.get("c1").id == "c1"


def test_a_connection_terminated_inside_a_unit_is_a_storage_error_then_recovers(
    postgres_dsn: str, postgres_schema: str
) -> None:
    dsn = make_conninfo(postgres_dsn, application_name=f"ck-{postgres_schema}")
    with PostgresStore(dsn, schema=postgres_schema, pool_size=1) as store:
        with (
            pytest.raises(ck.StorageError, match="connection to PostgreSQL failed"),
            store.unit_of_work() as uow,
        ):
            uow.campaigns.add(make_campaign("c1"))
            _terminate_others(postgres_dsn, postgres_schema)
            uow.campaigns.add(make_campaign("c2"))
        with store.unit_of_work() as uow:  # nothing of the lost unit was written
            assert uow.campaigns.find("c1") is None
            uow.campaigns.add(make_campaign("c3"))
        with store.unit_of_work() as uow:
            assert uow.campaigns.get("c3").id == "c3"


def test_a_lost_race_is_a_conflict_and_other_errors_are_storage_errors() -> None:
    lost = connection.postgres_error(psycopg.errors.SerializationFailure("x"), "db")
    assert isinstance(lost, ck.ConflictError)
    assert "retry" in str(lost)
    assert isinstance(
        connection.postgres_error(psycopg.errors.DataError(""), "db"), ck.StorageError
    )


def test_the_kit_runs_a_campaign_end_to_end(postgres_dsn: str, postgres_schema: str) -> None:
    clock = ManualClock(NOW)
    with ck.CampaignKit.postgres(postgres_dsn, clock, schema=postgres_schema) as kit:
        assert isinstance(kit.profiles, PostgresProfileStore)
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        session = kit.as_user("ada")
        draft = session.create_campaign(name="Winter sale", tags=["winter"])
        assert session.get(draft.id) == draft
    with ck.CampaignKit.postgres(postgres_dsn, clock, schema=postgres_schema) as kit:
        assert kit.as_user("ada").get(draft.id) == draft  # a restart finds it
    assert repr(kit.store).startswith("PostgresStore(")


def test_a_connection_lost_before_commit_writes_nothing(
    postgres_dsn: str, postgres_schema: str
) -> None:
    dsn = make_conninfo(postgres_dsn, application_name=f"ck-{postgres_schema}")
    with PostgresStore(dsn, schema=postgres_schema, pool_size=1) as store:
        with (
            pytest.raises(ck.StorageError, match="connection to PostgreSQL failed"),
            store.unit_of_work() as uow,
        ):
            uow.campaigns.add(make_campaign("c1"))
            _terminate_others(postgres_dsn, postgres_schema)  # the unit's last step: COMMIT fails
        with store.unit_of_work() as uow:
            assert uow.campaigns.find("c1") is None


def test_an_unparsable_dsn_is_a_storage_error() -> None:
    with pytest.raises(ck.StorageError, match="an unparsable DSN"):
        PostgresStore("=== not a dsn")


def test_a_failing_migration_is_a_storage_error_and_leaves_nothing(
    postgres_dsn: str, postgres_schema: str
) -> None:
    broken = [(1, "broken", ("CREATE TABLE half (",))]
    with _connect(postgres_dsn) as conn, pytest.raises(ck.StorageError, match="PostgreSQL error"):
        migration.migrate(conn, postgres_schema, "db", broken)
    assert _tables(postgres_dsn, postgres_schema) == set()
