"""One kit ticking from two threads sends nobody twice; a channel that consumes its input and
a lookup that raises after an interrupt fail a group, not the run."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import pendulum
import pytest

import campaignkit as ck
from campaignkit.testing import CallbackChannel
from tests.unit.pipeline_attacks.support import Env, HostAudiences, accept, crowd

# ---------------------------------------------------------------- one kit, two threads


def test_one_kit_ticking_from_two_threads_sends_nobody_twice(
    make_env: Callable[..., Env],
) -> None:
    """A tick while another thread of the same kit is inside a channel call.

    Both threads are the same worker, so the lease does not keep the second
    one out of the run the first is delivering.
    """
    in_send, release = threading.Event(), threading.Event()
    handed: list[str] = []
    lock = threading.Lock()

    def slow_first(message: ck.Message) -> ck.SendResult:
        with lock:
            handed.append(message.idempotency_key)
        if threading.current_thread().name == "first" and not in_send.is_set():
            in_send.set()
            release.wait(10)
        return accept(message)

    env = make_env(audiences=HostAudiences({"c": crowd(25)}), channel=CallbackChannel(slow_first))
    campaign = env.start("c")
    errors: list[BaseException] = []

    def tick() -> None:
        try:
            env.kit.tick()
        except BaseException as exc:  # reported below
            errors.append(exc)

    first = threading.Thread(target=tick, name="first")
    first.start()
    assert in_send.wait(10)
    second = threading.Thread(target=tick, name="second")
    second.start()
    second.join(10)
    release.set()
    first.join(10)
    env.kit.tick()
    assert not errors, errors
    assert env.run_of(campaign.id).status is ck.RunStatus.SUCCEEDED
    assert env.admin.report(campaign.id).sent == 25
    twice = sorted({k for k in handed if handed.count(k) > 1})
    assert not twice, f"{len(twice)} messages handed over twice: {twice[:3]}"


def test_a_channel_that_consumes_its_input_list_fails_the_group_not_the_run(
    make_env: Callable[..., Env],
) -> None:
    broken = [True]

    class Channel:
        def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
            if broken[0]:
                messages.clear()  # type: ignore[attr-defined]
                return []
            return [accept(m) for m in messages]

    env = make_env(audiences=HostAudiences({"c": crowd(5)}), channel=Channel())
    campaign = env.start("c")
    env.kit.tick()
    assert env.run_of(campaign.id).status is ck.RunStatus.RUNNING  # retried later
    broken[0] = False
    env.clock.advance(pendulum.duration(hours=2))
    env.kit.tick()
    assert env.admin.report(campaign.id).sent == 5


@pytest.mark.parametrize("lookup", ["raises", "not-a-result"])
def test_a_lookup_that_raises_after_an_interrupt_does_not_fail_the_run(
    make_env: Callable[..., Env], lookup: str
) -> None:
    state = {"interrupt": True, "lookup_raises": True}

    class Channel:
        def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
            if state["interrupt"]:
                state["interrupt"] = False
                raise KeyboardInterrupt  # the worker is interrupted mid-batch: PENDING left
            return [accept(m) for m in messages]

        def lookup(self, idempotency_key: str) -> ck.SendResult | None:
            if state["lookup_raises"]:
                state["lookup_raises"] = False
                if lookup == "raises":
                    raise ConnectionError("provider API down")
                return "delivered"  # type: ignore[return-value]
            return None

    env = make_env(audiences=HostAudiences({"c": crowd(5)}), channel=Channel())
    campaign = env.start("c")
    with pytest.raises(KeyboardInterrupt):
        env.kit.tick()
    env.kit.tick()
    env.clock.advance(pendulum.duration(hours=2))
    env.kit.tick()
    assert env.run_of(campaign.id).status is ck.RunStatus.SUCCEEDED
    assert env.admin.report(campaign.id).sent == 5
