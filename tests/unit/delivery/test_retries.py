"""Retries: transient failures are retried with deterministic, capped, jittered backoff, and a
channel that raises or miscounts fails its batch transiently."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import pendulum
import pytest

import campaignkit as ck
from campaignkit.domain.delivery import backoff, idempotency_key
from campaignkit.testing import (
    CallbackChannel,
    ManualClock,
)
from tests.factories import T0
from tests.unit.delivery.support import (
    RETRY,
    C,
    L,
    Worlds,
    action_id,
    balanced,
    by_profile,
    delays,
    email_action,
    launch,
    ledger,
    only_run,
    person,
)


def test_transient_failures_are_retried_with_deterministic_backoff_then_failed(
    worlds: Worlds,
) -> None:
    clock = ManualClock(T0)
    tries: Counter[str] = Counter()
    log: list[tuple[str, pendulum.DateTime]] = []

    def respond(message: ck.Message) -> ck.SendResult:
        pid = message.profile_id
        tries[pid] += 1
        log.append((pid, clock.now()))
        if pid == "flaky" and tries[pid] <= 2:
            return ck.TransientFailure(f"busy {tries[pid]}")
        if pid == "down":
            return ck.TransientFailure(f"busy {tries[pid]}")
        if pid == "bad":
            return ck.PermanentFailure("invalid address")
        return ck.Accepted(f"ok-{pid}-{tries[pid]}")

    world = worlds.world(clock, channels={C.EMAIL: CallbackChannel(respond)}, delivery=RETRY)
    kit = world.kit
    for pid in ("ok", "flaky", "down", "bad"):
        kit.profiles.upsert(person(pid, pid))
    kit.audiences.define("mixed", ["ok", "flaky", "down", "bad"])
    campaign = launch(world, [email_action(world)], audience="mixed")
    run = only_run(kit, campaign.id)
    aid = action_id(campaign, C.EMAIL)
    key = {pid: idempotency_key(run.id, aid, pid) for pid in tries}

    # after the first tick: one sent, one failed for good, two waiting to retry
    entries = by_profile(ledger(kit, run.id))
    assert entries["ok"].state is L.SENT
    assert entries["ok"].provider_message_id == "ok-ok-1"
    assert (entries["bad"].state, entries["bad"].error, entries["bad"].attempts) == (
        L.FAILED,
        "invalid address",
        1,
    )
    for pid in ("flaky", "down"):
        entry = entries[pid]
        assert (entry.state, entry.attempts, entry.error) == (L.RETRY, 1, "busy 1")
        assert entry.next_attempt_at == delays(key[pid], RETRY, 2)[1]
        assert entry.message is not None
        assert entry.message.idempotency_key == key[pid]
    assert run.status is ck.RunStatus.RUNNING
    assert run.due_at == min(delays(key["flaky"], RETRY, 2)[1], delays(key["down"], RETRY, 2)[1])
    counts = run.counts[aid]
    assert (counts.targeted, counts.sent, counts.failed, counts.pending, counts.retries) == (
        4,
        1,
        1,
        2,
        0,
    )
    assert kit.engine.next_due_at() == run.due_at

    # the engine re-sends at exactly the backoff instants, on its clock
    kit.run_until(T0.add(hours=1))
    assert [t for pid, t in log if pid == "flaky"] == delays(key["flaky"], RETRY, 3)
    assert [t for pid, t in log if pid == "down"] == delays(key["down"], RETRY, 4)
    assert [t for pid, t in log if pid in ("ok", "bad")] == [T0, T0]
    entries = by_profile(ledger(kit, run.id))
    assert (entries["flaky"].state, entries["flaky"].attempts) == (L.SENT, 3)
    assert entries["flaky"].provider_message_id == "ok-flaky-3"
    assert (entries["down"].state, entries["down"].attempts, entries["down"].error) == (
        L.FAILED,
        4,
        "busy 4",
    )
    run = only_run(kit, campaign.id)
    assert run.status is ck.RunStatus.SUCCEEDED
    assert run.finished_at == delays(key["down"], RETRY, 4)[-1]
    assert run.due_at is None
    report = world.admin.report(campaign.id)
    assert (report.sent, report.failed, report.retries, report.targeted) == (2, 2, 2 + 3, 4)
    assert balanced(report.counts)


def test_backoff_is_deterministic_exponential_jittered_and_capped() -> None:
    base, cap = pendulum.duration(seconds=10), pendulum.duration(seconds=100)
    first = backoff("run:act:p1", 1, base=base, cap=cap)
    assert first == backoff("run:act:p1", 1, base=base, cap=cap)
    for attempt in range(1, 10):
        delay = backoff("run:act:p1", attempt, base=base, cap=cap).total_seconds()
        raw = min(10 * 2 ** (attempt - 1), 100)
        assert 0.5 * raw <= delay < raw
    spread = {backoff(f"run:act:p{n}", 1, base=base, cap=cap) for n in range(20)}
    assert len(spread) > 10  # recipients do not retry in lockstep


class Flaky:
    """A channel that raises (or answers nonsense) on its first call, then accepts."""

    def __init__(self, first: Callable[[Sequence[ck.Message]], Sequence[ck.SendResult]]) -> None:
        self.first = first
        self.calls = 0

    def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
        self.calls += 1
        if self.calls == 1:
            return self.first(messages)
        return [ck.Accepted(f"flaky-{m.idempotency_key}") for m in messages]


def _raise(messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
    raise ConnectionError("provider unreachable")


def _too_few(messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
    return [ck.Accepted("only-one")]


@pytest.mark.parametrize(
    ("first", "error"),
    [
        (_raise, "ConnectionError: provider unreachable"),
        (_too_few, "DeliveryError: channel answered 1 results for 2 messages"),
    ],
)
def test_a_channel_that_raises_or_miscounts_is_a_transient_failure_of_its_batch(
    memory: Worlds,
    first: Callable[[Sequence[ck.Message]], Sequence[ck.SendResult]],
    error: str,
) -> None:
    channel = Flaky(first)
    world = memory.world(channels={C.EMAIL: channel}, delivery=RETRY)
    campaign = launch(world, [email_action(world)])
    run = only_run(world.kit, campaign.id)
    entries = ledger(world.kit, run.id)
    assert [(e.state, e.error, e.attempts) for e in entries] == [(L.RETRY, error, 1)] * 2
    assert run.status is ck.RunStatus.RUNNING
    world.kit.run_until(T0.add(hours=1))
    entries = ledger(world.kit, run.id)
    assert [e.state for e in entries] == [L.SENT, L.SENT]
    report = world.admin.report(campaign.id)
    assert (report.sent, report.retries, report.failed) == (2, 2, 0)
    assert channel.calls == 3  # each message is retried at its own (jittered) instant
