"""Random blocks, bulk and row-by-row settles, puts and failed units agree with a plain model
of the ledger."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import pytest

from campaignkit import InMemoryStore
from campaignkit.domain.delivery import (
    LedgerEntry,
    OutcomeRow,
    pending_entry,
    settled_entry,
)
from campaignkit.errors import ConflictError, NotFound
from tests.speed_h1_blocks.support import EMAIL, PEOPLE, S, T, _accepted, _Boom, _rows, _state


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
