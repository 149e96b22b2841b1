"""The in-memory store's hot-path writes: compact ledger rows, one undo step per call.

The store contract (tests/contract) checks what every store answers; these
tests check what only the in-memory representation can get wrong: entries
kept as compact rows must read back as the entries they stand for, whatever
mix of ``put``, ``add_pending``, ``settle`` and rollbacks made them, and a
refused call must leave nothing of itself behind.
"""

from __future__ import annotations

import gc
import random
from collections.abc import Iterator
from typing import Any

import pendulum
import pytest

from campaignkit import InMemoryStore
from campaignkit.adapters.memory import InMemoryProfileStore
from campaignkit.adapters.memory.tables import Journal
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import (
    LedgerEntry,
    LedgerState,
    OutcomeRow,
    PendingRow,
    pending_entry,
    settled_entry,
)
from campaignkit.domain.profile import Profile
from campaignkit.domain.recipients import unknown_profile
from campaignkit.errors import ConflictError, NotFound, ValidationError
from campaignkit.testing.contracts._support import make_message

T = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
S = LedgerState
EMAIL = ChannelType.EMAIL


def row(profile_id: str, *, run_id: str = "run_1", action_id: str = "act_email") -> PendingRow:
    message = make_message(profile_id, run_id=run_id, action_id=action_id)
    return (message, T.subtract(minutes=5), "Europe/Paris")


def sent(profile_id: str, provider_id: str, action_id: str = "act_email") -> OutcomeRow:
    return (action_id, profile_id, S.SENT, 1, provider_id, None, None)


def entries(store: InMemoryStore, run_id: str = "run_1") -> list[LedgerEntry]:
    with store.unit_of_work() as uow:
        return list(uow.ledger.entries(run_id))


class _Boom(Exception):
    pass


def test_compact_rows_read_back_as_the_entries_they_stand_for() -> None:
    store = InMemoryStore()
    rows = [row(f"p{i}") for i in range(4)]
    with store.unit_of_work() as uow:
        uow.ledger.add_pending(rows)
        assert list(uow.ledger.pending("run_1", 10)) == [pending_entry(r) for r in rows]
        assert uow.ledger.recorded("run_1", ["p1", "p9"]) == {("act_email", "p1")}
    outcomes: list[OutcomeRow] = [
        sent("p0", "pm-0"),
        ("act_email", "p1", S.FAILED, 1, None, "bad address", None),
        ("act_email", "p2", S.RETRY, 1, None, "429", T.add(minutes=1)),
    ]
    with store.unit_of_work() as uow:
        uow.ledger.settle("run_1", outcomes)
    expected = [
        settled_entry(pending_entry(r), o) for r, o in zip(rows, outcomes, strict=False)
    ] + [pending_entry(rows[3])]
    assert entries(store) == expected
    with store.unit_of_work() as uow:
        assert uow.ledger.by_provider_id("pm-0") == expected[0]
        assert uow.ledger.next_due_at("run_1") == T.add(minutes=1)
        assert list(uow.ledger.due("run_1", T.add(hours=1), 10)) == [expected[2]]
        assert list(uow.ledger.open_entries("run_1", 10)) == expected[2:]
        assert uow.ledger.recorded("run_1", ["p0", "p3"]) == {
            ("act_email", "p0"),
            ("act_email", "p3"),
        }
    assert store._tables.ledger_by_run["run_1"].actions == {"act_email": 4}


def test_a_taken_provider_id_refuses_the_whole_settle_call() -> None:
    store = InMemoryStore()
    with store.unit_of_work() as uow:
        uow.ledger.add_pending([row(f"p{i}") for i in range(3)])
        uow.ledger.settle("run_1", [sent("p0", "pm-0")])
    before = entries(store)
    with store.unit_of_work() as uow:
        with pytest.raises(ConflictError, match="pm-0"):
            uow.ledger.settle("run_1", [sent("p1", "pm-1"), sent("p2", "pm-0")])
        # the unit goes on: nothing of the refused call was written
        assert list(uow.ledger.entries("run_1")) == before
        assert uow.ledger.by_provider_id("pm-1") is None
        with pytest.raises(NotFound, match="nobody"):
            uow.ledger.settle("run_1", [sent("p1", "pm-1"), sent("nobody", "pm-x")])
        assert list(uow.ledger.entries("run_1")) == before
        with pytest.raises(NotFound):
            uow.ledger.settle("no_run", [sent("p1", "pm-1")])
        uow.ledger.settle("run_1", [])
    assert entries(store) == before


