"""A tick claims a due run in the transaction that found it, and learns what is next from
the transaction that ended it.

A tick delivering one fresh trigger is two transactions: the scan that finds the
run due also claims it (and decides and records its intents), and the outcome
transaction that ends the run also reads what is due next. These tests check
that the tick's answers are those of a separate scan (the next due time, the
other due work), that a failing look-ahead is left to the tick's own read, and
that a failing scan still raises out of the tick. Every test runs on both stores.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import cast

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit.delivery.lease import Leases
from campaignkit.delivery.recording import Recorder
from campaignkit.engine import LifecycleEngine
from campaignkit.ports import UnitOfWork
from tests.unit.triggers.support import BOB, MKT, T0, Env, Kind, ann, bob, open_env


@pytest.fixture(params=["memory", "sqlite"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    world = open_env(cast("Kind", request.param), tmp_path)
    yield world
    world.kit.close()


def _begins(env: Env) -> list[str]:
    """The transactions the SQLite store begins from now on (an empty list in memory)."""
    statements: list[str] = []
    if env.kind == "sqlite":
        database = env.kit.store.database  # type: ignore[attr-defined]
        database.connection.set_trace_callback(statements.append)
    return statements


def test_a_trigger_tick_is_two_transactions_and_reports_the_next_due_time(env: Env) -> None:
    later = env.campaign(
        type=ck.CampaignType.SCHEDULED, category=MKT, audience="vip", start=T0.add(hours=1)
    )
    assert later.status is ck.CampaignStatus.SCHEDULED
    campaign = env.campaign()
    env.admin.trigger(campaign.id, [ann()], request_id="r")
    statements = _begins(env)

    report = env.kit.tick()
    begins = [s for s in statements if s.startswith("BEGIN")]

    assert [m.address for m in env.sent()] == ["ann@example.com"]
    assert env.runs(campaign.id)[0].status is ck.RunStatus.SUCCEEDED
    assert report.next_due_at == env.kit.engine.next_due_at() == T0.add(hours=1)
    if env.kind == "sqlite":  # scan and claim, then outcome and the look ahead
        assert begins == ["BEGIN IMMEDIATE"] * 2
    assert env.kit.tick().events == ()  # nothing more is due


def test_work_due_after_a_run_ends_is_done_in_the_same_tick(env: Env) -> None:
    first, second = env.campaign(), env.campaign()
    env.admin.trigger(first.id, [ann()], request_id="r1")
    env.admin.trigger(second.id, [bob()], request_id="r2")

    report = env.kit.tick()

    assert sorted(m.address for m in env.sent()) == ["ann@example.com", "bob@example.com"]
    assert report.next_due_at is None
    for campaign in (first, second):
        assert env.runs(campaign.id)[0].status is ck.RunStatus.SUCCEEDED


def test_a_look_ahead_that_raises_is_left_to_the_ticks_own_read(
    env: Env, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    campaign = env.campaign()
    env.admin.trigger(campaign.id, [ann()], request_id="r")
    original = LifecycleEngine._firsts
    calls: list[int] = []

    def second_raises(engine: LifecycleEngine, uow: UnitOfWork) -> object:
        calls.append(1)
        if len(calls) == 2:  # the read in the transaction that ends the run
            raise RuntimeError("the look ahead failed")
        return original(engine, uow)

    monkeypatch.setattr(LifecycleEngine, "_firsts", second_raises)
    with caplog.at_level(logging.DEBUG, logger="campaignkit.engine"):
        report = env.kit.tick()

    assert len(calls) == 3  # the scan, the failed look ahead, the tick's own read
    assert "looking ahead failed" in caplog.text
    assert report.next_due_at is None
    assert env.runs(campaign.id)[0].status is ck.RunStatus.SUCCEEDED  # outcome kept
    assert env.admin.report(campaign.id).sent == 1


@pytest.mark.parametrize("error", [ck.ConflictError("scan"), ck.StorageError("scan")])
def test_a_scan_that_raises_raises_out_of_the_tick(
    env: Env, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    campaign = env.campaign()
    env.admin.trigger(campaign.id, [ann()], request_id="r")

    def raising(*args: object) -> object:
        raise error

    with monkeypatch.context() as patch:
        patch.setattr(LifecycleEngine, "_candidates", raising)
        with pytest.raises(type(error)):
            env.kit.tick()
    assert env.runs(campaign.id)[0].status is ck.RunStatus.PENDING  # nothing was claimed
    env.kit.tick()
    assert env.admin.report(campaign.id).sent == 1


def _during_send(
    env: Env, monkeypatch: pytest.MonkeyPatch, change: Callable[[ck.Run], ck.Run]
) -> None:
    """Make the email channel change the stored run (``change``) before it answers."""
    channel = env.channel()
    send = channel.send

    def sending(messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
        with env.kit.store.unit_of_work() as uow:
            (run,) = [r for r in env.runs(messages[0].campaign_id) if not r.status.is_final]
            uow.runs.save(change(uow.runs.get(run.id)))
        return send(messages)

    monkeypatch.setattr(channel, "send", sending)


def test_the_outcomes_do_not_read_the_run_unless_it_moved_on_meanwhile(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = env.campaign()
    env.admin.trigger(campaign.id, [ann()], request_id="r1")
    statements = _begins(env)
    env.kit.tick()
    run_reads = [s for s in statements if s.startswith("SELECT") and "FROM runs WHERE id" in s]
    if env.kind == "sqlite":
        assert len(run_reads) == 1  # the claim's: the outcomes wrote the run they held

    # a lease renewal (say) during the send: the held run is stale, the run is read
    _during_send(env, monkeypatch, lambda run: run)
    env.admin.trigger(campaign.id, [bob()], request_id="r2")
    env.kit.tick()
    second = [r for r in env.runs(campaign.id) if r.recipients[0].profile.id == BOB.id]
    assert len(second) == 1
    assert second[0].status is ck.RunStatus.SUCCEEDED
    assert second[0].revision == 4  # claimed, renewed, ended
    assert second[0].total().sent == 1
    assert env.admin.report(campaign.id).sent == 2


def test_a_run_taken_over_during_the_send_records_nothing_of_this_worker(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = env.campaign()
    env.admin.trigger(campaign.id, [ann()], request_id="r")
    _during_send(env, monkeypatch, lambda run: attrs.evolve(run, lease_owner="another-worker"))

    env.kit.tick()

    (run,) = env.runs(campaign.id)
    assert run.status is ck.RunStatus.RUNNING
    assert run.lease_owner == "another-worker"  # it records what follows
    assert env.admin.report(campaign.id).sent == 0
    assert [m.address for m in env.sent()] == ["ann@example.com"]


def test_a_conflict_recording_outcomes_is_retried_once_reading_the_run(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[ck.Run | None] = []

    def conflicting(recorder: Recorder, run_id: str, held: ck.Run | None, *rest: object) -> ck.Run:
        calls.append(held)
        raise ck.ConflictError("the run changed meanwhile")

    monkeypatch.setattr(Recorder, "_settled", conflicting)
    minute = pendulum.duration(minutes=1)
    recorder = Recorder(env.kit.store, Leases("w", env.clock, minute), 3, minute, minute)
    with pytest.raises(ck.ConflictError):
        recorder.outcomes("run_x", [], T0, retry=False)
    assert calls == [None]  # nothing held: not retried
    run = ck.Run("run_x", "cmp_x", 1, ck.RunKind.TRIGGER, ck.RunStatus.RUNNING, T0, None)
    with pytest.raises(ck.ConflictError):
        recorder.outcomes("run_x", [], T0, retry=False, held=run)
    assert calls == [None, run, None]  # the held run, then a read
