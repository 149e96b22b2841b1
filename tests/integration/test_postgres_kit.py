"""The kit's delivery tests (runs, ledger, retries, feedback, stop, crash and resume, leases,
reports) on ``CampaignKit.postgres``: each test of ``tests/unit/test_delivery.py`` that runs
on every backend (it takes ``worlds``) runs here again on PostgreSQL, in a fresh schema.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping
from pathlib import Path

import pendulum
import psycopg
import pytest
from psycopg.conninfo import make_conninfo

import campaignkit as ck
from campaignkit.testing import CallbackChannel, ManualClock, RecordingChannel, SequentialIds
from tests.unit import test_delivery as delivery

C = ck.ChannelType
L = ck.LedgerState


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


def test_connections_terminated_mid_run_lose_and_double_nothing(
    postgres_dsn: str, postgres_schema: str, tmp_path: Path
) -> None:
    """The kit's backends are terminated (``pg_terminate_backend``) during channel calls of a
    run (between its units of work): the next unit reconnects, the run completes, every
    recipient has exactly one outcome and none is handed over twice."""
    name = f"ck-{postgres_schema}"
    dsn = make_conninfo(postgres_dsn, application_name=name)
    builder = PostgresWorlds(dsn, postgres_schema, tmp_path)
    recorder = RecordingChannel("prov")
    calls = 0

    def respond(message: ck.Message) -> ck.SendResult:
        nonlocal calls
        calls += 1
        if calls % 7 == 0:  # now and then, between the kit's units of work
            with psycopg.connect(postgres_dsn, autocommit=True) as conn:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = %s",
                    (name,),
                )
                for _ in range(100_000):  # until the backends are gone (no sleeping)
                    row = conn.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                        (name,),
                    ).fetchone()
                    if row == (0,):
                        break
        [result] = recorder.send([message])
        return result

    settings = ck.DeliverySettings(batch_size=5)
    try:
        world = builder.world(channels={C.EMAIL: CallbackChannel(respond)}, delivery=settings)
        ids = delivery.crowd(world.kit, 40)
        campaign = world.admin.create_campaign(
            name="Flaky",
            audience="crowd",
            namespace="email",
            actions=[delivery.email_action(world)],
        )
        world.admin.activate(campaign.id)
        for _ in range(20):
            world.kit.tick()
            run = delivery.only_run(world.kit, campaign.id)
            if run.status is ck.RunStatus.SUCCEEDED:
                break
            world.clock.advance(pendulum.duration(minutes=10))
        assert run.status is ck.RunStatus.SUCCEEDED
        entries = delivery.by_profile(delivery.ledger(world.kit, run.id))
        assert sorted(entries) == ids
        assert {entry.state for entry in entries.values()} == {L.SENT}
        assert sorted(m.profile_id for m in recorder.sent) == ids  # none twice
        assert calls == 40
    finally:
        builder.close()
