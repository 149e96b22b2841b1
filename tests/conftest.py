from __future__ import annotations

import pytest

from tests.factories import World, make_world
from tests.postgres_support import (  # noqa: F401 - fixtures for every test module
    _postgres_probe,
    postgres_dsn,
    postgres_module_schema,
    postgres_schema,
)


@pytest.fixture
def world() -> World:
    return make_world()
