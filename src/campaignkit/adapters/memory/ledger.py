"""The delivery ledger of an in-memory unit of work.

Writes are the fan-out's hot path, so each call walks its batch once, with
the common cases inlined (a new PENDING entry; a PENDING entry settled SENT or
FAILED) and everything else through :meth:`RunLedger.place`. A call adds one
undo step to the journal, holding the values it replaced, whatever its size;
when a provider message id is refused, the call's own writes are undone
before the ``ConflictError``, so nothing of it is written.
"""

from __future__ import annotations

import functools
import operator
from collections import deque
from collections.abc import Iterator, Sequence
from itertools import repeat
from typing import Any, cast

import attrs
import pendulum

from campaignkit.adapters.memory.runledger import (
    NO_ROWS,
    Block,
    Compact,
    Pair,
    RunLedger,
    Settled,
    Stored,
    provider_id_of,
)
from campaignkit.adapters.memory.tables import Journal, Tables, batches
from campaignkit.domain.delivery import (
    LedgerEntry,
    LedgerState,
    OutcomeRow,
    PendingRow,
    settled_entry,
)
from campaignkit.domain.ledger_rows import AcceptedRows, PendingRows
from campaignkit.errors import ConflictError, NotFound

_EMPTY = RunLedger()
"""What a run without entries reads (never written: writes go to the run's own)."""

_PENDING = LedgerState.PENDING
_SENT = LedgerState.SENT
_FAILED = LedgerState.FAILED
_EXCLUDED = LedgerState.EXCLUDED
_second = operator.itemgetter(1)


def _taken(provider_id: str) -> ConflictError:
    return ConflictError(
        f"ledger write refused: provider message id {provider_id!r} "
        "is already held by another message; provider ids must be unique"
    )


def _replace(
    tables: Tables, run: RunLedger, pair: Pair, new: Stored | None, old: Stored | None
) -> None:
    """Replace ``old`` by ``new`` under ``pair`` in the run and the provider id index."""
    key = (run.run_id, *pair)
    provider_ids = tables.provider_ids
    held = provider_id_of(old, pair[1])
    if held is not None and _holder(provider_ids.get(held), held) == key:
        del provider_ids[held]
    claimed = provider_id_of(new, pair[1])
    if claimed is not None:
        provider_ids[claimed] = key
    run.place(pair, new, old)


def _holder(claim: tuple[Any, ...] | Block | None, provider_id: str) -> tuple[Any, ...] | None:
    """The key of the entry an index value names for ``provider_id``.

    A key, a settled row starting with one, or a settled :class:`Block`, whose
    member holding ``provider_id`` it names.
    """
    if claim is None:
        return None
    if type(claim) is Block:
        return claim.holder(provider_id)
    return claim[:3]  # type: ignore[index]  # a tuple


def _undo_entries(tables: Tables, batch: Sequence[LedgerEntry], olds: list[Stored | None]) -> None:
    """Undo the first ``len(olds)`` writes of a ``put`` (newest first)."""
    runs = tables.ledger_by_run
    for i in range(len(olds) - 1, -1, -1):
        entry = batch[i]
        run = runs[entry.run_id]
        pair = (entry.action_id, entry.profile_id)
        _replace(tables, run, pair, olds[i], run.stored(pair))


def _undo_rows(tables: Tables, batch: Sequence[PendingRow], olds: list[Stored | None]) -> None:
    """Undo the first ``len(olds)`` writes of an ``add_pending`` (newest first)."""
    runs = tables.ledger_by_run
    for i in range(len(olds) - 1, -1, -1):
        message = batch[i][0]
        run = runs[message.run_id]
        pair = (message.action_id, message.profile_id)
        _replace(tables, run, pair, olds[i], run.stored(pair))


def _undo_outcomes(
    tables: Tables, run: RunLedger, batch: Sequence[OutcomeRow], olds: list[Stored]
) -> None:
    """Undo the first ``len(olds)`` writes of a ``settle`` (newest first)."""
    for i in range(len(olds) - 1, -1, -1):
        row = batch[i]
        pair = (row[0], row[1])
        _replace(tables, run, pair, olds[i], run.stored(pair))


class _Repeated(Exception):
    """A block's batch names a key held or a profile twice (it is then added row by row)."""


