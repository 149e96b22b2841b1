"""A fresh unitary trigger is claimed, decided and its intents recorded in one transaction.

The tick that delivers an accepted trigger writes the run twice: once when it
claims it (with the decided batch, its counts and position), once with the
outcomes (ending it there). These tests check what that path must keep: what
happens between accept and tick is seen (a suppression, a consent withdrawn,
a stop), an excluded recipient, a transient failure left for later, a stopping
worker, a progress callback that raises; and the lease and heartbeat helpers
the path relies on. Every test runs on both stores.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import cast

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit.adapters.memory import InMemoryStore
from campaignkit.delivery.lease import Leases
from tests.unit.triggers.support import BOB, EMAIL, MKT, T0, Env, Kind, ann, bob, open_env


@pytest.fixture(params=["memory", "sqlite"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    world = open_env(cast("Kind", request.param), tmp_path)
    yield world
    world.kit.close()


def _run(env: Env, campaign_id: str) -> ck.Run:
    (run,) = env.runs(campaign_id)
    return run


def test_the_tick_writes_a_fresh_trigger_twice_and_delivers_it(env: Env) -> None:
    campaign = env.campaign()
    env.admin.trigger(campaign.id, [ann()], request_id="r")
    assert _run(env, campaign.id).revision == 1  # accepted: added once

    env.kit.tick()

    run = _run(env, campaign.id)
    assert run.status is ck.RunStatus.SUCCEEDED
    assert run.revision == 3  # claimed with its intents, then ended with its outcome
    assert (run.position, run.streamed, run.lease_owner) == (1, True, None)
    assert [m.address for m in env.sent()] == ["ann@example.com"]
    assert env.admin.report(campaign.id).sent == 1


def test_a_suppression_after_accept_is_seen_at_the_tick_the_profile_is_the_accepted_one(
    env: Env,
) -> None:
    """Suppressions are read when the batch is decided; the profile (consents included)
    is the one the call was accepted with, overlaid with its attributes."""
    campaign = env.campaign(category=MKT)
    env.admin.trigger(campaign.id, [ann(), bob()], request_id="r")
    with env.kit.store.unit_of_work() as uow:
        uow.suppressions.add(EMAIL, "ann@example.com")
    env.kit.profiles.upsert(attrs.evolve(BOB, consents={}))

    env.kit.tick()

    assert [m.profile_id for m in env.sent()] == [BOB.id]
    assert env.admin.report(campaign.id).excluded == {ck.ExclusionReason.SUPPRESSED: 1}
    assert _run(env, campaign.id).status is ck.RunStatus.SUCCEEDED


def test_a_recipient_excluded_at_the_claim_ends_the_run_with_nothing_sent(env: Env) -> None:
    campaign = env.campaign(subject="Hi {{ profile.nickname }}")
    env.admin.trigger(campaign.id, [ann()], request_id="r")

    env.kit.tick()

    assert env.sent() == []
    assert env.admin.report(campaign.id).excluded == {ck.ExclusionReason.MISSING_ATTRIBUTE: 1}
    assert _run(env, campaign.id).status is ck.RunStatus.SUCCEEDED


def test_a_transient_failure_leaves_the_run_due_for_its_retry(env: Env) -> None:
    campaign = env.campaign()
    channel = env.channel()
    record = channel.send
    busy = [ck.TransientFailure("busy")]

    def send(messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
        results = record(messages)
        return [busy.pop()] if busy else results

    channel.send = send  # type: ignore[method-assign]
    env.admin.trigger(campaign.id, [ann()], request_id="r")

    env.kit.tick()

    run = _run(env, campaign.id)
    assert run.status is ck.RunStatus.RUNNING
    assert run.lease_owner is None
    assert run.due_at is not None
    assert run.due_at > T0
    env.kit.run_until(run.due_at)
    assert _run(env, campaign.id).status is ck.RunStatus.SUCCEEDED
    assert len(env.sent()) == 2  # the failed attempt and the retry, one key
    assert len({m.idempotency_key for m in env.sent()}) == 1


def test_a_worker_stopping_after_the_batch_hands_the_run_back_and_it_ends_later(
    env: Env,
) -> None:
    campaign = env.campaign()
    env.admin.trigger(campaign.id, [ann()], request_id="r")
    stopping = threading.Event()
    stopping.set()
    runner = env.kit.runner
    runner.stop_requested = stopping.is_set
    report = env.kit.engine._tick_at(env.clock.now())  # the tick itself starts nothing
    assert report.events == ()
    assert _run(env, campaign.id).status is ck.RunStatus.PENDING
    runner.stop_requested = lambda: bool(env.sent())  # stopping once the batch is sent

    env.kit.tick()  # delivers the batch, then stops: the run is handed back, not ended

    run = _run(env, campaign.id)
    assert run.status is ck.RunStatus.RUNNING
    assert (run.lease_owner, run.due_at) == (None, env.clock.now())
    runner.stop_requested = lambda: False
    env.kit.tick()
    assert _run(env, campaign.id).status is ck.RunStatus.SUCCEEDED
    assert len(env.sent()) == 1


def test_a_progress_callback_that_raises_does_not_fail_the_trigger(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    campaign = env.campaign()
    seen: list[ck.RunProgress] = []

    def progress(progress: ck.RunProgress) -> None:
        seen.append(progress)
        raise RuntimeError("the bar broke")

    env.kit.runner.progress = progress
    env.admin.trigger(campaign.id, [ann(), bob()], request_id="r")
    with caplog.at_level(logging.ERROR, logger="campaignkit"):
        env.kit.tick()

    assert [(p.position, p.total, p.counts.sent) for p in seen] == [(2, 2, 2)]
    assert "progress callback" in caplog.text
    assert _run(env, campaign.id).status is ck.RunStatus.SUCCEEDED


def test_a_jinja_trigger_is_decided_outside_the_claim(env: Env) -> None:
    campaign = env.campaign(
        subject="{% if profile.firstName %}Hi {{ profile.firstName }}{% endif %}"
    )
    env.admin.trigger(campaign.id, [ann()], request_id="r")

    env.kit.tick()

    assert [m.fields["subject"] for m in env.sent()] == ["Hi Ann"]
    assert _run(env, campaign.id).revision > 3  # the claim, then the batch's own intent


# ---------------------------------------------------------------- leases


class ParisClock:
    """A clock that answers in another zone than UTC (expiry falls back to pendulum)."""

    def now(self) -> pendulum.DateTime:
        return T0.in_tz("Europe/Paris")


def test_a_lease_expiry_is_the_same_instant_from_a_clock_in_any_zone() -> None:
    length = pendulum.duration(minutes=1, microseconds=7)
    utc = Leases("w", ck.testing.ManualClock(T0), length).expiry()
    paris = Leases("w", ParisClock(), length).expiry()
    assert utc == paris == T0.add(minutes=1, microseconds=7)
    assert isinstance(utc, pendulum.DateTime)
    assert utc.tzinfo is pendulum.UTC


def test_a_heartbeat_with_a_long_interval_renews_in_slices() -> None:
    """A lease of 4.5 s: renewed every 1.5 s, waited for in two slices of 0.75 s."""
    store = InMemoryStore()
    clock = ck.testing.ManualClock(T0)
    run = ck.Run(
        id="run_1",
        campaign_id="cmp",
        version=1,
        kind=ck.RunKind.TRIGGER,
        status=ck.RunStatus.RUNNING,
        created_at=T0,
        due_at=T0,
        lease_owner="w",
        lease_expires_at=T0,
    )
    with store.unit_of_work() as uow:
        uow.runs.add(run)
    leases = Leases("w", clock, pendulum.duration(milliseconds=4500))
    later = T0.add(minutes=5)
    clock.set(later)
    pause = threading.Event()
    with leases.heartbeat(store, "run_1"):
        for _ in range(500):  # up to 5 s of real time
            with store.unit_of_work() as uow:
                expires = uow.runs.get("run_1").lease_expires_at
            if expires is not None and expires > later:
                break
            pause.wait(0.01)
    assert expires == later.add(microseconds=4_500_000)
