"""Progress after every batch, and channels: default recording channels, the console and null
channels, and actions without a wired channel."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import campaignkit as ck
from campaignkit.testing import (
    ManualClock,
    NullChannel,
    RecordingChannel,
)
from tests.factories import T0
from tests.unit.delivery.support import BACKENDS, C, Worlds, crowd, email_action, launch, only_run

# ---------------------------------------------------------------- progress


def test_progress_is_reported_after_every_batch(worlds: Worlds) -> None:
    seen: list[ck.RunProgress] = []

    def record(progress: ck.RunProgress) -> None:
        seen.append(progress)

    world = worlds.world(progress=record, delivery=ck.DeliverySettings(batch_size=10))
    kit = world.kit
    ids = crowd(kit, 25)
    kit.audiences.define("crowd", [*ids, ids[0]])  # 26 members, one duplicate
    campaign = launch(world, [email_action(world)], audience="crowd")
    run = only_run(kit, campaign.id)
    assert [p.position for p in seen] == [10, 20, 26]
    assert all((p.run_id, p.campaign_id, p.total) == (run.id, campaign.id, 26) for p in seen)
    assert [p.counts.targeted for p in seen] == [10, 20, 26]
    assert [p.counts.sent for p in seen] == [10, 20, 25]
    assert seen[-1].counts == run.total()


def test_progress_total_is_unknown_for_a_conditional_audience(memory: Worlds) -> None:
    seen: list[ck.RunProgress] = []

    def record(progress: ck.RunProgress) -> None:
        seen.append(progress)

    world = memory.world(progress=record, delivery=ck.DeliverySettings(batch_size=2))
    kit = world.kit
    crowd(kit, 5)
    kit.audiences.define("m", where=lambda p: p.id.startswith("m"))
    launch(world, [email_action(world)], audience="m")
    assert [(p.position, p.total) for p in seen] == [(2, None), (4, None), (5, None)]


# ---------------------------------------------------------------- channels


@pytest.mark.parametrize("backend", BACKENDS)
def test_kits_wire_a_recording_channel_per_type_by_default(backend: str, tmp_path: Path) -> None:
    builder = Worlds(backend, tmp_path)
    try:
        kit = builder.kit(ManualClock(T0))
        assert set(kit.channels) == set(C)
        assert len({id(channel) for channel in kit.channels.values()}) == len(C)
        for channel_type, channel in kit.channels.items():
            assert type(channel) is RecordingChannel
            assert isinstance(channel, ck.Channel)
            assert channel.sent == []
            [result] = channel.send([message_for(channel_type)])
            assert result == ck.Accepted(f"{channel_type.value}-run:act:p1")
    finally:
        builder.close()


def message_for(channel: C, *, proof: bool = False) -> ck.Message:
    settings: dict[C, ck.EmailSettings | ck.SmsSettings | ck.PushSettings] = {
        C.EMAIL: ck.EmailSettings(sender="news@example.com"),
        C.SMS: ck.SmsSettings(sender_id="SHOP"),
        C.PUSH: ck.PushSettings(app_id="com.shop"),
    }
    return ck.Message(
        run_id="run",
        campaign_id="cmp",
        action_id="act",
        profile_id="p1",
        channel=channel,
        address="ann@example.com",
        idempotency_key="run:act:p1",
        fields={"subject": "Hi", "html": "<p>x</p>"},
        settings=settings[channel],
        proof=proof,
    )


def test_console_channel_prints_every_message_to_its_stream(memory: Worlds) -> None:
    stream = io.StringIO()
    console = ck.ConsoleChannel(stream)
    results = console.send([message_for(C.EMAIL), message_for(C.EMAIL, proof=True)])
    assert results == [ck.Accepted("console-run:act:p1")] * 2
    assert stream.getvalue().splitlines() == [
        "[email] to ann@example.com: subject='Hi'; html='<p>x</p>'",
        "[email] [proof] to ann@example.com: subject='Hi'; html='<p>x</p>'",
    ]

    # wired into a kit, a run prints each message
    out = io.StringIO()
    world = memory.world(channels={C.EMAIL: ck.ConsoleChannel(out)})
    campaign = launch(world, [email_action(world)])
    assert out.getvalue().splitlines() == [
        "[email] to p1@example.com: subject='Hi Ann'; html='<p>Hello</p>'",
        "[email] to p2@example.com: subject='Hi Bob'; html='<p>Hello</p>'",
    ]
    assert world.admin.report(campaign.id).sent == 2


def test_console_channel_defaults_to_standard_output(capsys: pytest.CaptureFixture[str]) -> None:
    ck.ConsoleChannel().send([message_for(C.SMS)])
    assert capsys.readouterr().out.startswith("[sms] to ann@example.com: ")


def test_null_channel_accepts_and_keeps_nothing() -> None:
    assert NullChannel().send([message_for(C.PUSH)]) == [ck.Accepted("run:act:p1")]


def test_an_action_without_a_wired_channel_is_refused_at_activation(memory: Worlds) -> None:
    world = memory.world(channels={C.EMAIL: RecordingChannel()})
    draft = world.admin.create_campaign(
        name="No SMS channel",
        audience="vip",
        namespace="email",
        actions=[ck.Action(world.sms.id, ck.SmsContent("x"))],
    )
    with pytest.raises(ck.ValidationError) as refused:
        world.admin.activate(draft.id)
    assert any("no channel is wired for sms" in p for p in refused.value.problems)
    assert world.admin.get(draft.id).status is ck.CampaignStatus.DRAFT


def test_a_channel_unwired_after_activation_fails_the_run_with_a_clear_error(
    memory: Worlds,
) -> None:
    world = memory.world(channels={C.EMAIL: RecordingChannel(), C.SMS: RecordingChannel()})
    start = world.clock.now().add(hours=1)
    campaign = world.admin.create_campaign(
        name="Later",
        audience="vip",
        namespace="email",
        actions=[ck.Action(world.sms.id, ck.SmsContent("x"))],
        schedule=ck.Schedule(start=start),
    )
    world.admin.activate(campaign.id)
    world.kit.tick()  # SCHEDULED, validated with its channel wired
    del world.kit.channels[C.SMS]  # then the host wires the kit without it
    world.kit.run_until(start)
    run = only_run(world.kit, campaign.id)
    assert run.status is ck.RunStatus.FAILED
    assert run.error is not None
    assert "no channel is wired for sms" in run.error
