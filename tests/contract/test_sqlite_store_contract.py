from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from campaignkit.adapters.sqlite import SQLiteStore
from campaignkit.testing.contracts import ShardStoreContract, StoreContract


class TestSQLiteMemoryStore(StoreContract):
    @pytest.fixture
    def store(self) -> Iterator[SQLiteStore]:
        with SQLiteStore(":memory:") as store:
            yield store


class TestSQLiteFileStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SQLiteStore]:
        with SQLiteStore(tmp_path / "campaigns.db") as store:
            yield store


class TestSQLiteShards(ShardStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SQLiteStore]:
        with SQLiteStore(tmp_path / "campaigns.db") as store:
            yield store
