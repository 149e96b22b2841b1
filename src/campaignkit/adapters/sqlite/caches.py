"""Decoded-document caches of a SQLite store: each document is decoded once.

Campaigns, surfaces, the rule book and the cold part of runs are read on
every trigger and every run claim, and decoding a document (JSON, then the
cattrs converter) costs far more than the ``SELECT`` that returns it. A
cache here maps a key (an id) to the text last read for it and the value
decoded from that text. A lookup hits only when the text the ``SELECT`` just
returned is the same text: a row changed by another connection, another
process or a rolled-back unit of work is never served stale, since its text
differs. Values are frozen domain objects, so sharing them is safe.

Each cache is bounded (least recently used entries go first) and belongs to
one :class:`~campaignkit.adapters.sqlite.connection.Database`, that is, to
one ``SQLiteStore``: repositories made for each unit of work find their
store's caches through :func:`caches_for`. Units of work of a store are
serialized by its lock, so the caches need no lock of their own.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

from campaignkit.adapters.sqlite.connection import Database
from campaignkit.domain.campaign import Campaign
from campaignkit.domain.delivery import ActionCounts, Run
from campaignkit.domain.rules import RuleBook
from campaignkit.domain.surface import ChannelSurface

T = TypeVar("T")

DEFAULT_LIMIT = 256
"""Entries kept per cache: enough for every live campaign, surface and open run of a worker."""
DEFAULT_MAX_CHARS = 4_000_000
"""Characters of document text kept per cache (a document this long alone is not kept)."""


class DocumentCache(Generic[T]):
    """A bounded LRU map ``key -> (text, decoded value)``, hit only on the same text.

    Bounded twice: by entries and by the characters of their texts (documents
    can be large: a campaign's content, an audience execution's context).

    Args:
        limit: How many entries to keep (at least 1).
        max_chars: How many characters of text to keep in all (at least 1).

    Raises:
        ValueError: ``limit`` or ``max_chars`` is below 1.
    """

    def __init__(self, limit: int = DEFAULT_LIMIT, max_chars: int = DEFAULT_MAX_CHARS) -> None:
        if limit < 1 or max_chars < 1:
            raise ValueError(
                f"limit and max_chars must be at least 1, not {limit!r} and {max_chars!r}"
            )
        self._limit = limit
        self._max_chars = max_chars
        self._chars = 0
        self._entries: OrderedDict[str, tuple[str, T]] = OrderedDict()

    def load(self, key: str, text: str, decode: Callable[[str], T]) -> T:
        """The value of ``text``: cached if ``key`` was last read with this text, else decoded.

        ``decode`` may raise (a document that cannot be loaded); nothing is
        cached then.
        """
        entry = self._entries.get(key)
        if entry is not None and entry[0] == text:
            self._entries.move_to_end(key)
            return entry[1]
        value = decode(text)
        self.put(key, text, value)
        return value

    def put(self, key: str, text: str, value: T) -> None:
        """Remember that ``text`` decodes to ``value`` for ``key`` (unless it alone is too long)."""
        entries = self._entries
        old = entries.pop(key, None)
        if old is not None:
            self._chars -= len(old[0])
        if len(text) > self._max_chars:
            return
        entries[key] = (text, value)
        self._chars += len(text)
        while len(entries) > self._limit or self._chars > self._max_chars:
            _, (dropped, _) = entries.popitem(last=False)
            self._chars -= len(dropped)

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()
        self._chars = 0

    def __len__(self) -> int:
        return len(self._entries)


class StoreCaches:
    """The caches of one store (one ``Database``).

    Attributes:
        campaigns: Campaign documents by campaign id.
        surfaces: Surface documents by surface id.
        rules: The rule book (one key).
        runs: The cold part of runs (as added) by run id.
        counts: Decoded run counts by their column text (the key is the text).
        run_hints: What this store last read or wrote of each run, by run id:
            ``(revision, due_us, counts, counts_text)``. Only a hint for
            ``SQLiteRuns.save`` (which columns it may leave alone); every
            statement it picks re-checks the row, so a stale hint costs a
            statement, never a wrong write.
    """

    HINTS_LIMIT = 4096
    """Run hints kept before they are all forgotten (they are only hints)."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.campaigns: DocumentCache[Campaign] = DocumentCache(limit)
        self.surfaces: DocumentCache[ChannelSurface] = DocumentCache(limit)
        self.rules: DocumentCache[RuleBook] = DocumentCache(1)
        self.runs: DocumentCache[Run] = DocumentCache(limit)
        self.counts: DocumentCache[Mapping[str, ActionCounts]] = DocumentCache(limit)
        self.run_hints: dict[str, tuple[int, int | None, Mapping[str, ActionCounts], str]] = {}

    def clear(self) -> None:
        """Forget everything (after a restore that rewrote the file, for instance)."""
        for cache in (self.campaigns, self.surfaces, self.rules, self.runs, self.counts):
            cache.clear()
        self.run_hints.clear()


_BY_DATABASE: weakref.WeakKeyDictionary[Database, StoreCaches] = weakref.WeakKeyDictionary()


def caches_for(db: Database) -> StoreCaches:
    """The caches of the store whose connection is ``db`` (made on first use)."""
    caches = _BY_DATABASE.get(db)
    if caches is None:
        caches = _BY_DATABASE[db] = StoreCaches()
    return caches
