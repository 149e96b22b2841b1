"""PostgreSQL plans of the listing, audience and ledger bulk paths, and migration 2's upgrade.

Like ``test_sqlite_ledger_plans.py`` for SQLite: ``EXPLAIN`` the statements
the repositories send (translated by the dialect) and require the index
walks, before the tables have statistics (a fresh run's ledger, a new
audience) and, for search, after ``ANALYZE``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import psycopg
import pytest
from psycopg import sql

import campaignkit as ck
from campaignkit.adapters.postgres import PostgresProfileStore, PostgresStore
from campaignkit.adapters.postgres.dialect import translate
from campaignkit.adapters.postgres.migration import migrate
from campaignkit.adapters.postgres.schema import MIGRATIONS
from campaignkit.adapters.sqlite.campaigns import listing_sql
from campaignkit.domain.listing import CampaignQuery
from campaignkit.testing.factories import make_campaign


def _connect(dsn: str, schema: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(dsn, autocommit=True)
    conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
    return conn


def _plan(conn: psycopg.Connection[Any], text: str, params: list[Any]) -> str:
    statement = translate(text)
    values = cast("list[Any]", statement.parameters(params))
    rows = conn.execute("EXPLAIN " + statement.sql, values).fetchall()
    return "\n".join(row[0] for row in rows)


@pytest.fixture
def store(postgres_dsn: str, postgres_schema: str) -> Iterator[PostgresStore]:
    with PostgresStore(postgres_dsn, schema=postgres_schema) as opened:
        yield opened


def _fill_campaigns(conn: psycopg.Connection[Any], count: int) -> None:
    """``count`` campaigns straight in SQL (names 'campaign <i>'), then ANALYZE."""
    conn.execute(
        "INSERT INTO campaigns (id, revision, status, type, name_fold, created_us, updated_us, "
        "document) SELECT 'c' || lpad(i::text, 7, '0'), 1, 'draft', 'scheduled', "
        "'campaign ' || i, i, i, '{}' FROM generate_series(0, %s - 1) AS i",
        (count,),
    )
    conn.execute("ANALYZE campaigns")


def test_a_rare_search_is_served_by_the_trigram_index(
    store: PostgresStore, postgres_dsn: str, postgres_schema: str
) -> None:
    with _connect(postgres_dsn, postgres_schema) as conn:
        _fill_campaigns(conn, 20_000)
        text, params = listing_sql(CampaignQuery(statuses=ck.ALL_STATUSES, search="ign 19999"))
        plan = _plan(conn, text, params)
    assert "campaigns_by_name_trgm" in plan, plan
    assert "Seq Scan" not in plan, plan


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("%", ["50% off"]),
        ("_", ["a_b"]),
        ("\\", ["back\\slash"]),
        ("A", ["a_b", "aab", "back\\slash", "plain"]),
    ],
)
def test_search_takes_like_wildcards_and_backslashes_literally(
    store: PostgresStore, search: str, expected: list[str]
) -> None:
    names = ["50% off", "a_b", "aab", "back\\slash", "plain"]
    with store.unit_of_work() as uow:
        for number, name in enumerate(names):
            uow.campaigns.add(make_campaign(f"c{number}", name=name))
    with store.unit_of_work() as uow:
        page = uow.campaigns.query(CampaignQuery(statuses=ck.ALL_STATUSES, search=search))
    assert sorted(campaign.name for campaign in page) == expected


def test_a_static_audience_page_walks_its_key_without_statistics(
    store: PostgresStore, postgres_dsn: str, postgres_schema: str
) -> None:
    with store.unit_of_work() as uow:
        uow.audiences.define("all", [f"p{i:06d}" for i in range(20_000)])
    with _connect(postgres_dsn, postgres_schema) as conn:
        plan = _plan(conn, PostgresProfileStore.STATIC_MEMBERS, ["all", 10_000, 500])
    assert "audience_members_pkey" in plan, plan
    assert "Sort" not in plan, plan
    profiles = PostgresProfileStore(store)
    members = profiles.static_members("all", 19_900, 500)
    assert [member.id for member in members] == [f"p{i:06d}" for i in range(19_900, 20_000)]


def test_the_ledger_is_written_by_copy_and_settled_by_primary_key(store: PostgresStore) -> None:
    with store.unit_of_work() as uow:
        assert type(uow.ledger).__name__ == "PostgresLedger"
        assert "ck_settle_accepted" in type(uow.ledger).SETTLE_KEYED


def test_a_version_1_schema_upgrades_to_version_2_keeping_its_campaigns(
    postgres_dsn: str, postgres_schema: str
) -> None:
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        assert migrate(conn, postgres_schema, "test", MIGRATIONS[:1]) == [1]
    with PostgresStore(postgres_dsn, schema=postgres_schema):  # applies 2 on open
        pass
    with _connect(postgres_dsn, postgres_schema) as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations")]
        index = conn.execute("SELECT to_regclass('campaigns_by_name_trgm')").fetchone()
    assert versions == [version for version, _, _ in MIGRATIONS]
    assert index is not None
    assert index[0] == "campaigns_by_name_trgm"


def test_an_old_schema_with_campaigns_upgrades_and_searches(
    postgres_dsn: str, postgres_schema: str
) -> None:
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        migrate(conn, postgres_schema, "test", MIGRATIONS[:1])
    with _connect(postgres_dsn, postgres_schema) as conn:
        _fill_campaigns(conn, 100)
    with PostgresStore(postgres_dsn, schema=postgres_schema) as store:
        with store.unit_of_work() as uow:
            uow.campaigns.add(make_campaign("new", name="Brand New"))
        with store.unit_of_work() as uow:
            found = uow.campaigns.query(CampaignQuery(statuses=ck.ALL_STATUSES, search="brand"))
    assert [campaign.id for campaign in found] == ["new"]


def test_a_missing_search_index_is_made_at_the_next_open(
    postgres_dsn: str, postgres_schema: str
) -> None:
    """As when pg_trgm is installed after migration 2 ran without it."""
    with PostgresStore(postgres_dsn, schema=postgres_schema):
        pass
    with _connect(postgres_dsn, postgres_schema) as conn:
        conn.execute("DROP INDEX campaigns_by_name_trgm")
    with PostgresStore(postgres_dsn, schema=postgres_schema):
        pass
    with _connect(postgres_dsn, postgres_schema) as conn:
        index = conn.execute("SELECT to_regclass('campaigns_by_name_trgm')").fetchone()
    assert index == ("campaigns_by_name_trgm",)
