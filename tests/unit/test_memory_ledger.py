"""The in-memory ledger's per-run indexes: right answers without scanning the run.

The store contract (tests/contract) checks what every store answers; these
tests check what only the in-memory indexes can get wrong: a stale or
duplicate heap item, an undo, a rebuild, and that ``pending``, ``due``,
``next_due_at``, ``open_entries`` and ``recorded`` never walk a run's whole
ledger (issue 10: a 1M-recipient run took 149 s, quadratic).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs
import pendulum
import pytest

from campaignkit import InMemoryStore
from campaignkit.adapters.memory.tables import RunLedger
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import LedgerEntry, LedgerState

T = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
S = LedgerState


def entry(
    profile_id: str,
    state: LedgerState = S.PENDING,
    at: pendulum.DateTime | None = None,
    *,
    action_id: str = "act_email",
    run_id: str = "run_1",
) -> LedgerEntry:
    return LedgerEntry(
        run_id=run_id,
        action_id=action_id,
        profile_id=profile_id,
        campaign_id="cmp_1",
        channel=ChannelType.EMAIL,
        state=state,
        next_attempt_at=at,
    )


class NoScan(dict[str, LedgerEntry]):
    """One action's full entries of a run, by profile id, refusing to be walked."""

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("a query walked the run's whole ledger")

    def values(self) -> Any:
        raise AssertionError("a query walked the run's whole ledger")

    def items(self) -> Any:
        raise AssertionError("a query walked the run's whole ledger")


def run_ledger(store: InMemoryStore, run_id: str = "run_1") -> RunLedger:
    return store._tables.ledger_by_run[run_id]


def test_queries_read_the_state_indexes_never_the_whole_run() -> None:
    store = InMemoryStore()
    sent = [entry(f"p{i:05d}", S.SENT) for i in range(2000)]
    with store.unit_of_work() as uow:
        uow.ledger.put(
            [
                *sent,
                entry("q1", S.QUEUED, T.add(minutes=5)),
                entry("r1", S.RETRY, T),
                entry("w1", S.QUEUED),  # waiting for nothing in particular: open, never due
                entry("x1", S.PENDING),
                entry("p00001", S.SENT, action_id="act_sms"),
            ]
        )
    ledger = run_ledger(store)
    ledger.entries = {action: NoScan(found) for action, found in ledger.entries.items()}
    with store.unit_of_work() as uow:
        assert [e.profile_id for e in uow.ledger.pending("run_1", 10)] == ["x1"]
        assert [e.profile_id for e in uow.ledger.due("run_1", T.add(hours=1), 10)] == ["r1", "q1"]
        assert uow.ledger.next_due_at("run_1") == T
        assert [e.profile_id for e in uow.ledger.open_entries("run_1", 10)] == [
            "q1",
            "r1",
            "w1",
            "x1",
        ]
        assert [e.profile_id for e in uow.ledger.open_entries("run_1", 2)] == ["q1", "r1"]
        assert uow.ledger.recorded("run_1", ["p00001", "p00001", "x1", "nobody"]) == {
            ("act_email", "p00001"),
            ("act_sms", "p00001"),
            ("act_email", "x1"),
        }


def test_a_run_without_entries_answers_empty() -> None:
    store = InMemoryStore()
    with store.unit_of_work() as uow:
        assert list(uow.ledger.pending("none", 5)) == []
        assert list(uow.ledger.due("none", T, 5)) == []
        assert uow.ledger.next_due_at("none") is None
        assert list(uow.ledger.open_entries("none", 5)) == []
        assert uow.ledger.recorded("none", ["p1"]) == set()
        assert list(uow.ledger.entries("none")) == []
    assert "none" not in store._tables.ledger_by_run  # reading creates nothing


def test_an_entry_that_leaves_and_comes_back_at_the_same_instant_is_due_once() -> None:
    """Its first heap item turns live again: a duplicate that must not double it."""
    store = InMemoryStore()
    queued = entry("p1", S.QUEUED, T)
    with store.unit_of_work() as uow:
        uow.ledger.put([queued, entry("p2", S.QUEUED, T.add(minutes=1))])
        uow.ledger.put([attrs.evolve(queued, state=S.PENDING, next_attempt_at=None)])
        uow.ledger.put([queued])
        assert [e.profile_id for e in uow.ledger.due("run_1", T.add(hours=1), 10)] == ["p1", "p2"]
        assert [e.profile_id for e in uow.ledger.due("run_1", T.add(hours=1), 1)] == ["p1"]
        assert [e.profile_id for e in uow.ledger.due("run_1", T.add(hours=1), 10)] == ["p1", "p2"]
        assert uow.ledger.next_due_at("run_1") == T


