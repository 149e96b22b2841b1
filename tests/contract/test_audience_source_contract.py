from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from campaignkit import CampaignKit, InMemoryAudienceSource, Profile
from campaignkit.audiences import AudienceRegistry
from campaignkit.ports import AudienceSource
from campaignkit.testing import ManualClock
from campaignkit.testing.contracts import AudienceSourceContract


def _by_ids(source: InMemoryAudienceSource, name: str, profiles: Sequence[Profile]) -> None:
    for profile in profiles:
        source.profiles.upsert(profile)
    source.define(name, [p.id for p in profiles])


class TestInMemoryAudienceSourceByIds(AudienceSourceContract):
    @pytest.fixture
    def audience_source(self) -> InMemoryAudienceSource:
        return InMemoryAudienceSource()

    def define(self, source: AudienceSource, name: str, profiles: Sequence[Profile]) -> None:
        assert isinstance(source, InMemoryAudienceSource)
        _by_ids(source, name, profiles)


class TestInMemoryAudienceSourceByCondition(AudienceSourceContract):
    @pytest.fixture
    def audience_source(self) -> InMemoryAudienceSource:
        return InMemoryAudienceSource()

    def define(self, source: AudienceSource, name: str, profiles: Sequence[Profile]) -> None:
        assert isinstance(source, InMemoryAudienceSource)
        for profile in profiles:
            source.profiles.upsert(profile)
        members = frozenset(p.id for p in profiles)
        source.define(name, where=lambda p: p.id in members)


class _KitAudiences(AudienceSourceContract):
    """The kit's own ``AudienceRegistry``; ``define`` goes through ``kit.audiences``."""

    kit: CampaignKit

    def define(self, source: AudienceSource, name: str, profiles: Sequence[Profile]) -> None:
        assert source is self.kit.audiences
        for profile in profiles:
            self.kit.profiles.upsert(profile)
        self.kit.audiences.define(name, [p.id for p in profiles])


class TestInMemoryKitAudiences(_KitAudiences):
    @pytest.fixture
    def audience_source(self) -> AudienceRegistry:
        self.kit = CampaignKit.in_memory(clock=ManualClock())
        return self.kit.audiences


class TestSQLiteKitAudiences(_KitAudiences):
    @pytest.fixture
    def audience_source(self, tmp_path: Path) -> Iterator[AudienceRegistry]:
        with CampaignKit.sqlite(tmp_path / "kit.db", clock=ManualClock()) as kit:
            self.kit = kit
            yield kit.audiences


class TestSQLiteKitConditionalAudiences(_KitAudiences):
    @pytest.fixture
    def audience_source(self) -> Iterator[AudienceRegistry]:
        with CampaignKit.sqlite(":memory:", clock=ManualClock()) as kit:
            self.kit = kit
            yield kit.audiences

    def define(self, source: AudienceSource, name: str, profiles: Sequence[Profile]) -> None:
        assert source is self.kit.audiences
        for profile in profiles:
            self.kit.profiles.upsert(profile)
        members = frozenset(p.id for p in profiles)
        self.kit.audiences.define(name, where=lambda p: p.id in members)


class TestKitAudiencesFromAHostSource(AudienceSourceContract):
    """A name the kit does not know is streamed from the host's source."""

    host: InMemoryAudienceSource

    @pytest.fixture
    def audience_source(self) -> AudienceRegistry:
        self.host = InMemoryAudienceSource()
        return CampaignKit.in_memory(clock=ManualClock(), audiences=self.host).audiences

    def define(self, source: AudienceSource, name: str, profiles: Sequence[Profile]) -> None:
        _by_ids(self.host, name, profiles)
