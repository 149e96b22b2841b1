"""Fixtures of the scheduling tests: envs on each store backend, and one env."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.scheduling_engine.support import Env, Envs


@pytest.fixture(params=["memory", "sqlite"])
def envs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Envs]:
    """An Env builder on the in-memory store and on a SQLite file."""
    builder = Envs(str(request.param), tmp_path)
    yield builder
    builder.close()


@pytest.fixture
def env(envs: Envs) -> Env:
    """A default Env on each backend."""
    return envs()
