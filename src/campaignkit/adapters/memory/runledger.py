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
from typing import TypeAlias, cast

import pendulum

from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import (
    LedgerEntry,
    LedgerState,
    Message,
    PendingRow,
    pending_entry,
)
from campaignkit.domain.ledger_rows import PendingRows

Pair: TypeAlias = tuple[str, str]
"""``(action_id, profile_id)``: an entry's key within its run."""

Settled: TypeAlias = tuple[
    str,
    str,
    str,
    str,
    "ChannelType | str",
    "str | None",
    "pendulum.DateTime | int | None",
    "str | None",
    "LedgerState | str",
    int,
    "str | None",
    "str | None",
]
"""A PENDING row settled SENT or FAILED: ``(run_id, action_id, profile_id,
campaign_id, channel, address, due_at, timezone, state, attempts,
provider_message_id, error)``.

It starts with the entry's key, so the provider-id index names it as its
holder (``(run_id, action_id, profile_id, ...)``: one tuple per settled entry,
not two). A bulk settle writes the channel and state as their values and the
due time as its slot in :attr:`RunLedger.instants`, so the tuple holds only
text, numbers and None: the cyclic collector untracks it at its first pass
instead of walking it at every collection of the run. :meth:`RunLedger.full`
reads either form."""

Sent: TypeAlias = tuple[
    str,
    str,
    str,
    str,
    str,
    "str | None",
    "pendulum.DateTime | int | None",
    "str | None",
    "str | None",
]
"""A row a bulk settle wrote SENT on the first attempt without error: ``(run_id,
action_id, profile_id, campaign_id, channel, address, due_at, timezone,
provider_message_id)``, the channel as its value and the due time as its slot.
Three items fewer than :data:`Settled` for the collector to walk once."""


class Block:
    """The entries one ``add_pending`` of :class:`PendingRows` wrote: one object for the batch.

    Each member's profile id maps to the block in its action's maps (compact,
    and PENDING while it is), instead of a row per recipient. While
    :attr:`provider_ids` is None every member is PENDING with its message;
    once a bulk ``settle`` has accepted the whole batch, every member is SENT on
    its first attempt without error, holding its provider id and address (the
    messages dropped, as ``settled_entry`` drops them). Each provider id's
    holder in the index is then the block itself (see :meth:`holder`).

    A member written any other way (a ``put``, a row-by-row ``settle``, an
    ``add_pending`` of its key) leaves the block: the action's maps then hold
    its own value, and the block is no longer :attr:`intact`, so it is never
    settled in bulk again. Positions are looked up through maps made only when
    a member is read alone (reports, resumes, feedback).

    Args:
        rows: The batch, every message naming one run, campaign, action and channel.
    """

    __slots__ = (
        "_at",
        "_by_provider",
        "action_id",
        "addresses",
        "campaign_id",
        "channel",
        "due_at",
        "held",
        "intact",
        "messages",
        "profile_ids",
        "provider_ids",
        "run_id",
        "zones",
    )

    def __init__(self, rows: PendingRows) -> None:
        messages = rows.messages
        first = messages[0]
        self.run_id, self.action_id = first.run_id, first.action_id
        self.campaign_id, self.channel = first.campaign_id, first.channel
        self.due_at = rows.due_at
        self.zones = rows.zones
        self.profile_ids: tuple[str, ...] = tuple(messages.profile_ids)
        self.messages: list[Message] | None = list(messages)
        """Each member's message while PENDING (None once settled)."""
        self.addresses: list[str] | None = None
        self.provider_ids: tuple[str, ...] | None = None
        """Each member's provider id once settled SENT in bulk (None: PENDING)."""
        self.intact = True
        """False once a member was written alone (the block is then never settled in bulk)."""
        self.held = len(self.profile_ids)
        """How many members the action's maps still hold as this block."""
        self._at: dict[str, int] | None = None
        self._by_provider: dict[str, int] | None = None

    def index(self, profile_id: str) -> int:
        """The position of a member."""
        at = self._at
        if at is None:
            at = self._at = dict(zip(self.profile_ids, range(len(self.profile_ids)), strict=True))
        return at[profile_id]

    def row(self, profile_id: str) -> PendingRow:
        """A PENDING member's row ``(message, due_at, timezone)``."""
        i = self.index(profile_id)
        assert self.messages is not None, "a settled block has no PENDING rows"
        return (self.messages[i], self.due_at, self.zones.get(i))

    def entry(self, profile_id: str) -> LedgerEntry:
        """The ``LedgerEntry`` a member stands for."""
        if self.provider_ids is None:
            return pending_entry(self.row(profile_id))
        i = self.index(profile_id)
        assert self.addresses is not None
        return LedgerEntry(
            run_id=self.run_id,
            action_id=self.action_id,
            profile_id=profile_id,
            campaign_id=self.campaign_id,
            channel=self.channel,
            state=LedgerState.SENT,
            attempts=1,
            provider_message_id=self.provider_ids[i],
            address=self.addresses[i],
            due_at=self.due_at,
            timezone=self.zones.get(i),
        )

    def provider_id(self, profile_id: str) -> str | None:
        """A member's provider id (None while PENDING)."""
        if self.provider_ids is None:
            return None
        return self.provider_ids[self.index(profile_id)]

    def holder(self, provider_id: str) -> tuple[str, str, str]:
        """The key ``(run_id, action_id, profile_id)`` of the member holding ``provider_id``."""
        by_provider = self._by_provider
        if by_provider is None:
            assert self.provider_ids is not None, "a PENDING block holds no provider id"
            by_provider = self._by_provider = dict(
                zip(self.provider_ids, range(len(self.provider_ids)), strict=True)
            )
        return (self.run_id, self.action_id, self.profile_ids[by_provider[provider_id]])

    def settled(self, provider_ids: tuple[str, ...]) -> list[Message]:
        """Settle every member SENT with its provider id; the messages, to undo it with."""
        messages = self.messages
        assert messages is not None, "a block is settled once"
        self.addresses = [message.address for message in messages]
        self.provider_ids = provider_ids
        self.messages = None
        return messages

    def unsettled(self, messages: list[Message]) -> None:
        """Undo :meth:`settled`: every member PENDING again with its message."""
        self.messages = messages
        self.addresses = self.provider_ids = None
        self._by_provider = None