def test_a_taken_provider_id_refuses_the_whole_put_call() -> None:
    store = InMemoryStore()
    holder = LedgerEntry("run_1", "a", "p1", "cmp_1", EMAIL, S.SENT, provider_message_id="pm-1")
    with store.unit_of_work() as uow:
        uow.ledger.put([holder])
    first = LedgerEntry("run_1", "a", "p2", "cmp_1", EMAIL, S.PENDING)
    claimant = LedgerEntry("run_1", "a", "p3", "cmp_1", EMAIL, S.SENT, provider_message_id="pm-1")
    with store.unit_of_work() as uow:
        with pytest.raises(ConflictError):
            uow.ledger.put([first, claimant])
        assert list(uow.ledger.entries("run_1")) == [holder]
        assert uow.ledger.recorded("run_1", ["p2", "p3"]) == set()


def test_add_pending_over_an_existing_key_replaces_it_like_put() -> None:
    store = InMemoryStore()
    old = LedgerEntry("run_1", "act_email", "p1", "cmp_1", EMAIL, S.SENT, provider_message_id="pm")
    again = row("p1")
    with store.unit_of_work() as uow:
        uow.ledger.put([old])
        uow.ledger.add_pending([again])
        assert uow.ledger.by_provider_id("pm") is None
        assert list(uow.ledger.entries("run_1")) == [pending_entry(again)]


def test_a_failed_unit_undoes_every_kind_of_write() -> None:
    store = InMemoryStore()
    with store.unit_of_work() as uow:
        uow.ledger.add_pending([row("p1"), row("p2"), row("q1", run_id="run_2")])
        uow.ledger.settle("run_1", [sent("p1", "pm-1")])
    before, before_2 = entries(store), entries(store, "run_2")
    with pytest.raises(_Boom), store.unit_of_work() as uow:
        uow.ledger.add_pending([row("p3"), row("p1", action_id="act_sms")])
        uow.ledger.settle("run_1", [sent("p2", "pm-2"), sent("p3", "pm-3")])
        uow.ledger.put([attrs_evolve(before[0], provider_message_id="pm-9", error="moved")])
        uow.ledger.settle("run_2", [("act_email", "q1", S.RETRY, 1, None, "later", T)])
        uow.contacts.record(EMAIL, [("p1", T), ("p2", T)], ["k1", "k2"])
        raise _Boom
    assert entries(store) == before
    assert entries(store, "run_2") == before_2
    with store.unit_of_work() as uow:
        assert uow.ledger.by_provider_id("pm-1") == before[0]
        for gone in ("pm-2", "pm-3", "pm-9"):
            assert uow.ledger.by_provider_id(gone) is None
        assert uow.ledger.next_due_at("run_2") is None
        assert uow.ledger.recorded("run_1", ["p1", "p3"]) == {("act_email", "p1")}
        assert uow.contacts.counts(EMAIL, ["p1", "p2"], T) == {}
    assert store._tables.ledger_by_run["run_1"].actions == {"act_email": 2}
    assert store._tables.contact_keys.get(EMAIL, {}) == {}


