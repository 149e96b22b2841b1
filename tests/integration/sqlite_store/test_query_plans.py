"""Query plans on a big store: listings and the due query walk their indexes, with and without
ANALYZE."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import pytest

import campaignkit as ck
from campaignkit.adapters.sqlite import SQLiteStore
from campaignkit.adapters.sqlite.campaigns import listing_sql
from campaignkit.domain.listing import CampaignQuery, encode_cursor
from campaignkit.testing.factories import EPOCH, make_campaign
from tests.integration.sqlite_store.support import S, rows

# ---------------------------------------------------------------- query plans

PLAN_CAMPAIGNS: Final = 3000


@pytest.fixture
def big_store(tmp_path: Path) -> Iterator[SQLiteStore]:
    """A store with a few thousand campaigns in every status; a third tagged promo."""
    statuses = list(S)
    with SQLiteStore(tmp_path / "big.db") as store:
        with store.unit_of_work() as uow:
            for i in range(PLAN_CAMPAIGNS):
                uow.campaigns.add(
                    make_campaign(
                        f"c{i:05d}",
                        status=statuses[i % len(statuses)],
                        created_at=EPOCH.add(minutes=i // 2),
                        tags=("promo", "winter") if i % 3 == 0 else ("other",),
                        due_at=EPOCH.add(hours=i) if i % 2 else None,
                    )
                )
        yield store


def plan(store: SQLiteStore, sql: str, params: Sequence[Any] = ()) -> list[str]:
    """The detail column of ``EXPLAIN QUERY PLAN``."""
    return [str(row[3]) for row in rows(store, f"EXPLAIN QUERY PLAN {sql}", params)]


def assert_indexed(steps: list[str], index: str) -> None:
    assert any(index in step for step in steps), steps
    for step in steps:
        if step.startswith("SCAN"):
            assert "USING INDEX" in step or "USING COVERING INDEX" in step, steps
        assert "TEMP B-TREE" not in step, steps


def traced(store: SQLiteStore, call: Callable[[], object]) -> list[str]:
    """The SELECT statements ``call`` runs on the store's connection."""
    statements: list[str] = []
    store._db.connection.set_trace_callback(statements.append)
    try:
        call()
    finally:
        store._db.connection.set_trace_callback(None)
    return [s for s in statements if s.lstrip().upper().startswith("SELECT")]


CURSOR: Final = encode_cursor((EPOCH.add(minutes=700), "c01400"))
LISTINGS: Final = {
    "default": (CampaignQuery(), "campaigns_by_created"),
    "default, next page": (CampaignQuery(cursor=CURSOR), "campaigns_by_created"),
    "every status": (CampaignQuery(statuses=ck.ALL_STATUSES), "campaigns_by_created"),
    "tag": (CampaignQuery(tag="promo"), "campaign_tags_by_created"),
    "tag, next page": (CampaignQuery(tag="promo", cursor=CURSOR), "campaign_tags_by_created"),
    "tag, every status": (
        CampaignQuery(tag="promo", statuses=ck.ALL_STATUSES),
        "campaign_tags_by_created",
    ),
}


@pytest.mark.parametrize("analyze", [False, True], ids=["fresh", "analyzed"])
def test_listing_walks_an_index_newest_first(big_store: SQLiteStore, analyze: bool) -> None:
    if analyze:
        big_store._db.execute("ANALYZE")
    for name, (query, index) in LISTINGS.items():
        sql, params = listing_sql(query)
        assert_indexed(plan(big_store, sql, params), index)
        # the statement the repository really runs has the same plan
        with big_store.unit_of_work() as uow:
            [executed] = traced(big_store, functools.partial(uow.campaigns.query, query))
            page = uow.campaigns.query(query)
        assert_indexed(plan(big_store, executed), index)
        keys = [(c.created_at, c.id) for c in page]
        assert keys == sorted(keys, reverse=True), name
        assert len(page) == query.limit, name
        assert all(c.status in query.statuses for c in page), name
        if query.tag is not None:
            assert all(query.tag in c.tags for c in page), name


@pytest.mark.parametrize("analyze", [False, True], ids=["fresh", "analyzed"])
def test_the_due_query_walks_the_due_index(big_store: SQLiteStore, analyze: bool) -> None:
    if analyze:
        big_store._db.execute("ANALYZE")
    until = EPOCH.add(hours=100)
    with big_store.unit_of_work() as uow:
        statements = traced(
            big_store, lambda: (uow.campaigns.due(until, 10), uow.campaigns.next_due_at())
        )
        due = uow.campaigns.due(until, 10)
        first = uow.campaigns.next_due_at()
    assert len(statements) == 2
    for statement in statements:
        assert_indexed(plan(big_store, statement), "campaigns_by_due")
    assert due == [(EPOCH.add(hours=i), f"c{i:05d}") for i in range(1, 20, 2)]
    assert first == EPOCH.add(hours=1)
