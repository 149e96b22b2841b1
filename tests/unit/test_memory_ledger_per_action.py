"""The in-memory ledger keyed per action by profile id: queries across actions and forms.

Each action of a run has its own maps (full entries, compact rows, PENDING
ones) keyed by profile id; these tests check what that layout can get wrong:
answers that span several actions and both forms, pair order across actions,
and that reading an action or run that has nothing creates nothing.
"""

from __future__ import annotations

import pendulum
import pytest

from campaignkit import InMemoryStore
from campaignkit.adapters.memory.runledger import NO_ROWS, RunLedger
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import LedgerEntry, LedgerState, PendingRow
from campaignkit.errors import NotFound
from campaignkit.testing.contracts._support import make_message

T = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
S = LedgerState


def row(profile_id: str, action_id: str) -> PendingRow:
    return (make_message(profile_id, run_id="run_1", action_id=action_id), T, "UTC")


def entry(
    profile_id: str, action_id: str, state: LedgerState, at: pendulum.DateTime | None = None
) -> LedgerEntry:
    return LedgerEntry(
        "run_1", action_id, profile_id, "cmp_1", ChannelType.EMAIL, state, next_attempt_at=at
    )


def test_reading_an_action_without_entries_creates_nothing() -> None:
    run = RunLedger("run_1")
    assert run.stored(("act_a", "p1")) is None
    assert run.entry(("act_a", "p1")) is None
    assert run.found("act_a") is NO_ROWS
    assert (run.compact, run.entries, run.pending) == ({}, {}, {})
    assert NO_ROWS == ({}, {}, {})


def test_recorded_spans_actions_and_both_forms() -> None:
    store = InMemoryStore()
    with store.unit_of_work() as uow:
        uow.ledger.add_pending([row("p1", "act_a"), row("p2", "act_a")])
        uow.ledger.put([entry("p2", "act_b", S.SENT), entry("p3", "act_a", S.QUEUED, T)])
        assert uow.ledger.recorded("run_1", ["p2", "p3", "p9", "p2"]) == {
            ("act_a", "p2"),
            ("act_b", "p2"),
            ("act_a", "p3"),
        }
        assert uow.ledger.recorded("run_1", []) == set()
    assert store._tables.ledger_by_run["run_1"].actions == {"act_a": 3, "act_b": 1}


def test_pending_and_open_entries_keep_pair_order_across_actions() -> None:
    store = InMemoryStore()
    with store.unit_of_work() as uow:
        uow.ledger.add_pending([row("p1", "act_b"), row("p3", "act_a"), row("p2", "act_a")])
        uow.ledger.put([entry("p0", "act_a", S.PENDING), entry("p1", "act_a", S.RETRY, T)])
        keys = [(e.action_id, e.profile_id) for e in uow.ledger.pending("run_1", 3)]
        assert keys == [("act_a", "p0"), ("act_a", "p2"), ("act_a", "p3")]
        keys = [(e.action_id, e.profile_id) for e in uow.ledger.pending("run_1", 10)]
        assert keys[-1] == ("act_b", "p1")
        assert list(uow.ledger.pending("run_1", 0)) == []
        opened = [(e.action_id, e.profile_id, e.state) for e in uow.ledger.open_entries("run_1", 3)]
        assert opened == [
            ("act_a", "p0", S.PENDING),
            ("act_a", "p1", S.RETRY),
            ("act_a", "p2", S.PENDING),
        ]
        assert len(list(uow.ledger.open_entries("run_1", 10))) == 5


def test_settling_an_unknown_action_writes_nothing() -> None:
    store = InMemoryStore()
    with store.unit_of_work() as uow:
        uow.ledger.add_pending([row("p1", "act_a")])
        with pytest.raises(NotFound):
            uow.ledger.settle(
                "run_1",
                [
                    ("act_a", "p1", S.SENT, 1, "prov_1", None, None),
                    ("act_x", "p1", S.SENT, 1, "prov_2", None, None),
                ],
            )
        assert uow.ledger.by_provider_id("prov_1") is None
        [pending] = uow.ledger.pending("run_1", 10)
        assert pending.state is S.PENDING
    assert "act_x" not in store._tables.ledger_by_run["run_1"].compact
