"""API triggers across procrastinate workers that get SIGKILLed (issue 15, acceptance).

The parent accepts ``SIZE`` unitary triggers (each to its own new recipient)
one after the other, re-sending one in ten under the same request id, on a
``TriggerQueue`` kit: each accepted trigger is one job. Two worker processes
(real interpreters, ``TriggerQueue(kit).run_worker()``) take the jobs. A
victim worker is killed (SIGKILL) inside its channel call: it has written a
message to its record (the provider) and blocks, so the message was handed
over and its outcome never recorded. The test then does what time would do:
it ages the dead worker's procrastinate heartbeat and moves every kit's
clock (a ``FileClock``) past the run's lease, hands the dead worker's job
to the living through procrastinate's stalled-job recovery
(``TriggerQueue.retry_stalled``), and starts a replacement worker.

Pass: ``SIZE`` executions, every run SUCCEEDED with one SENT ledger entry;
every message is in some record, every copy carries the same idempotency
key (a provider that honours the key delivers it once), and only messages
handed over by a killed worker were ever copied.

Sizes: ``CAMPAIGNKIT_TRIGGER_FAULTS`` triggers (default 200) and
``CAMPAIGNKIT_TRIGGER_KILLS`` kills (default 1); the issue's full size is
2,000 and 2. Nothing sleeps: every wait is for an event, bounded.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Final

import attrs
import pendulum
import psycopg
import pytest
from psycopg import sql

import campaignkit as ck
from campaignkit.delivery.settings import DeliverySettings
from campaignkit.domain.delivery import idempotency_key
from campaignkit.queue import TriggerQueue
from tests.factories import reset_campaign
from tests.integration.test_postgres_workers import FileClock, set_clock

ROOT: Final = Path(__file__).resolve().parents[2]
T0: Final = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
EMAIL: Final = ck.ChannelType.EMAIL
SIZE: Final = int(os.environ.get("CAMPAIGNKIT_TRIGGER_FAULTS", "200"))
KILLS: Final = int(os.environ.get("CAMPAIGNKIT_TRIGGER_KILLS", "1"))
STALL_AT: Final = max(5, SIZE // 20)
SEED: Final = int(os.environ.get("CAMPAIGNKIT_FAULT_SEED", "15"))
"""Seeds the random kill moments (printed; the native fault suite reads the same variable)."""
"""Messages a victim sends before its next channel call blocks until it is killed."""
DEADLINE: Final = 300.0
"""Seconds any one wait may take before the test fails (a bound, never slept)."""
CHILD_BOOT: Final = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from tests.distributed.test_trigger_queue_faults import child_main; "
    "child_main(sys.argv[2:])"
)

_worker: dict[str, int | None] = {"id": None}
"""The procrastinate worker id of the job in hand (set by the child's task middleware)."""


def _remember(call_next: Any, context: Any, worker: Any) -> Any:
    """A procrastinate task middleware: note which worker runs this job, then run it."""
    _worker["id"] = context.job.worker_id
    return call_next()


class Provider:
    """A channel writing one line per message to its worker's record, fsynced per batch.

    A line is ``key, profile, pid, procrastinate worker id``; each message is
    accepted with the id ``mail-<key>-<pid>`` (which worker's outcome the
    ledger kept). Once the record holds more than ``stall_at`` lines (0:
    never), the batch that took it there blocks, written, until the test
    kills the worker; with ``stall_at`` -1 the first batch, written, waits
    until the test opens the FIFO ``<record>.go`` (a worker to stop and
    resume).
    """

    def __init__(self, path: Path, stall_at: int) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._stall_at = stall_at
        self._go = path.with_suffix(".go")
        self.lines = 0
        if stall_at < 0:
            os.mkfifo(self._go)

    def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
        """Record the batch (one ``write``, then ``fsync``), then accept each message."""
        pid, worker = os.getpid(), _worker["id"]
        data = "".join(
            f"{m.idempotency_key}\t{m.profile_id}\t{pid}\t{worker}\n" for m in messages
        ).encode()
        while data:
            data = data[os.write(self._fd, data) :]
        os.fsync(self._fd)
        self.lines += len(messages)
        if self._stall_at > 0 and self.lines > self._stall_at:
            threading.Event().wait(DEADLINE)  # until the test kills this worker
        if self._stall_at < 0 and self.lines == len(messages):
            with self._go.open("rb") as go:  # until the test opens the FIFO, and closes it
                go.read()
        return [ck.Accepted(f"mail-{m.idempotency_key}-{pid}") for m in messages]


def child_main(argv: list[str]) -> None:
    """A queue worker: its own kit on the shared schema and clock file, until SIGTERM."""
    dsn, schema, clock, record, stall_at = argv
    kit = ck.CampaignKit.postgres(
        dsn, FileClock(Path(clock)), {EMAIL: Provider(Path(record), int(stall_at))}, schema=schema
    )
    try:
        TriggerQueue(kit, stalled_cron=None).run_worker(
            task_middleware=[_remember], update_heartbeat_interval=1.0
        )
    finally:
        kit.close()


@attrs.define
class Workers:
    """The worker processes of one test, each with its own record."""

    dsn: str
    schema: str
    clock: Path
    folder: Path
    processes: dict[str, subprocess.Popen[bytes]] = attrs.Factory(dict)
    killed: list[str] = attrs.Factory(list)
    now: pendulum.DateTime = T0

    def record(self, name: str) -> Path:
        return self.folder / f"{name}.record"

    def start(self, name: str, stall_at: int = 0) -> None:
        arguments = [self.dsn, self.schema, str(self.clock), str(self.record(name)), str(stall_at)]
        with (self.folder / f"{name}.log").open("wb") as log:  # the child has its own copy
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-c", CHILD_BOOT, str(ROOT), *arguments],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        live = len(self.processes) - len(self.killed)
        wait_until(lambda: live_workers(self.dsn, self.schema) >= live, what=f"{name} started")

    def kill(self, name: str, after: int) -> int:
        """SIGKILL the worker once its record has more than ``after`` lines; its worker id."""
        process = self.processes[name]
        wait_until(lambda: len(read(self.record(name))) > after, process, name)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=DEADLINE)
        self.killed.append(name)
        worker = read(self.record(name))[-1][3]
        assert worker != "None", "the victim's record names no procrastinate worker"
        return int(worker)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, process in self.processes.items():
            try:
                process.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:  # pragma: no cover - a hung worker
                process.kill()
                raise AssertionError(f"worker {name} did not stop on SIGTERM") from None


