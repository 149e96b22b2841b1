"""The engine's scan for due work is one statement on SQLite (``due_with_campaigns``).

It must answer what ``campaigns.due`` and ``runs.due`` answer, and search the two
partial due indexes (never scan a table).
"""

from __future__ import annotations

import pendulum
import pytest

from campaignkit.adapters.sqlite.runs import DUE_BOTH
from campaignkit.adapters.sqlite.store import SQLiteStore
from campaignkit.domain.delivery import Run, RunKind, RunStatus
from campaignkit.testing.factories import make_campaign

T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")


@pytest.fixture
def store() -> SQLiteStore:
    store = SQLiteStore()
    with store.unit_of_work() as uow:
        for number, minutes in enumerate([30, None, 5, 5, 90]):
            due = None if minutes is None else T0.add(minutes=minutes)
            uow.campaigns.add(make_campaign(f"cmp_{number}", due_at=due))
            uow.runs.add(
                Run(f"run_{number}", "cmp_0", 1, RunKind.TRIGGER, RunStatus.PENDING, T0, due)
            )
    return store


@pytest.mark.parametrize("limit", [1, 2, 10])
@pytest.mark.parametrize("minutes", [0, 5, 30, 1000])
def test_one_statement_answers_as_the_two_due_queries(
    store: SQLiteStore, limit: int, minutes: int
) -> None:
    until = T0.add(minutes=minutes)
    with store.unit_of_work() as uow:
        campaigns, runs = uow.runs.due_with_campaigns(until, limit)
        assert campaigns == list(uow.campaigns.due(until, limit))
        assert runs == list(uow.runs.due(until, limit))
    store.close()


def test_an_empty_store_has_nothing_due() -> None:
    store = SQLiteStore()
    with store.unit_of_work() as uow:
        assert uow.runs.due_with_campaigns(T0, 1) == ([], [])
    store.close()


def test_the_statement_searches_both_due_indexes(store: SQLiteStore) -> None:
    connection = store.database.connection
    for analyzed in (False, True):
        if analyzed:
            connection.execute("ANALYZE")
        plan = [
            row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {DUE_BOTH}", (0, 1, 0, 1))
        ]
        assert any("campaigns USING COVERING INDEX campaigns_by_due" in step for step in plan), plan
        assert any("runs USING COVERING INDEX runs_by_due" in step for step in plan), plan
        assert not any(step.startswith(("SCAN campaigns", "SCAN runs")) for step in plan), plan
    store.close()
