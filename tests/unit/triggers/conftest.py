"""Fixtures of the API-triggered campaign tests: an env per store backend, and one on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from tests.unit.triggers.support import Env, Kind, open_env


@pytest.fixture(params=["memory", "sqlite"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    world = open_env(cast("Kind", request.param), tmp_path)
    yield world
    world.kit.close()


@pytest.fixture
def sqlite_env(tmp_path: Path) -> Iterator[Env]:
    world = open_env("sqlite", tmp_path)
    yield world
    world.kit.close()
