"""Predictable ids for tests and documentation."""

from __future__ import annotations

import itertools
import threading


class SequentialIds:
    """An id factory giving ``cmp_0001``, ``cmp_0002``, ``srf_0001`` ... per prefix.

    Pass it as ``CampaignKit.in_memory(ids=SequentialIds())`` so ids (and the
    order of campaigns created at the same instant) are the same on every run.
    """

    def __init__(self) -> None:
        self._counters: dict[str, itertools.count[int]] = {}
        self._lock = threading.Lock()

    def __call__(self, prefix: str) -> str:
        """Return the next id for ``prefix``."""
        with self._lock:
            counter = self._counters.setdefault(prefix, itertools.count(1))
            return f"{prefix}_{next(counter):04d}"
