"""Runs split into shards (issue 15): planned, delivered by several workers, fenced by epochs.

Each test runs on a SQLite file and on PostgreSQL (a fresh schema). Workers
are kits with their own store objects on the same database (what separate
processes are to it), ticked from threads where two must overlap. A
worker is held inside a channel call by a gate (an event it waits on), and
the clocks are moved by hand: nothing sleeps.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Final

import pendulum
import pytest

import campaignkit as ck
from campaignkit.delivery.shards import current_shard, shards_of
from campaignkit.domain.shards import Shard, ShardLost, describe, plan_shards, total
from campaignkit.testing import ManualClock

T0: Final = pendulum.datetime(2027, 3, 1, 9, tz="UTC")
EMAIL: Final = ck.ChannelType.EMAIL
SMS: Final = ck.ChannelType.SMS
PEOPLE: Final = 47
BOUND: Final = 30.0
LEASE: Final = pendulum.duration(seconds=30)

Opener = Callable[..., AbstractContextManager[ck.CampaignKit]]


class Provider:
    """A channel that keeps every message handed to it; ``gate`` holds one call once."""

    def __init__(self, log: list[tuple[str, str]], name: str) -> None:
        self.log = log
        self.name = name
        self.gate: threading.Event | None = None
        self.inside = threading.Event()

    def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
        self.log.extend((m.idempotency_key, self.name) for m in messages)
        if self.gate is not None:
            gate, self.gate = self.gate, None
            self.inside.set()
            assert gate.wait(BOUND), "the gate was never opened"
        return [ck.Accepted(f"{self.name}-{m.idempotency_key}") for m in messages]


@pytest.fixture(params=["sqlite", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens a worker (a kit with its own store) on one database shared by the test."""
    if request.param == "sqlite":
        path = tmp_path / "shared.db"

        def sqlite(**kwargs: Any) -> AbstractContextManager[ck.CampaignKit]:
            return ck.CampaignKit.sqlite(path, **kwargs)

        return sqlite
    dsn: str = request.getfixturevalue("postgres_dsn")
    schema: str = request.getfixturevalue("postgres_schema")

    def postgres(**kwargs: Any) -> AbstractContextManager[ck.CampaignKit]:
        return ck.CampaignKit.postgres(dsn, schema=schema, **kwargs)

    return postgres


def settings(shard_size: int | None = 10) -> ck.DeliverySettings:
    return ck.DeliverySettings(batch_size=4, shard_size=shard_size, lease=LEASE)


def seed(kit: ck.CampaignKit, *, sms: bool = True) -> str:
    """``PEOPLE`` profiles (ids with gaps) and an activated email (+ SMS) campaign; its id."""
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    admin = kit.as_user("ada")
    mail = admin.create_surface(
        name="News", channel=EMAIL, settings=ck.EmailSettings(sender="news@example.com")
    )
    text = admin.create_surface(name="Texts", channel=SMS, settings=ck.SmsSettings(sender_id="S"))
    ids = [f"p{3 * i:04d}" for i in range(PEOPLE)]
    profiles = kit.profiles
    for pid in ids:
        profiles.upsert(
            ck.Profile(
                id=pid,
                identities={"email": f"{pid}@example.com"},
                consents={EMAIL: True, SMS: True},
                channel_data={SMS: "+15550000000"},
            )
        )
    kit.audiences.define("everyone", [*ids, "ghost"])  # one member no profile store knows
    actions = [ck.Action(mail.id, ck.EmailContent(subject="Hi", html="<p>Hi</p>"))]
    if sms:
        actions.append(ck.Action(text.id, ck.SmsContent(text="Hi")))
    campaign = admin.create_campaign(
        name="Split", audience="everyone", namespace="email", actions=actions
    )
    admin.activate(campaign.id)
    return campaign.id


def the_run(kit: ck.CampaignKit, campaign_id: str) -> ck.Run:
    with kit.store.unit_of_work() as uow:
        (run,) = uow.runs.for_campaign(campaign_id)
    return run


def entries(kit: ck.CampaignKit, run_id: str) -> list[ck.LedgerEntry]:
    with kit.store.unit_of_work() as uow:
        return list(uow.ledger.entries(run_id))


@pytest.fixture
def world(opener: Opener) -> tuple[Opener, list[tuple[str, str]]]:
    return opener, []


