"""What runs and the worker log: start, progress, one WARNING per batch of failures, end, counts.

Each test runs a kit on a ManualClock and reads the records through caplog,
structured ``extra`` fields included.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import pendulum
import pytest

import campaignkit as ck
from campaignkit.delivery import runlog
from campaignkit.testing import ManualClock, SequentialIds
from tests.factories import T0, World
from tests.unit.test_run_forever import StoppingChannel, campaign, make_kit, only_run, setup

C = ck.ChannelType


def test_a_run_logs_its_start_progress_failures_and_end(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(T0)
    kit = ck.CampaignKit.in_memory(
        clock=clock,
        delivery=ck.DeliverySettings(
            batch_size=1, heartbeat=False, render_limits=ck.RenderLimits(max_output=1000)
        ),
        ids=SequentialIds(),
    )
    admin = setup(kit, runlog.PROGRESS_EVERY + 2)
    for pid in ("p3", "p5", "p7", "p9"):  # their subject renders beyond the output cap
        kit.profiles.upsert(
            ck.Profile(
                id=pid,
                identities={"email": f"{pid}@example.com"},
                attributes={"firstName": "x" * 2000},
                consents={C.EMAIL: True},
            )
        )
    created = campaign(admin)
    with caplog.at_level(logging.DEBUG, logger="campaignkit"):
        kit.tick()
    run = only_run(kit, created.id)
    mine = [r for r in caplog.records if getattr(r, "run_id", None) == run.id]

    start = mine[0]
    assert start.levelno == logging.INFO
    assert "started (version 1, scheduled)" in start.getMessage()
    assert (start.campaign_id, start.version, start.kind) == (created.id, 1, "scheduled")  # type: ignore[attr-defined]

    batches = [r for r in mine if "batch" in r.getMessage() and "done" in r.getMessage()]
    assert len(batches) == runlog.PROGRESS_EVERY + 2
    info = [r.batch for r in batches if r.levelno == logging.INFO]  # type: ignore[attr-defined]
    assert info == [runlog.PROGRESS_EVERY]
    assert {r.levelno for r in batches} == {logging.DEBUG, logging.INFO}

    failures = [r for r in mine if r.levelno == logging.WARNING]
    assert len(failures) == 4  # one summary per batch (each holds one failure here)
    assert failures[0].failed == 1  # type: ignore[attr-defined]
    assert failures[0].failures[0]["profile_id"] == "p3"  # type: ignore[attr-defined]

    end = mine[-1]
    assert end.levelno == logging.INFO
    assert "ended succeeded" in end.getMessage().lower()
    assert end.counts == {  # type: ignore[attr-defined]
        "targeted": 12,
        "sent": 8,
        "failed": 4,
        "excluded": 0,
        "pending": 0,
        "retries": 0,
    }


def test_a_batch_with_many_failures_logs_one_line_naming_the_first(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(T0)

    class Refusing(StoppingChannel):
        def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
            return [ck.PermanentFailure(f"550 {m.profile_id} unknown") for m in messages]

    kit = make_kit("memory", tmp_path, clock, Refusing(), batch_size=10)
    created = campaign(setup(kit, 5))
    with caplog.at_level(logging.WARNING, logger="campaignkit.delivery"):
        kit.tick()
    lines = [r for r in caplog.records if "failed permanently" in r.getMessage()]
    assert len(lines) == 1
    message = lines[0].getMessage()
    assert "5 message(s) failed permanently" in message
    assert "p1: 550 p1 unknown; p2: 550 p2 unknown; p3: 550 p3 unknown" in message
    assert "and 2 more" in message
    assert "p4" not in message
    assert lines[0].campaign_id == created.id  # type: ignore[attr-defined]
    assert len(lines[0].failures) == runlog.FIRST_FAILURES  # type: ignore[attr-defined]


def test_a_transient_failure_logs_only_once_it_is_final(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(T0)

    class Busy(StoppingChannel):
        def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
            return [ck.TransientFailure("421 try later", retry_after=1)] * len(messages)

    kit = ck.CampaignKit.in_memory(
        clock=clock,
        channels=dict.fromkeys(C, Busy()),
        delivery=ck.DeliverySettings(max_attempts=2, heartbeat=False),
    )
    created = campaign(setup(kit, 1))
    with caplog.at_level(logging.WARNING, logger="campaignkit.delivery"):
        kit.tick()
        assert not [r for r in caplog.records if "failed permanently" in r.getMessage()]
        clock.advance(seconds=1)
        kit.tick()
    lines = [r.getMessage() for r in caplog.records if "failed permanently" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].endswith("1 message(s) failed permanently: p1: 421 try later")
    assert only_run(kit, created.id).status.is_final


def test_a_resumed_run_and_a_retry_wake_up_are_logged_apart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(T0)
    stop = threading.Event()
    answers = iter([True, False, True])

    class Once(StoppingChannel):
        def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
            if next(answers):
                stop.set()
                return super().send(messages)
            return [ck.TransientFailure("busy", retry_after=5)] * len(messages)

    kit = make_kit("memory", tmp_path, clock, Once())
    created = campaign(setup(kit, 4))
    kit.run_forever(stop, handle_signals=False)  # batch 1 sent, then paused
    with caplog.at_level(logging.DEBUG, logger="campaignkit.delivery"):
        kit.tick()  # resumed: batch 2 fails for now
        clock.advance(seconds=5)
        kit.tick()  # due again for its retry
    run = only_run(kit, created.id)
    assert run.status is ck.RunStatus.SUCCEEDED
    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    name = f"run {run.id} of campaign {created.id}"
    resumed = f"{name} resumed at audience position 2 (version 1, scheduled)"
    assert (logging.INFO, resumed) in messages
    assert (logging.DEBUG, f"{name} is due again (retries or queued messages)") in messages


def test_the_worker_logs_its_start_and_stop(world: World, caplog: pytest.LogCaptureFixture) -> None:
    stop = threading.Event()
    stop.set()
    with caplog.at_level(logging.INFO, logger="campaignkit.worker"):
        world.kit.run_forever(stop, poll=pendulum.duration(seconds=5))
    lines = [r.getMessage() for r in caplog.records if r.name == "campaignkit.worker"]
    assert len(lines) == 2
    assert lines[0].startswith(f"campaignkit worker {world.kit.worker_id} started")
    assert "poll 5s" in lines[0]
    assert lines[1] == f"campaignkit worker {world.kit.worker_id} stopped"
