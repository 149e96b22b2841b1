"""What the fault suite and ``benchmarks/bench_scale.py`` share: a provider process, workers.

- :func:`provider_main`: the fake provider, a loopback HTTP server in its own
  process. It takes a batch of messages (JSON), waits 20 ms (simulated
  provider latency), appends one line per message to its record
  (:class:`Line`: run, action, profile, idempotency key, worker pid, shard,
  epoch, the id it gives) and fsyncs once per batch, then answers the
  accepted ids. Each id names its line (``m<line number>``), so a ledger
  entry's provider id says which send the ledger kept. ``POST /stop`` asks it
  to SIGSTOP a worker (by pid) at that worker's next batch, after recording
  the batch and before answering: the worker stalls in a channel call, outside
  any transaction, with its batch handed over; ``GET /stopped`` says when and
  where (shard, epoch, last line).
- :class:`ProviderChannel`: the workers' channel, posting each batch with the
  worker's pid and the shard and epoch it delivers (``current_shard()``).
- :func:`worker_main`: a worker process, ``CampaignKit.postgres`` on the
  system clock, ticking until the campaign's run is final.
- :class:`Processes`: starts and ends them; :func:`wait_until` waits for a
  condition on bounded waits on a process (the test process never sleeps).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final, NamedTuple

import attrs
import pendulum

import campaignkit as ck
from campaignkit.adapters.postgres import PostgresProfileStore
from campaignkit.concurrency import shared_units
from campaignkit.delivery.shards import current_shard
from campaignkit.testing import ManualClock

ROOT: Final = Path(__file__).resolve().parents[2]
LATENCY: Final = 0.02
"""Seconds the provider takes per batch."""
EMAIL: Final = ck.ChannelType.EMAIL
SMS: Final = ck.ChannelType.SMS
T0: Final = pendulum.datetime(2027, 3, 1, 9, tz="UTC")
NO_SMS_EVERY: Final = 50
"""One profile in this many has no SMS consent (its SMS entry is EXCLUDED)."""
BOOT: Final = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from tests.distributed.harness import {name}; {name}(sys.argv[2:])"
)
IDLE: Final = 0.05
"""Seconds a worker with nothing due waits before its next tick."""


# ---------------------------------------------------------------- the provider process


class Line(NamedTuple):
    """One line of the provider's record: one message it accepted."""

    run_id: str
    action_id: str
    profile_id: str
    key: str
    pid: int
    shard: int
    epoch: int
    provider_id: str


