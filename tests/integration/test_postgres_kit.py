"""The kit's delivery tests (runs, ledger, retries, feedback, stop, crash and resume, leases,
reports) on ``CampaignKit.postgres``: each test of the ``tests/unit/delivery`` modules that
runs on every backend (it takes ``worlds``) runs here again on PostgreSQL, in a fresh schema.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pendulum
import psycopg
import pytest
from psycopg.conninfo import make_conninfo

import campaignkit as ck
from campaignkit.testing import CallbackChannel, ManualClock, RecordingChannel, SequentialIds
from tests.unit import delivery as delivery_tests
from tests.unit.delivery import support as delivery

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


for _module in pkgutil.iter_modules(delivery_tests.__path__):
    if not _module.name.startswith("test_"):
        continue
    for _name, _test in vars(
        importlib.import_module(f"{delivery_tests.__name__}.{_module.name}")
    ).items():
        if _name.startswith("test_") and "worlds" in inspect.signature(_test).parameters:
            assert _name not in globals(), f"two delivery tests named {_name}"
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


def _terminate(dsn: str, pid: int) -> None:
    """End backend ``pid`` from another connection and wait until it is gone (no sleeping)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        for _ in range(100_000):
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))
            if row.fetchone() == (0,):
                return
    raise AssertionError(f"backend {pid} outlived pg_terminate_backend")


@pytest.mark.parametrize("statement", ["COPY ledger", "SELECT ck_settle_accepted"])
def test_a_connection_lost_inside_a_unit_of_work_hands_the_run_back(
    postgres_dsn: str,
    postgres_schema: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    statement: str,
) -> None:
    """The backend dies in the middle of a run's unit of work (its intents, or its outcomes,
    parked or not): the tick ends with ``StorageUnavailable``, the run is not FAILED, the next ticks
    reconnect and finish it, every recipient has one outcome, and a profile handed over
    twice (only possible when the outcomes' unit died) carries the same idempotency key."""
    from campaignkit.adapters.postgres.connection import PostgresDatabase

    builder = PostgresWorlds(postgres_dsn, postgres_schema, tmp_path)
    recorder = RecordingChannel("prov")
    seen = 0
    original = PostgresDatabase.executemany

    def dying(self: PostgresDatabase, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        nonlocal seen
        if sql.lstrip().startswith(statement) and self.current is not None:
            seen += 1
            if seen in (2, 5):  # inside the unit: the statement runs on a dead backend
                _terminate(postgres_dsn, self.current.info.backend_pid)
        original(self, sql, rows)

    def dying_execute(self: PostgresDatabase, sql: str, params: Sequence[Any] = ()) -> Any:
        if sql.lstrip().startswith(statement):
            dying(self, sql, [])  # no rows: only the backend's death, then the statement
        return original_execute(self, sql, params)

    def dying_copy(
        self: PostgresDatabase, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        dying(self, f"COPY {table}", [])  # the intents are copied (PostgresLedger)
        original_copy(self, table, columns, rows)

    def dying_park(self: PostgresDatabase, connection: Any, redo: Callable[[], object]) -> None:
        nonlocal seen
        pid = connection.info.backend_pid
        original_park(self, connection, redo)  # sent, the COMMIT last, its answer unread
        if statement == "SELECT ck_settle_accepted":  # a batch's outcomes, parked
            seen += 1
            if seen in (2, 5):  # the backend dies before (or after) it runs them
                _terminate(postgres_dsn, pid)

    original_execute = PostgresDatabase.execute
    original_copy = PostgresDatabase.copy
    original_park = PostgresDatabase._park
    monkeypatch.setattr(PostgresDatabase, "_park", dying_park)
    monkeypatch.setattr(PostgresDatabase, "executemany", dying)
    monkeypatch.setattr(PostgresDatabase, "execute", dying_execute)
    monkeypatch.setattr(PostgresDatabase, "copy", dying_copy)
    settings = ck.DeliverySettings(batch_size=5)
    try:
        world = builder.world(channels={C.EMAIL: recorder}, delivery=settings)
        ids = delivery.crowd(world.kit, 40)
        campaign = world.admin.create_campaign(
            name="Cut off",
            audience="crowd",
            namespace="email",
            actions=[delivery.email_action(world)],
        )
        world.admin.activate(campaign.id)
        lost = 0
        for _ in range(30):
            try:
                world.kit.tick()
            except ck.StorageUnavailable:
                lost += 1
                continue  # the worker loop ticks again
            run = delivery.only_run(world.kit, campaign.id)
            if run.status is ck.RunStatus.SUCCEEDED:
                break
            world.clock.advance(pendulum.duration(minutes=10))
        assert lost == 2
        assert run.status is ck.RunStatus.SUCCEEDED
        entries = delivery.by_profile(delivery.ledger(world.kit, run.id))
        assert sorted(entries) == ids
        assert {entry.state for entry in entries.values()} == {L.SENT}
        keys: dict[str, set[str]] = {}
        for message in recorder.sent:
            keys.setdefault(message.profile_id, set()).add(message.idempotency_key)
        assert sorted(keys) == ids
        assert all(len(k) == 1 for k in keys.values())  # a second hand-off: same key
        if statement.startswith("INSERT"):  # intents lost before any hand-over: none twice
            assert len(recorder.sent) == len(ids)
    finally:
        builder.close()


def test_a_provider_error_holding_nul_is_recorded_not_fatal(
    postgres_dsn: str, postgres_schema: str, tmp_path: Path
) -> None:
    """PostgreSQL text cannot hold U+0000: a provider's error with one is recorded with
    U+FFFD in its place, and the run goes on for everyone else."""
    builder = PostgresWorlds(postgres_dsn, postgres_schema, tmp_path)
    recorder = RecordingChannel("prov")

    def respond(message: ck.Message) -> ck.SendResult:
        if message.profile_id == "m003":
            return ck.PermanentFailure("rejected \x00 by the provider")
        [result] = recorder.send([message])
        return result

    try:
        world = builder.world(channels={C.EMAIL: CallbackChannel(respond)})
        ids = delivery.crowd(world.kit, 6)
        campaign = world.admin.create_campaign(
            name="Nul", audience="crowd", namespace="email", actions=[delivery.email_action(world)]
        )
        world.admin.activate(campaign.id)
        world.kit.tick()
        run = delivery.only_run(world.kit, campaign.id)
        assert run.status is ck.RunStatus.SUCCEEDED
        entries = delivery.by_profile(delivery.ledger(world.kit, run.id))
        assert sorted(entries) == ids
        assert entries["m003"].state is L.FAILED
        assert entries["m003"].error == "rejected \ufffd by the provider"
        assert sorted(m.profile_id for m in recorder.sent) == [i for i in ids if i != "m003"]
    finally:
        builder.close()
