"""The in-memory ledger's blocks: written and settled whole by the pipeline, undone with a
failed unit, settled row by row otherwise, left by members written alone, dropped when empty,
and put back by a write cut short."""

from __future__ import annotations

import pytest

from campaignkit import InMemoryStore
from campaignkit.domain.delivery import (
    LedgerEntry,
    OutcomeRow,
    pending_entry,
)
from campaignkit.domain.ledger_rows import PendingRows
from campaignkit.errors import ConflictError, NotFound
from tests.speed_h1_blocks.support import (
    EMAIL,
    S,
    T,
    _accepted,
    _add,
    _blocks,
    _Boom,
    _both,
    _fail,
    _fresh,
    _put,
    _rows,
    _settle,
    _state,
)

# ------------------------------------------------------------------ the ledger


def test_a_block_reads_back_as_its_rows_pending_then_sent() -> None:
    rows = _rows(["p0", "p1", "p2"], zones={2: "Asia/Tokyo"})
    errors, (entries, pending, *_) = _both(
        ([_add(rows)], False),
    )
    assert errors == [None]
    assert entries == [pending_entry(row) for row in rows]
    assert pending == entries
    errors, (entries, pending, _, _, _, held, ids) = _both(
        ([_add(rows)], False), ([_settle(_accepted(["p0", "p1", "p2"], ["m0", "m1", "m2"]))], False)
    )
    assert errors == [None, None]
    assert [e.state for e in entries] == [S.SENT] * 3
    assert entries[2].timezone == "Asia/Tokyo"
    assert pending == []
    assert held == {f"m{i}": e for i, e in enumerate(entries)}
    assert ids == ["m0", "m1", "m2"]


def test_the_pipeline_writes_one_block_and_settles_it_whole() -> None:
    store = InMemoryStore()
    rows = _rows(["p0", "p1"])
    with store.unit_of_work() as uow:
        uow.ledger.add_pending(rows)
    with store.unit_of_work() as uow:
        uow.ledger.settle("r1", _accepted(["p0", "p1"], ["m0", "m1"]))
    (block,) = _blocks(store)
    assert block.provider_ids == ("m0", "m1")
    assert block.messages is None  # the messages are dropped, as settled_entry drops them
    held: dict[str, object] = dict(store._tables.provider_ids)
    assert held == {"m0": block, "m1": block}  # the block itself holds them


@pytest.mark.parametrize("fail_at", [0, 1])
def test_a_failed_unit_undoes_a_block_and_its_settle(fail_at: int) -> None:
    add, settle = _add(_rows(["p0", "p1"])), _settle(_accepted(["p0", "p1"], ["m0", "m1"]))
    units = [([add], fail_at == 0), ([settle], fail_at == 1)]
    errors, (entries, pending, *_, ids) = _both(*units)
    assert errors[fail_at] is _Boom
    if fail_at == 0:  # nothing added: nothing to settle
        assert (errors[1], entries, ids) == (NotFound, [], [])
    else:  # settled, then undone: PENDING with their messages again, no id held
        assert [e.state for e in entries] == [S.PENDING, S.PENDING]
        assert all(e.message is not None for e in entries)
        assert (pending, ids) == (entries, [])
    # and the block settles later as it would have
    _both(*units[:1], ([settle], False))


@pytest.mark.parametrize(
    ("profile_ids", "ids", "error"),
    [
        (["p1", "p0"], ["m1", "m0"], None),  # not in the block's order
        (["p0"], ["m0"], None),  # part of the block
        (["p0", "p1"], ["m0", "m0"], ConflictError),  # an id twice
        (["p0", "p1"], ["m0", None], None),  # no provider id
        (["p0", "p1"], ["m0", "held"], ConflictError),  # an id another entry holds
    ],
)
def test_anything_but_the_whole_block_is_settled_row_by_row(
    profile_ids: list[str], ids: list[str | None], error: type[Exception] | None
) -> None:
    held = LedgerEntry("r1", "a1", "p9", "cmp_1", EMAIL, S.SENT, provider_message_id="held")
    errors, _ = _both(
        ([_add(_rows(["p0", "p1"])), _put(held)], False),
        ([_settle(_accepted(profile_ids, ids))], False),
    )
    assert errors == [None, error]


def test_a_member_written_alone_leaves_the_block() -> None:
    rows = _rows(["p0", "p1", "p2"])
    again = LedgerEntry("r1", "a1", "p1", "cmp_1", EMAIL, S.QUEUED, next_attempt_at=T)
    retry: OutcomeRow = ("a1", "p2", S.RETRY, 1, None, "busy", T.add(minutes=3))
    whole = _settle(_accepted(["p0", "p1", "p2"], ["m0", "m1", "m2"]))
    for alone in (_put(again), _settle([retry]), _add(_rows(["p1"]))):
        errors, (entries, *_) = _both(([_add(rows)], False), ([alone], False), ([whole], False))
        assert errors == [None, None, None]
        assert {e.state for e in entries} == {S.SENT}
    store = InMemoryStore()
    with store.unit_of_work() as uow:
        uow.ledger.add_pending(rows)
        uow.ledger.put([again])
    assert [b.intact for b in _blocks(store)] == [False]


