"""Stopping a run, settling queued retries, completion waiting for retries, and the end date
cutting a run off."""

from __future__ import annotations

import pendulum

import campaignkit as ck
from campaignkit.domain.delivery import idempotency_key
from campaignkit.testing import (
    CallbackChannel,
)
from tests.factories import T0, World
from tests.unit.delivery.support import (
    RETRY,
    C,
    L,
    R,
    Worlds,
    action_id,
    balanced,
    by_profile,
    crowd,
    delays,
    email_action,
    launch,
    ledger,
    only_run,
)

# ---------------------------------------------------------------- stop, completion, end date


def test_stop_during_a_batch_halts_the_run_at_the_next_batch_boundary(worlds: Worlds) -> None:
    target: dict[str, str] = {}
    world_box: list[World] = []

    def respond(message: ck.Message) -> ck.SendResult:
        if len(channel.calls) == 11:  # the first message of the 2nd batch
            world_box[0].admin.stop(target["id"])
        return ck.Accepted(f"cb-{message.idempotency_key}")

    channel = CallbackChannel(respond)
    world = worlds.world(channels={C.EMAIL: channel}, delivery=ck.DeliverySettings(batch_size=10))
    world_box.append(world)
    kit = world.kit
    ids = crowd(kit, 45)
    campaign = world.admin.create_campaign(
        name="Stoppable", audience="crowd", namespace="email", actions=[email_action(world)]
    )
    target["id"] = campaign.id
    world.admin.activate(campaign.id)
    kit.tick()

    assert [m.profile_id for m in channel.calls] == ids[:20]  # batches 1 and 2, nothing more
    assert world.admin.get(campaign.id).status is ck.CampaignStatus.STOPPED
    run = only_run(kit, campaign.id)
    assert run.status is ck.RunStatus.STOPPED
    assert run.finished_at == T0
    assert run.due_at is None
    entries = by_profile(ledger(kit, run.id))
    assert sorted(entries) == sorted(ids)
    for pid in ids[:20]:
        assert entries[pid].state is L.SENT
    for pid in ids[20:]:
        assert (entries[pid].state, entries[pid].reason) == (L.EXCLUDED, R.STOPPED)
    report = world.admin.report(campaign.id)
    assert (report.targeted, report.sent, report.failed) == (45, 20, 0)
    assert dict(report.excluded) == {R.STOPPED: 25}
    assert balanced(report.counts)
    assert report.runs[0].status is ck.RunStatus.STOPPED
    kit.run_until(T0.add(days=5))
    assert len(channel.calls) == 20


def test_stop_while_retries_are_queued_settles_them_as_stopped(worlds: Worlds) -> None:
    def respond(message: ck.Message) -> ck.SendResult:
        if message.profile_id == "p2":
            return ck.TransientFailure("busy")
        return ck.Accepted(f"cb-{message.idempotency_key}")

    channel = CallbackChannel(respond)
    world = worlds.world(channels={C.EMAIL: channel}, delivery=RETRY)
    kit = world.kit
    campaign = launch(world, [email_action(world)])
    run = only_run(kit, campaign.id)
    assert run.status is ck.RunStatus.RUNNING
    assert run.due_at is not None
    world.clock.advance(seconds=5)  # before the retry is due
    world.admin.stop(campaign.id)
    assert by_profile(ledger(kit, run.id))["p2"].state is L.RETRY  # settled by the next tick
    kit.tick()
    run = only_run(kit, campaign.id)
    assert run.status is ck.RunStatus.STOPPED
    assert run.finished_at == T0.add(seconds=5)
    entries = by_profile(ledger(kit, run.id))
    assert entries["p1"].state is L.SENT
    assert (entries["p2"].state, entries["p2"].reason) == (L.EXCLUDED, R.STOPPED)
    report = world.admin.report(campaign.id)
    assert (report.targeted, report.sent, dict(report.excluded)) == (2, 1, {R.STOPPED: 1})
    assert balanced(report.counts)
    kit.run_until(T0.add(days=1))
    assert [m.profile_id for m in channel.calls] == ["p1", "p2"]  # never retried