def read(record: Path) -> list[list[str]]:
    """A record's whole lines (a killed worker's torn last line is dropped)."""
    if not record.exists():
        return []
    text = record.read_text(encoding="utf-8")
    return [line.split("\t") for line in text.split("\n")[:-1]]


def wait_until(done: Any, process: subprocess.Popen[bytes] | None = None, what: str = "") -> None:
    """Return once ``done()`` is true; fail after ``DEADLINE`` s or if ``process`` ended."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if done():
            return
        if process is not None:
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.01)
            assert process.returncode is None, f"worker {what} ended on its own"
        else:
            threading.Event().wait(0.01)  # a bounded poll of the database, not a timing
    raise AssertionError(f"not done within {DEADLINE} s: {what}")


@contextmanager
def connection(dsn: str, schema: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        yield conn


def live_workers(dsn: str, schema: str) -> int:
    """procrastinate workers with a heartbeat in the last minute (a dead one's is aged)."""
    with connection(dsn, schema) as conn:
        row = conn.execute(
            "SELECT count(*) FROM procrastinate_workers "
            "WHERE last_heartbeat > now() - interval '1 minute'"
        ).fetchone()
    assert row is not None
    return int(row[0])


def open_jobs(dsn: str, schema: str) -> int:
    with connection(dsn, schema) as conn:
        row = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
        ).fetchone()
    assert row is not None
    return int(row[0])