def worker(
    opener: Opener, log: list[tuple[str, str]], clock: ManualClock, shard_size: int | None = 10
) -> tuple[AbstractContextManager[ck.CampaignKit], dict[ck.ChannelType, Provider]]:
    channels = {EMAIL: Provider(log, "email"), SMS: Provider(log, "sms")}
    return (
        opener(clock=clock, channels=channels, delivery=settings(shard_size)),
        channels,
    )


# ---------------------------------------------------------------- pure parts


def test_plan_shards_makes_even_contiguous_ranges() -> None:
    shards = plan_shards("r", 10_001, 10_000)
    assert [(s.first, s.end) for s in shards] == [(0, 5001), (5001, 10_001)]
    sizes = [s.size for s in plan_shards("r", 47, 10)]
    assert sizes == [10, 10, 9, 9, 9]
    assert plan_shards("r", 0, 10) == []
    assert [s.number for s in plan_shards("r", 3, 1)] == [0, 1, 2]


def test_a_shard_is_free_when_not_done_and_unleased() -> None:
    shard = Shard("r", 0, 0, 5)
    assert shard.free(T0)
    leased = Shard("r", 0, 0, 5, epoch=1, owner="w", lease_expires_at=T0.add(seconds=5))
    assert not leased.free(T0)
    assert leased.free(T0.add(seconds=5))
    assert not Shard("r", 0, 0, 5, done=True).free(T0)
    assert "epoch 1, owner w" in repr(leased)
    assert "done" in repr(Shard("r", 0, 0, 5, done=True))
    assert describe(leased)["lease_expires_at"] == T0.add(seconds=5).isoformat()
    assert describe(shard)["lease_expires_at"] is None
    counted = Shard("r", 1, 5, 9, counts={"a": ck.ActionCounts(targeted=2, sent=2)})
    assert total([counted, counted])["a"].sent == 4
    assert str(ShardLost("r", 1, 3)) == "shard 1 of run r is no longer held at epoch 3"


# ---------------------------------------------------------------- one worker


def test_one_worker_delivers_a_split_run_like_a_whole_one(
    world: tuple[Opener, list[tuple[str, str]]], tmp_path: Path
) -> None:
    opener, log = world
    clock = ManualClock(T0)
    made, _ = worker(opener, log, clock)
    with made as kit:
        campaign_id = seed(kit)
        kit.tick()
        run = the_run(kit, campaign_id)
        shards = kit.shards(run.id)
        ledger = entries(kit, run.id)
    assert run.status is ck.RunStatus.SUCCEEDED
    assert [s.size for s in shards] == [10, 10, 10, 9, 9]  # 48 members, one unknown
    assert all(s.done and s.epoch == 1 for s in shards)
    assert run.counts == total(shards)
    assert len(log) == len(set(log)) == 2 * PEOPLE  # nobody twice, the ghost excluded
    assert len(ledger) == 2 * (PEOPLE + 1)
    # the same campaign delivered whole by a kit without shards counts the same
    whole_log: list[tuple[str, str]] = []
    whole, _ = worker(
        lambda **kw: ck.CampaignKit.sqlite(tmp_path / "whole.db", **kw),
        whole_log,
        ManualClock(T0),
        shard_size=None,
    )
    with whole as reference:
        other = seed(reference)
        reference.tick()
        expected = the_run(reference, other)
        assert reference.shards(expected.id) == []
    assert sorted(
        (c.targeted, c.sent, c.excluded_total, c.failed) for c in run.counts.values()
    ) == sorted((c.targeted, c.sent, c.excluded_total, c.failed) for c in expected.counts.values())


def test_a_kit_without_shard_size_delivers_runs_whole(
    world: tuple[Opener, list[tuple[str, str]]],
) -> None:
    opener, log = world
    made, _ = worker(opener, log, ManualClock(T0), shard_size=None)
    with made as kit:
        campaign_id = seed(kit)
        kit.tick()
        run = the_run(kit, campaign_id)
        assert kit.shards(run.id) == []
    assert run.status is ck.RunStatus.SUCCEEDED


# ---------------------------------------------------------------- several workers


