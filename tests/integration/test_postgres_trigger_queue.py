"""API triggers queued on procrastinate in the accepting transaction (issue 15, point 4).

Each test has a fresh schema on the real server; a ``TriggerQueue`` opts the
kit in, and in-process procrastinate workers (``run_worker(wait=False)``,
which returns once the queue is empty) deliver. Nothing sleeps: the kits'
clocks are manual.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import attrs
import pendulum
import psycopg
import pytest
from psycopg import sql

import campaignkit as ck
from campaignkit import queue as ck_queue
from campaignkit.adapters.postgres import queue as pg_queue
from campaignkit.adapters.postgres.store import PostgresStore
from campaignkit.domain.delivery import RunKind
from campaignkit.domain.throughput import TriggerRequest
from campaignkit.errors import MissingDependency, StorageError, ValidationError
from campaignkit.queue import Delivery, TriggerQueue, deliver
from campaignkit.session.triggers import new_run
from campaignkit.testing import CallbackChannel, ManualClock
from tests.factories import reset_campaign

T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
EMAIL = ck.ChannelType.EMAIL
WORKER: dict[str, Any] = {
    "wait": False,
    "install_signal_handlers": False,
    "listen_notify": False,
}
"""An in-process worker that returns once the queue is empty."""


def _accept(message: ck.Message) -> ck.SendResult:
    return ck.Accepted(f"mail-{message.idempotency_key}")


@attrs.define
class Provider:
    """Accepts each message, or answers that it is busy while ``busy`` is set."""

    busy: bool = False

    def __call__(self, message: ck.Message) -> ck.SendResult:
        if self.busy:
            return ck.TransientFailure("busy")
        return _accept(message)


@attrs.define
class Setup:
    """A PostgreSQL kit with a LIVE transactional trigger campaign, and its queue."""

    dsn: str
    schema: str
    kit: ck.CampaignKit
    clock: ManualClock
    channel: CallbackChannel
    campaign_id: str
    queue: TriggerQueue
    provider: Provider

    def trigger(self, user: str, request_id: str) -> ck.Execution:
        recipient = ck.Recipient(user_id=user, namespace="email", context={"link": "x"})
        return self.kit.as_user("ada").trigger(self.campaign_id, [recipient], request_id=request_id)

    def jobs(self) -> list[tuple[Any, ...]]:
        """Every job of the schema: (id, task, status, run id, lock, scheduled in future)."""
        with psycopg.connect(self.dsn, autocommit=True) as connection:
            connection.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
            return list(
                connection.execute(
                    "SELECT id, task_name, status::text, args->>'run_id', lock, "
                    "scheduled_at > now() FROM procrastinate_jobs ORDER BY id"
                ).fetchall()
            )

    def execute(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn, autocommit=True) as connection:
            connection.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
            cursor = connection.execute(statement.encode(), params)
            return list(cursor.fetchall()) if cursor.description else []

    def run(self, run_id: str) -> ck.Run:
        with self.kit.store.unit_of_work() as uow:
            return uow.runs.get(run_id)


def _kit(dsn: str, schema: str, clock: ManualClock, channel: CallbackChannel) -> ck.CampaignKit:
    return ck.CampaignKit.postgres(dsn, clock, {EMAIL: channel}, schema=schema)


@pytest.fixture
def setup(postgres_dsn: str, postgres_schema: str) -> Iterator[Setup]:
    clock = ManualClock(T0)
    provider = Provider()
    channel = CallbackChannel(provider)
    kit = _kit(postgres_dsn, postgres_schema, clock, channel)
    try:
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        admin = kit.as_user("ada")
        campaign = reset_campaign(admin)
        admin.activate(campaign.id)
        kit.tick()
        queue = TriggerQueue(kit, stalled_cron=None)
        yield Setup(
            postgres_dsn, postgres_schema, kit, clock, channel, campaign.id, queue, provider
        )
    finally:
        kit.close()


def test_an_accepted_trigger_is_one_job_in_its_transaction(setup: Setup) -> None:
    execution = setup.trigger("ada@example.com", "req-1")
    jobs = setup.jobs()
    assert [job[1:] for job in jobs] == [
        (
            pg_queue.TASK,
            "todo",
            execution.run_id,
            pg_queue.job_lock(execution.run_id),
            None,
        )
    ]
    again = setup.trigger("ada@example.com", "req-1")  # re-sent: same execution, no new job
    assert again.id == execution.id
    assert len(setup.jobs()) == 1


def test_a_unit_rolled_back_enqueues_nothing(setup: Setup) -> None:
    kit = setup.kit
    with kit.store.unit_of_work() as uow:
        campaign = uow.campaigns.get(setup.campaign_id)
    run = new_run(campaign, "run-rolled-back", RunKind.TRIGGER, T0)
    with pytest.raises(RuntimeError, match="host failed"), kit.store.unit_of_work() as uow:
        uow.runs.add(run)
        assert len(setup.jobs()) == 0  # another connection sees nothing before the commit
        raise RuntimeError("host failed")
    assert setup.jobs() == []
    with pytest.raises(ck.NotFound), kit.store.unit_of_work() as uow:
        uow.runs.get("run-rolled-back")


def test_only_unitary_trigger_runs_are_queued(setup: Setup) -> None:
    with setup.kit.store.unit_of_work() as uow:
        campaign = uow.campaigns.get(setup.campaign_id)
        uow.runs.add(new_run(campaign, "run-audience", RunKind.AUDIENCE_EXECUTION, T0))
    assert setup.jobs() == []


def test_a_worker_delivers_the_trigger_once(setup: Setup) -> None:
    execution = setup.trigger("ada@example.com", "req-1")
    setup.queue.run_worker(**WORKER)
    assert [m.idempotency_key for m in setup.channel.calls] == [
        setup.channel.calls[0].idempotency_key
    ]
    assert setup.kit.as_user("ada").execution(execution.id).status is ck.ExecutionStatus.SUCCEEDED
    assert [job[2] for job in setup.jobs()] == ["succeeded"]
    setup.kit.tick()  # the run is final: the tick sends nothing more
    assert len(setup.channel.calls) == 1


def test_the_same_job_run_twice_delivers_once(setup: Setup) -> None:
    """A worker delivers, then dies before procrastinate records the job's end: run again."""
    execution = setup.trigger("ada@example.com", "req-1")
    dead = _take_job_as_a_worker(setup)
    assert deliver(setup.kit, execution.run_id).outcome == "delivered"  # the dead one's work
    _age(setup, dead)
    assert len(setup.queue.retry_stalled()) == 1
    setup.queue.run_worker(**WORKER)  # the same job again: just another claim
    assert len(setup.channel.calls) == 1
    assert [job[2] for job in setup.jobs()] == ["succeeded"]


