"""API triggers delivered in one batch: retries and stops end the run correctly, dropped
workers leave no cyclic garbage, and Jinja batches render without the write lock."""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pendulum
import pytest

import campaignkit as ck
from campaignkit.delivery.lease import Leases
from campaignkit.testing import CallbackChannel, ManualClock, SequentialIds
from tests.unit.pipeline_attacks.support import EMAIL, T0, Env, HostAudiences, accept, crowd

# ---------------------------------------------------------------- API triggers (one batch)


def _triggered(env: Env) -> ck.Campaign:
    for profile in crowd(3):
        env.kit.profiles.upsert(profile)
    campaign = env.admin.create_campaign(
        name="Receipt",
        type=ck.CampaignType.API_TRIGGERED,
        namespace="email",
        actions=[ck.Action(env.surface.id, ck.EmailContent(subject="Hi", html="<p>x</p>"))],
    )
    env.admin.activate(campaign.id)
    env.kit.tick()
    return campaign


def test_a_trigger_whose_only_batch_has_a_retry_left_is_not_ended_early(
    make_env: Callable[..., Env],
) -> None:
    busy = {"p001": 1}

    def once_busy(message: ck.Message) -> ck.SendResult:
        if busy.get(message.profile_id):
            busy[message.profile_id] -= 1
            return ck.TransientFailure("busy")
        return accept(message)

    env = make_env(channel=CallbackChannel(once_busy))
    campaign = _triggered(env)
    recipients = [ck.Recipient(f"p{i:03d}@example.com", "email") for i in range(3)]
    env.admin.trigger(campaign.id, recipients, request_id="r1")
    env.kit.tick()
    run = env.run_of(campaign.id)
    assert run.status is ck.RunStatus.RUNNING, run
    env.clock.advance(pendulum.duration(hours=2))
    env.kit.tick()
    assert env.run_of(campaign.id).status is ck.RunStatus.SUCCEEDED
    entries = env.entries(campaign.id)
    assert sorted(e.profile_id for e in entries) == ["p000", "p001", "p002"]
    assert {e.state for e in entries} == {ck.LedgerState.SENT}


def test_a_trigger_stopped_during_its_send_ends_stopped(make_env: Callable[..., Env]) -> None:
    box: list[Env] = []

    def stop_then_accept(message: ck.Message) -> ck.SendResult:
        box[0].admin.stop(message.campaign_id)
        return accept(message)

    env = make_env(channel=CallbackChannel(stop_then_accept))
    box.append(env)
    campaign = _triggered(env)
    env.admin.trigger(campaign.id, [ck.Recipient("p000@example.com", "email")], request_id="r1")
    env.kit.tick()
    run = env.run_of(campaign.id)
    assert run.status is ck.RunStatus.STOPPED, run


def test_a_dropped_worker_leaves_no_cyclic_garbage() -> None:
    """Leases and their heartbeat refer to each other weakly: dropping a kit frees them at once."""
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        leases = Leases("worker-a", ManualClock(T0), pendulum.duration(minutes=1))
        del leases
        gc.collect()
        ours = [o for o in gc.garbage if type(o).__module__.startswith("campaignkit")]
        assert ours == []
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if was:
            gc.enable()


@pytest.mark.parametrize(
    ("subject", "locked"),
    [("Hi {{ profile.firstName }}", True), ("{% if true %}Hi{% endif %}", False)],
    ids=["pure-substitution", "jinja"],
)
def test_a_jinja_batch_is_rendered_without_holding_the_write_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, subject: str, locked: bool
) -> None:
    """Another process may write while a batch of Jinja templates renders (it may take long).

    A batch of pure substitutions renders in well under a millisecond: it is
    decided inside its intent transaction.
    """
    import sqlite3

    from campaignkit.delivery import decide as deciding

    seen: list[bool] = []
    decide = deciding.decide_batch

    def probing(*args: Any, **kwargs: Any) -> Any:
        other = sqlite3.connect(tmp_path / "kit.db", timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            seen.append(False)
        except sqlite3.OperationalError:  # database is locked
            seen.append(True)
        finally:
            other.close()
        return decide(*args, **kwargs)

    monkeypatch.setattr(deciding, "decide_batch", probing)
    clock = ManualClock(T0)
    kit = ck.CampaignKit.sqlite(
        tmp_path / "kit.db",
        clock,
        {EMAIL: CallbackChannel(accept)},
        ids=SequentialIds(),
        audiences=HostAudiences({"c": crowd(3, firstName="Ann")}),
    )
    try:
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        admin = kit.as_user("ada")
        surface = admin.create_surface(
            name="News", channel=EMAIL, settings=ck.EmailSettings(sender="n@example.com")
        )
        campaign = admin.create_campaign(
            name="Crowd",
            audience="c",
            namespace="email",
            actions=[ck.Action(surface.id, ck.EmailContent(subject=subject, html="<p>x</p>"))],
        )
        admin.activate(campaign.id)
        kit.tick()
        assert admin.report(campaign.id).sent == 3
    finally:
        kit.close()
    assert seen == [locked]
