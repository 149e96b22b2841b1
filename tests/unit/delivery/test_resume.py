"""Resuming after a crash and leases: nothing lost or resent, the same worker resumes at once,
another worker waits for the lease, and a worker that lost its run leaves it to the new owner."""

from __future__ import annotations

from collections import Counter

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit.delivery.batching import Batches
from campaignkit.domain.delivery import idempotency_key
from campaignkit.testing import (
    CallbackChannel,
    ManualClock,
    ReconcilingRecordingChannel,
    RecordingChannel,
)
from tests.factories import T0, World
from tests.unit.delivery.support import (
    C,
    L,
    Worlds,
    action_id,
    balanced,
    by_profile,
    crowd,
    email_action,
    ledger,
    only_run,
    recorded,
)

# ---------------------------------------------------------------- resume after a crash, leases


class Crash(BaseException):
    """The process dies: not an ``Exception``, so nothing in campaignkit catches it."""


@pytest.mark.parametrize("lookup", [True, False], ids=["lookup", "resend"])
@pytest.mark.parametrize("delivered", [0, 4])
def test_a_run_resumes_after_a_crash_without_losing_or_resending_recorded_messages(
    worlds: Worlds, lookup: bool, delivered: int
) -> None:
    settings = ck.DeliverySettings(batch_size=10, lease=pendulum.duration(minutes=2))
    provider = ReconcilingRecordingChannel("prov") if lookup else RecordingChannel("prov")
    crash_at: list[str] = []

    def respond(message: ck.Message) -> ck.SendResult:
        if message.profile_id in crash_at:  # dies in the middle of the 2nd batch
            raise Crash
        [result] = provider.send([message])
        return result

    world = worlds.world(channels={C.EMAIL: CallbackChannel(respond)}, delivery=settings)
    kit = world.kit
    ids = crowd(kit, 30)
    crash_at.append(ids[10 + delivered])
    campaign = world.admin.create_campaign(
        name="Crashy", audience="crowd", namespace="email", actions=[email_action(world)]
    )
    world.admin.activate(campaign.id)
    with pytest.raises(Crash):
        kit.tick()

    run = only_run(kit, campaign.id)
    aid = action_id(world.admin.get(campaign.id), C.EMAIL)
    entries = by_profile(ledger(kit, run.id))
    assert sorted(entries) == ids[:20]  # the 3rd batch was never decided
    assert all(entries[pid].state is L.SENT for pid in ids[:10])
    for pid in ids[10:20]:
        entry = entries[pid]
        assert entry.state is L.PENDING
        assert entry.message is not None
        assert entry.message.idempotency_key == idempotency_key(run.id, aid, pid)
    assert (run.status, run.position, run.counts[aid].pending) == (ck.RunStatus.RUNNING, 20, 10)
    assert [m.profile_id for m in provider.sent] == ids[: 10 + delivered]

    # an interrupted worker hands its run back at once (a killed one cannot):
    released = only_run(kit, campaign.id)
    assert (released.lease_owner, released.due_at) == (None, world.clock.now())
    # model a killed worker: its lease still holds the run
    with kit.store.unit_of_work() as uow:
        held_until = world.clock.now().add(minutes=2)
        uow.runs.save(
            attrs.evolve(
                uow.runs.get(run.id),
                lease_owner="dead-worker",
                lease_expires_at=held_until,
                due_at=held_until,
            )
        )

    # a new process: the dead worker's lease holds it off until it expires
    restarted = worlds.restart(kit, channels={C.EMAIL: provider}, delivery=settings)
    restarted.tick()
    assert len(provider.sent) == 10 + delivered
    assert by_profile(ledger(restarted, run.id))[ids[15]].state is L.PENDING
    world.clock.advance(settings.lease)
    restarted.tick()

    run = only_run(restarted, campaign.id)
    assert run.status is ck.RunStatus.SUCCEEDED
    entries = by_profile(ledger(restarted, run.id))
    assert sorted(entries) == ids
    for pid in ids:
        key = idempotency_key(run.id, aid, pid)
        assert entries[pid].state is L.SENT
        assert entries[pid].provider_message_id == f"prov-{key}"
    copies = Counter(m.profile_id for m in provider.sent)
    resent = set() if lookup else set(ids[10 : 10 + delivered])
    assert copies == {pid: 2 if pid in resent else 1 for pid in ids}
    for message in provider.sent:  # a copy carries the same idempotency key
        assert message.idempotency_key == idempotency_key(run.id, aid, message.profile_id)
    report = restarted.as_user("ada").report(campaign.id)
    assert (report.targeted, report.sent, report.failed, report.retries) == (30, 30, 0, 0)
    assert balanced(report.counts)

    # recorded outcomes are never sent again, whatever ticks follow
    total = len(provider.sent)
    world.clock.advance(days=1)
    restarted.tick()
    assert len(provider.sent) == total


