"""Fixtures of the authoring boundary tests: an env per store backend, and both envs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.boundary_authoring.support import Env, make_env, open_kit


@pytest.fixture(params=["memory", "sqlite"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    """The same world on the in-memory store and on a SQLite file."""
    kit = open_kit(str(request.param), tmp_path)
    yield make_env(kit)
    kit.close()


@pytest.fixture
def both(tmp_path: Path) -> Iterator[tuple[Env, Env]]:
    """The same world on both stores, side by side."""
    memory, sqlite = open_kit("memory", tmp_path), open_kit("sqlite", tmp_path)
    yield make_env(memory), make_env(sqlite)
    memory.close()
    sqlite.close()