def _take_job_as_a_worker(setup: Setup) -> int:
    """Register a worker and fetch the next job for it (``doing``); the worker's id."""
    [[worker]] = setup.execute("SELECT procrastinate_register_worker_v1()")
    setup.execute(
        "SELECT id FROM procrastinate_fetch_job_v2(%s::varchar[], %s)",
        ([pg_queue.QUEUE], worker),
    )
    assert [job[2] for job in setup.jobs()] == ["doing"]
    return int(worker)


def _age(setup: Setup, worker: int) -> None:
    """The worker's last heartbeat an hour ago (it died: no heartbeat since)."""
    setup.execute(
        "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour' WHERE id = %s",
        (worker,),
    )


def test_trigger_many_queues_one_job_per_shared_run(setup: Setup) -> None:
    requests = [
        TriggerRequest(
            campaign_id=setup.campaign_id,
            request_id=f"req-{n}",
            recipients=[
                ck.Recipient(user_id=f"u{n}@example.com", namespace="email", context={"link": "x"})
            ],
        )
        for n in range(3)
    ]
    answers = setup.kit.as_user("ada").trigger_many(requests)
    runs = {answer.run_id for answer in answers if isinstance(answer, ck.Execution)}
    assert len(runs) == 1, answers  # the three share one run: one job
    assert sorted(job[3] for job in setup.jobs()) == sorted(runs)
    setup.queue.run_worker(**WORKER)
    assert len(setup.channel.calls) == 3


def test_a_run_leased_elsewhere_gets_a_follow_up_at_its_lease_expiry(
    setup: Setup, postgres_dsn: str, postgres_schema: str
) -> None:
    execution = setup.trigger("ada@example.com", "req-1")
    other = _kit(postgres_dsn, postgres_schema, setup.clock, CallbackChannel(_accept))
    try:
        with ck.concurrency.shared_units(), other.store.unit_of_work():
            assert other.runner.claim(execution.run_id, T0) is not None  # leased, not delivered
        done = deliver(setup.kit, execution.run_id)
        run = setup.run(execution.run_id)
        assert done == Delivery(execution.run_id, "held", run.due_at)
        assert run.due_at is not None
        assert run.due_at > T0
        setup.queue.run_worker(**WORKER)  # the job: held, so a follow-up job waits
        statuses = [(job[2], job[5]) for job in setup.jobs()]
        assert statuses == [("succeeded", None), ("todo", True)]
        assert setup.channel.calls == []
    finally:
        other.close()