def _unclaim(index: dict[str, Any], provider_ids: Sequence[str | None], block: Block) -> None:
    """Remove the ids of ``provider_ids`` that ``block`` holds (what its bulk settle claimed)."""
    for provider_id in provider_ids:
        if index.get(provider_id) is block:  # type: ignore[arg-type]
            del index[provider_id]  # type: ignore[arg-type]


def _unsettle_block(
    index: dict[str, Any],
    blocks: dict[Block, None],
    block: Block,
    messages: list[Any],
) -> None:
    """Undo a bulk settle of ``block``: its ids unclaimed, its members PENDING again."""
    assert block.provider_ids is not None
    _unclaim(index, block.provider_ids, block)
    block.unsettled(messages)
    blocks[block] = None


@attrs.define
class MemoryLedger:
    """The delivery ledger of an in-memory unit of work."""

    tables: Tables
    journal: Journal

    def _writable(self, run_id: str) -> RunLedger:
        runs = self.tables.ledger_by_run
        run = runs.get(run_id)
        if run is None:
            run = runs[run_id] = RunLedger(run_id)
        return run

    def put(self, entries: Sequence[LedgerEntry]) -> None:
        """Insert or replace entries by key, in order (of one key, the last wins).

        Raises:
            ConflictError: an entry names a provider message id another entry
                holds; nothing of this call is written.
        """
        batch = tuple(entries)
        if not batch:
            return
        tables = self.tables
        provider_ids = tables.provider_ids
        olds: list[Stored | None] = []
        remember = olds.append
        run = _EMPTY
        run_id: str | None = None
        action_id: str | None = None
        full, compact, pending = NO_ROWS
        # one undo step, in the journal before any write: it undoes as many
        # writes as ``olds`` holds, so a call cut short midway undoes cleanly
        self.journal.undo.append(functools.partial(_undo_entries, tables, batch, olds))
        for entry in batch:
            if entry.run_id != run_id:
                run_id = entry.run_id
                run = self._writable(run_id)
                action_id = None
            if entry.action_id != action_id:
                action_id = entry.action_id
                full, compact, pending = run.rows(action_id)
            profile_id = entry.profile_id
            old: Stored | None = compact.get(profile_id)
            if old is None:
                old = full.get(profile_id)
            provider_id = entry.provider_message_id
            if provider_id is not None:
                key = (run_id, action_id, profile_id)
                holder = provider_ids.setdefault(provider_id, key)  # checks and claims
                if holder is not key and _holder(holder, provider_id) != key:
                    _undo_entries(tables, batch, olds)
                    olds.clear()
                    raise _taken(provider_id)
            state = entry.state
            if old is None and state is _PENDING and provider_id is None:  # a new intent
                full[profile_id] = entry
                pending[profile_id] = entry
            elif (
                type(old) is LedgerEntry
                and old.state is _PENDING
                and old.provider_message_id is None
                and (state is _SENT or state is _FAILED or state is _EXCLUDED)
            ):  # an outcome
                full[profile_id] = entry
                del pending[profile_id]  # its provider id, if any, is claimed above
            else:
                _replace(tables, run, (action_id, profile_id), entry, old)
            remember(old)

    def add_pending(self, rows: Sequence[PendingRow]) -> None:
        """Insert new PENDING entries, each ``(message, due_at, timezone)`` (the hot path).

        Each row stands for ``domain.delivery.pending_entry(row)`` and is kept in
        that compact form until read. A key already in the ledger is replaced,
        as :meth:`put` would. A :class:`PendingRows` of new keys is kept as one
        :class:`~campaignkit.adapters.memory.runledger.Block`.
        """
        if type(rows) is PendingRows and self._add_block(rows):
            return
        batch = tuple(rows)
        if not batch:
            return
        tables = self.tables
        olds: list[Stored | None] = []
        remember = olds.append
        run = _EMPTY
        run_id: str | None = None
        action_id: str | None = None
        full, compact, pending = NO_ROWS
        self.journal.undo.append(functools.partial(_undo_rows, tables, batch, olds))
        for row in batch:
            message = row[0]
            if message.run_id != run_id:
                run_id = message.run_id
                run = self._writable(run_id)
                action_id = None
            if message.action_id != action_id:
                action_id = message.action_id
                full, compact, pending = run.rows(action_id)
            profile_id = message.profile_id
            if profile_id not in compact and (not full or profile_id not in full):  # a new key
                compact[profile_id] = row
                pending[profile_id] = row
                remember(None)
                continue
            pair = (action_id, profile_id)
            old = run.stored(pair)
            _replace(tables, run, pair, row, old)
            remember(old)

    def _add_block(self, rows: PendingRows) -> bool:
        """:meth:`add_pending` of new keys as one block; False (nothing written) if not that.

        Every profile id must be new to the action and appear once: then each row
        would take :meth:`add_pending`'s new-key case, and the block stands for
        those rows. Anything else is left to the row-by-row loop.
        """
        messages = rows.messages
        profile_ids = messages.profile_ids
        count = len(profile_ids)
        if not count:
            return False
        first = messages[0]
        run = self._writable(first.run_id)
        full, compact, _ = run.rows(first.action_id)
        if full and not full.keys().isdisjoint(profile_ids):
            return False
        block = Block(rows)
        held = len(compact)
        try:  # each key checked and taken in one step (a key held keeps its value)
            deque(map(compact.setdefault, profile_ids, repeat(block)), maxlen=0)
            if len(compact) != held + count:  # a key held, or a profile twice
                raise _Repeated
        except BaseException as exc:  # put back what was written
            for profile_id in profile_ids:
                if compact.get(profile_id) is block:
                    del compact[profile_id]
            if type(exc) is _Repeated:
                return False
            raise
        run.blocks.setdefault(first.action_id, {})[block] = None  # its members are PENDING
        olds: list[Stored | None] = [None] * count
        self.journal.undo.append(functools.partial(_undo_rows, self.tables, rows, olds))
        return True

    def settle(self, run_id: str, rows: Sequence[OutcomeRow]) -> None:  # noqa: PLR0915 - inlined
        """Record channel answers for PENDING entries of ``run_id`` (the hot path).

        Each row ``(action_id, profile_id, state, attempts, provider_message_id,
        error, next_attempt_at)`` turns the entry into
        ``domain.delivery.settled_entry(entry, row)``.

        Raises:
            ConflictError: a row names a provider message id another entry
                holds; nothing of this call is written.
            NotFound: a row names an entry the run does not have; nothing of
                this call is written.
        """
        if type(rows) is AcceptedRows and (
            self._settle_block(run_id, rows) or self._settle_accepted(run_id, rows)
        ):
            return
        batch = tuple(rows)
        if not batch:
            return
        tables = self.tables
        provider_ids = tables.provider_ids
        run = tables.ledger_by_run.get(run_id) or _EMPTY
        action_id: str | None = None
        full, compact, pending = NO_ROWS
        olds: list[Stored] = []
        remember = olds.append
        self.journal.undo.append(functools.partial(_undo_outcomes, tables, run, batch, olds))
        for row in batch:
            row_action, profile_id, state, attempts, provider_id, error, next_at = row
            if row_action != action_id:
                action_id = row_action
                full, compact, pending = run.found(action_id)
            try:
                old: Stored | None = compact[profile_id]
            except KeyError:
                old = None
            member = None  # a PENDING block's member: what it stands for is its row
            if type(old) is Block and old.provider_ids is None:
                member, old = old, old.row(profile_id)  # undo puts the row back
                member.intact = False  # never settled in bulk again
            if (
                type(old) is tuple
                and len(old) == 3
                and next_at is None
                and (state is _SENT or state is _FAILED)
            ):  # a fresh intent settled SENT or FAILED: it stays compact
                message, due_at, timezone = old
                settled: Settled = (  # see runledger.Settled
                    run_id,
                    row_action,
                    profile_id,
                    message.campaign_id,
                    message.channel,
                    message.address,
                    due_at,
                    timezone,
                    state,
                    attempts,
                    provider_id,
                    error,
                )
                if provider_id is not None:
                    holder = provider_ids.setdefault(provider_id, settled)  # checks and claims
                    if holder is not settled and _holder(holder, provider_id) != settled[:3]:
                        _undo_outcomes(tables, run, batch, olds)
                        olds.clear()
                        raise _taken(provider_id)
                compact[profile_id] = settled
                if member is None:  # (a block's members are not in the map)
                    del pending[profile_id]
                else:
                    run.left(member)
            else:
                if old is None:
                    old = full.get(profile_id)
                    if old is None:
                        _undo_outcomes(tables, run, batch, olds)
                        olds.clear()
                        raise NotFound("ledger entry", f"{run_id}/{row_action}/{profile_id}")
                pair = (row_action, profile_id)
                new = settled_entry(run.full(pair, old), row)  # before any claim: it may raise
                if provider_id is not None:
                    key = (run_id, row_action, profile_id)
                    holder = provider_ids.setdefault(provider_id, key)
                    if holder is not key and _holder(holder, provider_id) != key:
                        _undo_outcomes(tables, run, batch, olds)
                        olds.clear()
                        raise _taken(provider_id)
                _replace(tables, run, pair, new, old if member is None else member)
            remember(old)

    def _settle_block(self, run_id: str, rows: AcceptedRows) -> bool:
        """:meth:`settle` of exactly an intact PENDING block, all accepted; False if not that.

        The rows must name the block's members in its order, each with a new,
        distinct provider id: then every row would take :meth:`settle`'s fast
        case, and the block, settled, stands for the rows it would write. Each id
        is claimed by the block itself. Anything else returns False before any
        write.
        """
        profile_ids, provider_ids = rows.profile_ids, rows.provider_ids
        count = len(profile_ids)
        run = self.tables.ledger_by_run.get(run_id)
        if not count or run is None:
            return False
        _, compact, _ = run.found(rows.action_ids[0])
        block = compact.get(profile_ids[0])
        if (
            type(block) is not Block
            or not block.intact
            or block.provider_ids is not None
            or block.run_id != run_id
            or rows.action_ids.count(block.action_id) != count
            or block.profile_ids != tuple(profile_ids)
        ):
            return False
        index = self.tables.provider_ids
        held = len(index)
        try:  # each id checked and claimed in one step (a held id keeps its holder)
            deque(map(index.setdefault, provider_ids, repeat(cast("Any", block))), maxlen=0)  # type: ignore[arg-type]
            exact = (
                len(index) == held + count and None not in index
            )  # else an id held, twice, or None
        except BaseException:  # cut short (memory): put back what was claimed
            _unclaim(index, provider_ids, block)
            raise
        if not exact:
            _unclaim(index, provider_ids, block)
            return False
        messages = block.settled(tuple(cast("Sequence[str]", provider_ids)))
        blocks = run.blocks.setdefault(block.action_id, {})
        blocks.pop(block, None)  # its members are no longer PENDING
        self.journal.undo.append(functools.partial(_unsettle_block, index, blocks, block, messages))
        return True

    def _settle_accepted(self, run_id: str, rows: AcceptedRows) -> bool:
        """:meth:`settle` of one action's fresh intents, all accepted, in bulk; False if not that.

        The rows must name one action, distinct profiles, each held as a fresh
        compact intent, and distinct provider ids nobody holds: then every row
        would take :meth:`settle`'s fast case, and the settled tuples, provider
        id claims and PENDING removals are made in C loops. Anything else
        returns False before any write, for :meth:`settle` to do row by row
        (and raise what it raises).
        """
        action_ids, profile_ids, provider_ids = rows.action_ids, rows.profile_ids, rows.provider_ids
        count = len(profile_ids)
        run = self.tables.ledger_by_run.get(run_id)
        if not count or run is None or action_ids.count(action_ids[0]) != count:
            return False
        action_id = action_ids[0]
        _, compact, pending = run.found(action_id)
        try:
            olds: list[Any] = list(map(compact.__getitem__, profile_ids))
            due = olds[0][1]
            dues: Iterator[Any] = map(_second, olds)
            instants = run.instants
            fresh_slot = not instants or instants[-1] is not due
            if due is not None and sum(map(operator.is_, map(_second, olds), repeat(due))) == count:
                # one due time for the batch (a run due at once): the rows name its slot, so
                # they hold no DateTime (see runledger.Settled)
                dues = repeat(len(instants) if fresh_slot else len(instants) - 1)
            settled = {  # unpacking a settled row raises: only fresh intents pass
                profile_id: (
                    run_id,
                    action_id,
                    profile_id,
                    message.campaign_id,
                    message.channel._value_,
                    message.address,
                    at,
                    timezone,
                    provider_id,
                )  # a runledger.Sent row
                for profile_id, (message, _, timezone), provider_id, at in zip(
                    profile_ids, olds, provider_ids, dues, strict=False
                )
            }
        except (KeyError, ValueError, TypeError):  # TypeError: a Block (see _settle_block)
            return False
        index = self.tables.provider_ids
        if len(settled) != count or not index.keys().isdisjoint(provider_ids):
            return False  # a profile twice, or an id held by another (a fresh one holds none)
        if fresh_slot and due is not None:
            instants.append(due)  # (a unit rolled back leaves it: no row names it then)
        self.journal.undo.append(functools.partial(_undo_outcomes, self.tables, run, rows, olds))
        held = len(index)
        try:
            # each settled row starts with its key: it is its provider id's holder
            index.update(zip(cast("Sequence[str]", provider_ids), settled.values(), strict=True))
            compact.update(cast("dict[str, Compact]", settled))
            if len(pending) == count:  # each fresh intent is PENDING: these are all of them
                pending.clear()
            else:
                deque(map(pending.__delitem__, settled), maxlen=0)
            exact = len(index) == held + count and None not in index  # else an id twice, or None
        except BaseException:  # cut short (memory): put back what was written
            self._unsettle(compact, pending, profile_ids, olds, provider_ids)
            raise
        if not exact:
            self._unsettle(compact, pending, profile_ids, olds, provider_ids)
            return False
        return True

    def _unsettle(
        self,
        compact: dict[str, Compact],
        pending: dict[str, LedgerEntry | PendingRow],
        profile_ids: Sequence[str],
        olds: list[Stored],
        provider_ids: Sequence[str | None],
    ) -> None:
        """Undo :meth:`_settle_accepted`'s writes (none of the ids was held before)."""
        index = self.tables.provider_ids
        for profile_id, old, provider_id in zip(profile_ids, olds, provider_ids, strict=True):
            compact[profile_id] = pending[profile_id] = old  # type: ignore[assignment]
            index.pop(provider_id, None)  # type: ignore[arg-type]
        olds.clear()  # the journal's step has nothing left to undo

    def _run(self, run_id: str) -> RunLedger:
        return self.tables.ledger_by_run.get(run_id) or _EMPTY

    def recorded(self, run_id: str, profile_ids: Sequence[str]) -> set[tuple[str, str]]:
        """Pairs of ``run_id`` already in the ledger for these profiles."""
        return self._run(run_id).recorded(profile_ids)

    def open_entries(self, run_id: str, limit: int) -> Sequence[LedgerEntry]:
        """PENDING, QUEUED or RETRY entries of a run."""
        return self._run(run_id).first_open(limit)

    def pending(self, run_id: str, limit: int) -> Sequence[LedgerEntry]:
        """PENDING entries of a run."""
        return self._run(run_id).first_pending(limit)

    def due(self, run_id: str, until: pendulum.DateTime, limit: int) -> Sequence[LedgerEntry]:
        """QUEUED or RETRY entries due by ``until``, earliest first."""
        return self._run(run_id).due(until, limit)

    def next_due_at(self, run_id: str) -> pendulum.DateTime | None:
        """When the earliest QUEUED or RETRY entry is due."""
        return self._run(run_id).next_due_at()

    def by_provider_id(self, provider_message_id: str) -> LedgerEntry | None:
        """The entry with this provider message id."""
        key = _holder(self.tables.provider_ids.get(provider_message_id), provider_message_id)
        return None if key is None else self._run(key[0]).entry((key[1], key[2]))

    def entries(self, run_id: str) -> Iterator[LedgerEntry]:
        """Every entry of a run."""
        return iter(sorted(self._run(run_id).all(), key=lambda e: e.key))

    def scan(self, run_id: str, batch_size: int) -> Iterator[Sequence[LedgerEntry]]:
        """Every entry of a run by key, in batches (a snapshot taken at the start)."""
        entries = sorted(self._run(run_id).all(), key=lambda e: (e.profile_id, e.action_id))
        return batches(entries, batch_size)
