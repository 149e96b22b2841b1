"""Fixtures of the boundary property tests: the two kits, seeded identically, alive for a whole
test module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import campaignkit as ck
from campaignkit.testing import ManualClock, SequentialIds
from tests.unit.boundary_properties.support import T0, Side, seed, snapshot


@pytest.fixture(scope="module")
def sides(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Side, Side]]:
    """The in-memory kit and the SQLite-file kit, seeded alike."""
    memory_clock, file_clock = ManualClock(T0), ManualClock(T0)
    memory = ck.CampaignKit.in_memory(clock=memory_clock, ids=SequentialIds())
    path = Path(tmp_path_factory.mktemp("boundary")) / "kit.db"
    on_file = ck.CampaignKit.sqlite(path, clock=file_clock, ids=SequentialIds())
    pair = (seed("memory", memory, memory_clock), seed("sqlite", on_file, file_clock))
    assert pair[0].ids == pair[1].ids
    assert snapshot(pair[0]) == snapshot(pair[1])
    yield pair
    on_file.close()
