"""``make_plan`` reuses what a run's campaign, surfaces, rules and channels give, never stale."""

from __future__ import annotations

from pathlib import Path

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit.delivery import plan as plans
from campaignkit.delivery.plan import make_plan
from campaignkit.domain.delivery import Run, RunKind, RunStatus
from campaignkit.domain.unsubscribe import UnsubscribeSigner
from campaignkit.testing import ManualClock, NullChannel

T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")


def pending_trigger(campaign_id: str, run_id: str) -> Run:
    """A fresh trigger run of version 1 of ``campaign_id``, due at T0."""
    return Run(
        id=run_id,
        campaign_id=campaign_id,
        version=1,
        kind=RunKind.TRIGGER,
        status=RunStatus.PENDING,
        created_at=T0,
        due_at=T0,
    )


class World:
    def __init__(self, path: Path) -> None:
        self.channel = NullChannel()
        self.wired: dict[ck.ChannelType, ck.Channel] = {ck.ChannelType.EMAIL: self.channel}
        self.kit = ck.CampaignKit.sqlite(path, ManualClock(T0), self.wired)
        self.kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        ada = self.kit.as_user("ada")
        self.surface = ada.create_surface(
            name="Reset",
            channel=ck.ChannelType.EMAIL,
            settings=ck.EmailSettings(sender="no-reply@example.com"),
            category=ck.Category.TRANSACTIONAL,
        )
        campaign = ada.create_campaign(
            name="Reset",
            type=ck.CampaignType.API_TRIGGERED,
            category=ck.Category.TRANSACTIONAL,
            namespace="email",
            create_profiles=True,
            actions=[
                ck.Action(
                    self.surface.id, ck.EmailContent(subject="Reset", html="{{ context.link }}")
                )
            ],
        )
        ada.activate(campaign.id)
        self.campaign_id = campaign.id

    def plan(
        self,
        run_id: str = "run_1",
        wired: dict[ck.ChannelType, ck.Channel] | None = None,
        signer: UnsubscribeSigner | None = None,
    ) -> plans.Plan:
        with self.kit.store.unit_of_work() as uow:
            campaign = uow.campaigns.get(self.campaign_id)
            run = pending_trigger(campaign.id, run_id)
            return make_plan(uow, campaign, run, wired or self.wired, signer)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path / "kit.db")


def test_a_second_run_of_the_same_campaign_shares_its_parts_but_not_its_builders(
    world: World,
) -> None:
    first, second = world.plan("run_1"), world.plan("run_2")
    assert second.contents is first.contents
    assert second.gate_rules is first.gate_rules
    assert second.settings is first.settings
    assert second.channels == {first.actions[0].id: world.channel}
    assert second.builders is not first.builders


def test_a_changed_surface_rule_book_campaign_channel_or_signer_is_seen(world: World) -> None:
    first = world.plan()
    action_id = first.actions[0].id
    with world.kit.store.unit_of_work() as uow:
        surface = uow.surfaces.get(world.surface.id)
        assert isinstance(surface.settings, ck.EmailSettings)
        changed = attrs.evolve(surface.settings, sender="other@example.com")
        uow.surfaces.save(attrs.evolve(surface, settings=changed))
    after_surface = world.plan()
    assert after_surface.settings[action_id] == changed
    assert world.plan().gate_rules is after_surface.gate_rules  # the default book, again
    with world.kit.store.unit_of_work() as uow:
        book = uow.rules.get()
        uow.rules.save(attrs.evolve(book, channels={**book.channels}))
    after_rules = world.plan()
    assert after_rules.gate_rules is not after_surface.gate_rules
    world.kit.as_user("ada").stop(world.campaign_id)
    after_campaign = world.plan()
    assert after_campaign.campaign.status is ck.CampaignStatus.STOPPED
    other = NullChannel()
    assert world.plan(wired={ck.ChannelType.EMAIL: other}).channels[action_id] is other
    assert world.plan().channels[action_id] is world.channel
    signer = UnsubscribeSigner("a-secret-of-enough-length-for-the-test")
    assert world.plan(signer=signer).gate_rules is not world.plan().gate_rules


def test_the_shared_parts_are_bounded(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plans, "_SHARED", {("other", n): None for n in range(3)})
    monkeypatch.setattr(plans, "_SHARED_LIMIT", 3)
    world.plan()
    assert list(plans._SHARED) == [(world.campaign_id, 1)]


def test_a_kit_keeps_its_plans_parts_to_itself(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kit's runner has its own parts: the process-wide map is untouched and a closed
    kit's campaigns, channels and signer are not kept alive by it."""
    monkeypatch.setattr(plans, "_SHARED", {})
    mine: plans.PlanParts = {}
    with world.kit.store.unit_of_work() as uow:
        campaign = uow.campaigns.get(world.campaign_id)
        run = pending_trigger(campaign.id, "run_1")
        first = make_plan(uow, campaign, run, world.wired, parts=mine)
        again = make_plan(uow, campaign, run, world.wired, parts=mine)
    assert list(mine) == [(world.campaign_id, 1)]
    assert again.contents is first.contents
    assert plans._SHARED == {}
    ada = world.kit.as_user("ada")
    ada.trigger(
        world.campaign_id,
        [ck.Recipient(user_id="a@example.com", namespace="email", context={"link": "x"})],
        request_id="r1",
    )
    world.kit.tick()
    assert ada.report(world.campaign_id).sent == 1
    assert plans._SHARED == {}
