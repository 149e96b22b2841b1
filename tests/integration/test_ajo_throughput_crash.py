"""Crash tests of AJO high-throughput executions on a SQLite file (issue 16).

A child process (a real interpreter) opens a kit on the file, accepts three
high-throughput requests in one ``execute_high_throughput_many`` call (one
shared run), and:

- ``accept``: SIGKILLs itself as soon as the call returns, before any tick;
- ``send``: ticks with a batch size of 4 and SIGKILLs itself inside the
  channel's second batch (each batch's idempotency keys are written to a file
  before it is handed over: the first batch's outcomes are recorded, the second
  was handed over and never recorded, the third never started).

A fresh kit then ticks past the dead worker's lease: every recipient ends with
exactly one recorded outcome; a recipient is sent again only if its batch was
handed over unrecorded, and then with the same idempotency key; re-sent
requests are the same executions and send nothing. The same flow also runs
in-process (no kill) so its code counts for coverage. Nothing sleeps.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

import pendulum
import pytest

import campaignkit as ck
from campaignkit.ajo.throughput import execute_high_throughput_many
from campaignkit.domain.delivery import idempotency_key
from campaignkit.testing import ManualClock

ROOT: Final = Path(__file__).resolve().parents[2]
T0: Final = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
EMAIL: Final = ck.ChannelType.EMAIL
CHILD_TIMEOUT: Final = 120.0
"""Seconds a child may take before the test fails (a bound, never slept)."""
CHILD_BOOT: Final = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from tests.integration.test_ajo_throughput_crash import child_main; "
    "child_main(sys.argv[2:])"
)
REQUESTS: Final = 3
PER_REQUEST: Final = 3


class _Channel:
    """Accepts every batch; calls ``dying`` with the batch instead on the ``die_at``-th one."""

    def __init__(self, keys: Path | None = None, die_at: int = 0) -> None:
        self.sent: list[ck.Message] = []
        self._keys, self._die_at, self._batches = keys, die_at, 0

    def send(self, messages: list[ck.Message]) -> list[ck.SendResult]:
        self._batches += 1
        if self._keys is not None:
            with self._keys.open("a", encoding="utf-8") as out:
                out.writelines(f"{self._batches} {m.idempotency_key}\n" for m in messages)
                out.flush()
                os.fsync(out.fileno())
            if self._batches == self._die_at:
                os.kill(os.getpid(), signal.SIGKILL)
        self.sent.extend(messages)
        return [ck.Accepted(f"mail-{m.idempotency_key}") for m in messages]


def _kit(path: Path, channel: _Channel, at: pendulum.DateTime) -> ck.CampaignKit:
    return ck.CampaignKit.sqlite(
        path,
        ManualClock(at),
        {EMAIL: channel},  # type: ignore[dict-item]
        delivery=ck.DeliverySettings(batch_size=4),
    )


def _bodies(campaign_id: str) -> list[dict[str, Any]]:
    return [
        {
            "requestId": f"req-{r}",
            "campaignId": campaign_id,
            "recipients": [
                {
                    "type": "external",
                    "userId": f"c{r}-{n}@example.com",
                    "namespace": "email",
                    "context": {"order": f"{r}/{n}"},
                }
                for n in range(PER_REQUEST)
            ],
        }
        for r in range(REQUESTS)
    ]


def child_main(argv: list[str]) -> None:
    """A worker that dies at ``moment`` (``accept`` or ``send``)."""
    path, moment, campaign_id, keys = Path(argv[0]), argv[1], argv[2], Path(argv[3])
    kit = _kit(path, _Channel(keys, die_at=2), T0)
    answers = execute_high_throughput_many(kit.as_user("ada"), _bodies(campaign_id))
    assert [status for status, _ in answers] == [202] * REQUESTS
    if moment == "accept":
        os.kill(os.getpid(), signal.SIGKILL)
    kit.tick()
    raise AssertionError("the worker should have died")  # pragma: no cover


def _campaign(path: Path) -> str:
    kit = _kit(path, _Channel(), T0)
    try:
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        ada = kit.as_user("ada")
        surface = ada.create_surface(
            name="Receipts",
            channel=EMAIL,
            settings=ck.EmailSettings(sender="orders@example.com"),
            category=ck.Category.TRANSACTIONAL,
        )
        campaign = ada.create_campaign(
            name="Receipts",
            type=ck.CampaignType.API_TRIGGERED,
            category=ck.Category.TRANSACTIONAL,
            namespace="email",
            actions=[
                ck.Action(surface.id, ck.EmailContent(subject="Order", html="{{ context.order }}"))
            ],
        )
        ada.activate(campaign.id)
        kit.tick()
        return campaign.id
    finally:
        kit.close()


def _recover(path: Path, campaign_id: str, handed: dict[int, list[str]]) -> None:
    """A fresh worker past the lease: one outcome each; only the unrecorded batch again."""
    channel = _Channel()
    kit = _kit(path, channel, T0.add(minutes=5))  # past the dead worker's lease (one minute)
    try:
        ada = kit.as_user("ada")
        kit.tick()
        everyone = REQUESTS * PER_REQUEST
        recorded, unrecorded = handed.get(1, []), handed.get(2, [])
        keys = [m.idempotency_key for m in channel.sent]
        assert len(keys) == len(set(keys)) == everyone - len(recorded)
        assert set(keys).isdisjoint(recorded)  # a recorded outcome is never sent again
        assert set(unrecorded) <= set(keys)  # handed over, unrecorded: the same key again
        report = ada.report(campaign_id)
        assert (report.targeted, report.sent, report.failed) == (everyone, everyone, 0)
        with kit.store.unit_of_work() as uow:
            [run] = uow.runs.for_campaign(campaign_id)
            entries = list(uow.ledger.entries(run.id))
        assert len(entries) == everyone  # one outcome per (run, action, profile)
        assert {e.state for e in entries} == {ck.LedgerState.SENT}
        ledger_keys = {idempotency_key(e.run_id, e.action_id, e.profile_id) for e in entries}
        assert ledger_keys == set(keys) | set(recorded)
        answers = execute_high_throughput_many(ada, _bodies(campaign_id))
        for status, response in answers:
            assert status == 202
            execution = ada.execution(response["executionId"])
            assert (execution.status, execution.targeted) == (
                ck.ExecutionStatus.SUCCEEDED,
                PER_REQUEST,
            )
        kit.tick()
        assert len(channel.sent) == len(keys)  # re-sent requests send nothing again
    finally:
        kit.close()


@pytest.mark.parametrize("moment", ["accept", "send"])
def test_a_worker_killed_after_accept_or_mid_run_delivers_each_recipient_once(
    tmp_path: Path, moment: str
) -> None:
    path = tmp_path / "kit.db"
    keys = tmp_path / "handed.txt"
    campaign_id = _campaign(path)
    child = subprocess.run(
        [sys.executable, "-c", CHILD_BOOT, str(ROOT), str(path), moment, campaign_id, str(keys)],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    handed: dict[int, list[str]] = {}
    lines = keys.read_text(encoding="utf-8").splitlines() if keys.exists() else []
    for line in lines:
        batch, key = line.split()
        handed.setdefault(int(batch), []).append(key)
    assert {batch: len(k) for batch, k in handed.items()} == ({1: 4, 2: 4} if lines else {})
    assert bool(lines) == (moment == "send")
    _recover(path, campaign_id, handed)


def test_the_same_flow_in_process_delivers_each_recipient_once(tmp_path: Path) -> None:
    path = tmp_path / "kit.db"
    campaign_id = _campaign(path)
    kit = _kit(path, _Channel(), T0)
    try:
        answers = execute_high_throughput_many(kit.as_user("ada"), _bodies(campaign_id))
        assert [status for status, _ in answers] == [202] * REQUESTS
    finally:
        kit.close()
    _recover(path, campaign_id, {})