Compact: TypeAlias = PendingRow | Settled | Sent | Block
"""An entry held in compact form: a 3-tuple is PENDING, a 12-tuple :data:`Settled`,
a 9-tuple :data:`Sent`, a :class:`Block` stands for its members."""

Stored: TypeAlias = LedgerEntry | Compact
"""What the ledger holds for a pair."""

_PENDING = LedgerState.PENDING
_WAITING = (LedgerState.QUEUED, LedgerState.RETRY)


def provider_id_of(stored: Stored | None, profile_id: str) -> str | None:
    """The provider message id a stored value holds for ``profile_id``, if any."""
    if stored is None:
        return None
    if isinstance(stored, LedgerEntry):
        return stored.provider_message_id
    if isinstance(stored, Block):
        return stored.provider_id(profile_id)
    size = len(stored)
    if size == 3:
        return None
    return stored[8] if size == 9 else stored[10]  # type: ignore[misc]


Rows: TypeAlias = tuple[
    "dict[str, LedgerEntry]", "dict[str, Compact]", "dict[str, LedgerEntry | PendingRow]"
]
"""One action's maps by profile id: its full entries, its compact ones, its PENDING ones."""

NO_ROWS: Rows = ({}, {}, {})
"""What an action without maps reads (never written: writes go through :meth:`RunLedger.rows`)."""


