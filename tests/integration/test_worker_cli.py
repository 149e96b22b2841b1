"""``campaignkit worker`` as a real process: SIGTERM mid-run, a clean stop, a restart that finishes.

The test prepares a SQLite file with the wall clock (a campaign of 30
recipients due now), then starts ``python -m campaignkit worker`` with a TOML
file wiring email to a webhook on a loopback HTTP server, in batches of 10.
The server holds every request after the first batch until the test lets
them go, so the worker is caught with batch 2 in flight:

1. once batch 2 is at the server, the test sends SIGTERM and lets the
   requests go; the worker records batch 2, hands the run back (its lease
   released), starts no batch 3 and exits with 0;
2. a second worker resumes the run at once and finishes it; the test waits
   for its "ended succeeded" log line, sends SIGTERM, and it exits with 0.

Then every recipient has exactly one ledger entry, SENT, and the server
received each message exactly once, signed with the secret the config named
by environment variable. Nothing sleeps: the test waits on the server's
record and on the worker's log lines (with deadlines as a safety net).
"""

from __future__ import annotations

import base64
import importlib
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Final

import pytest

import campaignkit as ck
from tests.integration.http_server import Received, Reply, loopback_server


def needs(module: str) -> Any:
    """Import an optional test dependency: skip without it, except under CI=true (fail)."""
    if os.environ.get("CI") == "true":
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"needs {module}: pip install -e '.[dev]'")


standardwebhooks = needs("standardwebhooks")
needs("httpx")

ROOT: Final = Path(__file__).resolve().parents[2]
PEOPLE: Final = 30
BATCH: Final = 10
CONCURRENCY: Final = 4
KEY: Final = "whsec_" + base64.b64encode(bytes(range(32))).decode()
DEADLINE: Final = 60.0
"""Seconds any wait may take at most (a safety net; the test takes a few seconds)."""


