"""One run's delivery ledger in memory: entries in full or compact form, indexed per state.

The hot path of a fan-out writes each recipient twice: a PENDING intent
(``LedgerRepository.add_pending``) and its outcome (``settle``). Building a
``LedgerEntry`` for each costs more than the rest of the store's work, so
those writes are kept in *compact* form and turned into entries only when
read (reads of a whole run are off the hot path: reports, resumes, tests):

- a :data:`~campaignkit.domain.delivery.PendingRow` ``(message, due_at,
  timezone)`` stands for ``pending_entry(row)``;
- a :data:`Settled` tuple stands for that entry settled SENT or FAILED (the
  message dropped, as ``settled_entry`` drops it).

Everything else (``put``, RETRY outcomes, any entry that is not a fresh
PENDING one) is held as a ``LedgerEntry``. A pair is held in one form only.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator
from typing import TypeAlias

import pendulum

from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import LedgerEntry, LedgerState, PendingRow, pending_entry

Pair: TypeAlias = tuple[str, str]
"""``(action_id, profile_id)``: an entry's key within its run."""

Settled: TypeAlias = tuple[
    str,
    ChannelType,
    "str | None",
    "pendulum.DateTime | None",
    "str | None",
    LedgerState,
    int,
    "str | None",
    "str | None",
]
"""A PENDING row settled SENT or FAILED: ``(campaign_id, channel, address, due_at,
timezone, state, attempts, provider_message_id, error)``."""

Compact: TypeAlias = PendingRow | Settled
"""An entry held in compact form (a 3-tuple is PENDING, a 9-tuple settled)."""

Stored: TypeAlias = LedgerEntry | Compact
"""What the ledger holds for a pair."""

_PENDING = LedgerState.PENDING
_WAITING = (LedgerState.QUEUED, LedgerState.RETRY)


def provider_id_of(stored: Stored | None) -> str | None:
    """The provider message id a stored value holds, if any."""
    if stored is None:
        return None
    if isinstance(stored, LedgerEntry):
        return stored.provider_message_id
    if len(stored) == 3:
        return None
    return stored[7]