def test_a_run_due_later_gets_a_follow_up(setup: Setup) -> None:
    setup.provider.busy = True
    execution = setup.trigger("ada@example.com", "req-1")
    setup.queue.run_worker(**WORKER)
    run = setup.run(execution.run_id)
    assert not run.status.is_final
    assert run.due_at is not None
    assert run.due_at > T0
    assert [(job[2], job[5]) for job in setup.jobs()] == [("succeeded", None), ("todo", True)]
    setup.provider.busy = False
    setup.clock.set(run.due_at)
    assert deliver(setup.kit, execution.run_id) == Delivery(execution.run_id, "delivered")
    assert deliver(setup.kit, execution.run_id) == Delivery(execution.run_id, "final")


def test_a_missing_run_and_an_unclaimable_run(setup: Setup) -> None:
    assert deliver(setup.kit, "run-nowhere") == Delivery("run-nowhere", "missing")
    execution = setup.trigger("ada@example.com", "req-1")
    bare = _kit(setup.dsn, setup.schema, setup.clock, CallbackChannel(_accept))
    bare.close()
    nothing = ck.CampaignKit.postgres(setup.dsn, setup.clock, {}, schema=setup.schema)
    try:
        assert deliver(nothing, execution.run_id) == Delivery(execution.run_id, "failed")
    finally:
        nothing.close()
    assert setup.run(execution.run_id).status is ck.RunStatus.FAILED


