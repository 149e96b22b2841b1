"""Shared helpers of the block tests: fresh intents as columns or rows, accepted outcomes, a
failing channel, the whole state of a store, and each write made both as columns and as plain
rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pendulum

from campaignkit import InMemoryStore
from campaignkit.adapters.memory.runledger import Block
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import (
    LedgerEntry,
    LedgerState,
    OutcomeRow,
)
from campaignkit.domain.ledger_rows import AcceptedRows, FreshMessages, PendingRows
from campaignkit.errors import ConflictError, NotFound
from campaignkit.testing.contracts._support import make_message

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


def _fail(*_: object, **__: object) -> None:
    raise MemoryError
