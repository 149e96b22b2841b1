"""A batch of fresh intents kept as one block in the in-memory ledger, and its columns.

``decide_batch`` hands a one-action run due at one instant its ready rows as
:class:`PendingRows` (columns); the in-memory ledger keeps such a batch of new
keys as one :class:`Block`, and a bulk ``settle`` of exactly that batch, all
accepted, settles the block as a whole. Each test compares with the same calls
given as plain rows (the row-by-row path), read back through every query.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Sequence
from types import MappingProxyType
from typing import Any

import pendulum
import pytest

import campaignkit as ck
from campaignkit import InMemoryStore
from campaignkit.adapters.memory.runledger import Block
from campaignkit.delivery import decide as deciding
from campaignkit.delivery.recording import record_sends
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import (
    Accepted,
    LedgerEntry,
    LedgerState,
    OutcomeRow,
    PendingRow,
    PermanentFailure,
    TransientFailure,
    pending_entry,
    settled_entry,
)
from campaignkit.domain.ledger_rows import AcceptedRows, FreshMessages, HandedOver, PendingRows
from campaignkit.domain.profile import Profile
from campaignkit.errors import ConflictError, NotFound
from campaignkit.testing import CallbackChannel, RecordingChannel
from campaignkit.testing.contracts._support import make_message
from tests.factories import T0

T = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
S = LedgerState
EMAIL = ChannelType.EMAIL
PEOPLE = [f"p{i}" for i in range(10)]


def _fresh(
    profile_ids: Sequence[str], *, run_id: str = "r1", action_id: str = "a1"
) -> FreshMessages:
    messages = FreshMessages(
        make_message(p, run_id=run_id, action_id=action_id) for p in profile_ids
    )
    messages.profile_ids = list(profile_ids)
    return messages


def _rows(
    profile_ids: Sequence[str],
    *,
    zones: dict[int, str] | None = None,
    run_id: str = "r1",
    action_id: str = "a1",
    due: pendulum.DateTime | None = T,
) -> PendingRows:
    return PendingRows(_fresh(profile_ids, run_id=run_id, action_id=action_id), due, zones)


def _accepted(
    profile_ids: Sequence[str], ids: Sequence[str | None], action_id: str = "a1"
) -> AcceptedRows:
    return AcceptedRows([action_id] * len(profile_ids), list(profile_ids), list(ids))


class _Boom(Exception):
    pass


def _state(store: InMemoryStore, run_id: str = "r1") -> tuple[Any, ...]:
    with store.unit_of_work() as uow:
        entries = list(uow.ledger.entries(run_id))
        held = {
            e.provider_message_id: uow.ledger.by_provider_id(e.provider_message_id)
            for e in entries
            if e.provider_message_id is not None
        }
        return (
            entries,
            list(uow.ledger.pending(run_id, 100)),
            list(uow.ledger.open_entries(run_id, 100)),
            uow.ledger.due(run_id, T.add(hours=1), 100),
            uow.ledger.recorded(run_id, PEOPLE),
            held,
            sorted(store._tables.provider_ids),  # no id left behind
        )


Step = Callable[[Any, bool], None]
"""One write, given the columns (True) or the same rows as a list (False)."""


def _both(*units: tuple[Sequence[Step], bool]) -> tuple[Any, ...]:
    """Run units of steps on two stores, columns and lists; the same errors and reads."""
    results = []
    for columns in (True, False):
        store = InMemoryStore()
        errors: list[type[Exception] | None] = []
        for steps, fail in units:
            error: type[Exception] | None = None
            try:
                with store.unit_of_work() as uow:
                    for step in steps:
                        step(uow, columns)
                    if fail:
                        raise _Boom
            except (ConflictError, NotFound, _Boom) as exc:
                error = type(exc)
            errors.append(error)
        results.append((errors, _state(store)))
    assert results[0] == results[1]
    return results[0]


def _add(rows: PendingRows) -> Step:
    return lambda uow, columns: uow.ledger.add_pending(rows if columns else list(rows))


def _settle(rows: AcceptedRows | list[OutcomeRow]) -> Step:
    def step(uow: Any, columns: bool) -> None:
        uow.ledger.settle("r1", rows if columns else list(rows))

    return step


def _put(*entries: LedgerEntry) -> Step:
    return lambda uow, _: uow.ledger.put(list(entries))


def _blocks(store: InMemoryStore) -> list[Block]:
    compact = store._tables.ledger_by_run["r1"].compact["a1"]
    return list({id(v): v for v in compact.values() if type(v) is Block}.values())


# ------------------------------------------------------------------ the columns


def test_pending_rows_read_as_rows() -> None:
    rows = _rows(["p0", "p1", "p2"], zones={1: "Europe/Paris"})
    messages = rows.messages
    expected: list[PendingRow] = [
        (messages[0], T, None),
        (messages[1], T, "Europe/Paris"),
        (messages[2], T, None),
    ]
    assert list(rows) == expected
    assert len(rows) == 3
    assert rows[1] == expected[1]
    assert rows[-2] == expected[1]
    assert rows[1:] == expected[1:]
    assert repr(rows) == f"PendingRows({expected!r})"
    assert list(_rows(["p0"])) == [(_rows(["p0"]).messages[0], T, None)]
    unnamed = FreshMessages([make_message("p0")])
    unnamed.profile_ids = []
    with pytest.raises(ValueError, match="one profile id per message"):
        PendingRows(unnamed, T)


def test_handed_over_reads_as_pairs() -> None:
    messages = _fresh(["p0", "p1"])
    results: list[ck.SendResult] = [Accepted("m0"), TransientFailure("busy")]
    handed = HandedOver(messages, results)
    expected = list(zip(messages, results, strict=True))
    assert list(handed) == expected
    assert len(handed) == 2
    assert handed[1] == expected[1]
    assert handed[:1] == expected[:1]
    assert repr(handed) == f"HandedOver({expected!r})"
    with pytest.raises(ValueError, match="one result per message"):
        HandedOver(messages, results[:1])


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


def _fail(*_: object, **__: object) -> None:
    raise MemoryError


def _random_units(seed: int) -> None:
    """Random blocks, bulk and row-by-row settles, puts and failed units, against a model."""
    rnd = random.Random(seed)
    store = InMemoryStore()
    model: dict[tuple[str, str], LedgerEntry] = {}
    added: list[list[str]] = []
    counter = 0

    def provider_id() -> str:
        nonlocal counter
        counter += 1
        return f"m{rnd.randrange(counter + 1)}"  # collisions happen

    def holder(entries: dict[tuple[str, str], LedgerEntry], pid: str) -> Any:
        return next((k for k, e in entries.items() if e.provider_message_id == pid), None)

    for _ in range(40):
        work = dict(model)
        try:
            with store.unit_of_work() as uow:
                for _ in range(rnd.randrange(1, 4)):
                    kind = rnd.choice(("add", "add", "whole", "whole", "rows", "put"))
                    if kind == "add":
                        people = rnd.sample(PEOPLE, rnd.randrange(1, 5))
                        zones = {
                            i: "Europe/Paris" for i in range(len(people)) if rnd.random() < 0.3
                        }
                        rows = _rows(people, zones=zones)
                        uow.ledger.add_pending(rows)
                        added.append(people)
                        for r in rows:
                            work[("a1", r[0].profile_id)] = pending_entry(r)
                        continue
                    if kind == "put":
                        entry = LedgerEntry(
                            "r1",
                            "a1",
                            rnd.choice(PEOPLE),
                            "cmp_1",
                            EMAIL,
                            rnd.choice((S.SENT, S.QUEUED, S.PENDING)),
                            next_attempt_at=T,
                            provider_message_id=provider_id() if rnd.random() < 0.5 else None,
                        )
                        pid = entry.provider_message_id
                        h = None if pid is None else holder(work, pid)
                        if h is not None and h != entry.key[1:]:
                            with pytest.raises(ConflictError):
                                uow.ledger.put([entry])
                        else:
                            uow.ledger.put([entry])
                            work[entry.key[1:]] = entry
                        continue
                    if kind == "whole" and added:
                        people = rnd.choice(added)
                        settled: Sequence[OutcomeRow] = _accepted(
                            people, [provider_id() for _ in people]
                        )
                    else:
                        people = rnd.sample(PEOPLE, rnd.randrange(1, 4))
                        settled = [
                            (
                                "a1",
                                p,
                                state,
                                1,
                                provider_id() if state is S.SENT else None,
                                None if state is S.SENT else "err",
                                T if state is S.RETRY else None,
                            )
                            for p in people
                            for state in [rnd.choice((S.SENT, S.FAILED, S.RETRY))]
                        ]
                    trial = dict(work)
                    expected: type[Exception] | None = None
                    for o in settled:
                        if ("a1", o[1]) not in trial:
                            expected = NotFound
                            break
                        h = holder(trial, o[4]) if o[4] else None
                        if h is not None and h != ("a1", o[1]):
                            expected = ConflictError
                            break
                        trial[("a1", o[1])] = settled_entry(trial[("a1", o[1])], o)
                    if expected is not None:
                        with pytest.raises(expected):
                            uow.ledger.settle("r1", settled)
                    else:
                        uow.ledger.settle("r1", settled)
                        work = trial
                if rnd.random() < 0.25:
                    raise _Boom
        except _Boom:
            pass
        else:
            model = work
        mine = sorted(model.values(), key=lambda e: e.key)
        entries, pending, open_, due, recorded, held, ids = _state(store)
        assert entries == mine
        assert pending == [e for e in mine if e.state is S.PENDING]
        assert open_ == [e for e in mine if e.state in (S.PENDING, S.QUEUED, S.RETRY)]
        waiting = [e for e in mine if e.state in (S.QUEUED, S.RETRY) and e.next_attempt_at]
        assert due == sorted(waiting, key=lambda e: (e.next_attempt_at, e.key))
        assert recorded == set(model)
        assert held == {e.provider_message_id: e for e in mine if e.provider_message_id}
        assert ids == sorted(held)


@pytest.mark.parametrize("seed", range(16))
def test_blocks_agree_with_a_plain_model(seed: int) -> None:
    _random_units(seed)


# ------------------------------------------------------------------ the pipeline


def _people() -> list[Profile]:
    def person(i: int, **kwargs: Any) -> Profile:
        kwargs.setdefault("identities", {"email": f"u{i}@example.com"})
        kwargs.setdefault("attributes", {"firstName": f"U{i}"})
        kwargs.setdefault("consents", {EMAIL: True})
        return Profile(id=f"p{i}", **kwargs)

    return [
        person(0),
        person(1, identities={}),  # missing identity: the reference, between fast ones
        person(2, timezone="Europe/Paris"),
        person(3, attributes={}),  # missing attribute
        person(4),
        person(5, timezone="Asia/Tokyo"),
        _bent(person(6), identities=MappingProxyType({"email": ""})),  # a blank identity
    ]


def _bent(profile: Profile, **fields: object) -> Profile:
    """``profile`` with fields set past its checks (host data is not always what it says)."""
    bent = copy.copy(profile)
    for name, value in fields.items():
        object.__setattr__(bent, name, value)
    return bent


def _run(monkeypatch: pytest.MonkeyPatch, channel: ck.Channel, *, columns: bool) -> tuple[Any, ...]:
    if not columns:  # the rows as a list: the row-by-row ledger and the generic hand-over
        monkeypatch.setattr(
            deciding._Columns,
            "rows",
            lambda self, due, one: list(PendingRows(self.messages, due, self.zones)),
        )
    clock = ck.testing.ManualClock(T0)
    kit = ck.CampaignKit.in_memory(clock, channels={EMAIL: channel}, ids=ck.testing.SequentialIds())
    for profile in _people():
        kit.profiles._profiles[profile.id] = profile  # type: ignore[attr-defined]
    kit.audiences.define("all", [p.id for p in _people()])
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    ada = kit.as_user("ada")
    email = ada.create_surface(
        name="News", channel=EMAIL, settings=ck.EmailSettings(sender="n@example.com")
    )
    campaign = ada.create_campaign(
        name="One",
        audience="all",
        namespace="email",
        actions=[
            ck.Action(email.id, ck.EmailContent(subject="Hi {{ profile.firstName }}", html="x"))
        ],
    )
    ada.activate(campaign.id)
    kit.tick()
    kit.tick()
    monkeypatch.undo()
    with kit.store.unit_of_work() as uow:
        (run,) = uow.runs.for_campaign(campaign.id)
        entries = list(uow.ledger.entries(run.id))
        contacts = uow.contacts.counts(EMAIL, [p.id for p in _people()], T0.subtract(days=1))
        held = {
            e.provider_message_id: uow.ledger.by_provider_id(e.provider_message_id)
            for e in entries
            if e.provider_message_id
        }
    return entries, dict(run.counts), run.status, contacts, held


def _answer(message: ck.Message) -> ck.SendResult:
    if message.profile_id == "p2":
        return TransientFailure("busy")
    if message.profile_id == "p4":
        return PermanentFailure("bounced")
    return Accepted(f"id-{message.profile_id}")


@pytest.mark.parametrize(
    "make",
    [
        RecordingChannel,
        lambda: CallbackChannel(_answer),
        lambda: CallbackChannel(lambda m: Accepted("same")),
    ],
    ids=["accepted", "mixed", "one-id"],
)
def test_a_run_with_columns_records_what_rows_record(
    monkeypatch: pytest.MonkeyPatch, make: Callable[[], ck.Channel]
) -> None:
    fast = _run(monkeypatch, make(), columns=True)
    rows = _run(monkeypatch, make(), columns=False)
    assert fast == rows
    entries, _, _, contacts, _ = fast
    assert {e.profile_id: e.timezone for e in entries}["p5"] == "Asia/Tokyo"
    assert {e.profile_id: e.reason for e in entries}["p6"] is ck.ExclusionReason.MISSING_IDENTITY
    assert contacts


@pytest.mark.parametrize("transactional", [False, True])
def test_contacts_of_columns_are_those_of_rows(transactional: bool) -> None:
    counted = []
    for columns in (True, False):
        store = InMemoryStore()
        messages = FreshMessages(
            make_message(p, run_id="r1", action_id="a1", transactional=transactional)
            for p in ("p0", "p1")
        )
        messages.profile_ids = ["p0", "p1"]
        rows = PendingRows(messages, T)
        with store.unit_of_work() as uow:
            record_sends(uow, rows if columns else list(rows), T)
            record_sends(uow, PendingRows(_fresh([]), T) if columns else [], T)
        with store.unit_of_work() as uow:
            counted.append(uow.contacts.counts(EMAIL, ["p0", "p1"], T.subtract(days=1)))
    assert counted[0] == counted[1] == ({} if transactional else {"p0": 1, "p1": 1})