def test_a_call_cut_short_by_an_error_is_undone_with_its_unit() -> None:
    store = InMemoryStore()
    with store.unit_of_work() as uow:
        uow.ledger.add_pending([row("p1")])
    before = entries(store)
    first = LedgerEntry("run_1", "act_email", "p2", "cmp_1", EMAIL, S.PENDING)
    with pytest.raises(AttributeError), store.unit_of_work() as uow:
        uow.ledger.put([first, "not an entry"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="unpack"), store.unit_of_work() as uow:
        uow.ledger.settle("run_1", [sent("p1", "pm-1"), ("act_email", "p1")])  # type: ignore[list-item]
    assert entries(store) == before
    with store.unit_of_work() as uow:
        assert uow.ledger.by_provider_id("pm-1") is None
        assert uow.ledger.recorded("run_1", ["p2"]) == set()


def attrs_evolve(entry: LedgerEntry, **changes: Any) -> LedgerEntry:
    import attrs

    return attrs.evolve(entry, **changes)


def test_a_unit_that_succeeds_leaves_no_undo_steps_and_no_garbage() -> None:
    """Undo steps that refer back to their repository would be cycles for the collector."""
    store = InMemoryStore()
    journals: list[Journal] = []
    gc.collect()
    gc.disable()
    try:
        for start in range(0, 300, 100):
            with store.unit_of_work() as uow:
                journals.append(uow.ledger.journal)
                uow.ledger.add_pending([row(f"p{i}") for i in range(start, start + 100)])
                uow.contacts.record(EMAIL, [(f"p{start}", T)], [f"k{start}"])
                uow.contacts.forget(EMAIL, [(f"p{start}", f"k{start}")])
                uow.rules.save(uow.rules.get())
        assert all(not journal.undo for journal in journals)
        journals.clear()
        # other threads of the test session (a server, a worker's idle heartbeat ending)
        # may leave garbage of their own meanwhile: only the store's own counts
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        ours = [o for o in gc.garbage if type(o).__module__.startswith("campaignkit")]
        assert ours == []
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


class NoScan(dict[str, Any]):
    """One action's map of a run, by profile id, refusing to be walked (lookups are fine)."""

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("a query walked the run's whole ledger")

    def values(self) -> Any:
        raise AssertionError("a query walked the run's whole ledger")

    def items(self) -> Any:
        raise AssertionError("a query walked the run's whole ledger")


def test_recorded_walks_neither_form_of_the_run() -> None:
    store = InMemoryStore()
    with store.unit_of_work() as uow:
        uow.ledger.add_pending([row(f"p{i:04d}") for i in range(2000)])
        uow.ledger.put([LedgerEntry("run_1", "act_sms", "p0001", "cmp_1", EMAIL, S.EXCLUDED)])
    run = store._tables.ledger_by_run["run_1"]
    run.entries = {action: NoScan(found) for action, found in run.entries.items()}
    run.compact = {action: NoScan(found) for action, found in run.compact.items()}
    with store.unit_of_work() as uow:
        assert uow.ledger.recorded("run_1", ["p0001", "p0001", "nobody"]) == {
            ("act_email", "p0001"),
            ("act_sms", "p0001"),
        }


def test_a_rolled_back_unit_restores_the_very_instants_it_touched() -> None:
    """Undoing a record removes its own instant, not whichever was appended last."""
    store = InMemoryStore()
    early, late = T.subtract(days=3), T
    with store.unit_of_work() as uow:
        uow.contacts.record(EMAIL, [("p1", early)], ["k0"])
    for read_between in (False, True):
        with pytest.raises(_Boom), store.unit_of_work() as uow:
            uow.contacts.record(EMAIL, [("p1", late), ("p2", late)], ["k1", "k2"])
            if read_between:  # files the log into the per-profile index
                assert uow.contacts.counts(EMAIL, ["p1"], early) == {"p1": 2}
            uow.contacts.forget(EMAIL, [("p1", "k0")])
            assert uow.contacts.counts(EMAIL, ["p1", "p2"], early) == {"p1": 1, "p2": 1}
            raise _Boom
        with store.unit_of_work() as uow:
            assert uow.contacts.counts(EMAIL, ["p1", "p2"], early) == {"p1": 1}
            assert uow.contacts.counts(EMAIL, ["p1"], late) == {}
            uow.contacts.forget(EMAIL, [("p1", "k1"), ("p2", "k2")])  # never committed
            uow.contacts.forget(ChannelType.SMS, [("p1", "k0")])  # nothing on that channel
            assert uow.contacts.counts(EMAIL, ["p1"], early) == {"p1": 1}


def test_contacts_refuse_keys_of_another_length() -> None:
    store = InMemoryStore()
    with store.unit_of_work() as uow, pytest.raises(ValueError, match="keys"):
        uow.contacts.record(EMAIL, [("p1", T)], ["k1", "k2"])


def test_in_order_gives_stand_ins_for_unknown_ids_in_place() -> None:
    profiles = InMemoryProfileStore()
    known = Profile(id="p1", identities={"email": "a@example.com"})
    profiles.upsert(known)
    assert profiles.in_order(["p1", "p1"]) == [known, known]
    found = profiles.in_order(["p2", "p1"])
    assert [p.id for p in found] == ["p2", "p1"]
    assert found[1] is known
    assert found[0] == unknown_profile("p2")
    for bad in (["p1", ["a", "list"]], ["p1", 7]):
        with pytest.raises(ValidationError, match=r"profile_ids\[1\]|profile"):
            profiles.in_order(bad)  # type: ignore[arg-type]


# ------------------------------------------------------------ model check


def _random_ops(seed: int) -> None:
    """Random puts, intents, outcomes and failed units against a plain dictionary model."""
    rnd = random.Random(seed)
    store = InMemoryStore()
    model: dict[tuple[str, str, str], LedgerEntry] = {}
    runs, actions, people = ("r1", "r2"), ("a1", "a2"), [f"p{i}" for i in range(12)]
    states = list(S)
    provider_counter = 0

    def provider_id() -> str:
        nonlocal provider_counter
        provider_counter += 1
        return f"pm-{rnd.randrange(provider_counter + 1)}"  # collisions happen

    def holder(model_: dict[tuple[str, str, str], LedgerEntry], pid: str) -> Any:
        return next((k for k, e in model_.items() if e.provider_message_id == pid), None)

    for _ in range(60):
        work = dict(model)
        fail = rnd.random() < 0.2
        try:
            with store.unit_of_work() as uow:
                for _ in range(rnd.randrange(1, 4)):
                    kind = rnd.choice(("put", "add", "settle"))
                    run_id = rnd.choice(runs)
                    if kind == "put":
                        batch = []
                        for _ in range(rnd.randrange(0, 6)):
                            state = rnd.choice(states)
                            batch.append(
                                LedgerEntry(
                                    run_id,
                                    rnd.choice(actions),
                                    rnd.choice(people),
                                    "cmp",
                                    EMAIL,
                                    state,
                                    attempts=rnd.randrange(3),
                                    next_attempt_at=T.add(minutes=rnd.randrange(5))
                                    if rnd.random() < 0.7
                                    else None,
                                    provider_message_id=provider_id()
                                    if rnd.random() < 0.4
                                    else None,
                                )
                            )
                        trial = dict(work)
                        refused = False
                        for e in batch:
                            h = (
                                holder(trial, e.provider_message_id)
                                if e.provider_message_id
                                else None
                            )
                            if h is not None and h != e.key:
                                refused = True
                                break
                            trial[e.key] = e
                        if refused:
                            with pytest.raises(ConflictError):
                                uow.ledger.put(batch)
                        else:
                            uow.ledger.put(batch)
                            work = trial
                    elif kind == "add":
                        fresh = [
                            row(p, run_id=run_id, action_id=a)
                            for p in rnd.sample(people, rnd.randrange(0, 5))
                            for a in [rnd.choice(actions)]
                            if (run_id, a, p) not in work
                        ]
                        uow.ledger.add_pending(fresh)
                        for r in fresh:
                            work[(run_id, r[0].action_id, r[0].profile_id)] = pending_entry(r)
                    else:
                        open_ = [
                            k for k, e in work.items() if k[0] == run_id and e.state is S.PENDING
                        ]
                        chosen = rnd.sample(open_, min(len(open_), rnd.randrange(0, 4)))
                        outcome_rows: list[OutcomeRow] = []
                        for k in chosen:
                            state = rnd.choice((S.SENT, S.SENT, S.FAILED, S.RETRY))
                            outcome_rows.append(
                                (
                                    k[1],
                                    k[2],
                                    state,
                                    work[k].attempts + 1,
                                    provider_id() if state is S.SENT else None,
                                    None if state is S.SENT else "err",
                                    T.add(minutes=3) if state is S.RETRY else None,
                                )
                            )
                        trial = dict(work)
                        refused = False
                        for o in outcome_rows:
                            key = (run_id, o[0], o[1])
                            h = holder(trial, o[4]) if o[4] else None
                            if h is not None and h != key:
                                refused = True
                                break
                            trial[key] = settled_entry(trial[key], o)
                        if refused:
                            with pytest.raises(ConflictError):
                                uow.ledger.settle(run_id, outcome_rows)
                        else:
                            uow.ledger.settle(run_id, outcome_rows)
                            work = trial
                if fail:
                    raise _Boom
        except _Boom:
            pass
        else:
            model = work
        with store.unit_of_work() as uow:
            for run_id in runs:
                mine = sorted((e for k, e in model.items() if k[0] == run_id), key=lambda e: e.key)
                assert list(uow.ledger.entries(run_id)) == mine
                assert list(uow.ledger.pending(run_id, 100)) == [
                    e for e in mine if e.state is S.PENDING
                ]
                waiting = [e for e in mine if e.state in (S.QUEUED, S.RETRY)]
                assert list(uow.ledger.open_entries(run_id, 100)) == sorted(
                    [e for e in mine if e.state is S.PENDING] + waiting, key=lambda e: e.key
                )
                due = sorted(
                    (e for e in waiting if e.next_attempt_at is not None),
                    key=lambda e: (e.next_attempt_at, e.key),
                )
                assert list(uow.ledger.due(run_id, T.add(hours=1), 100)) == due
                assert uow.ledger.recorded(run_id, people) == {
                    k[1:] for k in model if k[0] == run_id
                }
            for e in model.values():
                if e.provider_message_id is not None:
                    assert uow.ledger.by_provider_id(e.provider_message_id) == e


@pytest.mark.parametrize("seed", range(12))
def test_the_ledger_agrees_with_a_plain_model(seed: int) -> None:
    _random_ops(seed)
