"""Fixtures of the recipient boundary tests: an environment per store backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from tests.unit.boundary_recipients.support import Env, Kind, open_env


@pytest.fixture(params=["memory", "sqlite"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    world = open_env(cast("Kind", request.param), tmp_path)
    yield world
    world.kit.close()
