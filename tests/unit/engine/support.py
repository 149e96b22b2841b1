"""Shared helpers of the lifecycle engine tests: reading the steps, timeline and status of a
campaign, an audience source that can be switched off, and a small kit on a ManualClock."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pendulum

import campaignkit as ck
from campaignkit.testing import ManualClock, SequentialIds
from tests.factories import World

S = ck.CampaignStatus
V = ck.Verb
SECOND = pendulum.duration(seconds=1)


# ---------------------------------------------------------------- helpers


def steps(events: tuple[ck.DomainEvent, ...] | list[ck.DomainEvent]) -> list[tuple[str, V, object]]:
    """(campaign id, action, dated at) of every event, in order."""
    found: list[tuple[str, V, object]] = []
    for event in events:
        if isinstance(event, ck.CampaignChanged):
            found.append((event.campaign_id, event.entry.action, event.entry.at))
        elif isinstance(event, ck.CampaignRemoved):
            found.append((event.campaign_id, event.verb, event.at))
    return found


def timeline(campaign: ck.Campaign) -> list[tuple[V, S | None, S, pendulum.DateTime, str]]:
    """(action, from, to, at, actor) of every history entry."""
    return [(e.action, e.from_status, e.to_status, e.at, e.actor) for e in campaign.history]


def status_at(world: World, campaign_id: str, when: pendulum.DateTime) -> S:
    """Move the clock to ``when``, tick, and return the campaign's status."""
    world.clock.set(when)
    world.kit.tick()
    return world.admin.get(campaign_id).status


class SwitchableAudiences:
    """An audience source whose readiness the test can change at any time."""

    def __init__(self) -> None:
        self.statuses: dict[str, ck.AudienceStatus | None] = {}

    def status(self, name: str) -> ck.AudienceStatus | None:
        return self.statuses.get(name)

    def count(self, name: str) -> int | None:
        return 0 if self.statuses.get(name) else None

    def members(
        self, name: str, *, namespace: str, batch_size: int
    ) -> Iterator[Sequence[ck.Profile]]:
        return iter(())


def small_kit(
    clock: ManualClock,
    *,
    audiences: SwitchableAudiences | None = None,
    rules: ck.LifecycleRules | None = None,
) -> tuple[ck.CampaignKit, ck.UserSession, ck.Action]:
    """A kit with an administrator ``ada`` and one email action ready to use."""
    if audiences is None:
        kit = ck.CampaignKit.in_memory(clock=clock, lifecycle=rules, ids=SequentialIds())
        kit.audiences.define("vip", ["p1"])
    else:
        kit = ck.CampaignKit(
            store=ck.InMemoryStore(),
            clock=clock,
            audiences=audiences,
            lifecycle=rules,
            ids=SequentialIds(),
        )
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    ada = kit.as_user("ada")
    surface = ada.create_surface(
        name="Newsletter",
        channel=ck.ChannelType.EMAIL,
        settings=ck.EmailSettings(sender="news@example.com"),
    )
    action = ck.Action(surface.id, ck.EmailContent(subject="Hi", html="<p>Hello</p>"))
    return kit, ada, action
