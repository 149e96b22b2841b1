"""Committed state of the in-memory store, its sorted indexes and the undo journal."""

from __future__ import annotations

import bisect
import heapq
import itertools
from collections.abc import Callable, Iterator, Sequence

import pendulum

from campaignkit.domain.access import AccessAuditEntry, Principal
from campaignkit.domain.approval import ApprovalPolicy
from campaignkit.domain.campaign import Campaign
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import FeedbackRecord, LedgerEntry, LedgerState, Run
from campaignkit.domain.rules import RuleBook
from campaignkit.domain.surface import ChannelSurface
from campaignkit.domain.triggers import ExecutionRecord
from campaignkit.permissions import ProductProfile

Key = tuple[pendulum.DateTime, str]
Pair = tuple[str, str]
"""``(action_id, profile_id)``: an entry's key within its run."""


class SortedKeys:
    """A sorted list of ``(instant, id)`` keys with O(log n) search."""

    def __init__(self) -> None:
        self._keys: list[Key] = []

    def add(self, key: Key) -> None:
        """Insert ``key`` in order."""
        bisect.insort(self._keys, key)

    def discard(self, key: Key) -> None:
        """Remove ``key`` if present."""
        i = bisect.bisect_left(self._keys, key)
        if i < len(self._keys) and self._keys[i] == key:
            del self._keys[i]

    def upto(self, key: Key) -> list[Key]:
        """Keys ``<= key``, ascending."""
        return self._keys[: bisect.bisect_right(self._keys, key)]

    def below_desc(self, key: Key | None) -> Iterator[Key]:
        """Keys ``< key`` (all when None), descending."""
        end = len(self._keys) if key is None else bisect.bisect_left(self._keys, key)
        for i in range(end - 1, -1, -1):
            yield self._keys[i]

    def first(self) -> Key | None:
        """The smallest key, or None."""
        return self._keys[0] if self._keys else None


_WAITING = (LedgerState.QUEUED, LedgerState.RETRY)


class RunLedger:
    """The ledger entries of one run, indexed so that no query scans the run.

    Besides every entry by ``(action_id, profile_id)``, it keeps the PENDING
    entries, the waiting (QUEUED or RETRY) entries, a heap of the waiting
    entries' ``(next_attempt_at, action_id, profile_id)`` and how many entries
    each action has. The heap is lazy: an item whose entry has since left the
    waiting states or moved to another instant is dropped when it reaches the
    top, and the heap is rebuilt when stale items outnumber live ones. The
    invariant every :meth:`place` keeps (undo included): each waiting entry
    with a ``next_attempt_at`` has at least one heap item at that instant.
    A run's batch therefore costs the same whether the run holds a thousand
    entries or a million.
    """

    def __init__(self) -> None:
        self.entries: dict[Pair, LedgerEntry] = {}
        self.pending: dict[Pair, LedgerEntry] = {}
        self.waiting: dict[Pair, LedgerEntry] = {}
        self.actions: dict[str, int] = {}
        self._heap: list[tuple[pendulum.DateTime, str, str]] = []

    def place(self, pair: Pair, new: LedgerEntry | None, old: LedgerEntry | None) -> None:
        """Replace ``old`` by ``new`` under ``pair`` (either may be None) in every index."""
        if old is not None:
            if old.state is LedgerState.PENDING:
                del self.pending[pair]
            elif old.state in _WAITING:
                del self.waiting[pair]
        if new is None:  # an insert undone
            del self.entries[pair]
            self._count(pair[0], -1)
            return
        if old is None:
            self._count(pair[0], 1)
        self.entries[pair] = new
        if new.state is LedgerState.PENDING:
            self.pending[pair] = new
        elif new.state in _WAITING:
            self.waiting[pair] = new
            at = new.next_attempt_at
            already = old is not None and old.state in _WAITING and old.next_attempt_at == at
            if at is not None and not already:
                self._push(at, pair)

    def _count(self, action_id: str, step: int) -> None:
        left = self.actions.get(action_id, 0) + step
        if left:
            self.actions[action_id] = left
        else:
            del self.actions[action_id]

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

    def recorded(self, profile_ids: Sequence[str]) -> set[Pair]:
        """The pairs held for these profiles (cost: profiles x actions of the run)."""
        entries = self.entries
        return {
            (action_id, profile_id)
            for profile_id in set(profile_ids)
            for action_id in self.actions
            if (action_id, profile_id) in entries
        }

    def first_pending(self, limit: int) -> list[LedgerEntry]:
        """Up to ``limit`` PENDING entries in pair order."""
        return [self.pending[pair] for pair in heapq.nsmallest(limit, self.pending)]

    def first_open(self, limit: int) -> list[LedgerEntry]:
        """Up to ``limit`` PENDING, QUEUED or RETRY entries in pair order."""
        pairs = heapq.nsmallest(limit, itertools.chain(self.pending, self.waiting))
        return [self.pending.get(pair) or self.waiting[pair] for pair in pairs]

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


