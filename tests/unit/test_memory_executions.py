"""The in-memory executions table finds a request id through an index, kept true on rollback."""

from __future__ import annotations

import attrs
import pendulum
import pytest

from campaignkit.adapters.memory import InMemoryStore
from campaignkit.domain.triggers import ExecutionKind, ExecutionRecord

T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")


class Boom(Exception):
    """Raised inside a unit of work to roll it back."""


def record(execution_id: str, request_id: str, campaign_id: str = "c1") -> ExecutionRecord:
    return ExecutionRecord(
        id=execution_id,
        campaign_id=campaign_id,
        request_id=request_id,
        kind=ExecutionKind.UNITARY,
        created_at=T0,
        created_by="ada",
        run_id=f"run-{execution_id}",
        payload_hash="h",
    )


def test_a_request_id_is_found_among_many_and_per_campaign() -> None:
    store = InMemoryStore()
    with store.unit_of_work() as uow:
        for i in range(1_000):
            uow.executions.add(record(f"e{i}", f"r{i}"))
        uow.executions.add(record("other", "r7", campaign_id="c2"))
    with store.unit_of_work() as uow:
        found = uow.executions.by_request("c1", "r7")
        assert found is not None
        assert found.id == "e7"
        other = uow.executions.by_request("c2", "r7")
        assert other is not None
        assert other.id == "other"
        assert uow.executions.by_request("c2", "r8") is None


def test_a_rolled_back_add_leaves_no_request_behind() -> None:
    store = InMemoryStore()
    with pytest.raises(Boom), store.unit_of_work() as uow:
        uow.executions.add(record("e1", "r1"))
        raise Boom
    with store.unit_of_work() as uow:
        assert uow.executions.by_request("c1", "r1") is None
        uow.executions.add(record("e1", "r1"))  # the id and request are free again


def test_a_save_that_changes_the_request_id_moves_the_index_and_rolls_back() -> None:
    store = InMemoryStore()
    with store.unit_of_work() as uow:
        stored = uow.executions.add(record("e1", "r1"))
    with pytest.raises(Boom), store.unit_of_work() as uow:
        uow.executions.save(attrs.evolve(stored, request_id="r2"))
        assert uow.executions.by_request("c1", "r1") is None
        moved = uow.executions.by_request("c1", "r2")
        assert moved is not None
        assert moved.id == "e1"
        raise Boom
    with store.unit_of_work() as uow:
        back = uow.executions.by_request("c1", "r1")
        assert back is not None
        assert back.revision == 1
        assert uow.executions.by_request("c1", "r2") is None
