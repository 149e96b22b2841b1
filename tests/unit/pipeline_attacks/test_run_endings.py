"""How a run ends when its campaign stops during its last batch, its last batch leaves retries,
or its worker stops."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pendulum
import pytest

import campaignkit as ck
from campaignkit.delivery.runner import Paused
from campaignkit.testing import CallbackChannel
from tests.unit.pipeline_attacks.support import T0, Env, HostAudiences, accept, crowd

# ---------------------------------------------------------------- run endings


def test_a_campaign_stopped_during_the_last_batch_ends_the_run_stopped(
    make_env: Callable[..., Env],
) -> None:
    env_box: list[Env] = []

    def stop_then_accept(message: ck.Message) -> ck.SendResult:
        env = env_box[0]
        if message.profile_id == "p024":
            env.admin.stop(message.campaign_id)
        return accept(message)

    env = make_env(
        audiences=HostAudiences({"c": crowd(25)}), channel=CallbackChannel(stop_then_accept)
    )
    env_box.append(env)
    campaign = env.start("c")
    env.kit.tick()
    run = env.run_of(campaign.id)
    assert run.status is ck.RunStatus.STOPPED, run
    assert env.admin.get(campaign.id).status is ck.CampaignStatus.STOPPED


@pytest.mark.parametrize("counts_agree", [True, False], ids=["counts", "counts-disagree"])
def test_a_last_batch_with_retries_left_does_not_end_the_run(
    make_env: Callable[..., Env], monkeypatch: pytest.MonkeyPatch, counts_agree: bool
) -> None:
    """The ledger, not only the counts, decides: wrong counts never end a run with a retry."""
    if not counts_agree:
        from campaignkit.delivery import endings, runner

        for module in (runner, endings):  # the runner's checks and the end with outcomes
            monkeypatch.setattr(module, "has_open_entries", lambda run: False)
    flaky = {"p024": 1}

    def once_busy(message: ck.Message) -> ck.SendResult:
        if flaky.get(message.profile_id):
            flaky[message.profile_id] -= 1
            return ck.TransientFailure("busy")
        return accept(message)

    env = make_env(audiences=HostAudiences({"c": crowd(25)}), channel=CallbackChannel(once_busy))
    campaign = env.start("c")
    env.kit.tick()
    run = env.run_of(campaign.id)
    assert run.status is ck.RunStatus.RUNNING, run
    assert run.due_at is not None
    assert run.due_at > T0
    assert run.lease_owner is None
    env.clock.advance(pendulum.duration(hours=2))
    env.kit.tick()
    assert env.run_of(campaign.id).status is ck.RunStatus.SUCCEEDED
    assert env.admin.report(campaign.id).sent == 25


def test_a_worker_stopping_during_the_last_batch_leaves_the_run_to_be_ended(
    make_env: Callable[..., Env],
) -> None:
    stopping = threading.Event()

    def stop_in_last(message: ck.Message) -> ck.SendResult:
        if message.profile_id == "p024":
            stopping.set()
        return accept(message)

    env = make_env(audiences=HostAudiences({"c": crowd(25)}), channel=CallbackChannel(stop_in_last))
    campaign = env.start("c")
    env.kit.runner.stop_requested = stopping.is_set
    env.kit.tick()
    run = env.run_of(campaign.id)
    assert run.status is ck.RunStatus.RUNNING  # not ended by a stopping worker
    assert run.lease_owner is None  # handed back (Paused)
    assert {e.state for e in env.entries(campaign.id)} == {ck.LedgerState.SENT}
    env.kit.runner.stop_requested = lambda: False
    env.kit.tick()
    assert env.run_of(campaign.id).status is ck.RunStatus.SUCCEEDED
    assert env.admin.report(campaign.id).sent == 25
    assert issubclass(Paused, Exception)
