"""The store, profile store and audience source contracts, on PostgreSQL (a schema per test)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from campaignkit import CampaignKit, Profile
from campaignkit.adapters.postgres import PostgresProfileStore, PostgresStore
from campaignkit.audiences import AudienceRegistry
from campaignkit.ports import AudienceSource
from campaignkit.testing import ManualClock
from campaignkit.testing.contracts import (
    AudienceSourceContract,
    ProfileStoreContract,
    ShardStoreContract,
    StoreContract,
)


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def store(self, postgres_dsn: str, postgres_schema: str) -> Iterator[PostgresStore]:
        with PostgresStore(postgres_dsn, schema=postgres_schema) as store:
            yield store


class TestPostgresShards(ShardStoreContract):
    @pytest.fixture
    def store(self, postgres_dsn: str, postgres_schema: str) -> Iterator[PostgresStore]:
        with PostgresStore(postgres_dsn, schema=postgres_schema) as store:
            yield store


class TestPostgresProfileStore(ProfileStoreContract):
    @pytest.fixture
    def profiles(self, postgres_dsn: str, postgres_schema: str) -> Iterator[PostgresProfileStore]:
        with PostgresStore(postgres_dsn, schema=postgres_schema) as store:
            yield PostgresProfileStore(store)


class TestPostgresKitAudiences(AudienceSourceContract):
    """The kit's own ``AudienceRegistry`` on PostgreSQL (members joined with their profiles)."""

    kit: CampaignKit

    @pytest.fixture
    def audience_source(
        self, postgres_dsn: str, postgres_schema: str
    ) -> Iterator[AudienceRegistry]:
        with CampaignKit.postgres(postgres_dsn, ManualClock(), schema=postgres_schema) as kit:
            self.kit = kit
            yield kit.audiences

    def define(self, source: AudienceSource, name: str, profiles: Sequence[Profile]) -> None:
        assert source is self.kit.audiences
        for profile in profiles:
            self.kit.profiles.upsert(profile)
        self.kit.audiences.define(name, [p.id for p in profiles])
