"""The SQLite-to-PostgreSQL statement translation and the connection's failure paths (fakes)."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import psycopg
import pytest
from psycopg.pq import TransactionStatus
from psycopg_pool import PoolTimeout

import campaignkit as ck
from campaignkit.adapters.postgres.connection import PostgresDatabase, describe_dsn, lock_key
from campaignkit.adapters.postgres.dialect import translate


def test_placeholders_become_psycopg_ones_and_percent_signs_are_doubled() -> None:
    statement = translate("SELECT a FROM t WHERE b = ? AND c LIKE '5%'")
    assert statement.sql == "SELECT a FROM t WHERE b = %s AND c LIKE '5%%'"
    assert statement.order is None
    assert statement.parameters((1,)) == (1,)


def test_numbered_placeholders_take_their_parameters_in_order() -> None:
    statement = translate("SELECT ?2, ?1, ?2")
    assert statement.sql == "SELECT %s, %s, %s"
    assert statement.parameters(("a", "b")) == ["b", "a", "b"]


def test_insert_or_ignore_and_replace_become_on_conflict() -> None:
    ignore = translate("INSERT OR IGNORE INTO group_members (group_id, user_id) VALUES (?, ?)")
    assert ignore.sql.endswith("VALUES (%s, %s) ON CONFLICT DO NOTHING")
    assert not ignore.guarded
    replace = translate("INSERT OR REPLACE INTO audiences (name, size) VALUES (?, ?)")
    assert replace.sql.endswith("ON CONFLICT (name) DO UPDATE SET size = excluded.size")
    keys_only = translate("INSERT OR REPLACE INTO audiences (name) VALUES (?)")
    assert keys_only.sql.endswith("ON CONFLICT (name) DO NOTHING")


def test_an_insert_or_replace_on_an_unknown_table_is_refused() -> None:
    with pytest.raises(ck.StorageError, match="PRIMARY_KEYS"):
        translate("INSERT OR REPLACE INTO elsewhere (a) VALUES (?)")


def test_sqlite_functions_and_hints_are_translated() -> None:
    assert "strpos(name_fold, %s)" in translate("SELECT 1 WHERE instr(name_fold, ?) > 0").sql
    assert translate("SELECT value FROM json_each(?)").sql == "SELECT value FROM ck_json_each(%s)"
    assert translate("SELECT a FROM t INDEXED BY t_by_a WHERE a = ?").sql == (
        "SELECT a FROM t WHERE a = %s"
    )
    assert "IS NOT DISTINCT FROM %s" in translate("UPDATE t SET a = 1 WHERE b IS ?").sql
    assert "CASE WHEN %s <> 0 THEN m END" in translate("SELECT CASE WHEN ? THEN m END").sql
    assert "LIMIT ALL" in translate("SELECT a FROM (SELECT a FROM t LIMIT -1) AS j").sql


def test_subqueries_without_an_alias_get_one_nested_ones_too() -> None:
    sql = translate(
        "SELECT * FROM (SELECT a FROM (SELECT a FROM t) ORDER BY a) UNION ALL "
        "SELECT * FROM (SELECT b FROM u) AS named"
    ).sql
    assert sql == (
        "SELECT * FROM (SELECT a FROM (SELECT a FROM t) AS _ck2 ORDER BY a) AS _ck3 UNION ALL "
        "SELECT * FROM (SELECT b FROM u) AS named"
    )


def test_writes_that_may_break_a_unique_index_are_guarded() -> None:
    assert translate("INSERT INTO campaigns (id) VALUES (?)").guarded
    assert translate("UPDATE surfaces SET name = ? WHERE id = ?").guarded
    assert not translate("UPDATE runs SET status = ? WHERE id = ?").guarded
    assert not translate("INSERT INTO contacts (channel) VALUES (?)").guarded
    assert not translate("SELECT 1").guarded


def test_a_dsn_is_described_without_its_password() -> None:
    assert describe_dsn("postgresql://ada:pw@db.example:6543/crm") == "db.example:6543/crm"
    assert describe_dsn("dbname=crm") == "localhost:5432/crm"
    assert describe_dsn("=== not a dsn") == "an unparsable DSN"
    assert -(2**31) <= lock_key("campaignkit") < 2**31
    assert lock_key("a") != lock_key("b")


class _Connection:
    def __init__(self, fails: bool, closed: bool) -> None:
        self.fails = fails
        self.closed = closed
        self.broken = False
        self.info = SimpleNamespace(transaction_status=TransactionStatus.INTRANS)

        self.sent: list[object] = []

    def execute(self, query: object, *_: object) -> None:
        if self.fails:
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        self.sent.append(query)

    def pipeline(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


class _Pool:
    def __init__(self, *connections: _Connection) -> None:
        self.connections = list(connections)
        self.returned: list[_Connection] = []
        self.checked = False

    def getconn(self, timeout: float) -> _Connection:
        if not self.connections:
            raise PoolTimeout("couldn't get a connection after 1.0 sec")
        return self.connections.pop(0)

    def putconn(self, connection: _Connection) -> None:
        self.returned.append(connection)

    def check(self) -> None:
        self.checked = True


def _database(pool: _Pool) -> PostgresDatabase:
    return PostgresDatabase(pool, "db", "campaignkit", 1.0)  # type: ignore[arg-type]


def _unit(database: PostgresDatabase) -> None:
    with database.transaction():
        database.execute("SELECT 1")  # BEGIN and the lock go with it


def test_a_unit_that_runs_no_statement_sends_nothing() -> None:
    connection = _Connection(fails=False, closed=False)
    pool = _Pool(connection)
    with _database(pool).transaction():
        pass
    assert connection.sent == []
    assert pool.returned == [connection]


def test_a_connection_dead_in_the_pool_is_replaced_once() -> None:
    dead, alive = _Connection(fails=True, closed=True), _Connection(fails=False, closed=False)
    pool = _Pool(dead, alive)
    _unit(_database(pool))
    assert pool.returned == [dead, alive]
    assert pool.checked
    assert alive.sent[0] == "BEGIN"
    assert alive.sent[-2:] == ["SELECT 1", "COMMIT"]


def test_a_dead_connection_and_no_other_is_unavailable() -> None:
    dead = _Connection(fails=True, closed=True)
    pool = _Pool(dead)
    with pytest.raises(ck.StorageUnavailable, match="no connection to PostgreSQL"):
        _unit(_database(pool))
    assert pool.returned == [dead]


def test_a_server_gone_for_good_is_a_storage_error() -> None:
    pool = _Pool(_Connection(fails=True, closed=True), _Connection(fails=True, closed=True))
    with pytest.raises(ck.StorageError, match="connection to PostgreSQL failed"):
        _unit(_database(pool))
    assert len(pool.returned) == 2


def test_a_failure_on_a_live_connection_is_not_retried() -> None:
    pool = _Pool(_Connection(fails=True, closed=False), _Connection(fails=False, closed=False))
    with pytest.raises(ck.StorageError, match="connection to PostgreSQL failed"):
        _unit(_database(pool))
    assert len(pool.connections) == 1


def test_an_exhausted_pool_is_a_storage_error_saying_what_to_do() -> None:
    with (
        pytest.raises(
            ck.StorageError, match=r"no connection to PostgreSQL within 1\.0 s.*pool_size"
        ),
        _database(_Pool()).transaction(),
    ):
        pass  # pragma: no cover - never entered
