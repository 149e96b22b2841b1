from __future__ import annotations

import pytest

from campaignkit import InMemoryStore
from campaignkit.testing.contracts import StoreContract


class TestInMemoryStore(StoreContract):
    @pytest.fixture
    def store(self) -> InMemoryStore:
        return InMemoryStore()
