"""Shards on Celery with real brokers (Redis and RabbitMQ) and real ``celery worker`` processes.

Each test starts ``python -m celery -A tests.integration.scale_celery_app
worker`` on a queue of its own, and sends the shard task from an app of its
own through :func:`campaignkit.celery.register`'s submitter. Workers report
every ``work_shard`` call on a loopback socket the test listens on, so the
test waits for them without sleeping (a deadline is the safety net).

1. A SQLite run's shards, planned and submitted by a scheduling kit (which
   then works none itself), are all delivered by the Celery worker; a task sent
   again is just another claim and does nothing.
2. ``reject_on_worker_lost``: the pool process working a shard is killed
   (SIGKILL); the message goes back to the broker and the worker's next
   pool process works it (without the option, ``acks_late`` would have
   acknowledged it as failed: lost).
"""

from __future__ import annotations

import importlib
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest

import campaignkit as ck
from campaignkit.domain.shards import total
from campaignkit.testing import ManualClock
from tests.broker_support import broker_url
from tests.integration import scale_celery_app, scale_kits
from tests.integration.test_scale_executor import PEOPLE, T0, seed


def needs(module: str) -> Any:
    """Import an optional test dependency: skip without it, except under CI=true (fail)."""
    if os.environ.get("CI") == "true":
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"needs {module}: pip install -e '.[dev]'")


celery = needs("celery")
import campaignkit.celery as ck_celery  # noqa: E402 - after the check that celery is there

ROOT: Final = Path(__file__).resolve().parents[2]
DEADLINE: Final = 60.0
"""Seconds any wait may take at most (a safety net; a worker starts in about two)."""


class Reports:
    """The loopback socket workers report their ``work_shard`` calls to."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(DEADLINE)
        host, port = self.server.getsockname()[:2]
        self.address = f"{host}:{port}"

    def next(self) -> list[str]:
        """The next call reported: run, number, pid and the worker's word."""
        conn, _ = self.server.accept()
        with conn, conn.makefile("r", encoding="utf-8") as lines:
            return lines.readline().split()


class Worker:
    """A ``celery worker`` process on the test's queue; its output goes to a file.

    The prefork pool, as in production: with ``--pool=solo``, RabbitMQ and
    late acknowledgement, the worker waits about 10 s between two tasks (the
    acknowledgement waits for the event loop's next wake-up). It is ended
    with SIGKILL, not a warm shutdown: billiard's pool process may wait up
    to 30 s for the main process to read its last result when told to stop
    right after a task.
    """

    def __init__(self, env: dict[str, str], log: Path, pool: str = "prefork") -> None:
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "tests.integration.scale_celery_app",
                    "worker",
                    f"--pool={pool}",
                    "--concurrency=1",
                    f"--queues={env[scale_celery_app.QUEUE]}",
                    f"--hostname=ck-{uuid.uuid4().hex[:8]}@%h",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "--loglevel=INFO",
                ],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(DEADLINE)


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request: pytest.FixtureRequest) -> str:
    return broker_url(request.param)


@pytest.fixture
def queue(broker: str) -> Iterator[str]:
    """A queue of the test's own on ``broker``, deleted afterwards."""
    name = f"ck-test-{uuid.uuid4().hex[:12]}"
    yield name
    app = celery.Celery("cleanup", broker=broker)
    with app.connection_for_write() as conn:
        conn.default_channel.queue_delete(name)


@pytest.fixture
def reports() -> Iterator[Reports]:
    made = Reports()
    yield made
    made.server.close()


def producer(broker: str, queue: str, factory: str) -> ck_celery.CelerySubmitter:
    """The sending side: an app of the test's own with the shard task registered."""
    app = celery.Celery("producer", broker=broker)
    app.conf.task_default_queue = queue
    return ck_celery.register(app, factory)


def worker_env(
    broker: str, queue: str, reports: Reports, tmp_path: Path, factory: str
) -> dict[str, str]:
    return {
        **os.environ,
        scale_celery_app.BROKER: broker,
        scale_celery_app.QUEUE: queue,
        scale_celery_app.FACTORY: factory,
        scale_kits.REPORT: reports.address,
        scale_kits.LOG: str(tmp_path / "calls.log"),
        scale_kits.DB: str(tmp_path / "shared.db"),
        scale_kits.NOW: T0.isoformat(),
    }


def test_a_celery_worker_delivers_every_shard_of_a_sqlite_run(
    broker: str, queue: str, reports: Reports, tmp_path: Path
) -> None:
    factory = "tests.integration.scale_kits:make_kit"
    submitter = producer(broker, queue, factory)
    clock = ManualClock(T0)
    worker = Worker(worker_env(broker, queue, reports, tmp_path, factory), tmp_path / "w.log")
    try:
        with ck.CampaignKit.sqlite(
            tmp_path / "shared.db", clock=clock, delivery=scale_kits.SETTINGS
        ) as kit:
            campaign_id = seed(kit)
            kit.shard_submitter = submitter
            kit.tick()  # plans the run and sends every shard to the broker, working none
            with kit.store.unit_of_work() as uow:
                (run,) = uow.runs.for_campaign(campaign_id)
            shards = kit.shards(run.id)
            seen = sorted((reports.next() for _ in shards), key=lambda c: int(c[1]))
            assert [(r, n, done) for r, n, _, done in seen] == [
                (run.id, str(s.number), "True") for s in shards
            ], worker.output()
            shards = kit.shards(run.id)
            assert all(s.done and s.epoch == 1 for s in shards)
            assert kit.worker_id not in {s.owner for s in shards}
            # Celery may deliver a task twice: the second is another claim, which does nothing
            submitter.submit(run.id, 0)
            _, number, _, done = reports.next()
            assert (number, done) == ("0", "False")
            clock.advance(scale_kits.SETTINGS.lease)
            kit.tick()
            with kit.store.unit_of_work() as uow:
                run = uow.runs.get(run.id)
                ledger = list(uow.ledger.entries(run.id))
    finally:
        worker.kill()
    assert submitter.failures == []
    assert run.status is ck.RunStatus.SUCCEEDED
    assert run.counts == total(shards)
    assert len(ledger) == PEOPLE
    assert {e.state for e in ledger} == {ck.LedgerState.SENT}


def test_a_killed_pool_process_gives_its_shard_back_to_the_broker(
    broker: str, queue: str, reports: Reports, tmp_path: Path
) -> None:
    factory = "tests.integration.scale_kits:make_recorder"
    submitter = producer(broker, queue, factory)
    env = worker_env(broker, queue, reports, tmp_path, factory)
    worker = Worker(env, tmp_path / "w.log")
    try:
        submitter.submit("hang", 4)  # the first call hangs inside the task
        run, number, pid, _ = reports.next()
        assert (run, number) == ("hang", "4")
        os.kill(int(pid), signal.SIGKILL)
        again = reports.next()  # rejected on worker lost: the broker delivers it again
        assert again[:2] == ["hang", "4"], worker.output()
        assert again[2] != pid  # in the pool's new process
    finally:
        worker.kill()
    assert "WorkerLostError" in worker.output()