class Worker:
    """A ``campaignkit worker`` process whose log lines can be waited for."""

    def __init__(self, database: Path, config: Path) -> None:
        env = {**os.environ, "HOOK_SECRET": KEY, "CAMPAIGNKIT_SECRET": "u" * 32}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "campaignkit",
                "worker",
                "--db",
                str(database),
                "--config",
                str(config),
                "--poll",
                "1",
                "--log-level",
                "DEBUG",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        stream = self.process.stderr
        assert stream is not None
        self._reader = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self.lines.append("<eof>")
            self._changed.notify_all()

    def wait_for_line(self, fragment: str) -> str:
        """The first log line containing ``fragment``, once it is written."""

        def found() -> str | None:
            return next((line for line in self.lines if fragment in line), None)

        with self._changed:
            assert self._changed.wait_for(
                lambda: found() is not None or "<eof>" in self.lines, DEADLINE
            ), f"no log line with {fragment!r} in time"
            line = found()
        assert line is not None, f"the worker ended without logging {fragment!r}:\n" + self.log
        return line

    def stop(self) -> int:
        """SIGTERM the worker; its exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.wait()

    def wait(self) -> int:
        code = self.process.wait(DEADLINE)
        self._reader.join(DEADLINE)
        self._close()
        return code

    def _close(self) -> None:
        if self.process.stderr is not None:
            self.process.stderr.close()

    @property
    def log(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(DEADLINE)
        self._reader.join(DEADLINE)
        self._close()


@pytest.fixture
def workers() -> Iterator[Callable[[Path, Path], Worker]]:
    started: list[Worker] = []

    def start(database: Path, config: Path) -> Worker:
        worker = Worker(database, config)
        started.append(worker)
        return worker

    yield start
    for worker in started:  # only reached by a failing test
        worker.kill()


def prepare(database: Path) -> str:
    """A store with a campaign of ``PEOPLE`` due now, written with the wall clock."""
    with ck.CampaignKit.sqlite(database, clock=ck.SystemClock()) as kit:
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        admin = kit.as_user("ada")
        surface = admin.create_surface(
            name="Newsletter",
            channel=ck.ChannelType.EMAIL,
            settings=ck.EmailSettings(sender="news@example.com"),
        )
        ids = [f"p{n:02d}" for n in range(1, PEOPLE + 1)]
        for pid in ids:
            kit.profiles.upsert(
                ck.Profile(
                    id=pid,
                    identities={"email": f"{pid}@example.com"},
                    attributes={"firstName": pid},
                    consents={ck.ChannelType.EMAIL: True},
                )
            )
        kit.audiences.define("vip", ids)
        campaign = admin.create_campaign(
            name="Winter sale",
            audience="vip",
            namespace="email",
            actions=[
                ck.Action(
                    surface.id, ck.EmailContent(subject="Hi {{ profile.firstName }}", html="x")
                )
            ],
        )
        admin.activate(campaign.id)
        return campaign.id


def the_run(database: Path, campaign_id: str) -> tuple[ck.Run, list[ck.LedgerEntry]]:
    kit = ck.CampaignKit.sqlite(database, clock=ck.SystemClock())
    with kit, kit.store.unit_of_work() as uow:
        (run,) = uow.runs.for_campaign(campaign_id)
        return run, list(uow.ledger.entries(run.id))


def test_sigterm_mid_run_stops_cleanly_and_a_restarted_worker_finishes_the_run(
    tmp_path: Path, workers: Callable[[Path, Path], Worker]
) -> None:
    database = tmp_path / "kit.db"
    campaign_id = prepare(database)
    release = threading.Event()

    def script(received: Received) -> Reply:
        held = release if received.number > BATCH else None  # batch 2 on: wait for the test
        return Reply(200, {"Content-Type": "application/json"}, b"{}", hold=held)

    with loopback_server(script) as server:
        config = tmp_path / "worker.toml"
        config.write_text(
            f"""
            [channels.email]
            type = "webhook"
            url = "{server.url}/hook"
            secret_env = "HOOK_SECRET"
            concurrency = {CONCURRENCY}
            [delivery]
            batch_size = {BATCH}
            """,
            encoding="utf-8",
        )

        first = workers(database, config)
        in_flight = BATCH + CONCURRENCY  # batch 1 done, batch 2 at the server and held
        assert server.wait_until(lambda s: len(s.requests) >= in_flight, DEADLINE), first.log
        first.process.send_signal(signal.SIGTERM)
        first.wait_for_line("received SIGTERM")
        release.set()
        assert first.wait() == 0, first.log
        first.wait_for_line("paused at audience position 20")
        assert first.lines[-2].endswith("stopped"), first.log  # then <eof>
        assert len(server.received()) == 2 * BATCH  # batch 2 finished; batch 3 never started

        run, entries = the_run(database, campaign_id)
        assert run.status is ck.RunStatus.RUNNING
        assert (run.position, run.lease_owner, run.lease_expires_at) == (2 * BATCH, None, None)
        assert Counter(e.state for e in entries) == {ck.LedgerState.SENT: 2 * BATCH}

        second = workers(database, config)
        second.wait_for_line(f"resumed at audience position {2 * BATCH}")
        second.wait_for_line("ended succeeded")
        assert second.stop() == 0, second.log
        received = server.received()

    run, entries = the_run(database, campaign_id)
    assert run.status is ck.RunStatus.SUCCEEDED
    assert run.total().sent == PEOPLE
    assert Counter(e.profile_id for e in entries) == Counter(
        f"p{n:02d}" for n in range(1, PEOPLE + 1)
    )  # every recipient exactly one outcome
    assert {e.state for e in entries} == {ck.LedgerState.SENT}
    ids = [r.headers["webhook-id"] for r in received]
    assert len(ids) == len(set(ids)) == PEOPLE  # each message handed over exactly once
    assert set(ids) == {f"{run.id}:{e.action_id}:{e.profile_id}" for e in entries}
    for request in received:
        standardwebhooks.Webhook(KEY).verify(request.body, dict(request.headers))


def test_a_worker_without_work_stops_at_once_on_sigint(
    tmp_path: Path, workers: Callable[[Path, Path], Worker]
) -> None:
    database = tmp_path / "kit.db"
    ck.CampaignKit.sqlite(database).close()
    config = tmp_path / "worker.toml"
    config.write_text('[channels.push]\ntype = "console"\n', encoding="utf-8")
    worker = workers(database, config)
    worker.wait_for_line("started on")
    worker.process.send_signal(signal.SIGINT)
    assert worker.wait() == 0, worker.log
    assert "received SIGINT" in worker.log
    assert worker.lines[-2].endswith("stopped")
