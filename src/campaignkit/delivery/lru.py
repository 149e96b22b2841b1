"""A small thread-safe LRU cache bounded by entries and by total weight (characters)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["WeightedLRU"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class WeightedLRU(Generic[K, V]):
    """At most ``max_entries`` values weighing ``max_weight`` together; least recently used out.

    A value heavier than ``max_weight`` alone is computed and returned, never
    kept. Computing happens outside the lock: two threads missing the same key
    at once both compute, and the first result stays (values must be
    immutable, so either is as good). An exception is never cached.

    Args:
        max_entries: The most values kept.
        max_weight: The most total weight kept.
    """

    __slots__ = ("_entries", "_lock", "_weight", "max_entries", "max_weight")

    def __init__(self, max_entries: int, max_weight: int) -> None:
        if max_entries < 1 or max_weight < 1:
            raise ValueError(
                f"max_entries and max_weight must be at least 1, not {max_entries} and {max_weight}"
            )
        self.max_entries = max_entries
        self.max_weight = max_weight
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K, weight: int, compute: Callable[[], V]) -> V:
        """The value kept for ``key``, or ``compute()`` (kept when it fits).

        Args:
            key: What the value is kept under.
            weight: The value's weight (for example the characters of its source).
            compute: Makes the value on a miss; what it raises propagates.
        """
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found[0]
        value = compute()
        if weight > self.max_weight:
            return value
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                return found[0]
            self._entries[key] = (value, weight)
            self._weight += weight
            while len(self._entries) > self.max_entries or self._weight > self.max_weight:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._weight -= dropped
        return value

    def clear(self) -> None:
        """Forget every value."""
        with self._lock:
            self._entries.clear()
            self._weight = 0
