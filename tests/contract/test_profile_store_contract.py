from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from campaignkit import InMemoryProfileStore
from campaignkit.adapters.sqlite import SQLiteProfileStore, SQLiteStore
from campaignkit.testing.contracts import ProfileStoreContract


class TestInMemoryProfileStore(ProfileStoreContract):
    @pytest.fixture
    def profiles(self) -> InMemoryProfileStore:
        return InMemoryProfileStore()


class TestSQLiteMemoryProfileStore(ProfileStoreContract):
    @pytest.fixture
    def profiles(self) -> Iterator[SQLiteProfileStore]:
        with SQLiteStore(":memory:") as store:
            yield SQLiteProfileStore(store)


class TestSQLiteFileProfileStore(ProfileStoreContract):
    @pytest.fixture
    def profiles(self, tmp_path: Path) -> Iterator[SQLiteProfileStore]:
        with SQLiteStore(tmp_path / "profiles.db") as store:
            yield SQLiteProfileStore(store)
