"""Channel answers of every wrong shape: sequences and generators, wrong answers retried with
the same keys, and provider ids reused inside and across batches or runs."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import pendulum
import pytest

import campaignkit as ck
from tests.unit.pipeline_attacks.support import Env, HostAudiences, accept, crowd

# ---------------------------------------------------------------- channel answers


class Subaccepted(ck.Accepted):
    pass


@pytest.mark.parametrize("shape", ["list", "tuple", "subclass"])
def test_a_channel_answering_any_sequence_of_results_is_recorded(
    make_env: Callable[..., Env], shape: str
) -> None:
    class Channel:
        def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
            if shape == "subclass":
                return [Subaccepted(f"id-{m.idempotency_key}") for m in messages]
            results = [accept(m) for m in messages]
            return tuple(results) if shape == "tuple" else results

    env = make_env(audiences=HostAudiences({"c": crowd(25)}), channel=Channel())
    campaign = env.start("c")
    env.kit.tick()
    assert env.run_of(campaign.id).status is ck.RunStatus.SUCCEEDED
    entries = env.entries(campaign.id)
    assert all(e.state is ck.LedgerState.SENT and e.provider_message_id for e in entries)


def test_a_channel_answering_a_generator_still_delivers(make_env: Callable[..., Env]) -> None:
    class Channel:
        def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
            return (accept(m) for m in messages)  # type: ignore[return-value]

    env = make_env(audiences=HostAudiences({"c": crowd(5)}), channel=Channel())
    campaign = env.start("c")
    env.kit.tick()
    assert env.admin.report(campaign.id).sent == 5


@pytest.mark.parametrize("answer", ["short", "long", "raises-midway", "not-a-result"])
def test_a_wrong_answer_retries_the_whole_group_with_the_same_keys(
    make_env: Callable[..., Env], answer: str
) -> None:
    broken = [True]
    handed: list[str] = []

    class Channel:
        def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
            handed.extend(m.idempotency_key for m in messages)
            results = [accept(m) for m in messages]
            if broken[0] and len(messages) > 1:
                if answer == "short":
                    return results[:-1]
                if answer == "long":
                    return [*results, results[0]]
                if answer == "raises-midway":
                    raise ConnectionError("dropped after half the batch")
                return [results[0], "ok", *results[2:]]  # type: ignore[list-item]
            return results

    env = make_env(audiences=HostAudiences({"c": crowd(25)}), channel=Channel())
    campaign = env.start("c")
    env.kit.tick()
    run = env.run_of(campaign.id)
    assert run.status is ck.RunStatus.RUNNING  # retries are due later
    assert {e.state for e in env.entries(campaign.id)} == {ck.LedgerState.RETRY}
    broken[0] = False
    env.clock.advance(pendulum.duration(hours=2))
    env.kit.tick()
    assert env.run_of(campaign.id).status is ck.RunStatus.SUCCEEDED
    entries = env.entries(campaign.id)
    assert len(entries) == 25
    assert {e.state for e in entries} == {ck.LedgerState.SENT}
    assert len(handed) == 50  # each key twice
    assert len(set(handed)) == 25  # and no other key


def test_provider_ids_reused_inside_and_across_batches_are_sent_once(
    make_env: Callable[..., Env], caplog: pytest.LogCaptureFixture
) -> None:
    class Channel:
        def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
            return [ck.Accepted("same-id") for _ in messages]

    env = make_env(audiences=HostAudiences({"c": crowd(25)}), channel=Channel())
    campaign = env.start("c")
    with caplog.at_level(logging.WARNING, logger="campaignkit"):
        env.kit.tick()
    assert env.run_of(campaign.id).status is ck.RunStatus.SUCCEEDED
    entries = env.entries(campaign.id)
    assert {e.state for e in entries} == {ck.LedgerState.SENT}
    assert sum(e.provider_message_id == "same-id" for e in entries) == 1
    assert env.admin.report(campaign.id).sent == 25
    assert any("provider message id" in r.getMessage() for r in caplog.records)


def test_a_provider_id_taken_by_another_run_is_dropped(make_env: Callable[..., Env]) -> None:
    class Channel:
        def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
            return [ck.Accepted(f"id-{m.profile_id}") for m in messages]

    env = make_env(audiences=HostAudiences({"c": crowd(5)}), channel=Channel())
    first = env.start("c", name="First")
    env.kit.tick()
    second = env.start("c", name="Second")
    env.kit.tick()
    for campaign in (first, second):
        assert env.run_of(campaign.id).status is ck.RunStatus.SUCCEEDED
        assert env.admin.report(campaign.id).sent == 5
    assert all(e.provider_message_id is None for e in env.entries(second.id))