def test_a_stalled_worker_loses_its_shard_and_records_nothing_after(
    world: tuple[Opener, list[tuple[str, str]]],
) -> None:
    opener, log = world
    clock = ManualClock(T0)
    first_made, first_channels = worker(opener, log, clock)
    second_made, _ = worker(opener, log, clock)
    with first_made as first, second_made as second:
        campaign_id = seed(first)
        gate = threading.Event()
        first_channels[EMAIL].gate = gate  # the first worker stalls in its first send
        stalled = threading.Thread(target=first.tick, daemon=True)
        stalled.start()
        assert first_channels[EMAIL].inside.wait(BOUND)
        run = the_run(second, campaign_id)
        held = [s for s in second.shards(run.id) if s.owner == first.worker_id and not s.done]
        assert len(held) == 1
        # its lease lapses; the second worker takes the shard over (epoch 2) and
        # every other shard, and re-sends what the first left in flight
        clock.advance(LEASE + pendulum.duration(seconds=1))
        second.tick()
        taken = second.shards(run.id)[held[0].number]
        assert (taken.epoch, taken.owner, taken.done) == (2, second.worker_id, True)
        gate.set()  # the zombie wakes up: its outcomes must not be recorded
        stalled.join(BOUND)
        assert not stalled.is_alive()
        second.tick()
        run = the_run(second, campaign_id)
        ledger = entries(second, run.id)
        shards = second.shards(run.id)
    assert run.status is ck.RunStatus.SUCCEEDED
    assert run.counts == total(shards)
    assert {e.state for e in ledger} <= {ck.LedgerState.SENT, ck.LedgerState.EXCLUDED}
    assert len(ledger) == 2 * (PEOPLE + 1)
    keys = [key for key, _ in log]
    repeated = {key for key in keys if keys.count(key) > 1}
    assert len(set(keys)) == 2 * PEOPLE  # everybody, each action
    # only the stalled batch's messages, in flight when the lease lapsed (4 members, both
    # actions: the zombie sends its SMS half too when it wakes), each with its one key
    assert 0 < len(repeated) <= 8
    assert all(keys.count(key) == 2 for key in repeated)
    sent = [e for e in ledger if e.state is ck.LedgerState.SENT]
    assert all(e.provider_message_id is not None for e in sent)


def test_two_workers_share_the_shards_of_one_run(
    world: tuple[Opener, list[tuple[str, str]]],
) -> None:
    opener, log = world
    clock = ManualClock(T0)
    first_made, first_channels = worker(opener, log, clock)
    second_made, _ = worker(opener, log, clock)
    with first_made as first, second_made as second:
        campaign_id = seed(first)
        gate = threading.Event()
        first_channels[SMS].gate = gate  # the first worker holds its first shard a while
        busy = threading.Thread(target=first.tick, daemon=True)
        busy.start()
        assert first_channels[SMS].inside.wait(BOUND)
        second.tick()  # takes every other shard meanwhile, and hands the run back
        gate.set()
        busy.join(BOUND)
        assert not busy.is_alive()
        run = the_run(first, campaign_id)
        if not run.status.is_final:  # whoever finished last may not have ended it yet
            clock.advance(pendulum.duration(seconds=1))
            first.tick()
            run = the_run(first, campaign_id)
        shards = first.shards(run.id)
    owners = {s.owner for s in shards}
    assert owners == {first.worker_id, second.worker_id}
    assert all(s.done and s.epoch == 1 for s in shards)
    assert run.status is ck.RunStatus.SUCCEEDED
    assert run.counts == total(shards)
    assert len(log) == len(set(log)) == 2 * PEOPLE


def test_work_shard_is_a_no_op_for_a_done_or_leased_shard(
    world: tuple[Opener, list[tuple[str, str]]],
) -> None:
    opener, log = world
    clock = ManualClock(T0)
    made, _ = worker(opener, log, clock)
    with made as kit:
        campaign_id = seed(kit)
        kit.tick()
        run = the_run(kit, campaign_id)
        assert not kit.work_shard(run.id, 0)  # done: a redelivered task does nothing
        assert not kit.work_shard(run.id, 99)  # no such shard
        with pytest.raises(ck.ValidationError, match="number"):
            kit.work_shard(run.id, -1)
        with pytest.raises(ck.ValidationError, match="run_id"):
            kit.shards(7)  # type: ignore[arg-type]
    assert len(log) == 2 * PEOPLE


