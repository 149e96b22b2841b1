"""Shared helpers of the delivery tests: worlds on the in-memory store and on SQLite, people,
launching a campaign, and reading runs, the ledger and recorded messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pendulum

import campaignkit as ck
from campaignkit.domain.delivery import backoff
from campaignkit.testing import (
    ManualClock,
    RecordingChannel,
    SequentialIds,
)
from tests.factories import T0, World

C = ck.ChannelType
R = ck.ExclusionReason
L = ck.LedgerState
F = ck.FeedbackEvent
BACKENDS = ["memory", "sqlite"]


# ---------------------------------------------------------------- building worlds


class Worlds:
    """Builds kits (in memory or on SQLite) with an administrator and a surface per channel."""

    def __init__(self, backend: str, tmp_path: Path) -> None:
        self.backend = backend
        self.tmp_path = tmp_path
        self.kits: list[ck.CampaignKit] = []

    def kit(
        self,
        clock: ManualClock,
        *,
        channels: Mapping[C, ck.Channel] | None = None,
        delivery: ck.DeliverySettings | None = None,
        progress: ck.Progress | None = None,
    ) -> ck.CampaignKit:
        """A bare kit on this backend, with sequential ids."""
        id_factory = SequentialIds()
        if self.backend == "memory":
            kit = ck.CampaignKit.in_memory(
                clock=clock, channels=channels, delivery=delivery, progress=progress, ids=id_factory
            )
        else:
            kit = ck.CampaignKit.sqlite(
                self.tmp_path / "kit.db",
                clock,
                channels,
                delivery=delivery,
                progress=progress,
                ids=id_factory,
            )
        self.kits.append(kit)
        return kit

    def world(
        self,
        clock: ManualClock | None = None,
        *,
        channels: Mapping[C, ck.Channel] | None = None,
        delivery: ck.DeliverySettings | None = None,
        progress: ck.Progress | None = None,
    ) -> World:
        """A kit with ada (administrator), three marketing surfaces and audience vip = p1, p2."""
        clock = clock if clock is not None else ManualClock(T0)
        kit = self.kit(clock, channels=channels, delivery=delivery, progress=progress)
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        admin = kit.as_user("ada")
        email = admin.create_surface(
            name="Newsletter", channel=C.EMAIL, settings=ck.EmailSettings(sender="news@example.com")
        )
        sms = admin.create_surface(
            name="Alerts", channel=C.SMS, settings=ck.SmsSettings(sender_id="SHOP")
        )
        push = admin.create_surface(
            name="App", channel=C.PUSH, settings=ck.PushSettings(app_id="com.shop")
        )
        for number, name in ((1, "Ann"), (2, "Bob")):
            kit.profiles.upsert(person(f"p{number}", name))
        kit.audiences.define("vip", ["p1", "p2"])
        events: list[ck.DomainEvent] = []
        kit.subscribe(events.append)
        return World(kit, clock, admin, email, sms, push, events)

    def restart(
        self,
        kit: ck.CampaignKit,
        *,
        channels: Mapping[C, ck.Channel],
        delivery: ck.DeliverySettings,
    ) -> ck.CampaignKit:
        """A new process (another worker id) on the same store, profiles and clock."""
        if self.backend == "memory":
            new = ck.CampaignKit(
                store=kit.store,
                clock=kit.clock,
                channels=channels,
                profiles=kit.profiles,
                delivery=delivery,
            )
        else:
            kit.close()
            new = ck.CampaignKit.sqlite(
                self.tmp_path / "kit.db", kit.clock, channels, delivery=delivery
            )
        assert new.worker_id != kit.worker_id
        self.kits.append(new)
        return new

    def close(self) -> None:
        for kit in self.kits:
            kit.close()


def person(
    pid: str,
    name: str | None = None,
    *,
    email: str | None = "",
    consent: bool = True,
    city: str | None = "Paris",
    phone: str | None = None,
    test: bool = False,
) -> ck.Profile:
    """A profile with an email identity (``<pid>@example.com`` unless given) and email consent."""
    attributes: dict[str, object] = {}
    if name is not None:
        attributes["firstName"] = name
    if city is not None:
        attributes["address"] = {"city": city}
    channel_data = {} if phone is None else {C.SMS: phone}
    address = f"{pid}@example.com" if email == "" else email
    return ck.Profile(
        id=pid,
        identities={} if address is None else {"email": address},
        attributes=attributes,
        consents={C.EMAIL: consent, C.SMS: consent, C.PUSH: consent},
        channel_data=channel_data,
        test=test,
    )


def launch(
    world: World,
    actions: Sequence[ck.Action],
    *,
    audience: str = "vip",
    name: str = "Winter sale",
    end: pendulum.DateTime | None = None,
    tick: bool = True,
) -> ck.Campaign:
    """Create and activate a marketing campaign; tick once (goes live and delivers)."""
    campaign = world.admin.create_campaign(
        name=name,
        audience=audience,
        namespace="email",
        actions=list(actions),
        schedule=ck.Schedule(end=end),
    )
    world.admin.activate(campaign.id)
    if tick:
        world.kit.tick()
    return world.admin.get(campaign.id)


def runs_of(kit: ck.CampaignKit, campaign_id: str) -> list[ck.Run]:
    with kit.store.unit_of_work() as uow:
        return list(uow.runs.for_campaign(campaign_id))


def only_run(kit: ck.CampaignKit, campaign_id: str) -> ck.Run:
    [run] = runs_of(kit, campaign_id)
    return run


def ledger(kit: ck.CampaignKit, run_id: str) -> list[ck.LedgerEntry]:
    with kit.store.unit_of_work() as uow:
        return list(uow.ledger.entries(run_id))


def by_profile(entries: Sequence[ck.LedgerEntry]) -> dict[str, ck.LedgerEntry]:
    """Entries of a one-action run by profile id."""
    found = {e.profile_id: e for e in entries}
    assert len(found) == len(entries)
    return found


def balanced(counts: ck.ActionCounts) -> bool:
    """``targeted = sent + failed + excluded`` with nothing pending."""
    return counts.pending == 0 and counts.targeted == (
        counts.sent + counts.failed + counts.excluded_total
    )


def recorded(kit: ck.CampaignKit, channel: C) -> RecordingChannel:
    found = kit.channels[channel]
    assert isinstance(found, RecordingChannel)
    return found


def email_action(world: World, subject: str = "Hi {{ profile.firstName }}") -> ck.Action:
    return ck.Action(world.email.id, ck.EmailContent(subject=subject, html="<p>Hello</p>"))


def action_id(campaign: ck.Campaign, channel: C) -> str:
    version = campaign.live_version or campaign.newest_version
    [found] = [a.id for a in version.actions if a.channel is channel]
    return found


RETRY = ck.DeliverySettings(
    max_attempts=4,
    retry_base=pendulum.duration(seconds=30),
    retry_cap=pendulum.duration(minutes=2),
)


# ---------------------------------------------------------------- retries


def delays(key: str, settings: ck.DeliverySettings, attempts: int) -> list[pendulum.DateTime]:
    """When attempts 1..``attempts`` happen for a message first sent at T0."""
    times = [T0]
    for attempt in range(1, attempts):
        times.append(
            times[-1] + backoff(key, attempt, base=settings.retry_base, cap=settings.retry_cap)
        )
    return times


def crowd(kit: ck.CampaignKit, size: int, name: str = "crowd") -> list[str]:
    """``size`` sendable profiles in audience ``name``."""
    ids = [f"m{n:03d}" for n in range(size)]
    for pid in ids:
        kit.profiles.upsert(person(pid, pid))
    kit.audiences.define(name, ids)
    return ids
