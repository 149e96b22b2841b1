"""Fixtures of the delivery tests: a world per store backend, and one in memory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.delivery.support import BACKENDS, Worlds


@pytest.fixture(params=BACKENDS)
def worlds(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Worlds]:
    """A world builder on each backend."""
    builder = Worlds(str(request.param), tmp_path)
    yield builder
    builder.close()


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[Worlds]:
    """A world builder on the in-memory store only."""
    builder = Worlds("memory", tmp_path)
    yield builder
    builder.close()