def test_a_kit_with_a_submitter_hands_shards_over_and_work_shard_delivers_them(
    world: tuple[Opener, list[tuple[str, str]]],
) -> None:
    opener, log = world
    clock = ManualClock(T0)
    head_made, _ = worker(opener, log, clock)
    hand_made, _ = worker(opener, log, clock)
    with head_made as head, hand_made as hand:
        submitted: list[tuple[str, int]] = []
        assert head.runner.shards is not None
        head.runner.shards.submit = lambda run_id, number: submitted.append((run_id, number))
        campaign_id = seed(head)
        head.tick()  # plans, hands every shard over, delivers none itself
        run = the_run(head, campaign_id)
        assert [n for _, n in submitted] == [0, 1, 2, 3, 4]
        assert log == []
        assert run.due_at == T0 + LEASE  # it looks again a lease later
        # an executor's worker (another kit) runs two of the tasks; one twice
        assert hand.work_shard(run.id, 0)
        assert not hand.work_shard(run.id, 0)  # redelivered: nothing to do
        assert hand.work_shard(run.id, 3)
        clock.advance(LEASE)
        head.tick()  # the three tasks never run (lost) are handed over again
        assert [n for _, n in submitted[5:]] == [1, 2, 4]
        for _, number in submitted[5:]:
            assert hand.work_shard(run.id, number)
        assert the_run(head, campaign_id).due_at == T0 + LEASE + LEASE
        clock.advance(LEASE)
        head.tick()  # every shard done: the run ends
        run = the_run(head, campaign_id)
        shards = head.shards(run.id)
    assert run.status is ck.RunStatus.SUCCEEDED
    assert run.counts == total(shards)
    assert len(log) == len(set(log)) == 2 * PEOPLE
    assert {s.owner for s in shards} == {hand.worker_id}


def test_a_head_hands_a_lapsed_shard_over_once_then_looks_again_a_lease_later(
    world: tuple[Opener, list[tuple[str, str]]],
) -> None:
    opener, log = world
    clock = ManualClock(T0)
    head_made, _ = worker(opener, log, clock)
    with head_made as head:
        submitted: list[int] = []
        assert head.runner.shards is not None
        head.runner.shards.submit = lambda run_id, number: submitted.append(number)
        campaign_id = seed(head)
        head.tick()  # plans, hands every shard over
        run = the_run(head, campaign_id)
        # a worker claims shard 2 under a short lease and dies: the lease lapses
        with head.store.unit_of_work() as uow:
            repository = shards_of(uow)
            assert repository is not None
            assert repository.claim(run.id, 2, "gone", T0, T0 + pendulum.duration(seconds=5))
        clock.advance(LEASE)
        head.tick()  # the lapsed shard and the never-claimed ones are handed over again
        assert submitted == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]
        # its task waits in the engine's queue: the head does not hand every free shard
        # over again at each tick meanwhile, but a lease later
        assert the_run(head, campaign_id).due_at == T0 + LEASE + LEASE
        head.tick()
        assert len(submitted) == 10
    assert log == []


def test_a_campaign_stopped_while_its_shards_go_out_stops_the_rest(
    world: tuple[Opener, list[tuple[str, str]]],
) -> None:
    opener, log = world
    clock = ManualClock(T0)
    made, channels = worker(opener, log, clock)
    with made as kit:
        campaign_id = seed(kit)
        gate = threading.Event()
        channels[EMAIL].gate = gate
        busy = threading.Thread(target=kit.tick, daemon=True)
        busy.start()
        assert channels[EMAIL].inside.wait(BOUND)
        # the kit's units are one at a time: stop it from another kit on the database
        stopper_made, _ = worker(opener, [], clock)
        with stopper_made as stopper:
            stopper.as_user("ada").stop(campaign_id)
        gate.set()
        busy.join(BOUND)
        assert not busy.is_alive()
        clock.advance(pendulum.duration(seconds=1))
        kit.tick()
        run = the_run(kit, campaign_id)
        ledger = entries(kit, run.id)
    assert run.status is ck.RunStatus.STOPPED
    assert len(log) == 2 * 4  # the one batch in flight when it stopped, both actions
    counts = run.total()
    assert counts.targeted == 2 * (PEOPLE + 1)
    assert counts.sent == len(log)
    assert counts.excluded[ck.ExclusionReason.STOPPED] == counts.targeted - counts.sent
    assert len(ledger) == 2 * (PEOPLE + 1)


# ---------------------------------------------------------------- edges


class OneIdProvider(Provider):
    """Answers one provider id for a whole batch (some providers do), and notes the shard."""

    def __init__(self, log: list[tuple[str, str]], name: str) -> None:
        super().__init__(log, name)
        self.shards: list[tuple[int, int]] = []

    def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
        shard = current_shard()
        assert shard is not None
        self.shards.append((shard.number, shard.epoch))
        self.log.extend((m.idempotency_key, self.name) for m in messages)
        return [ck.Accepted(f"{self.name}-batch") for _ in messages]


