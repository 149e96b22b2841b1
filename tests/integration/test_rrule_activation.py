"""Strict RRULEs end to end, on the in-memory store and on a SQLite file.

A schedule that can never fire may be kept in a draft, but activation refuses
it, listed with the other activation problems, so no campaign goes LIVE to
wait for ever. A start with seconds (a campaign activated "now") is its first
occurrence: an RRULE's COUNT includes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit.testing import ManualClock, RecordingChannel, SequentialIds

EMAIL = ck.ChannelType.EMAIL
T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC").add(seconds=20, microseconds=250)
"""Activation instant: 09:00:20.00025 on a Tuesday."""


@attrs.define
class World:
    """A kit with one consenting profile, an audience, an email surface and an administrator."""

    kit: ck.CampaignKit
    clock: ManualClock
    channel: RecordingChannel
    admin: ck.UserSession
    surface_id: str

    def draft(self, schedule: ck.Schedule, *, audience: str | None = "all") -> ck.Campaign:
        return self.admin.create_campaign(
            name="Digest",
            audience=audience,
            namespace="email",
            actions=[ck.Action(self.surface_id, ck.EmailContent(subject="Hi", html="<p>Hi</p>"))],
            schedule=schedule,
        )

    def drive(self, until: pendulum.DateTime) -> None:
        """Tick now and at every instant the engine reports work due, up to ``until``."""
        report = self.kit.tick()
        while report.next_due_at is not None and report.next_due_at <= until:
            self.clock.set(report.next_due_at)
            report = self.kit.tick()
        self.clock.set(until)
        self.kit.tick()

    def runs_at(self, campaign_id: str) -> list[pendulum.DateTime]:
        """When each successful run of the campaign started."""
        with self.kit.store.unit_of_work() as uow:
            runs = list(uow.runs.for_campaign(campaign_id))
        return sorted(run.created_at for run in runs if run.status is ck.RunStatus.SUCCEEDED)


@pytest.fixture(params=["memory", "sqlite"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    clock = ManualClock(T0)
    channel = RecordingChannel("email")
    if request.param == "memory":
        kit = ck.CampaignKit.in_memory(clock=clock, channels={EMAIL: channel}, ids=SequentialIds())
    else:
        kit = ck.CampaignKit.sqlite(
            tmp_path / "kit.db", clock=clock, channels={EMAIL: channel}, ids=SequentialIds()
        )
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    kit.profiles.upsert(
        ck.Profile(id="p1", identities={"email": "p1@example.com"}, consents={EMAIL: True})
    )
    kit.audiences.define("all", ["p1"])
    admin = kit.as_user("ada")
    surface = admin.create_surface(
        name="News", channel=EMAIL, settings=ck.EmailSettings(sender="news@example.com")
    )
    yield World(kit, clock, channel, admin, surface.id)
    kit.close()


def test_a_rule_that_never_fires_is_kept_in_a_draft_but_refused_at_activation(
    world: World,
) -> None:
    never = ck.Recurrence.rrule("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30")
    campaign = world.draft(ck.Schedule(recurrence=never), audience=None)
    assert world.admin.get(campaign.id).draft_version is not None  # a draft may hold it
    with pytest.raises(ck.ValidationError) as refused:
        world.admin.activate(campaign.id)
    assert refused.value.problems == [
        "no audience: choose the audience to send to",
        f"schedule recurrence never fires: it has no occurrence from {T0.isoformat()}; "
        "check the rule (BYMONTH=2;BYMONTHDAY=30, for example, names a day that does not exist)",
    ]
    after = world.admin.get(campaign.id)
    assert (after.status, after.revision) == (ck.CampaignStatus.DRAFT, campaign.revision)


def test_an_end_before_the_first_occurrence_is_refused_at_activation(world: World) -> None:
    end = pendulum.datetime(2026, 12, 1, 20, tz="UTC")  # 09:00 has passed, the next is tomorrow
    campaign = world.draft(ck.Schedule(end=end, recurrence=ck.Recurrence.daily(at="08:00")))
    with pytest.raises(ck.ValidationError) as refused:
        world.admin.activate(campaign.id)
    assert refused.value.problems == [
        f"schedule recurrence has no occurrence between {T0.isoformat()} and its end "
        f"{end.isoformat()}: move the end later or change the rule"
    ]
    assert world.admin.get(campaign.id).status is ck.CampaignStatus.DRAFT


def test_a_new_version_whose_count_is_used_up_is_refused(world: World) -> None:
    twice = ck.Recurrence.rrule("FREQ=DAILY;COUNT=2")
    campaign = world.draft(ck.Schedule(recurrence=twice))
    world.admin.activate(campaign.id)
    world.drive(T0.add(days=3))
    assert world.admin.get(campaign.id).status is ck.CampaignStatus.LIVE  # no end: still LIVE
    world.admin.modify(campaign.id)
    with pytest.raises(ck.ValidationError) as refused:
        world.admin.activate(campaign.id)
    [problem] = refused.value.problems
    assert problem.startswith("schedule recurrence never fires: it has no occurrence from ")


@pytest.mark.parametrize(
    "rule",
    [ck.Recurrence.rrule("FREQ=DAILY;COUNT=3"), ck.Recurrence.daily(at="09:00")],
    ids=["rrule-count", "daily"],
)
def test_a_campaign_activated_at_a_time_with_seconds_runs_at_once(
    world: World, rule: ck.Recurrence
) -> None:
    end = T0.add(days=2, hours=12)
    campaign = world.draft(ck.Schedule(end=end, recurrence=rule))
    world.admin.activate(campaign.id)
    world.drive(end)
    nine = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
    assert world.runs_at(campaign.id) == [T0, nine.add(days=1), nine.add(days=2)]
    assert [m.profile_id for m in world.channel.sent] == ["p1"] * 3