@contextmanager
def trigger_campaign(
    dsn: str, schema: str, folder: Path
) -> Iterator[tuple[ck.CampaignKit, ck.Campaign, TriggerQueue, Workers]]:
    """The parent's kit (on the clock file) with a LIVE reset campaign, its queue, workers."""
    clock_file = folder / "clock"
    set_clock(clock_file, T0)
    kit = ck.CampaignKit.postgres(dsn, FileClock(clock_file), schema=schema)
    group = Workers(dsn, schema, clock_file, folder)
    try:
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        admin = kit.as_user("ada")
        campaign = reset_campaign(admin)
        admin.activate(campaign.id)
        kit.tick()
        yield kit, campaign, TriggerQueue(kit, stalled_cron=None), group
    finally:
        group.stop()
        kit.close()


@pytest.mark.parametrize("moment", ["in-send", "random"])
def test_triggers_survive_worker_kills_and_are_delivered_once_per_key(
    postgres_dsn: str, postgres_schema: str, tmp_path: Path, moment: str
) -> None:
    """Kills inside a send (a message handed over, no outcome), or at a seeded random moment.

    A random moment is when the test sees the victim's record pass a random
    number of lines: the victim is then claiming, sending, recording, or
    between jobs, wherever it happens to be.
    """
    rng = random.Random(SEED)
    in_send = moment == "in-send"
    stall = STALL_AT if in_send else 0

    def after() -> int:
        return STALL_AT if in_send else rng.randrange(STALL_AT)

    with trigger_campaign(postgres_dsn, postgres_schema, tmp_path) as (kit, campaign, queue, group):
        admin = kit.as_user("ada")
        victim, kills, at = "w0", 0, after()
        group.start(victim, stall_at=stall if KILLS else 0)
        group.start("w1")
        executions: dict[str, str] = {}
        print(
            f"\n{SIZE} triggers, {SIZE // 10} re-sent, {KILLS} kill(s) {moment}, "
            f"seed {SEED} (CAMPAIGNKIT_FAULT_SEED)"
        )

        def kill() -> None:
            nonlocal victim, kills, at
            worker = group.kill(victim, at)
            handed = _hand_on(group, worker, queue, required=in_send)
            print(f"killed {victim} after {at} sends (worker {worker}); jobs handed on: {handed}")
            kills += 1
            victim, at = f"w{kills * 2}", after()
            group.start(victim, stall_at=stall if kills < KILLS else 0)

        for number in range(SIZE):
            request = f"req-{number}"
            user = f"user{number}@example.com"
            recipient = ck.Recipient(user_id=user, namespace="email", context={"link": "x"})
            execution = admin.trigger(campaign.id, [recipient], request_id=request)
            executions[request] = execution.id
            if number % 10 == 9:  # re-sent under the same request id: the same execution
                again = admin.trigger(campaign.id, [recipient], request_id=request)
                assert again.id == execution.id
            if kills < KILLS and len(read(group.record(victim))) > at:
                kill()
        while kills < KILLS:  # the victim had not got that far yet
            kill()
        wait_until(lambda: open_jobs(postgres_dsn, postgres_schema) == 0, what="jobs done")
        group.stop()
        _check(kit, group, campaign.id, executions)


def _hand_on(
    group: Workers, worker: int, queue: TriggerQueue, *, required: bool = True
) -> list[int]:
    """What time does for a worker that is gone: its heartbeat ages, its run lease lapses.

    Then procrastinate's stalled-job recovery hands its job on (the ids; one
    is ``required`` when the worker died inside a send).
    """
    with connection(group.dsn, group.schema) as conn:
        conn.execute(
            "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour' "
            "WHERE id = %s",
            (worker,),
        )
    group.now += DeliverySettings().lease + pendulum.duration(minutes=1)
    set_clock(group.clock, group.now)  # the gone worker's run lease lapses for every kit
    handed = queue.retry_stalled()
    assert handed or not required, "the gone worker's job was not found stalled"
    return handed