class _Provider:
    """The provider's state: its record file, its line count, its stop order."""

    def __init__(self, record: Path) -> None:
        self.fd = os.open(record, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.lock = threading.Lock()
        self.lines = 0
        self.stop_pid: int | None = None
        self.stopped: dict[str, Any] | None = None

    def accept(self, batch: Mapping[str, Any]) -> list[str]:
        """Record a batch (one write, one fsync), stopping its worker if asked; its ids."""
        pid, shard, epoch = int(batch["pid"]), int(batch["shard"]), int(batch["epoch"])
        with self.lock:
            ids = [f"m{self.lines + n}" for n in range(len(batch["messages"]))]
            text = "".join(
                f"{run}\t{action}\t{profile}\t{key}\t{pid}\t{shard}\t{epoch}\t{mid}\n"
                for (run, action, profile, key), mid in zip(batch["messages"], ids, strict=True)
            )
            data = text.encode()
            while data:
                data = data[os.write(self.fd, data) :]
            self.lines += len(ids)
            if self.stop_pid == pid:
                self.stop_pid = None
                self.stopped = {
                    "pid": pid,
                    "shard": shard,
                    "epoch": epoch,
                    "first": self.lines - len(ids),
                    "lines": self.lines,
                    "at": time.monotonic(),
                }
                os.kill(pid, signal.SIGSTOP)  # stalled in its channel call, batch handed over
        os.fsync(self.fd)  # outside the lock: batches of several workers share the disk's flush
        return ids


def _handler(provider: _Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: one connection per worker channel
        disable_nagle_algorithm = True  # the body's write must not wait for the headers' ACK

        def _answer(self, value: object) -> None:
            body = json.dumps(value).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            payload = json.loads(self.rfile.read(length))
            if self.path == "/stop":
                with provider.lock:
                    provider.stop_pid = int(payload["pid"])
                self._answer(None)
                return
            threading.Event().wait(LATENCY)  # the provider's latency per batch
            self._answer(provider.accept(payload))

        def do_GET(self) -> None:
            with provider.lock:
                self._answer(provider.stopped)

        def log_message(self, format: str, *args: Any) -> None:
            del format, args  # quiet: one line per request would flood the test's output

    return Handler


def provider_main(argv: Sequence[str]) -> None:
    """The provider process: serve on a free loopback port until killed.

    Arguments: the record's path, then where to write the port (replaced
    whole once the server listens).
    """
    record, port_file = argv
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(_Provider(Path(record))))
    server.daemon_threads = True
    port = Path(port_file)
    port.with_suffix(".new").write_text(str(server.server_address[1]), encoding="utf-8")
    os.replace(port.with_suffix(".new"), port)
    server.serve_forever()


def read_record(path: Path) -> list[Line]:
    """Every line of the provider's record (it fsyncs whole batches: no torn line)."""
    lines = []
    for text in path.read_text(encoding="utf-8").splitlines():
        run, action, profile, key, pid, shard, epoch, mid = text.split("\t")
        lines.append(Line(run, action, profile, key, int(pid), int(shard), int(epoch), mid))
    return lines


# ---------------------------------------------------------------- the worker process


class ProviderChannel:
    """A channel posting each batch to the provider process, one connection per thread.

    Args:
        port: The provider's port on 127.0.0.1.
    """

    def __init__(self, port: int) -> None:
        self._port = port
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection("127.0.0.1", self._port, timeout=60)
            self._local.connection = connection
        return connection

    def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
        """Post the batch with this worker's pid and shard; every message accepted."""
        shard = current_shard()
        body = json.dumps(
            {
                "pid": os.getpid(),
                "shard": -1 if shard is None else shard.number,
                "epoch": 0 if shard is None else shard.epoch,
                "messages": [
                    [m.run_id, m.action_id, m.profile_id, m.idempotency_key] for m in messages
                ],
            }
        )
        connection = self._connection()
        connection.request("POST", "/send", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        ids = json.loads(response.read())
        assert response.status == 200, (response.status, ids)
        assert len(ids) == len(messages), ids
        return [ck.Accepted(mid) for mid in ids]


def settings(lease: float, batch_size: int, shard_size: int) -> ck.DeliverySettings:
    """The workers' delivery settings."""
    return ck.DeliverySettings(
        shard_size=shard_size,
        lease=pendulum.duration(seconds=lease),
        batch_size=batch_size,
    )


def find_run(kit: ck.CampaignKit, campaign_id: str) -> ck.Run | None:
    """The campaign's one run (None: not created yet).

    Read beside the delivering units (``shared_units``): a unit outside takes
    PostgreSQL's schema lock exclusively, and workers and watchers polling
    every few ms would hold every shard unit up.
    """
    with shared_units(), kit.store.unit_of_work() as uow:
        runs = uow.runs.for_campaign(campaign_id)
    assert len(runs) <= 1, runs
    return runs[0] if runs else None


def worker_main(argv: Sequence[str]) -> None:
    """A worker: tick the schema on the system clock until the campaign's run is final.

    Arguments: DSN, schema, provider port, campaign id, lease seconds, batch
    size, shard size, deadline seconds, and a release file (``-``: none).
    Prints ``{"pid", "worker"}`` once its kit is open, then exits 0 once the
    run is final (with a release file: once that file exists too, its
    connections open until then, so a benchmark can read their CPU time),
    3 at the deadline.
    """
    dsn, schema, port, campaign_id, lease, batch, shard, deadline, release = argv
    channel = ProviderChannel(int(port))
    until = time.monotonic() + float(deadline)
    idle = threading.Event()
    with ck.CampaignKit.postgres(
        dsn,
        schema=schema,
        clock=ck.SystemClock(),
        channels={EMAIL: channel, SMS: channel},
        delivery=settings(float(lease), int(batch), int(shard)),
    ) as kit:
        print(json.dumps({"pid": os.getpid(), "worker": kit.worker_id}), flush=True)
        while time.monotonic() < until:
            kit.tick()
            run = find_run(kit, campaign_id)
            if run is not None and run.status.is_final:
                while release != "-" and not Path(release).exists():
                    idle.wait(IDLE)
                sys.exit(0)
            idle.wait(IDLE)
    sys.exit(3)


# ---------------------------------------------------------------- the test side


def wait_until(
    condition: Callable[[], bool], bound: float, waitable: subprocess.Popen[bytes], what: str
) -> float:
    """Wait until ``condition()``, at most ``bound`` seconds; the seconds it took.

    The waits are bounded waits on ``waitable`` (a process that must stay
    alive, e.g. the provider), never a sleep.
    """
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > bound:
            raise AssertionError(f"{what}: not within {bound} s")
        with suppress(subprocess.TimeoutExpired):
            waitable.wait(timeout=0.02)
        assert waitable.returncode is None, f"{what}: the process we wait on ended"
    return time.monotonic() - start


@attrs.define
class Processes:
    """The provider and the workers of one run, with their outputs in ``directory``."""

    directory: Path
    dsn: str
    schema: str
    lease: float
    batch_size: int
    shard_size: int
    deadline: float
    provider: subprocess.Popen[bytes] | None = None
    port: int = 0
    workers: list[subprocess.Popen[bytes]] = attrs.field(factory=list)
    worker_ids: dict[int, str] = attrs.field(factory=dict)

    @property
    def record(self) -> Path:
        """The provider's record."""
        return self.directory / "provider.tsv"

    def _boot(self, name: str, args: Sequence[str], out: Path) -> subprocess.Popen[bytes]:
        with out.open("wb") as sink:
            return subprocess.Popen(
                [sys.executable, "-c", BOOT.format(name=name), str(ROOT), *args],
                stdout=sink,
                stderr=subprocess.STDOUT,
            )

    def start_provider(self) -> None:
        """Start the provider; return once it listens."""
        port_file = self.directory / "provider.port"
        provider = self._boot(
            "provider_main",
            [str(self.record), str(port_file)],
            self.directory / "provider.out",
        )
        self.provider = provider
        wait_until(port_file.exists, 30, provider, "the provider listens")
        self.port = int(port_file.read_text(encoding="utf-8"))

    def start_worker(
        self, campaign_id: str, release: Path | None = None
    ) -> subprocess.Popen[bytes]:
        """Start one more worker on the campaign (ending once ``release`` exists, if given)."""
        args = [self.dsn, self.schema, str(self.port), campaign_id, str(self.lease)]
        args += [str(self.batch_size), str(self.shard_size), str(self.deadline)]
        args.append("-" if release is None else str(release))
        out = self.directory / f"worker-{len(self.workers)}.out"
        process = self._boot("worker_main", args, out)
        self.workers.append(process)
        return process

    def output(self, process: subprocess.Popen[bytes]) -> str:
        """What a worker printed."""
        return (self.directory / f"worker-{self.workers.index(process)}.out").read_text()

    def ready(self, process: subprocess.Popen[bytes]) -> bool:
        """Whether a worker has opened its kit (it printed its ids)."""
        first = self.output(process).split("\n", 1)[0]
        return first.startswith("{") and first.endswith("}")

    def worker_id(self, process: subprocess.Popen[bytes]) -> str:
        """The kit's worker id of a running worker (waits until it printed it)."""
        provider = self.provider
        assert provider is not None
        wait_until(lambda: self.ready(process), 60, provider, "a worker opens its kit")
        found = json.loads(self.output(process).split("\n", 1)[0])
        self.worker_ids[int(found["pid"])] = str(found["worker"])
        return str(found["worker"])

    def running(self) -> list[subprocess.Popen[bytes]]:
        """The workers still running."""
        return [p for p in self.workers if p.poll() is None]

    def stop_at_next_batch(self, pid: int) -> None:
        """Ask the provider to SIGSTOP worker ``pid`` at its next batch."""
        self._call("POST", "/stop", json.dumps({"pid": pid}))

    def stopped(self) -> dict[str, Any] | None:
        """Where the provider stopped a worker (None: not yet)."""
        found: dict[str, Any] | None = self._call("GET", "/stopped", None)
        return found

    def _call(self, method: str, path: str, body: str | None) -> Any:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, body, {"Content-Type": "application/json"})
            return json.loads(connection.getresponse().read())
        finally:
            connection.close()

    def finish(self, bound: float) -> None:
        """Wait for every worker to end; each must exit 0 (a killed one was replaced)."""
        end = time.monotonic() + bound
        for process in self.workers:
            if process.returncode == -signal.SIGKILL:
                continue
            code = process.wait(timeout=max(0.1, end - time.monotonic()))
            assert code == 0, f"a worker ended with {code}:\n{self.output(process)[-3000:]}"

    def end_all(self) -> None:
        """SIGKILL whatever still runs (SIGCONT first: a stopped process dies only when run)."""
        for process in [*self.workers, *([self.provider] if self.provider else [])]:
            if process.poll() is None:
                with suppress(ProcessLookupError):
                    process.send_signal(signal.SIGCONT)
                process.kill()
                process.wait()


@contextmanager
def processes(
    directory: Path,
    dsn: str,
    schema: str,
    *,
    lease: float,
    batch_size: int,
    shard_size: int,
    deadline: float,
) -> Iterator[Processes]:
    """A started provider; every process is gone afterwards."""
    group = Processes(directory, dsn, schema, lease, batch_size, shard_size, deadline)
    try:
        group.start_provider()
        yield group
    finally:
        group.end_all()


# ---------------------------------------------------------------- seeding


@attrs.frozen
class Seeded:
    """A schema with profiles, the audience and a two-action campaign (not yet activated).

    Attributes:
        campaign_id: The campaign.
        audience: The audience's profile ids, in order.
        no_sms: The profiles without SMS consent.
    """

    campaign_id: str
    audience: tuple[str, ...]
    no_sms: frozenset[str]


def profile_ids(count: int, seed: int) -> list[str]:
    """``count`` profile ids with random gaps (drawn from three times as many)."""
    rng = random.Random(seed)
    return [f"p{n:08d}" for n in sorted(rng.sample(range(3 * count), count))]


def seed_schema(dsn: str, schema: str, count: int, seed: int) -> Seeded:
    """Profiles (ids with gaps, one in ``NO_SMS_EVERY`` without SMS consent) and a campaign."""
    ids = profile_ids(count, seed)
    no_sms = frozenset(ids[::NO_SMS_EVERY])
    with ck.CampaignKit.postgres(dsn, clock=ManualClock(T0), schema=schema) as kit:
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        admin = kit.as_user("ada")
        email = admin.create_surface(
            name="Newsletter", channel=EMAIL, settings=ck.EmailSettings(sender="news@example.com")
        )
        sms = admin.create_surface(
            name="Alerts", channel=SMS, settings=ck.SmsSettings(sender_id="SHOP")
        )
        assert isinstance(kit.profiles, PostgresProfileStore)
        for at in range(0, len(ids), 10_000):
            kit.profiles.upsert_many(
                [
                    ck.Profile(
                        id=pid,
                        identities={"email": f"{pid}@example.com"},
                        attributes={"firstName": f"Ann {pid}"},
                        consents={EMAIL: True, SMS: pid not in no_sms},
                        channel_data={SMS: f"+1555{pid[1:]}"},
                    )
                    for pid in ids[at : at + 10_000]
                ]
            )
        kit.audiences.define("everyone", ids)
        campaign = admin.create_campaign(
            name="Scale-out",
            audience="everyone",
            namespace="email",
            actions=[
                ck.Action(
                    email.id,
                    ck.EmailContent(subject="Hi {{ profile.firstName }}", html="<p>Sale</p>"),
                ),
                ck.Action(sms.id, ck.SmsContent(text="Sale for {{ profile.firstName }}!")),
            ],
        )
    return Seeded(campaign.id, tuple(ids), no_sms)


def activate(dsn: str, schema: str, campaign_id: str) -> None:
    """Activate the campaign (its run is due at once)."""
    with ck.CampaignKit.postgres(dsn, clock=ck.SystemClock(), schema=schema) as kit:
        kit.as_user("ada").activate(campaign_id)
