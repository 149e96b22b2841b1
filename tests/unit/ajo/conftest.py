"""Fixtures of the AJO payload tests: a fresh environment per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.unit.ajo.support import Env, make_env


@pytest.fixture
def env() -> Iterator[Env]:
    world = make_env()
    yield world
    world.kit.close()