class Tables:
    """Committed state and its indexes."""

    def __init__(self) -> None:
        self.campaigns: dict[str, Campaign] = {}
        self.by_due = SortedKeys()
        self.by_created = SortedKeys()
        self.surfaces: dict[str, ChannelSurface] = {}
        self.access: dict[Principal, frozenset[ProductProfile]] = {}
        self.memberships: set[tuple[str, str]] = set()  # (group, user)
        self.access_log: list[AccessAuditEntry] = []
        self.policies: dict[str, ApprovalPolicy] = {}
        self.runs: dict[str, Run] = {}
        self.runs_by_due = SortedKeys()
        self.ledger: dict[tuple[str, str, str], LedgerEntry] = {}
        self.ledger_by_run: dict[str, RunLedger] = {}
        self.provider_ids: dict[str, tuple[str, str, str]] = {}
        self.feedback: list[FeedbackRecord] = []
        self.suppressions: set[tuple[ChannelType, str]] = set()
        self.static_audiences: dict[str, tuple[str, ...]] = {}
        self.executions: dict[str, ExecutionRecord] = {}
        self.executions_by_request: dict[tuple[str, str], str] = {}
        """(campaign id, request id) -> execution id: a trigger's idempotency look-up
        costs the same whatever the history (it was a scan of every execution)."""
        self.contacts: dict[ChannelType, dict[str, list[pendulum.DateTime]]] = {}
        """Send instants per channel and profile (frequency caps)."""
        self.contact_keys: dict[str, tuple[ChannelType, str, pendulum.DateTime]] = {}
        """Keyed contacts: message key -> (channel, profile id, instant)."""
        self.rules = RuleBook()

    def put_campaign(self, campaign: Campaign | None, previous: Campaign | None) -> None:
        """Replace ``previous`` by ``campaign`` (either may be None) and update indexes.

        An index is only touched when its key changes, so a save that keeps
        the due instant costs no index work.
        """
        move(self.by_due, _due_key(previous), _due_key(campaign))
        move(self.by_created, _created_key(previous), _created_key(campaign))
        if campaign is not None:
            self.campaigns[campaign.id] = campaign
        elif previous is not None:
            del self.campaigns[previous.id]


def _due_key(campaign: Campaign | None) -> Key | None:
    return None if campaign is None or campaign.due_at is None else (campaign.due_at, campaign.id)


def _created_key(campaign: Campaign | None) -> Key | None:
    return None if campaign is None else (campaign.created_at, campaign.id)


def move(index: SortedKeys, old: Key | None, new: Key | None) -> None:
    """Replace key ``old`` by ``new`` in ``index`` (either may be None)."""
    if old == new:
        return
    if old is not None:
        index.discard(old)
    if new is not None:
        index.add(new)


class Journal:
    """Undo log of one unit of work."""

    def __init__(self) -> None:
        self.undo: list[Callable[[], None]] = []

    def rollback(self) -> None:
        """Undo every write of the unit, newest first."""
        while self.undo:
            self.undo.pop()()
