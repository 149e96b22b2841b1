"""The kit's delivery tests (runs, ledger, retries, feedback, stop, crash and resume, leases,
reports) on ``CampaignKit.postgres``: each test of ``tests/unit/test_delivery.py`` that runs
on every backend (it takes ``worlds``) runs here again on PostgreSQL, in a fresh schema.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

import campaignkit as ck
from campaignkit.testing import ManualClock, SequentialIds
from tests.unit import test_delivery as delivery


class PostgresWorlds(delivery.Worlds):
    """``Worlds`` whose kits (and restarts) share one PostgreSQL schema."""

    def __init__(self, dsn: str, schema: str, tmp_path: Path) -> None:
        super().__init__("postgres", tmp_path)
        self.dsn = dsn
        self.schema = schema

    def kit(
        self,
        clock: ManualClock,
        *,
        channels: Mapping[ck.ChannelType, ck.Channel] | None = None,
        delivery: ck.DeliverySettings | None = None,
        progress: ck.Progress | None = None,
    ) -> ck.CampaignKit:
        kit = ck.CampaignKit.postgres(
            self.dsn,
            clock,
            channels,
            schema=self.schema,
            delivery=delivery,
            progress=progress,
            ids=SequentialIds(),
        )
        self.kits.append(kit)
        return kit

    def restart(
        self,
        kit: ck.CampaignKit,
        *,
        channels: Mapping[ck.ChannelType, ck.Channel],
        delivery: ck.DeliverySettings,
    ) -> ck.CampaignKit:
        kit.close()
        new = ck.CampaignKit.postgres(
            self.dsn, kit.clock, channels, schema=self.schema, delivery=delivery
        )
        assert new.worker_id != kit.worker_id
        self.kits.append(new)
        return new


@pytest.fixture
def worlds(postgres_dsn: str, postgres_schema: str, tmp_path: Path) -> Iterator[PostgresWorlds]:
    """A world builder on PostgreSQL (overrides the delivery module's, for the tests below)."""
    builder = PostgresWorlds(postgres_dsn, postgres_schema, tmp_path)
    yield builder
    builder.close()


for _name, _test in vars(delivery).items():
    if _name.startswith("test_") and "worlds" in inspect.signature(_test).parameters:
        globals()[_name] = _test
