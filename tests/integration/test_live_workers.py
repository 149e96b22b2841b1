"""Two live workers on one SQLite file, real clocks, a channel slower than the lease.

Each worker process ticks the same store with ``SystemClock`` and a
two-second lease; every channel call takes 2.5 s, longer than the lease. The
worker delivering a run keeps its lease (renewed from the clock at each batch
and by a heartbeat during the call), so the other worker never takes a live
run over: no message is handed to a channel twice, every recipient gets
each message once, and both processes end normally.

Each child writes every idempotency key it hands to its channel to its own
file (flushed before the call returns), so the test counts hand-overs across
both processes. The test itself never sleeps: it waits on the processes
with a timeout.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import pendulum

import campaignkit as ck
from campaignkit.domain.delivery import idempotency_key

ROOT: Final = Path(__file__).resolve().parents[2]
EMAIL: Final = ck.ChannelType.EMAIL
CAMPAIGNS: Final = 3
PEOPLE: Final = 20
BATCH: Final = 10
LEASE_SECONDS: Final = 2.0
CALL_SECONDS: Final = 2.5
"""Each channel call outlasts the lease."""
CHILD_DEADLINE: Final = 25.0
"""Seconds a child ticks before giving up (exit code 3); the test's bound is a bit more."""
CHILD_BOOT: Final = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from tests.integration.test_live_workers import child_main; child_main(sys.argv[2:])"
)


# ---------------------------------------------------------------- the worker (child side)


class SlowChannel:
    """Writes each key it is handed to ``log``, then takes ``CALL_SECONDS`` to answer."""

    def __init__(self, log: Path) -> None:
        self._log = log

    def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
        """Record the batch, wait longer than a lease, accept every message."""
        with self._log.open("a", encoding="utf-8") as handle:
            handle.writelines(f"{m.idempotency_key}\n" for m in messages)
        threading.Event().wait(CALL_SECONDS)
        return [ck.Accepted(f"mail-{m.idempotency_key}") for m in messages]


def child_main(argv: Sequence[str]) -> None:
    """Tick the store until every run of the given campaigns is final (exit 0), or give up."""
    path, log, campaigns = Path(argv[0]), Path(argv[1]), json.loads(argv[2])
    clock = ck.SystemClock()
    deadline = clock.now().add(seconds=CHILD_DEADLINE)
    settings = ck.DeliverySettings(batch_size=BATCH, lease=pendulum.duration(seconds=LEASE_SECONDS))
    pause = threading.Event()
    with ck.CampaignKit.sqlite(
        path, clock=clock, channels={EMAIL: SlowChannel(log)}, delivery=settings
    ) as kit:
        while clock.now() < deadline:
            kit.tick()
            with kit.store.unit_of_work() as uow:
                runs = [run for cid in campaigns for run in uow.runs.for_campaign(cid)]
            if len(runs) == len(campaigns) and all(run.status.is_final for run in runs):
                sys.exit(0)
            pause.wait(0.05)
    sys.exit(3)


# ---------------------------------------------------------------- the test (parent side)


def _seed(path: Path) -> list[str]:
    with ck.CampaignKit.sqlite(path) as kit:
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        ada = kit.as_user("ada")
        surface = ada.create_surface(
            name="News", channel=EMAIL, settings=ck.EmailSettings(sender="n@example.com")
        )
        people = [f"p{i}" for i in range(PEOPLE)]
        for pid in people:
            kit.profiles.upsert(
                ck.Profile(pid, identities={"email": f"{pid}@example.com"}, consents={EMAIL: True})
            )
        kit.audiences.define("all", people)
        ids = []
        for number in range(CAMPAIGNS):
            campaign = ada.create_campaign(
                name=f"News {number}",
                audience="all",
                namespace="email",
                actions=[ck.Action(surface.id, ck.EmailContent(subject="Hi", html="<p>Hi</p>"))],
            )
            ada.activate(campaign.id)
            ids.append(campaign.id)
        return ids


def test_two_live_workers_never_send_a_message_twice(tmp_path: Path) -> None:
    path = tmp_path / "kit.db"
    campaign_ids = _seed(path)
    logs = [tmp_path / f"worker-{n}.keys" for n in (1, 2)]
    outputs = [tmp_path / f"worker-{n}.out" for n in (1, 2)]
    ids = json.dumps(campaign_ids)
    workers = []
    for log, output in zip(logs, outputs, strict=True):
        with output.open("w") as out:
            workers.append(
                subprocess.Popen(
                    [sys.executable, "-c", CHILD_BOOT, str(ROOT), str(path), str(log), ids],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
    try:
        codes = [worker.wait(timeout=CHILD_DEADLINE + 15) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()

    handed = Counter(key for log in logs if log.exists() for key in log.read_text().split())
    twice = {key: n for key, n in handed.items() if n > 1}
    assert twice == {}, f"{len(twice)} messages handed over more than once"
    details = "\n".join(output.read_text() for output in outputs)
    assert codes == [0, 0], details  # both alive to the end, neither gave up
    assert all(log.exists() for log in logs), details  # both delivered, side by side

    with ck.CampaignKit.sqlite(path) as kit:
        expected = set()
        ada = kit.as_user("ada")
        for campaign_id in campaign_ids:
            with kit.store.unit_of_work() as uow:
                (run,) = uow.runs.for_campaign(campaign_id)
            campaign = ada.get(campaign_id)
            assert campaign.live_version is not None
            (action,) = campaign.live_version.actions
            expected |= {idempotency_key(run.id, action.id, f"p{i}") for i in range(PEOPLE)}
            report = ada.report(campaign_id)
            assert (report.sent, report.counts.pending) == (PEOPLE, 0)
    assert set(handed) == expected  # every recipient once, over both workers
