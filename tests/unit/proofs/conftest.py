"""Fixtures of the proof tests: environments per store backend, and one environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.proofs.support import Env, Envs


@pytest.fixture(params=["memory", "sqlite"])
def envs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Envs]:
    builder = Envs(str(request.param), tmp_path)
    yield builder
    builder.close()


@pytest.fixture
def env(envs: Envs) -> Env:
    return envs()