class RunLedger:
    """The ledger entries of one run, indexed so that no query scans the run.

    Entries are held per action, keyed by profile id (no pair tuples on the
    hot path): ``entries[action_id]`` the ones kept in full, ``compact[action_id]``
    those kept in compact form (see the module), ``pending[action_id]`` the
    PENDING ones (in either form). An action has all three maps or none, so
    ``pending`` also names every action. ``waiting`` holds the QUEUED or RETRY
    entries by pair, with a heap of their ``(next_attempt_at, action_id,
    profile_id)``. The heap is lazy: an item whose entry has since left the
    waiting states or moved to another instant is dropped when it reaches
    the top, and the heap is rebuilt when stale items outnumber live ones.
    The invariant every :meth:`place` keeps (undo included): each waiting
    entry with a ``next_attempt_at`` has at least one heap item at that
    instant. A run's batch therefore costs the same whether the run holds a
    thousand entries or a million.

    Args:
        run_id: The run (compact entries are rebuilt with it).
    """

    def __init__(self, run_id: str = "") -> None:
        self.run_id = run_id
        # by action, then by profile id; read them through found() or rows()
        self.entries: dict[str, dict[str, LedgerEntry]] = {}
        self.compact: dict[str, dict[str, Compact]] = {}
        self.pending: dict[str, dict[str, LedgerEntry | PendingRow]] = {}
        self.blocks: dict[str, dict[Block, None]] = {}
        """Per action, the blocks not settled that hold a member: their members are PENDING
        (and not in ``pending``)."""
        self.waiting: dict[Pair, LedgerEntry] = {}
        self._heap: list[tuple[pendulum.DateTime, str, str]] = []
        self.instants: list[pendulum.DateTime] = []
        """Due times settled rows name by their slot (see :data:`Settled`), each kept once."""

    @property
    def actions(self) -> dict[str, int]:
        """How many entries each action has."""
        maps = {action_id: self.found(action_id) for action_id in self.pending}
        return {
            a: len(full) + len(compact) for a, (full, compact, _) in maps.items() if full or compact
        }

    def rows(self, action_id: str) -> Rows:
        """The maps of ``action_id`` (full, compact, PENDING), made on first use."""
        compact = self.compact.get(action_id)
        if compact is None:
            made: Rows = ({}, {}, {})
            self.entries[action_id], self.compact[action_id], self.pending[action_id] = made
            return made
        return self.entries[action_id], compact, self.pending[action_id]

    def found(self, action_id: str) -> Rows:
        """The maps of ``action_id``, or empty ones not to be written (reads create nothing)."""
        compact = self.compact.get(action_id)
        if compact is None:
            return NO_ROWS
        return self.entries[action_id], compact, self.pending[action_id]

    def stored(self, pair: Pair) -> Stored | None:
        """What is held for ``pair``, in its stored form, or None."""
        action_id, profile_id = pair
        full, compact, _ = self.found(action_id)
        found = compact.get(profile_id)
        return found if found is not None else full.get(profile_id)

    def entry(self, pair: Pair) -> LedgerEntry | None:
        """The entry of ``pair``, or None."""
        found = self.stored(pair)
        return None if found is None else self.full(pair, found)

    def full(self, pair: Pair, stored: Stored) -> LedgerEntry:
        """The ``LedgerEntry`` a stored value stands for."""
        if isinstance(stored, LedgerEntry):
            return stored
        if isinstance(stored, Block):
            return stored.entry(pair[1])
        if len(stored) == 3:
            return pending_entry(stored)
        if len(stored) == 9:  # SENT on the first attempt, without error (see Sent)
            sent = cast("Sent", stored)
            _, _, _, campaign_id, channel, address, due_at, timezone, provider_id = sent
            state: LedgerState | str = LedgerState.SENT
            attempts, error = 1, None
        else:
            (
                _,
                _,
                _,
                campaign_id,
                channel,
                address,
                due_at,
                timezone,
                state,
                attempts,
                provider_id,
                error,
            ) = cast("Settled", stored)
        due = self.instants[due_at] if type(due_at) is int else due_at
        return LedgerEntry(
            run_id=self.run_id,
            action_id=pair[0],
            profile_id=pair[1],
            campaign_id=campaign_id,
            channel=ChannelType(channel),
            state=LedgerState(state),
            attempts=attempts,
            provider_message_id=provider_id,
            address=address,
            due_at=due,  # type: ignore[arg-type]  # an int is a slot, read above
            timezone=timezone,
            error=error,
        )

    def all(self) -> Iterator[LedgerEntry]:
        """Every entry of the run, in no particular order."""
        for action_id in self.pending:
            full, compact, _ = self.found(action_id)
            yield from full.values()
            for profile_id, stored in compact.items():
                yield self.full((action_id, profile_id), stored)

    def place(self, pair: Pair, new: Stored | None, old: Stored | None) -> None:
        """Replace ``old`` by ``new`` under ``pair`` (either may be None) in every index.

        ``old`` must be what is held for ``pair`` (None if nothing is).
        """
        profile_id = pair[1]
        full, compact, pending = self.rows(pair[0])
        if old is not None:
            if isinstance(old, LedgerEntry):
                if old.state is _PENDING:
                    del pending[profile_id]
                elif old.state in _WAITING:
                    del self.waiting[pair]
                if not isinstance(new, LedgerEntry):
                    del full[profile_id]
            else:
                if isinstance(old, Block):
                    self.left(old)
                elif len(old) == 3:
                    del pending[profile_id]
                if new is None or isinstance(new, LedgerEntry):
                    del compact[profile_id]
        if new is None:  # an insert undone
            return
        if not isinstance(new, LedgerEntry):
            compact[profile_id] = new
            if isinstance(new, Block):  # a member back (an undo): its block is listed
                new.held += 1
                if new.provider_ids is None:
                    self.blocks.setdefault(pair[0], {})[new] = None
            elif len(new) == 3:
                pending[profile_id] = new
            return
        full[profile_id] = new
        if new.state is _PENDING:
            pending[profile_id] = new
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
        """The pairs held for these profiles (set intersections: cost O(actions x profiles))."""
        if not self.pending:
            return set()
        # a list as it is: a keys view & a list looks each id up in the map (no set built)
        wanted = profile_ids if type(profile_ids) is list else list(profile_ids)
        found: set[Pair] = set()
        for action_id in self.pending:
            full, compact, _ = self.found(action_id)
            held = compact.keys() & wanted
            if full:
                held |= full.keys() & wanted
            found.update([(action_id, profile_id) for profile_id in held])
        return found

    def left(self, block: Block) -> None:
        """A member of ``block`` was written alone: the block is no longer whole.

        Once none of its members is left, a block not settled is no longer listed
        (nor are its messages kept alive by the list).
        """
        block.intact = False
        block.held -= 1
        if not block.held and block.provider_ids is None:
            self.blocks.get(block.action_id, {}).pop(block, None)

    def pending_of(self, action_id: str) -> dict[str, LedgerEntry | PendingRow | Block]:
        """The PENDING entries of an action by profile id: its map and its blocks' members.

        A listed block holds at least one member (see :meth:`left`).
        """
        pending: dict[str, LedgerEntry | PendingRow | Block] = dict(self.pending[action_id])
        compact = self.compact[action_id]
        for block in self.blocks.get(action_id, ()):
            pending.update({p: block for p in block.profile_ids if compact.get(p) is block})
        return pending

    def first_pending(self, limit: int) -> list[LedgerEntry]:
        """Up to ``limit`` PENDING entries in pair order."""
        found: list[LedgerEntry] = []
        for action_id in sorted(self.pending):
            if len(found) >= limit:
                break
            pending = self.pending_of(action_id)
            for profile_id in heapq.nsmallest(limit - len(found), pending):
                found.append(self.full((action_id, profile_id), pending[profile_id]))
        return found

    def first_open(self, limit: int) -> list[LedgerEntry]:
        """Up to ``limit`` PENDING, QUEUED or RETRY entries in pair order."""
        pending = {action_id: self.pending_of(action_id) for action_id in self.pending}
        firsts = [
            (action_id, profile_id)
            for action_id, open_ in pending.items()
            for profile_id in heapq.nsmallest(limit, open_)
        ]
        found: list[LedgerEntry] = []
        for pair in heapq.nsmallest(limit, itertools.chain(firsts, self.waiting)):
            waiting = self.waiting.get(pair)
            if waiting is None:
                found.append(self.full(pair, pending[pair[0]][pair[1]]))
            else:
                found.append(waiting)
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