def test_a_conflict_at_the_claim_reads_the_run_again(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    execution = setup.trigger("ada@example.com", "req-1")

    def conflict(*args: object) -> None:
        raise ck.ConflictError("another worker won")

    monkeypatch.setattr(setup.kit.runner, "claim", conflict)
    assert deliver(setup.kit, execution.run_id) == Delivery(execution.run_id, "held", T0)


def test_a_conflict_in_the_delivery_reads_the_run_again(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    execution = setup.trigger("ada@example.com", "req-1")

    def conflict(*args: object) -> None:
        raise ck.ConflictError("another worker won")

    monkeypatch.setattr(setup.kit.runner, "deliver", conflict)
    done = deliver(setup.kit, execution.run_id)
    assert done.outcome == "held"


def test_storage_unavailable_is_raised_for_procrastinate_to_retry(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    def away(*args: object) -> None:
        raise ck.StorageUnavailable("server away")

    monkeypatch.setattr(setup.kit.runner, "claim", away)
    with pytest.raises(ck.StorageUnavailable):
        deliver(setup.kit, "run-any")


def test_a_job_of_a_dead_worker_is_handed_to_a_live_one(setup: Setup) -> None:
    """procrastinate's stalled-job recovery: a job ``doing`` on a worker without heartbeat."""
    execution = setup.trigger("ada@example.com", "req-1")
    dead = _take_job_as_a_worker(setup)
    assert setup.queue.retry_stalled() == []  # its heartbeat is fresh
    _age(setup, dead)
    handed = setup.queue.retry_stalled()
    assert handed == [setup.jobs()[0][0]]
    setup.queue.run_worker(**WORKER)
    assert len(setup.channel.calls) == 1
    assert setup.run(execution.run_id).status is ck.RunStatus.SUCCEEDED


def test_the_periodic_recovery_task(postgres_dsn: str, postgres_schema: str, setup: Setup) -> None:
    queue = TriggerQueue(setup.kit)  # stalled_cron on: a periodic task of its own
    assert "campaignkit.retry_stalled_triggers" in queue.app.tasks

    async def recover() -> list[int]:
        async with queue.app.open_async():
            return await queue._recover(None, 0)  # type: ignore[arg-type]

    assert asyncio.run(recover()) == []


def test_the_schema_is_applied_once_even_by_two_at_once(
    postgres_dsn: str, postgres_schema: str
) -> None:
    stores = [PostgresStore(postgres_dsn, schema=postgres_schema) for _ in range(2)]
    results: list[bool] = []
    try:
        threads = [
            threading.Thread(target=lambda s=store: results.append(pg_queue.enable(s)))
            for store in stores
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == [False, True]
        assert pg_queue.enable(stores[0]) is False
        with stores[0].unit_of_work() as uow:
            assert isinstance(uow.runs, pg_queue.QueuedRuns)
    finally:
        for store in stores:
            store.close()


def test_procrastinate_lives_beside_campaignkit_tables_without_a_clash(setup: Setup) -> None:
    tables = {
        row[0]
        for row in setup.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (setup.schema,)
        )
    }
    queue_tables = {t for t in tables if t.startswith("procrastinate_")}
    assert {"procrastinate_jobs", "procrastinate_workers"} <= queue_tables
    assert "runs" in tables  # campaignkit's own, none of them prefixed
    assert not {t for t in tables - queue_tables if t.startswith("procrastinate")}


def test_a_deferral_outside_a_unit_of_work_is_refused(setup: Setup) -> None:
    store: Any = setup.kit.store
    with pytest.raises(StorageError, match="outside a unit of work"):
        pg_queue.enqueue(store.database, "run-1")


def test_a_deferral_the_server_refuses_is_a_storage_error(
    postgres_dsn: str, postgres_schema: str
) -> None:
    store = PostgresStore(postgres_dsn, schema=postgres_schema)  # no queue schema applied
    try:
        with pytest.raises(StorageError, match="procrastinate_"), store.unit_of_work():
            pg_queue.enqueue(store.database, "run-1")
    finally:
        store.close()


def test_a_schema_the_server_refuses_is_a_storage_error(postgres_dsn: str) -> None:
    with (
        psycopg.connect(postgres_dsn, autocommit=True) as connection,
        pytest.raises(StorageError, match="no-such-schema"),
    ):
        pg_queue.install(connection, "no-such-schema", "no-such-schema")


def test_the_queue_needs_a_postgres_kit() -> None:
    kit = ck.CampaignKit.in_memory()
    with pytest.raises(ValidationError, match="PostgresStore"):
        TriggerQueue(kit)


def test_the_queue_needs_procrastinate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "procrastinate", None)
    with pytest.raises(MissingDependency, match=r"campaignkit\[queue\]"):
        TriggerQueue(ck.CampaignKit.in_memory())


def make_kit() -> ck.CampaignKit:
    """A factory for ``main`` (the schema comes from the test)."""
    return _kit(FACTORY["dsn"], FACTORY["schema"], ManualClock(T0), CallbackChannel(_accept))


FACTORY: dict[str, str] = {}


def test_main_runs_a_worker_from_a_factory(setup: Setup) -> None:
    setup.trigger("ada@example.com", "req-1")
    FACTORY.update(dsn=setup.dsn, schema=setup.schema)
    ck_queue.main(["--factory", f"{__name__}:make_kit", "--once", "--name", "w1"])
    assert [job[2] for job in setup.jobs() if job[1] == pg_queue.TASK] == ["succeeded"]
    assert len(setup.channel.calls) == 0  # the factory's kit delivered, on its own channel


def test_python_m_campaignkit_queue_is_the_worker_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "campaignkit.queue", "--factory", "no_colon"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "factory must read" in done.stderr


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": True}, "max_attempts"),
        ({"stalled_cron": "every minute"}, "stalled_cron"),
        ({"stalled_cron": 5}, "stalled_cron"),
        ({"stalled_after": 0}, "stalled_after"),
        ({"stalled_after": float("nan")}, "stalled_after"),
    ],
)
def test_queue_arguments_are_checked_before_anything_is_done(
    arguments: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValidationError, match=named):
        TriggerQueue(ck.CampaignKit.in_memory(), **arguments)


def test_defer_and_retry_stalled_check_their_arguments(setup: Setup) -> None:
    with pytest.raises(ValidationError, match="run_id"):
        setup.queue.defer("")
    with pytest.raises(ValidationError, match="at must be timezone-aware"):
        setup.queue.defer("run-1", pendulum.naive(2026, 12, 1))
    with pytest.raises(ValidationError, match="seconds_since_heartbeat"):
        setup.queue.retry_stalled(-1)
    setup.queue.defer("run-1", T0.add(seconds=30))  # 30 s ahead of the kit's clock
    setup.queue.defer("run-2")  # now
    assert [(job[3], job[5]) for job in setup.jobs()] == [("run-1", True), ("run-2", None)]


def test_a_tick_still_delivers_a_queued_trigger_and_the_job_then_does_nothing(
    setup: Setup,
) -> None:
    execution = setup.trigger("ada@example.com", "req-1")
    setup.kit.tick()  # no queue worker came yet: the run was due all along
    assert len(setup.channel.calls) == 1
    assert deliver(setup.kit, execution.run_id) == Delivery(execution.run_id, "final")
    setup.queue.run_worker(**WORKER)
    assert len(setup.channel.calls) == 1
    assert [job[2] for job in setup.jobs()] == ["succeeded"]