def test_a_block_whose_members_all_left_is_dropped_and_an_undo_lists_it_again() -> None:
    store = InMemoryStore()
    with store.unit_of_work() as uow:
        uow.ledger.add_pending(_rows(["p0", "p1"]))
    run = store._tables.ledger_by_run["r1"]
    over = [LedgerEntry("r1", "a1", p, "cmp_1", EMAIL, S.EXCLUDED) for p in ("p0", "p1")]
    with pytest.raises(_Boom), store.unit_of_work() as uow:
        uow.ledger.put(over)
        assert list(uow.ledger.pending("r1", 10)) == []
        assert run.blocks["a1"] == {}  # none of its members is left: dropped
        raise _Boom
    (block,) = _blocks(store)
    assert run.blocks["a1"] == {block: None}  # the undo put its members back
    with store.unit_of_work() as uow:
        assert [e.profile_id for e in uow.ledger.pending("r1", 10)] == ["p0", "p1"]
        assert [e.profile_id for e in uow.ledger.open_entries("r1", 1)] == ["p0"]


def test_a_block_settled_row_by_row_is_no_longer_listed_nor_keeps_its_messages() -> None:
    store = InMemoryStore()
    with store.unit_of_work() as uow:
        uow.ledger.add_pending(_rows(["p0", "p1", "p2"]))
    run = store._tables.ledger_by_run["r1"]
    (block,) = _blocks(store)
    with store.unit_of_work() as uow:  # a channel that failed one: the batch goes row by row
        uow.ledger.settle(
            "r1",
            [
                ("a1", "p0", S.SENT, 1, "m0", None, None),
                ("a1", "p1", S.RETRY, 1, None, "busy", T.add(minutes=3)),
            ],
        )
    assert (block.held, run.blocks["a1"]) == (1, {block: None})
    with store.unit_of_work() as uow:
        uow.ledger.settle("r1", [("a1", "p2", S.FAILED, 1, None, "bounced", None)])
    assert (block.held, run.blocks["a1"]) == (0, {})  # nothing lists it: its messages can go
    with store.unit_of_work() as uow:
        assert [e.state for e in uow.ledger.entries("r1")] == [S.SENT, S.RETRY, S.FAILED]


def test_a_batch_that_is_not_all_new_is_added_row_by_row() -> None:
    errors, (entries, *_) = _both(
        ([_add(_rows(["p0"]))], False), ([_add(_rows(["p1", "p0"]))], False)
    )
    assert errors == [None, None]
    assert [e.profile_id for e in entries] == ["p0", "p1"]
    errors, (entries, *_) = _both(([_add(_rows(["p3", "p4", "p3"]))], False))  # a profile twice
    assert [e.profile_id for e in entries] == ["p3", "p4"]
    store = InMemoryStore()
    with store.unit_of_work() as uow:
        uow.ledger.add_pending(_rows(["p3", "p4", "p3"]))
        uow.ledger.add_pending(PendingRows(_fresh([]), T))
    assert _blocks(store) == []


def test_writes_over_settled_members_and_their_undo() -> None:
    setup = ([_add(_rows(["p0", "p1"])), _settle(_accepted(["p0", "p1"], ["m0", "m1"]))], False)
    moved = LedgerEntry("r1", "a1", "p0", "cmp_1", EMAIL, S.SENT, provider_message_id="m9")
    taken = LedgerEntry("r1", "a1", "p5", "cmp_1", EMAIL, S.SENT, provider_message_id="m1")
    again: OutcomeRow = ("a1", "p1", S.FAILED, 2, None, "bounced", None)
    for fail in (False, True):
        errors, (*_, ids) = _both(
            setup, ([_put(moved), _settle([again])], fail), ([_put(taken)], False)
        )
        assert errors == [None, _Boom if fail else None, ConflictError if fail else None]
        assert ids == (["m0", "m1"] if fail else ["m1", "m9"])


def test_a_block_keeps_no_message_once_settled_and_reads_by_provider_id() -> None:
    store = InMemoryStore()
    with store.unit_of_work() as uow:
        uow.ledger.add_pending(_rows(["p0", "p1"]))
        uow.ledger.settle("r1", _accepted(["p0", "p1"], ["m0", "m1"]))
    with store.unit_of_work() as uow:
        found = uow.ledger.by_provider_id("m1")
        assert found is not None
        assert (found.profile_id, found.state, found.message) == ("p1", S.SENT, None)
        assert uow.ledger.by_provider_id("nope") is None


def test_a_write_cut_short_puts_back_what_it_wrote(monkeypatch: pytest.MonkeyPatch) -> None:
    store = InMemoryStore()
    with store.unit_of_work() as uow:
        uow.ledger.add_pending(_rows(["p9"]))
    before = _state(store)
    rows = _rows(["p0", "p1"])
    with store.unit_of_work() as uow:
        monkeypatch.setattr("campaignkit.adapters.memory.ledger.repeat", _fail)
        with pytest.raises(MemoryError):
            uow.ledger.add_pending(rows)
        monkeypatch.undo()
    assert _state(store) == before
    with store.unit_of_work() as uow:
        uow.ledger.add_pending(rows)
    before = _state(store)
    with store.unit_of_work() as uow:
        monkeypatch.setattr("campaignkit.adapters.memory.ledger.repeat", _fail)
        with pytest.raises(MemoryError):
            uow.ledger.settle("r1", _accepted(["p0", "p1"], ["m0", "m1"]))
        monkeypatch.undo()
    assert _state(store) == before
