"""The fidelity tests' kit, fresh for each test."""

from __future__ import annotations

import pytest

from tests.unit.ajo_fidelity.support import World, make_world


@pytest.fixture
def world() -> World:
    return make_world()
