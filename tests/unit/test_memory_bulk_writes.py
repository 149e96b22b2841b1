"""The in-memory ledger's bulk writes give exactly what its row-by-row writes give.

``settle`` of :class:`AcceptedRows` (a batch accepted on its first hand-over)
takes a bulk path when every row is a fresh intent of one action with a new,
distinct provider id, and the row-by-row path otherwise. Each test runs the same
calls on two stores, one given the columns and one the same rows as a list, and
compares every read (and every error, and what a failed unit leaves).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import pendulum
import pytest

from campaignkit import InMemoryStore
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import LedgerEntry, LedgerState, OutcomeRow, PendingRow
from campaignkit.domain.ledger_rows import AcceptedRows, ContactBatch
from campaignkit.errors import ConflictError, NotFound
from campaignkit.testing.contracts._support import make_message

T = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
S = LedgerState
EMAIL = ChannelType.EMAIL
PEOPLE = [f"p{i}" for i in range(8)]


def _row(profile_id: str, action_id: str = "a1") -> PendingRow:
    return (make_message(profile_id, run_id="r1", action_id=action_id), T, None)


class _Boom(Exception):
    pass


def _state(store: InMemoryStore) -> tuple[Any, ...]:
    with store.unit_of_work() as uow:
        entries = list(uow.ledger.entries("r1"))
        held = {
            e.provider_message_id: uow.ledger.by_provider_id(e.provider_message_id)
            for e in entries
            if e.provider_message_id is not None
        }
        return (
            entries,
            list(uow.ledger.pending("r1", 100)),
            list(uow.ledger.open_entries("r1", 100)),
            uow.ledger.recorded("r1", PEOPLE),
            held,
            {pid: held[:3] for pid, held in store._tables.provider_ids.items()},  # the holders
        )


def _both(setup: Callable[[Any], None], rows: AcceptedRows, *, fail: bool = False) -> Any:
    """Settle ``rows`` as columns and as a list on two stores set up alike; the same outcome."""
    results = []
    for given in (rows, list(rows)):
        store = InMemoryStore()
        with store.unit_of_work() as uow:
            setup(uow)
        error: type[Exception] | None = None
        try:
            with store.unit_of_work() as uow:
                uow.ledger.settle("r1", given)
                if fail:
                    raise _Boom
        except (ConflictError, NotFound, _Boom) as exc:
            error = type(exc)
        results.append((error, _state(store)))
    assert results[0] == results[1]
    return results[0]


def _intents(*pairs: tuple[str, str]) -> Callable[[Any], None]:
    def setup(uow: Any) -> None:
        uow.ledger.add_pending([_row(p, a) for a, p in pairs])

    return setup


def _accepted(pairs: Sequence[tuple[str, str]], ids: Sequence[str | None]) -> AcceptedRows:
    return AcceptedRows([a for a, _ in pairs], [p for _, p in pairs], list(ids))


def test_a_fresh_batch_is_settled_sent_as_row_by_row() -> None:
    pairs = [("a1", "p0"), ("a1", "p1"), ("a1", "p2")]
    error, (entries, pending, *_) = _both(
        _intents(*pairs, ("a1", "p3")), _accepted(pairs, ["m0", "m1", "m2"])
    )
    assert error is None
    assert [e.state for e in entries] == [S.SENT, S.SENT, S.SENT, S.PENDING]
    assert [e.profile_id for e in pending] == ["p3"]
    error, (entries, pending, *_) = _both(_intents(*pairs), _accepted(pairs, ["m0", "m1", "m2"]))
    assert (error, pending) == (None, [])  # every PENDING entry of the action settled


def test_a_failed_unit_undoes_a_bulk_settle() -> None:
    pairs = [("a1", "p0"), ("a1", "p1")]
    error, (entries, pending, _, _, _, index) = _both(
        _intents(*pairs), _accepted(pairs, ["m0", "m1"]), fail=True
    )
    assert error is _Boom
    assert [e.state for e in entries] == [S.PENDING, S.PENDING]
    assert len(pending) == 2
    assert index == {}


@pytest.mark.parametrize(
    ("pairs", "ids", "error"),
    [
        ([("a1", "p0"), ("a1", "p0")], ["m0", "m1"], None),  # a profile twice
        ([("a1", "p0"), ("a1", "p1")], ["m0", "m0"], ConflictError),  # an id twice
        ([("a1", "p0"), ("a1", "p1")], ["m0", None], None),  # no provider id
        ([("a1", "p0"), ("a2", "p1")], ["m0", "m1"], None),  # two actions
        ([("a1", "p0"), ("a1", "p9")], ["m0", "m1"], NotFound),  # no such entry
        ([("a3", "p0")], ["m0"], NotFound),  # no such action
        ([("a1", "p5")], ["m5"], None),  # already settled: settled again
        ([("a1", "p0")], ["held"], ConflictError),  # an id another entry holds
        ([], [], None),
    ],
)
def test_anything_but_a_fresh_batch_is_settled_row_by_row(
    pairs: list[tuple[str, str]], ids: list[str | None], error: type[Exception] | None
) -> None:
    def setup(uow: Any) -> None:
        _intents(("a1", "p0"), ("a1", "p1"), ("a2", "p1"), ("a1", "p5"), ("a1", "p6"))(uow)
        uow.ledger.settle(
            "r1",
            [
                ("a1", "p5", S.SENT, 1, "m5-old", None, None),
                ("a1", "p6", S.SENT, 1, "held", None, None),
            ],
        )

    assert _both(setup, _accepted(pairs, ids))[0] is error


def test_no_run_is_not_found_either_way() -> None:
    assert _both(lambda uow: None, _accepted([("a1", "p0")], ["m0"]))[0] is NotFound


def test_a_write_cut_short_puts_back_what_it_wrote(monkeypatch: pytest.MonkeyPatch) -> None:
    store = InMemoryStore()
    with store.unit_of_work() as uow:
        uow.ledger.add_pending([_row("p0"), _row("p1"), _row("p2")])  # p2 stays PENDING
    before = _state(store)
    with store.unit_of_work() as uow:
        monkeypatch.setattr("campaignkit.adapters.memory.ledger.deque", _fail)
        with pytest.raises(MemoryError):
            uow.ledger.settle("r1", _accepted([("a1", "p0"), ("a1", "p1")], ["m0", "m1"]))
        monkeypatch.undo()
    assert _state(store) == before


def _fail(*_: object, **__: object) -> None:
    raise MemoryError


def test_accepted_rows_read_as_outcome_rows() -> None:
    rows = _accepted([("a1", "p0"), ("a2", "p1")], ["m0", None])
    expected: list[OutcomeRow] = [
        ("a1", "p0", S.SENT, 1, "m0", None, None),
        ("a2", "p1", S.SENT, 1, None, None, None),
    ]
    assert list(rows) == expected
    assert len(rows) == 2
    assert rows[1] == expected[1]
    assert rows[-1] == expected[1]
    assert rows[:1] == expected[:1]
    assert repr(rows) == f"AcceptedRows({expected!r})"
    with pytest.raises(ValueError, match="one item per row"):
        AcceptedRows(["a1"], [], [])


@pytest.mark.parametrize("seed", range(8))
def test_random_batches_settle_alike(seed: int) -> None:
    rnd = random.Random(seed)
    fresh = rnd.sample(PEOPLE, 5)
    pairs = [("a1", p) for p in fresh]

    def setup(uow: Any) -> None:
        uow.ledger.add_pending([_row(p) for p in fresh])
        uow.ledger.put(
            [LedgerEntry("r1", "a1", "p7", "cmp", EMAIL, S.SENT, provider_message_id="m3")]
        )

    chosen = rnd.sample(pairs, rnd.randrange(1, 6))
    chosen += rnd.sample(chosen, rnd.randrange(0, 2))  # sometimes a profile twice
    ids = [f"m{rnd.randrange(12)}" for _ in chosen]  # sometimes taken, sometimes twice
    entries: list[LedgerEntry] = _both(setup, _accepted(chosen, ids), fail=rnd.random() < 0.3)[1][0]
    assert entries


def test_a_contact_batch_reads_as_contact_pairs() -> None:
    ids = ["p0", "p1"]
    batch = ContactBatch(ids, T)
    ids.append("p2")  # copied: the batch does not change with the caller's list
    assert list(batch) == [("p0", T), ("p1", T)]
    assert (len(batch), batch[1], batch[-1], batch[:1]) == (2, ("p1", T), ("p1", T), [("p0", T)])
    assert repr(batch) == f"ContactBatch({[('p0', T), ('p1', T)]!r})"


@pytest.mark.parametrize("fail", [False, True])
def test_contacts_kept_as_a_batch_count_forget_and_undo_as_pairs(fail: bool) -> None:
    results = []
    for given in (ContactBatch(["p0", "p1", "p0"], T), [("p0", T), ("p1", T), ("p0", T)]):
        store = InMemoryStore()
        try:
            with store.unit_of_work() as uow:
                uow.contacts.record(EMAIL, given, ["k0", "k1", "k2"])
                uow.contacts.forget(EMAIL, [("p1", "k1")])
                if fail:
                    raise _Boom
        except _Boom:
            pass
        with store.unit_of_work() as uow:
            results.append(uow.contacts.counts(EMAIL, ["p0", "p1"], T))
            uow.contacts.forget(EMAIL, [("p0", "k0")])
            results.append(uow.contacts.counts(EMAIL, ["p0", "p1"], T))
    assert results[:2] == results[2:]
    assert results[:2] == ([{}, {}] if fail else [{"p0": 2}, {"p0": 1}])


@pytest.mark.parametrize(
    "dues",
    [
        [T, T, T],  # one instant: the rows name its slot
        [T, T.add(minutes=1), T],  # per recipient: the rows hold their own
        [None, None, None],
        [T, T.add(seconds=0), T],  # equal but not the same object: each holds its own
    ],
)
def test_settled_rows_read_back_their_own_due_time(dues: list[pendulum.DateTime | None]) -> None:
    people = ["p0", "p1", "p2"]

    def setup(uow: Any) -> None:
        rows = [
            (make_message(p, run_id="r1", action_id="a1"), d, "UTC")
            for p, d in zip(people, dues, strict=True)
        ]
        uow.ledger.add_pending(rows)

    error, (entries, *_) = _both(setup, _accepted([("a1", p) for p in people], ["m0", "m1", "m2"]))
    assert error is None
    assert [(e.due_at, e.state, e.channel) for e in entries] == [(d, S.SENT, EMAIL) for d in dues]
    assert all(e.due_at is d or d is None for e, d in zip(entries, dues, strict=True))


def test_batches_of_one_instant_share_its_slot() -> None:
    store = InMemoryStore()
    later = T.add(hours=1)
    for number, (people, due) in enumerate([(["p0", "p1"], T), (["p2"], T), (["p3"], later)]):
        with store.unit_of_work() as uow:
            uow.ledger.add_pending([(_row(p)[0], due, None) for p in people])
            uow.ledger.settle(
                "r1", _accepted([("a1", p) for p in people], [f"m{p}" for p in people])
            )
        assert store._tables.ledger_by_run["r1"].instants == [T, later][: 1 + (number == 2)]
    assert [e.due_at for e in _state(store)[0]] == [T, T, T, later]


def test_recorded_takes_any_sequence_of_ids() -> None:
    store = InMemoryStore()
    with store.unit_of_work() as uow:
        uow.ledger.add_pending([_row("p0"), _row("p1", "a2")])
        wanted = ["p1", "p0", "p1", "p9"]
        expected = {("a1", "p0"), ("a2", "p1")}
        assert uow.ledger.recorded("r1", wanted) == expected
        assert uow.ledger.recorded("r1", tuple(wanted)) == expected