def _check(
    kit: ck.CampaignKit, group: Workers, campaign_id: str, executions: dict[str, str]
) -> None:
    assert len(executions) == SIZE
    admin = kit.as_user("ada")
    statuses = Counter(admin.execution(e).status for e in executions.values())
    assert statuses == Counter({ck.ExecutionStatus.SUCCEEDED: SIZE})
    with kit.store.unit_of_work() as uow:
        runs = uow.runs.for_campaign(campaign_id)
        entries = [e for run in runs for e in uow.ledger.entries(run.id)]
    sent = Counter(e.state for e in entries)
    assert sent == Counter({ck.LedgerState.SENT: SIZE}), sent
    keys = {idempotency_key(e.run_id, e.action_id, e.profile_id) for e in entries}
    assert {str(e.provider_message_id).rsplit("-", 1)[0] for e in entries} == {
        f"mail-{key}" for key in keys
    }
    lines = {name: read(group.record(name)) for name in group.processes}
    handed = Counter(line[0] for record in lines.values() for line in record)
    assert set(handed) == keys, "a message never reached the provider, or a stranger did"
    profile_of: dict[str, str] = {}
    for record in lines.values():
        for key, profile, _, _ in record:
            assert profile_of.setdefault(key, profile) == profile  # a copy is the same message
    copies = {key for key, n in handed.items() if n > 1}
    by_killed = {line[0] for name in group.killed for line in lines[name]}
    assert copies <= by_killed, "a message was copied that no killed worker had handed over"
    per_worker = {name: len(record) for name, record in lines.items()}
    print(
        f"deliveries: {len(keys)} keys, {sum(handed.values())} hand-offs, "
        f"{len(copies)} re-sent with their key after a kill; per worker {per_worker}"
    )


def test_a_stopped_worker_records_nothing_once_its_job_went_on(
    postgres_dsn: str, postgres_schema: str, tmp_path: Path
) -> None:
    """A zombie: SIGSTOPped inside its send past its heartbeat and lease, then SIGCONTed."""
    with trigger_campaign(postgres_dsn, postgres_schema, tmp_path) as (kit, campaign, queue, group):
        group.start("zombie", stall_at=-1)
        recipient = ck.Recipient(
            user_id="ada@example.com", namespace="email", context={"link": "x"}
        )
        execution = kit.as_user("ada").trigger(campaign.id, [recipient], request_id="req-1")
        zombie = group.processes["zombie"]
        wait_until(lambda: len(read(group.record("zombie"))) == 1, zombie, "zombie")
        zombie.send_signal(signal.SIGSTOP)  # inside its send: handed over, no outcome
        group.killed.append("zombie")  # gone, as far as heartbeats and leases can tell
        [[key, _, _, worker]] = read(group.record("zombie"))
        _hand_on(group, int(worker), queue)
        group.start("w1")
        wait_until(lambda: open_jobs(postgres_dsn, postgres_schema) == 0, what="w1 delivered")
        before = _ledger(kit, execution.run_id)
        assert [(e.state, e.provider_message_id) for e in before[1]] == [
            (ck.LedgerState.SENT, f"mail-{key}-{group.processes['w1'].pid}")
        ]
        zombie.send_signal(signal.SIGCONT)
        os.close(os.open(group.record("zombie").with_suffix(".go"), os.O_WRONLY))  # send returns
        zombie.send_signal(signal.SIGTERM)  # procrastinate lets the job in hand end first
        zombie.wait(timeout=DEADLINE)
        after = _ledger(kit, execution.run_id)
        assert after == before, "the zombie wrote after it lost its lease"
        assert [line[0] for line in read(group.record("w1"))] == [key]  # the copy: same key
        statuses = [row[0] for row in _jobs(postgres_dsn, postgres_schema)]
        assert statuses == ["succeeded"]
        log = (tmp_path / "zombie.log").read_text(encoding="utf-8")
        print(f"\nzombie exit {zombie.returncode}; its log ends: {log.strip()[-300:]!r}")


def _ledger(kit: ck.CampaignKit, run_id: str) -> tuple[ck.Run, list[ck.LedgerEntry]]:
    with kit.store.unit_of_work() as uow:
        return uow.runs.get(run_id), list(uow.ledger.entries(run_id))


def _jobs(dsn: str, schema: str) -> list[tuple[Any, ...]]:
    with connection(dsn, schema) as conn:
        return list(conn.execute("SELECT status::text FROM procrastinate_jobs").fetchall())
