"""Fixtures of the delivery crash tests: a store seeded with 20,000 recipients and a small one,
each built once per module."""

from __future__ import annotations

import pytest

from tests.integration.delivery_crash.support import RECIPIENTS, Seeded, seed_store


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    return seed_store(tmp_path_factory.mktemp("big") / "campaigns.db", RECIPIENTS)


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    return seed_store(tmp_path_factory.mktemp("small") / "campaigns.db", 60)
