"""What the Celery fault suite adds to :mod:`tests.distributed.harness`: brokers, nodes.

- :func:`make_kit`: the kit factory the Celery workers name
  (``"tests.distributed.celery_harness:make_kit"``): ``CampaignKit.postgres``
  on the system clock, sending through :class:`harness.ProviderChannel`, with
  the settings read from the environment (:data:`ENV`). Each pool process
  builds one and appends ``{"pid", "parent", "worker"}`` to ``$CK_FAULT_PIDS``,
  so the test knows which process holds which shard (:class:`Pool` reads them);
  :func:`settings_env` is what the test sets for it. The Dask executor suite
  builds its workers' kits with it too.
- :func:`scheduler_main`: the process that ticks the kit with the Celery
  submitter of :mod:`tests.integration.scale_celery_app` (it plans the run and
  hands its free shards to the broker, working none) until the run is final.
- :class:`Node`: one ``celery worker`` (prefork, one pool process) in a
  process group of its own, so a node is killed whole.
- :class:`Broker`: a Redis or RabbitMQ server the test starts on a free port
  (so restarting it disturbs nothing else) and restarts once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import Final

import campaignkit as ck
from campaignkit.scale import SupportsSubmit
from tests.distributed import harness

FACTORY: Final = "tests.distributed.celery_harness:make_kit"
ENV: Final = {
    "dsn": "CK_FAULT_DSN",
    "schema": "CK_FAULT_SCHEMA",
    "port": "CK_FAULT_PORT",
    "lease": "CK_FAULT_LEASE",
    "batch": "CK_FAULT_BATCH",
    "shard": "CK_FAULT_SHARD",
    "pids": "CK_FAULT_PIDS",
}
"""What :func:`make_kit` reads -> the environment variable it reads it from."""
BOOT: Final = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from tests.distributed.celery_harness import {name}; {name}(sys.argv[2:])"
)
RABBITMQ_LIBEXEC: Final = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
"""Debian's server script, run directly: its ``/usr/sbin`` wrapper switches root to the
rabbitmq user (who cannot write the test's directory) and refuses anyone else."""


# ---------------------------------------------------------------- in the worker processes


def make_kit() -> ck.CampaignKit:
    """The Celery pool process's kit (the factory given to ``campaignkit.celery.register``)."""
    kit = env_kit()
    line = json.dumps({"pid": os.getpid(), "parent": os.getppid(), "worker": kit.worker_id})
    fd = os.open(os.environ[ENV["pids"]], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())  # one write: lines of several processes never mix
    finally:
        os.close(fd)
    return kit


def env_kit(executor: SupportsSubmit | None = None, factory: str | None = None) -> ck.CampaignKit:
    """A kit on the schema with the provider's channel and the settings of :data:`ENV`.

    Args:
        executor: Where the kit hands its shards (a Dask head's), if anywhere.
        factory: The workers' kit factory, with ``executor``.
    """
    get = {name: os.environ[variable] for name, variable in ENV.items()}
    channel = harness.ProviderChannel(int(get["port"]))
    return ck.CampaignKit.postgres(
        get["dsn"],
        schema=get["schema"],
        clock=ck.SystemClock(),
        channels={harness.EMAIL: channel, harness.SMS: channel},
        delivery=harness.settings(float(get["lease"]), int(get["batch"]), int(get["shard"])),
        executor=executor,
        factory=factory,
    )


def scheduler_main(argv: Sequence[str]) -> None:
    """Tick the schema with the Celery submitter until the campaign's run is final.

    Arguments: campaign id and deadline seconds (the rest comes from
    :data:`ENV` and the broker's variables of ``scale_celery_app``). Exits 0
    once the run is final, printing the sends the broker refused, 3 at the
    deadline.
    """
    from tests.integration import scale_celery_app  # reads the broker from the environment

    campaign_id, deadline = argv
    until = time.monotonic() + float(deadline)
    idle = threading.Event()
    kit = env_kit()  # not reported: it works no shard
    kit.shard_submitter = scale_celery_app.shards
    with kit:
        while time.monotonic() < until:
            kit.tick()
            run = harness.find_run(kit, campaign_id)
            if run is not None and run.status.is_final:
                failures = scale_celery_app.shards.failures
                print(json.dumps({"refused": len(failures)}), flush=True)
                sys.exit(0)
            idle.wait(harness.IDLE)
    sys.exit(3)


# ---------------------------------------------------------------- on the test side


def settings_env(group: harness.Processes, pids: Path) -> dict[str, str]:
    """The environment :func:`make_kit` reads (:data:`ENV`): ``group``'s schema, provider, settings.

    Args:
        group: The provider's processes (their database, schema, port and delivery settings).
        pids: Where each process that builds a kit appends its line (:class:`Pool`).
    """
    given = {"dsn": group.dsn, "schema": group.schema, "port": str(group.port)}
    given |= {"pids": str(pids), "lease": str(group.lease), "batch": str(group.batch_size)}
    given |= {"shard": str(group.shard_size)}
    return {ENV[name]: value for name, value in given.items()}


class Pool:
    """The processes that built a kit with :func:`make_kit` (from ``$CK_FAULT_PIDS``), by pid.

    Args:
        path: The file they append to.
        name: What one is called in messages (``"pool process"``).
    """

    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        self.name = name

    def reported(self) -> dict[int, tuple[int, str]]:
        """pid -> (its parent's pid, its kit's worker id), for every process so far."""
        if not self.path.exists():
            return {}
        found = {}
        for text in self.path.read_text(encoding="utf-8").splitlines():
            line = json.loads(text)
            found[int(line["pid"])] = (int(line["parent"]), str(line["worker"]))
        return found

    def running(self) -> dict[int, tuple[int, str]]:
        """The reported processes still alive."""
        return {pid: found for pid, found in self.reported().items() if alive(pid)}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def listening(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie waiting to be reaped."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return False
    return status.rpartition(")")[2].split()[0] != "Z"


def gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (see :func:`alive`)."""
    return not alive(pid)


def end_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a process group started with ``start_new_session`` (SIGCONT first)."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGCONT)
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def end(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a process if it still runs."""
    if process.poll() is None:
        process.kill()
    process.wait()


class Node:
    """A ``celery worker`` on the test's queue: prefork, one pool process, its own group.

    Args:
        env: Its environment (broker, queue, factory, :data:`ENV`).
        log: Where its output goes.
    """

    def __init__(self, env: dict[str, str], log: Path) -> None:
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
                    "--pool=prefork",
                    "--concurrency=1",
                    f"--queues={env['CK_SCALE_QUEUE']}",
                    f"--hostname=ck-{uuid.uuid4().hex[:8]}@%h",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "--loglevel=INFO",
                ],
                cwd=harness.ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a node is killed whole: main and pool processes
            )

    @property
    def pid(self) -> int:
        """The main process's pid."""
        return self.process.pid

    def output(self) -> str:
        """What it printed."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    def tasks_ended(self) -> int:
        """How many tasks it logged as ended (succeeded, raised, or lost with its process)."""
        text = self.output()
        return sum(text.count(word) for word in ("] succeeded in ", "] raised ", "WorkerLostError"))

    def kill(self) -> None:
        """SIGKILL the node whole."""
        end_group(self.process)


class Broker:
    """A Redis or RabbitMQ server of the test's own on a free port, restartable.

    Args:
        kind: ``"redis"`` or ``"rabbitmq"``.
        directory: Where its data, logs and output go.

    Attributes:
        port: Its port on 127.0.0.1.
        url: The URL Celery connects to.
    """

    def __init__(self, kind: str, directory: Path) -> None:
        self.kind = kind
        self.directory = directory
        self.port = free_port()
        self.dist_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        if kind == "redis":
            self.url = f"redis://127.0.0.1:{self.port}/0"
        else:
            self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"

    @staticmethod
    def missing(kind: str) -> str | None:
        """None if ``kind``'s server program is installed, else what to install (one line)."""
        if kind == "redis":
            found = shutil.which("redis-server")
            return None if found else "redis-server is not installed (apt-get install redis-server)"
        if shutil.which("rabbitmq-server") or RABBITMQ_LIBEXEC.exists():
            return None
        return "rabbitmq-server is not installed (apt-get install rabbitmq-server)"

    def _command(self) -> tuple[list[str], dict[str, str]]:
        if self.kind == "redis":
            command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
            return [*command, "--save", "", "--appendonly", "no"], dict(os.environ)
        base = self.directory
        (base / "plugins").touch()
        (base / "env.conf").touch()  # not the system's: it names the system node
        (base / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\n", encoding="utf-8"
        )
        program = str(RABBITMQ_LIBEXEC) if RABBITMQ_LIBEXEC.exists() else "rabbitmq-server"
        env = {
            **os.environ,
            "HOME": str(base),  # its own Erlang cookie
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_NODENAME": f"ck{self.port}@localhost",
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_PID_FILE": str(base / "rabbitmq.pid"),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "plugins"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(base / "env.conf"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }
        return [program], env

    def start(self, bound: float, waitable: subprocess.Popen[bytes]) -> float:
        """Start the server; the seconds until it accepts connections (at most ``bound``)."""
        command, env = self._command()
        self.starts += 1
        with (self.directory / f"{self.kind}-{self.starts}.out").open("wb") as out:
            process = subprocess.Popen(
                command,
                env=env,
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.process = process

        def up() -> bool:
            assert process.poll() is None, f"{self.kind} ended at its start:\n{self.output()}"
            return listening(self.port)

        return harness.wait_until(up, bound, waitable, f"{self.kind} on port {self.port} starts")

    def output(self) -> str:
        """What the latest start printed."""
        path = self.directory / f"{self.kind}-{self.starts}.out"
        return path.read_text(encoding="utf-8", errors="replace")[-3000:]

    def stop(self) -> None:
        """SIGKILL the server, its whole process group (a crash: nothing is saved on the way)."""
        if self.process is not None:
            end_group(self.process)
            self.process = None

    def restart(self, bound: float, waitable: subprocess.Popen[bytes]) -> float:
        """Kill the server and start it again on the same port; the seconds it was down."""
        started = time.monotonic()
        self.stop()
        harness.wait_until(lambda: not listening(self.port), bound, waitable, "the broker stops")
        self.start(bound, waitable)
        return time.monotonic() - started


def boot(name: str, args: Sequence[str], env: dict[str, str], out: Path) -> subprocess.Popen[bytes]:
    """Start ``name`` of this module in a new Python process."""
    with out.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-c", BOOT.format(name=name), str(harness.ROOT), *args],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