def test_the_same_worker_resumes_its_own_crashed_run_at_once(memory: Worlds) -> None:
    provider = RecordingChannel("prov")
    armed = [True]

    def respond(message: ck.Message) -> ck.SendResult:
        if armed[0] and message.profile_id == "p2":
            armed[0] = False
            raise Crash
        [result] = provider.send([message])
        return result

    world = memory.world(channels={C.EMAIL: CallbackChannel(respond)})
    campaign = world.admin.create_campaign(
        name="Crashy", audience="vip", namespace="email", actions=[email_action(world)]
    )
    world.admin.activate(campaign.id)
    with pytest.raises(Crash):
        world.kit.tick()
    world.kit.tick()
    run = only_run(world.kit, campaign.id)
    assert run.status is ck.RunStatus.SUCCEEDED
    # p1 was accepted before the crash but its outcome was not recorded: re-sent, same key
    assert [m.profile_id for m in provider.sent] == ["p1", "p1", "p2"]
    assert provider.sent[0].idempotency_key == provider.sent[1].idempotency_key


def lease_run(world: World, owner: str, expires: pendulum.DateTime) -> ck.Campaign:
    """A LIVE campaign whose run exists, undelivered, leased to ``owner`` until ``expires``."""
    kit = world.kit
    campaign = world.admin.create_campaign(
        name="Leased", audience="vip", namespace="email", actions=[email_action(world)]
    )
    world.admin.activate(campaign.id)
    with kit.store.unit_of_work() as uow:
        caught = kit.engine.catch_up(uow, uow.campaigns.get(campaign.id), world.clock.now())
        assert caught.campaign is not None
        assert caught.campaign.status is ck.CampaignStatus.LIVE
        [run] = uow.runs.for_campaign(campaign.id)
        uow.runs.save(attrs.evolve(run, lease_owner=owner, lease_expires_at=expires))
    return campaign


def test_a_run_leased_by_another_worker_waits_for_the_lease_to_expire(worlds: Worlds) -> None:
    world = worlds.world()
    kit = world.kit
    campaign = lease_run(world, "other", T0.add(minutes=5))
    sent = recorded(kit, C.EMAIL).sent
    kit.tick()
    assert sent == []
    run = only_run(kit, campaign.id)
    assert (run.status, run.lease_owner) == (ck.RunStatus.PENDING, "other")
    world.clock.set(T0.add(minutes=4, seconds=59))
    kit.tick()
    assert sent == []
    world.clock.set(T0.add(minutes=5))
    kit.tick()
    assert sorted(m.profile_id for m in sent) == ["p1", "p2"]
    run = only_run(kit, campaign.id)
    assert (run.status, run.lease_owner, run.lease_expires_at) == (
        ck.RunStatus.SUCCEEDED,
        None,
        None,
    )


class Livelock(Exception):
    """The engine kept ticking at one instant without making progress."""


class WatchdogClock(ManualClock):
    """A ManualClock that refuses to be set to the same instant over and over."""

    def __init__(self, start: pendulum.DateTime, limit: int = 200) -> None:
        super().__init__(start)
        self.sets: Counter[pendulum.DateTime] = Counter()
        self.limit = limit

    def set(self, when: pendulum.DateTime) -> None:
        self.sets[when] += 1
        if self.sets[when] > self.limit:
            raise Livelock(f"set to {when} more than {self.limit} times")
        super().set(when)


def test_run_until_waits_for_another_workers_lease_instead_of_spinning(memory: Worlds) -> None:
    clock = WatchdogClock(T0)
    world = memory.world(clock)
    campaign = lease_run(world, "other", T0.add(minutes=5))
    world.kit.run_until(T0.add(minutes=10))
    assert sorted(m.profile_id for m in recorded(world.kit, C.EMAIL).sent) == ["p1", "p2"]
    assert only_run(world.kit, campaign.id).finished_at == T0.add(minutes=5)


def test_a_worker_that_fails_after_losing_its_run_leaves_it_to_the_new_owner(
    worlds: Worlds, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A delivery that raises once another worker owns the run does not mark it FAILED."""
    world = worlds.world()
    store = world.kit.store

    def taken_over_then_broken(self: Batches, run_id: str, *args: object, **kwargs: object) -> bool:
        with store.unit_of_work() as uow:  # meanwhile another worker took the run over
            run = uow.runs.get(run_id)
            uow.runs.save(attrs.evolve(run, lease_owner="worker-elsewhere"))
        raise RuntimeError("the process is in a bad way")

    monkeypatch.setattr(Batches, "deliver", taken_over_then_broken)
    campaign = world.admin.create_campaign(
        name="Taken", audience="vip", namespace="email", actions=[email_action(world)]
    )
    world.admin.activate(campaign.id)
    world.kit.tick()
    run = only_run(world.kit, campaign.id)
    assert run.status is ck.RunStatus.RUNNING  # left to its new owner
    assert (run.lease_owner, run.error) == ("worker-elsewhere", None)