def test_moved_and_settled_entries_leave_only_stale_items_behind() -> None:
    store = InMemoryStore()
    first, second = entry("p1", S.RETRY, T), entry("p2", S.QUEUED, T.add(minutes=1))
    with store.unit_of_work() as uow:
        uow.ledger.put([first, second, entry("p3", S.QUEUED, T.add(minutes=2))])
        uow.ledger.put(
            [
                attrs.evolve(first, state=S.SENT, next_attempt_at=None),
                attrs.evolve(second, next_attempt_at=T.add(minutes=3)),
            ]
        )
        assert uow.ledger.next_due_at("run_1") == T.add(minutes=2)  # p1 and old p2 dropped
        due = uow.ledger.due("run_1", T.add(minutes=3), 10)
        assert [(e.profile_id, e.next_attempt_at) for e in due] == [
            ("p3", T.add(minutes=2)),
            ("p2", T.add(minutes=3)),
        ]
        assert list(uow.ledger.due("run_1", T.add(minutes=1), 10)) == []


def test_a_rolled_back_unit_restores_every_index() -> None:
    """Stale items dropped inside a failed unit come back with the entries they belong to."""
    store = InMemoryStore()
    waiting = [entry("p1", S.QUEUED, T), entry("p2", S.RETRY, T.add(minutes=1))]
    with store.unit_of_work() as uow:
        uow.ledger.put([*waiting, entry("p3"), entry("p4", S.SENT)])
    with pytest.raises(RuntimeError), store.unit_of_work() as uow:
        uow.ledger.put(
            [
                attrs.evolve(waiting[0], state=S.SENT, next_attempt_at=None),
                attrs.evolve(waiting[1], next_attempt_at=T.add(days=1)),
                entry("p3", S.FAILED),
                entry("p5", S.QUEUED, T.subtract(minutes=1)),
                entry("p6", action_id="act_sms"),
            ]
        )
        assert uow.ledger.next_due_at("run_1") == T.subtract(minutes=1)
        assert [e.profile_id for e in uow.ledger.due("run_1", T.add(hours=1), 10)] == ["p5"]
        raise RuntimeError("the unit fails")
    with store.unit_of_work() as uow:
        assert uow.ledger.next_due_at("run_1") == T
        assert list(uow.ledger.due("run_1", T.add(hours=1), 10)) == waiting
        assert [e.profile_id for e in uow.ledger.pending("run_1", 10)] == ["p3"]
        assert uow.ledger.recorded("run_1", ["p5", "p6", "p4"]) == {("act_email", "p4")}
    assert run_ledger(store).actions == {"act_email": 4}


def test_a_heap_mostly_stale_is_rebuilt_and_still_right() -> None:
    store = InMemoryStore()
    moving = entry("p1", S.QUEUED, T)
    with store.unit_of_work() as uow:
        uow.ledger.put([moving, entry("p2", S.QUEUED, T.add(days=30))])
        for minute in range(1, 3000):  # each move leaves one stale item
            uow.ledger.put([attrs.evolve(moving, next_attempt_at=T.add(minutes=minute))])
    heap_size = len(run_ledger(store)._heap)
    assert heap_size <= 2 * 2 + 1024 + 1  # rebuilt, not 3,000 items
    with store.unit_of_work() as uow:
        assert uow.ledger.next_due_at("run_1") == T.add(minutes=2999)
        due = uow.ledger.due("run_1", T.add(days=31), 10)
        assert [(e.profile_id, e.next_attempt_at) for e in due] == [
            ("p1", T.add(minutes=2999)),
            ("p2", T.add(days=30)),
        ]


def test_pending_takes_the_first_pairs_in_order() -> None:
    store = InMemoryStore()
    with store.unit_of_work() as uow:
        uow.ledger.put([entry(f"p{i}") for i in (5, 3, 9, 1)])
        uow.ledger.put([entry("p0", action_id="act_sms")])
        assert [e.profile_id for e in uow.ledger.pending("run_1", 3)] == ["p1", "p3", "p5"]
        assert [e.key for e in uow.ledger.pending("run_1", 10)][-1] == ("run_1", "act_sms", "p0")