def test_a_stop_during_the_last_batch_settles_queued_retries_at_once(memory: Worlds) -> None:
    target: dict[str, str] = {}
    world_box: list[World] = []

    def respond(message: ck.Message) -> ck.SendResult:
        if message.profile_id == "p2":
            world_box[0].admin.stop(target["id"])
            return ck.TransientFailure("busy")
        return ck.Accepted(f"cb-{message.idempotency_key}")

    world = memory.world(channels={C.EMAIL: CallbackChannel(respond)}, delivery=RETRY)
    world_box.append(world)
    campaign = launch(world, [email_action(world)], tick=False)
    target["id"] = campaign.id
    world.kit.tick()
    world.kit.tick()  # the next tick, at the same instant
    run = only_run(world.kit, campaign.id)
    entries = by_profile(ledger(world.kit, run.id))
    assert (entries["p2"].state, entries["p2"].reason) == (L.EXCLUDED, R.STOPPED)
    assert run.status is ck.RunStatus.STOPPED
    assert balanced(world.admin.report(campaign.id).counts)


def test_completion_waits_for_retries_beyond_three_days(worlds: Worlds) -> None:
    settings = ck.DeliverySettings(
        max_attempts=3,
        retry_base=pendulum.duration(days=2),
        retry_cap=pendulum.duration(days=10),
    )

    def respond(message: ck.Message) -> ck.SendResult:
        if message.profile_id == "p2":
            return ck.TransientFailure("mailbox full")
        return ck.Accepted(f"cb-{message.idempotency_key}")

    world = worlds.world(channels={C.EMAIL: CallbackChannel(respond)}, delivery=settings)
    kit = world.kit
    campaign = launch(world, [email_action(world)])
    run = only_run(kit, campaign.id)
    key = idempotency_key(run.id, action_id(campaign, C.EMAIL), "p2")
    last = delays(key, settings, 3)[-1]
    assert last > T0.add(days=3)

    kit.run_until(T0.add(days=3, minutes=1))
    assert world.admin.get(campaign.id).status is ck.CampaignStatus.LIVE
    assert only_run(kit, campaign.id).status is ck.RunStatus.RUNNING

    kit.run_until(T0.add(days=30))
    finished = world.admin.get(campaign.id)
    run = only_run(kit, campaign.id)
    assert (run.status, run.finished_at) == (ck.RunStatus.SUCCEEDED, last)
    assert finished.status is ck.CampaignStatus.COMPLETED
    [completion] = [e for e in finished.history if e.to_status is ck.CampaignStatus.COMPLETED]
    assert completion.at == last
    report = world.admin.report(campaign.id)
    assert (report.sent, report.failed, report.retries) == (1, 1, 2)
    assert balanced(report.counts)


def test_the_end_date_cuts_a_run_off(worlds: Worlds) -> None:
    settings = ck.DeliverySettings(
        retry_base=pendulum.duration(hours=6), retry_cap=pendulum.duration(days=1)
    )

    def respond(message: ck.Message) -> ck.SendResult:
        if message.profile_id == "p2":
            return ck.TransientFailure("busy")
        return ck.Accepted(f"cb-{message.idempotency_key}")

    channel = CallbackChannel(respond)
    world = worlds.world(channels={C.EMAIL: channel}, delivery=settings)
    kit = world.kit
    end = T0.add(hours=2)
    campaign = launch(world, [email_action(world)], end=end)
    kit.run_until(T0.add(days=5))
    finished = world.admin.get(campaign.id)
    assert finished.status is ck.CampaignStatus.COMPLETED
    [completion] = [e for e in finished.history if e.to_status is ck.CampaignStatus.COMPLETED]
    assert completion.at == end
    run = only_run(kit, campaign.id)
    assert (run.status, run.finished_at) == (ck.RunStatus.STOPPED, end)
    entries = by_profile(ledger(kit, run.id))
    assert (entries["p2"].state, entries["p2"].reason) == (L.EXCLUDED, R.STOPPED)
    report = world.admin.report(campaign.id)
    assert (report.sent, dict(report.excluded)) == (1, {R.STOPPED: 1})
    assert balanced(report.counts)
    assert [m.profile_id for m in channel.calls] == ["p1", "p2"]