def test_a_provider_answering_one_id_per_batch_and_the_shard_in_hand(
    world: tuple[Opener, list[tuple[str, str]]],
) -> None:
    opener, log = world
    email = OneIdProvider(log, "email")
    with opener(clock=ManualClock(T0), channels={EMAIL: email}, delivery=settings()) as kit:
        campaign_id = seed(kit, sms=False)
        kit.tick()
        run = the_run(kit, campaign_id)
        ledger = entries(kit, run.id)
    assert run.status is ck.RunStatus.SUCCEEDED
    assert sum(e.state is ck.LedgerState.SENT for e in ledger) == PEOPLE  # none lost
    assert {number for number, _ in email.shards} == {0, 1, 2, 3, 4}
    assert {epoch for _, epoch in email.shards} == {1}
    assert current_shard() is None  # only while a shard goes out


def test_an_empty_audience_and_an_in_memory_kit_are_not_split(
    world: tuple[Opener, list[tuple[str, str]]],
) -> None:
    opener, log = world
    with opener(
        clock=ManualClock(T0), channels={EMAIL: Provider(log, "email")}, delivery=settings()
    ) as kit:
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        admin = kit.as_user("ada")
        mail = admin.create_surface(
            name="News", channel=EMAIL, settings=ck.EmailSettings(sender="news@example.com")
        )
        kit.audiences.define("nobody", [])
        campaign = admin.create_campaign(
            name="Empty",
            audience="nobody",
            namespace="email",
            actions=[ck.Action(mail.id, ck.EmailContent(subject="Hi", html="<p>Hi</p>"))],
        )
        admin.activate(campaign.id)
        kit.tick()
        run = the_run(kit, campaign.id)
        assert run.status is ck.RunStatus.SUCCEEDED
        assert kit.shards(run.id) == []
    memory_log: list[tuple[str, str]] = []
    channels = {EMAIL: Provider(memory_log, "email"), SMS: Provider(memory_log, "sms")}
    with ck.CampaignKit.in_memory(
        clock=ManualClock(T0), channels=channels, delivery=settings()
    ) as memory:
        campaign_id = seed(memory)
        memory.tick()
        run = the_run(memory, campaign_id)
        assert memory.shards(run.id) == []  # no shards in memory: delivered whole
    assert run.status is ck.RunStatus.SUCCEEDED
    assert len(memory_log) == 2 * PEOPLE


class Interrupting:
    """An audience source that stops the process (as a SIGINT would) after one batch."""

    def __init__(self, inner: ck.AudienceSource) -> None:
        self.inner = inner

    def members(self, name: str, *, namespace: str, batch_size: int) -> Iterator[Sequence[Any]]:
        for number, batch in enumerate(
            self.inner.members(name, namespace=namespace, batch_size=batch_size)
        ):
            if number == 1:
                raise KeyboardInterrupt
            yield batch


def test_a_freeze_interrupted_half_way_resumes_where_it_stopped(
    world: tuple[Opener, list[tuple[str, str]]],
) -> None:
    opener, log = world
    clock = ManualClock(T0)
    made, _ = worker(opener, log, clock)
    with made as kit:
        campaign_id = seed(kit)
        work = kit.runner.shards
        assert work is not None
        audiences = work._audiences
        work._audiences = Interrupting(audiences)  # type: ignore[assignment]
        with pytest.raises(KeyboardInterrupt):
            kit.tick()
        run = the_run(kit, campaign_id)
        with kit.store.unit_of_work() as uow:
            frozen = uow.shards.frozen(run.id)  # type: ignore[attr-defined]
        assert frozen == 4  # the first batch (batch_size 4)
        assert kit.shards(run.id) == []
        assert run.lease_owner is None  # handed back at once
        work._audiences = audiences
        kit.tick()
        run = the_run(kit, campaign_id)
        with kit.store.unit_of_work() as uow:
            members = uow.shards.members(run.id, 0, 100)  # type: ignore[attr-defined]
    assert members == [*[f"p{3 * i:04d}" for i in range(PEOPLE)], "ghost"]
    assert run.status is ck.RunStatus.SUCCEEDED
    assert len(log) == len(set(log)) == 2 * PEOPLE