class RunLedger:
    """The ledger entries of one run, indexed so that no query scans the run.

    ``entries`` holds the entries kept in full and ``compact`` those kept in
    compact form (see the module); ``pending`` the PENDING ones (in either
    form), ``waiting`` the QUEUED or RETRY ones, ``members`` the profile ids
    each action has entries for, and a heap of the waiting entries'
    ``(next_attempt_at, action_id, profile_id)``. The heap is lazy: an item
    whose entry has since left the waiting states or moved to another
    instant is dropped when it reaches the top, and the heap is rebuilt when
    stale items outnumber live ones. The invariant every :meth:`place` keeps
    (undo included): each waiting entry with a ``next_attempt_at`` has at
    least one heap item at that instant. A run's batch therefore costs the
    same whether the run holds a thousand entries or a million.

    Args:
        run_id: The run (compact entries are rebuilt with it).
    """

    def __init__(self, run_id: str = "") -> None:
        self.run_id = run_id
        self.entries: dict[Pair, LedgerEntry] = {}
        self.compact: dict[Pair, Compact] = {}
        self.pending: dict[Pair, LedgerEntry | PendingRow] = {}
        self.waiting: dict[Pair, LedgerEntry] = {}
        self.members: dict[str, set[str]] = {}
        self._heap: list[tuple[pendulum.DateTime, str, str]] = []

    @property
    def actions(self) -> dict[str, int]:
        """How many entries each action has."""
        return {action_id: len(held) for action_id, held in self.members.items() if held}

    def stored(self, pair: Pair) -> Stored | None:
        """What is held for ``pair``, in its stored form, or None."""
        found = self.entries.get(pair)
        return found if found is not None else self.compact.get(pair)

    def entry(self, pair: Pair) -> LedgerEntry | None:
        """The entry of ``pair``, or None."""
        found = self.stored(pair)
        return None if found is None else self.full(pair, found)

    def full(self, pair: Pair, stored: Stored) -> LedgerEntry:
        """The ``LedgerEntry`` a stored value stands for."""
        if isinstance(stored, LedgerEntry):
            return stored
        if len(stored) == 3:
            return pending_entry(stored)
        campaign_id, channel, address, due_at, timezone, state, attempts, provider_id, error = (
            stored
        )
        return LedgerEntry(
            run_id=self.run_id,
            action_id=pair[0],
            profile_id=pair[1],
            campaign_id=campaign_id,
            channel=channel,
            state=state,
            attempts=attempts,
            provider_message_id=provider_id,
            address=address,
            due_at=due_at,
            timezone=timezone,
            error=error,
        )

    def all(self) -> Iterator[LedgerEntry]:
        """Every entry of the run, in no particular order."""
        yield from self.entries.values()
        for pair, stored in self.compact.items():
            yield self.full(pair, stored)

    def place(self, pair: Pair, new: Stored | None, old: Stored | None) -> None:
        """Replace ``old`` by ``new`` under ``pair`` (either may be None) in every index.

        ``old`` must be what is held for ``pair`` (None if nothing is).
        """
        if old is not None:
            if isinstance(old, LedgerEntry):
                if old.state is _PENDING:
                    del self.pending[pair]
                elif old.state in _WAITING:
                    del self.waiting[pair]
                if not isinstance(new, LedgerEntry):
                    del self.entries[pair]
            else:
                if len(old) == 3:
                    del self.pending[pair]
                if new is None or isinstance(new, LedgerEntry):
                    del self.compact[pair]
        action_id, profile_id = pair
        if new is None:  # an insert undone
            held = self.members[action_id]
            held.discard(profile_id)
            if not held:
                del self.members[action_id]
            return
        if old is None:
            self.members.setdefault(action_id, set()).add(profile_id)
        if not isinstance(new, LedgerEntry):
            self.compact[pair] = new
            if len(new) == 3:
                self.pending[pair] = new
            return
        self.entries[pair] = new
        if new.state is _PENDING:
            self.pending[pair] = new
        elif new.state in _WAITING:
            self.waiting[pair] = new
            at = new.next_attempt_at
            already = (
                isinstance(old, LedgerEntry) and old.state in _WAITING and old.next_attempt_at == at
            )
            if at is not None and not already:
                self._push(at, pair)

    def _push(self, at: pendulum.DateTime, pair: Pair) -> None:
        heap = self._heap
        if len(heap) > 2 * len(self.waiting) + 1024:  # mostly stale: rebuild
            heap[:] = [
                (e.next_attempt_at, *key)
                for key, e in self.waiting.items()
                if e.next_attempt_at is not None and key != pair
            ]
            heapq.heapify(heap)
        heapq.heappush(heap, (at, *pair))

    def _live(self, item: tuple[pendulum.DateTime, str, str]) -> LedgerEntry | None:
        entry = self.waiting.get(item[1:])
        return entry if entry is not None and entry.next_attempt_at == item[0] else None

    def recorded(self, profile_ids: Iterable[str]) -> set[Pair]:
        """The pairs held for these profiles (set intersections: cost O(profiles))."""
        members = self.members
        if not members:
            return set()
        wanted = set(profile_ids)
        return {
            (action_id, profile_id)
            for action_id, held in members.items()
            for profile_id in held.intersection(wanted)
        }

    def first_pending(self, limit: int) -> list[LedgerEntry]:
        """Up to ``limit`` PENDING entries in pair order."""
        pending = self.pending
        return [self.full(pair, pending[pair]) for pair in heapq.nsmallest(limit, pending)]

    def first_open(self, limit: int) -> list[LedgerEntry]:
        """Up to ``limit`` PENDING, QUEUED or RETRY entries in pair order."""
        pairs = heapq.nsmallest(limit, itertools.chain(self.pending, self.waiting))
        found: list[LedgerEntry] = []
        for pair in pairs:
            pending = self.pending.get(pair)
            found.append(self.waiting[pair] if pending is None else self.full(pair, pending))
        return found

    def due(self, until: pendulum.DateTime, limit: int) -> list[LedgerEntry]:
        """Up to ``limit`` waiting entries due by ``until``, by (instant, pair).

        Stale and duplicate heap items met on the way are dropped for good;
        the live ones taken are pushed back, so the heap is unchanged for them.
        """
        heap = self._heap
        found: list[LedgerEntry] = []
        taken: list[tuple[pendulum.DateTime, str, str]] = []
        seen: set[Pair] = set()
        while heap and len(found) < limit and heap[0][0] <= until:
            item = heapq.heappop(heap)
            entry = self._live(item)
            if entry is None or item[1:] in seen:
                continue
            seen.add(item[1:])
            found.append(entry)
            taken.append(item)
        for item in taken:
            heapq.heappush(heap, item)
        return found

    def next_due_at(self) -> pendulum.DateTime | None:
        """The earliest ``next_attempt_at`` of a waiting entry (drops stale items on top)."""
        heap = self._heap
        while heap:
            if self._live(heap[0]) is not None:
                return heap[0][0]
            heapq.heappop(heap)
        return None
