"""``campaignkit worker --factory`` as a real process: the host's factory builds its kit.

The test writes a SQLite store with a campaign due at T0, then starts
``python -m campaignkit worker --factory tests.integration.scale_kits:make_kit``
(a kit on that file, on a ManualClock at T0, in shards of 5). The worker
ticks: it plans the run in shards and works them all, and the run ends. The
test waits for the "ended succeeded" log line (a deadline is the safety
net), stops the worker with SIGTERM and reads the store.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Final

import campaignkit as ck
from campaignkit.testing import ManualClock
from tests.integration import scale_kits
from tests.integration.test_scale_executor import PEOPLE, T0, seed

ROOT: Final = Path(__file__).resolve().parents[2]
DEADLINE: Final = 60.0


class Lines:
    """The standard error of a process, line by line, waited on."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
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

    def wait_for(self, fragment: str) -> None:
        with self._changed:
            found = self._changed.wait_for(
                lambda: any(fragment in line or line == "<eof>" for line in self.lines), DEADLINE
            )
            text = "\n".join(self.lines)
        assert found, f"no line with {fragment!r} in time:\n{text}"
        assert fragment in text, f"the worker ended without {fragment!r}:\n{text}"

    def join(self) -> str:
        self._reader.join(DEADLINE)
        with self._changed:
            return "\n".join(self.lines)


def test_a_worker_built_by_a_factory_delivers_a_sharded_run(tmp_path: Path) -> None:
    database = tmp_path / "shared.db"
    with ck.CampaignKit.sqlite(database, clock=ManualClock(T0)) as kit:
        campaign_id = seed(kit)
    env = {**os.environ, scale_kits.DB: str(database), scale_kits.NOW: T0.isoformat()}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "campaignkit",
            "worker",
            "--factory",
            "tests.integration.scale_kits:make_kit",
            "--poll",
            "1",
            "--log-level",
            "DEBUG",
        ],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    stream = process.stderr
    assert stream is not None
    lines = Lines(stream)
    try:
        lines.wait_for("ended succeeded")
        process.send_signal(signal.SIGTERM)
        assert process.wait(DEADLINE) == 0, lines.join()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(DEADLINE)
        log = lines.join()
        stream.close()
    assert "(clock ManualClock(" in log  # the factory's kit, not one opened from --db
    with ck.CampaignKit.sqlite(database, clock=ManualClock(T0)) as kit:
        with kit.store.unit_of_work() as uow:
            (run,) = uow.runs.for_campaign(campaign_id)
            ledger = list(uow.ledger.entries(run.id))
        shards = kit.shards(run.id)
    assert run.status is ck.RunStatus.SUCCEEDED
    assert len(shards) == 5
    assert all(s.done for s in shards)
    assert len({s.owner for s in shards}) == 1  # the one worker
    assert len(ledger) == PEOPLE
