"""A kit whose recurring campaign has run, for the notebook tests (reprs, HTML, tables, plots)."""

from __future__ import annotations

import attrs
import pendulum

import campaignkit as ck
from tests.factories import T0, World, make_world, person


@attrs.frozen
class Ran:
    """A world whose daily campaign ran twice (p1 sent, p2 without consent excluded)."""

    world: World
    campaign: ck.Campaign
    runs: tuple[ck.Run, ...]

    @property
    def admin(self) -> ck.UserSession:
        return self.world.admin

    @property
    def report(self) -> ck.CampaignReport:
        return self.admin.report(self.campaign.id)


def ran_world(name: str = "Winter sale") -> Ran:
    """Two daily occurrences delivered, the campaign still LIVE; its approval trail has an entry."""
    world = make_world()
    world.kit.profiles.upsert(person("p1", firstName="Ann"))
    world.kit.profiles.upsert(
        ck.Profile("p2", identities={"email": "p2@example.com"}, attributes={"firstName": "Bob"})
    )
    draft = world.draft(
        name,
        start=T0.add(hours=1),
        recurrence=ck.Recurrence.daily(at="10:00"),
        end=T0.add(days=10),
    )
    world.admin.request_approval(draft.id, "first run")  # no policy: activated at once
    world.kit.run_until(T0.add(days=1, hours=2))
    with world.kit.store.unit_of_work() as uow:
        runs = tuple(uow.runs.for_campaign(draft.id))
    return Ran(world, world.admin.get(draft.id), runs)


def later(days: int) -> pendulum.DateTime:
    """``days`` after the worlds' start."""
    return T0.add(days=days)
