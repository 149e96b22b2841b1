"""PostgreSQL keyed settles: ``ck_settle_accepted`` (schema migration 3) on the real server.

A keyed settle (every outcome SENT with a provider id) is one call of the
schema's set-based function, without client savepoints: the function
answers a provider id another entry holds with -1, having undone its own
work. These tests hold it to what the row-by-row statements give, check that
a conflict leaves the unit usable and writes nothing of the call (also
across several groups, which keep a savepoint), that its ``UPDATE`` probes
the primary key before the ledger has statistics, and that a schema at
version 2 upgrades on open.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from unittest import mock

import pendulum
import psycopg
import pytest
from psycopg import sql

from campaignkit.adapters.postgres import PostgresStore
from campaignkit.adapters.postgres.migration import migrate
from campaignkit.adapters.postgres.schema import MIGRATIONS, SETTLE_ACCEPTED_UPDATE
from campaignkit.adapters.sqlite import ledger as ledger_module
from campaignkit.domain.delivery import LedgerState
from campaignkit.domain.ledger_rows import AcceptedRows, OutcomeRow
from campaignkit.errors import ConflictError
from campaignkit.testing.contracts._support import make_message

SENT = LedgerState.SENT
T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
PROFILES = [f"p{i:03d}" for i in range(5)]
ACTIONS = ("act_a", "act_b")
TABLE = "SELECT * FROM ledger ORDER BY run_id, profile_id, action_id"


@pytest.fixture
def store(postgres_dsn: str, postgres_schema: str) -> Iterator[PostgresStore]:
    with PostgresStore(postgres_dsn, schema=postgres_schema) as opened:
        yield opened


def _connect(dsn: str, schema: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(dsn, autocommit=True)
    conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
    return conn


def _sent(action: str, profile: str, provider: str | None = None) -> OutcomeRow:
    return (action, profile, SENT, 1, provider or f"pm-{action}-{profile}", None, None)


def _add_pending(store: PostgresStore) -> None:
    with store.unit_of_work() as uow:
        uow.ledger.add_pending(
            [
                (make_message(p, action_id=a, run_id="run_1"), T0, None)
                for a in ACTIONS
                for p in PROFILES
            ]
        )


def _table(store: PostgresStore) -> list[Any]:
    with store.unit_of_work():
        return store.database.all(TABLE)


def _settle(store: PostgresStore, rows: Sequence[OutcomeRow], *, keyed: bool) -> list[str]:
    """Settle ``rows`` in one unit (keyed or row by row); the statements it sent."""
    sent: list[str] = []
    execute = store.database.execute

    def recording(text: str, params: Sequence[Any] = ()) -> Any:
        sent.append(text)
        return execute(text, params)

    with mock.patch.object(store.database, "execute", recording), store.unit_of_work() as uow:
        if keyed:
            uow.ledger.settle("run_1", rows)
        else:
            with mock.patch.object(ledger_module, "_keyed_outcomes", return_value=None):
                uow.ledger.settle("run_1", rows)
    return sent


@pytest.mark.parametrize(
    "rows",
    [
        AcceptedRows(["act_a"] * 3, PROFILES[:3], ["x1", "x2", "x3"]),
        [_sent(a, p) for a in ACTIONS for p in PROFILES[1:4]],  # two groups
        AcceptedRows(
            [a for p in PROFILES[1:4] for a in ACTIONS],  # a shard's batch: actions interleaved
            [p for p in PROFILES[1:4] for _ in ACTIONS],
            [f"z-{p}-{a}" for p in PROFILES[1:4] for a in ACTIONS],
        ),
    ],
    ids=["one-group", "two-groups", "columns-of-two-actions"],
)
def test_a_keyed_settle_leaves_what_row_by_row_leaves(
    postgres_dsn: str, postgres_schema: str, rows: Sequence[OutcomeRow]
) -> None:
    tables = []
    for keyed in (True, False):
        with PostgresStore(postgres_dsn, schema=f"{postgres_schema}_{keyed:d}") as store:
            try:
                _add_pending(store)
                sent = _settle(store, rows, keyed=keyed)
                tables.append(_table(store))
            finally:
                with _connect(postgres_dsn, store.schema) as conn:
                    conn.execute(
                        sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(store.schema))
                    )
        calls = [text for text in sent if "ck_settle_accepted" in text]
        savepoints = [text for text in sent if text.startswith("SAVEPOINT")]
        if keyed:
            groups = len({row[0] for row in rows})
            assert len(calls) == groups
            assert len(savepoints) == (0 if groups == 1 else 1)  # a lone call needs none
        else:
            assert calls == []
    keyed_table, row_table = tables
    assert keyed_table == row_table
    assert {row[5] for row in keyed_table if row[9] is not None} == {"sent"}


@pytest.mark.parametrize("second", [True, False], ids=["second-group", "one-group"])
def test_a_taken_provider_id_writes_nothing_and_the_unit_goes_on(
    store: PostgresStore, second: bool
) -> None:
    _add_pending(store)
    with store.unit_of_work() as uow:
        uow.ledger.settle("run_1", [_sent("act_a", "p000", "taken")])
    before = _table(store)
    rows = [_sent("act_a", "p001"), _sent("act_a", "p002")]
    rows.append(_sent("act_b" if second else "act_a", "p003", "taken"))
    with store.unit_of_work() as uow:
        with pytest.raises(ConflictError, match="provider message id is already held"):
            uow.ledger.settle("run_1", rows)
        assert store.database.all(TABLE) == before  # nothing of the call, not even act_a's
        uow.ledger.settle("run_1", rows[:2])  # the unit is still usable
    after = _table(store)
    assert [row[9] for row in after if row[5] == "sent"] == [
        "taken",
        "pm-act_a-p001",
        "pm-act_a-p002",
    ]


def test_the_settle_update_probes_the_key_before_the_ledger_has_statistics(
    store: PostgresStore, postgres_dsn: str, postgres_schema: str
) -> None:
    with _connect(postgres_dsn, postgres_schema) as conn:
        conn.execute(
            "INSERT INTO ledger (run_id, action_id, profile_id, campaign_id, channel, state) "
            "SELECT 'run_' || (i % 3), 'act_a', 'p' || lpad(i::text, 6, '0'), 'c1', 'email', "
            "'pending' FROM generate_series(0, 29999) AS i"
        )
        text = SETTLE_ACCEPTED_UPDATE
        for name in ("p_run", "p_action", "p_state", "p_attempts", "doc"):
            text = text.replace(name, f"%({name})s")
        doc = '{"x1": "p000003", "x2": "p000006"}'
        params = {"p_run": "run_0", "p_action": "act_a", "p_state": "sent", "p_attempts": 1}
        with conn.transaction():
            conn.execute("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off")
            rows = conn.execute("EXPLAIN " + text, {**params, "doc": doc}).fetchall()
            updated = conn.execute(text, {**params, "doc": doc}).rowcount
        function = conn.execute(
            "SELECT ck_settle_accepted(%s, %s, %s, %s, %s)",
            ("run_1", "act_a", "sent", 1, '{"y1": "p000001"}'),
        ).fetchone()
    plan = "\n".join(row[0] for row in rows)
    assert "Nested Loop" in plan, plan
    assert "Index Scan using ledger_pkey" in plan, plan
    assert "Hash" not in plan, plan
    assert "Seq Scan on ledger" not in plan, plan
    assert updated == 2
    assert function == (1,)


def test_a_version_2_schema_upgrades_to_3_and_settles_its_pending_entries(
    postgres_dsn: str, postgres_schema: str
) -> None:
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        assert migrate(conn, postgres_schema, "test", MIGRATIONS[:2]) == [1, 2]
    with _connect(postgres_dsn, postgres_schema) as conn:  # entries a version-2 store left
        conn.execute(
            "INSERT INTO ledger (run_id, action_id, profile_id, campaign_id, channel, state) "
            "SELECT 'run_1', 'act_a', 'p00' || i, 'c1', 'email', 'pending' "
            "FROM generate_series(0, 2) AS i"
        )
    with PostgresStore(postgres_dsn, schema=postgres_schema) as store:  # applies 3 on open
        with store.unit_of_work() as uow:
            uow.ledger.settle("run_1", AcceptedRows(["act_a"] * 2, PROFILES[:2], ["y1", "y2"]))
        with store.unit_of_work() as uow:
            found = uow.ledger.by_provider_id("y2")
            versions = store.database.all("SELECT version FROM schema_migrations ORDER BY 1")
    assert found is not None
    assert (found.profile_id, found.state) == ("p001", SENT)
    assert [row[0] for row in versions] == [version for version, _, _ in MIGRATIONS]
