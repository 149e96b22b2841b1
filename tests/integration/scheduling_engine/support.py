"""The world of the scheduling tests: a kit in memory or on a SQLite file driven by a
ManualClock that moves only to the engine's next due instant, a flaky channel, people, and a
builder of several such envs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit.testing import ManualClock, RecordingChannel, SequentialIds

T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")  # a Tuesday
EMAIL = ck.ChannelType.EMAIL
S = ck.CampaignStatus
R = ck.ExclusionReason
RS = ck.RunStatus
SECOND = pendulum.duration(seconds=1)
HOUR = pendulum.duration(hours=1)
DAY = pendulum.duration(days=1)
TWELVE_HOURS = pendulum.duration(hours=12)  # the default send window


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> pendulum.DateTime:
    """An instant in UTC."""
    return pendulum.datetime(year, month, day, hour, minute, tz="UTC")


# ---------------------------------------------------------------- the world


class FlakyChannel(RecordingChannel):
    """A RecordingChannel whose first attempt for some profiles is a transient failure.

    Attributes:
        flaky: Profiles whose next message fails once.
        failures: Profile ids of the failed attempts, in order.
    """

    def __init__(self, flaky: Iterable[str] = ()) -> None:
        super().__init__("email")
        self.flaky = set(flaky)
        self.failures: list[str] = []

    def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
        results: list[ck.SendResult] = []
        for message in messages:
            if message.profile_id in self.flaky:
                self.flaky.discard(message.profile_id)
                self.failures.append(message.profile_id)
                results.append(ck.TransientFailure("try again"))
            else:
                results.extend(super().send([message]))
        return results


@attrs.define
class Env:
    """A kit on a manual clock with ada (administrator), email surfaces and arrival times."""

    kit: ck.CampaignKit
    clock: ManualClock
    admin: ck.UserSession
    marketing: str
    transactional: str
    arrivals: list[tuple[pendulum.DateTime, ck.Message]] = attrs.Factory(list)

    @property
    def channel(self) -> RecordingChannel:
        found = self.kit.channels[EMAIL]
        assert isinstance(found, RecordingChannel)
        return found

    # ------------------------------------------------------------ time

    def tick(self) -> ck.TickReport:
        """Tick once at the clock's instant, noting when each new message arrived."""
        before = len(self.channel.sent)
        report = self.kit.tick()
        now = self.clock.now()
        self.arrivals.extend((now, message) for message in self.channel.sent[before:])
        return report

    def at(self, when: pendulum.DateTime) -> ck.TickReport:
        """Move the clock to ``when`` and tick."""
        self.clock.set(when)
        return self.tick()

    def drive(self, until: pendulum.DateTime) -> ck.TickReport:
        """Tick now, then at every instant the engine reports work due, up to ``until``."""
        report = self.tick()
        for _ in range(2000):
            due = report.next_due_at
            if due is None or due > until:
                break
            assert due > self.clock.now(), f"the engine reported past work due at {due}"
            report = self.at(due)
        else:
            pytest.fail("the engine kept reporting due work")
        if until > self.clock.now():
            report = self.at(until)
        return report

    # ------------------------------------------------------------ building

    def people(self, zones: dict[str, str | None], audience: str = "all") -> None:
        """Upsert a consenting profile per id (with its time zone) and define ``audience``."""
        for pid, zone in zones.items():
            self.kit.profiles.upsert(person(pid, zone))
        self.kit.audiences.define(audience, list(zones))

    def action(self, subject: str = "Hi", *, rate_limit: int | None = None) -> ck.Action:
        return ck.Action(
            self.marketing,
            ck.EmailContent(subject=subject, html="<p>Hello</p>"),
            rate_limit=rate_limit,
        )

    def campaign(
        self,
        schedule: ck.Schedule | None = None,
        *,
        name: str = "Sale",
        audience: str = "all",
        subject: str = "Hi",
        rate_limit: int | None = None,
        quiet_hours: Sequence[ck.QuietHours] = (),
    ) -> ck.Campaign:
        """Create and activate a marketing email campaign (the next tick prepares it)."""
        campaign = self.admin.create_campaign(
            name=name,
            audience=audience,
            namespace="email",
            actions=[self.action(subject, rate_limit=rate_limit)],
            schedule=schedule if schedule is not None else ck.Schedule(),
            quiet_hours=quiet_hours,
        )
        return self.admin.activate(campaign.id)

    def transactional_campaign(self) -> ck.Campaign:
        """A LIVE API-triggered transactional email campaign."""
        campaign = self.admin.create_campaign(
            name="Receipt",
            type=ck.CampaignType.API_TRIGGERED,
            category=ck.Category.TRANSACTIONAL,
            namespace="email",
            actions=[
                ck.Action(self.transactional, ck.EmailContent(subject="Receipt", html="<p>ok</p>"))
            ],
        )
        self.admin.activate(campaign.id)
        self.tick()
        live = self.admin.get(campaign.id)
        assert live.status is S.LIVE
        return live

    # ------------------------------------------------------------ looking

    def arrived(self, campaign_id: str | None = None) -> dict[str, list[pendulum.DateTime]]:
        """Arrival instants per profile (of one campaign, or of all)."""
        found: dict[str, list[pendulum.DateTime]] = {}
        for at, message in self.arrivals:
            if campaign_id is None or message.campaign_id == campaign_id:
                found.setdefault(message.profile_id, []).append(at)
        return found

    def status(self, campaign_id: str) -> ck.CampaignStatus:
        return self.admin.get(campaign_id).status

    def report(self, campaign_id: str) -> ck.CampaignReport:
        return self.admin.report(campaign_id)

    def runs(self, campaign_id: str) -> list[ck.Run]:
        with self.kit.store.unit_of_work() as uow:
            return list(uow.runs.for_campaign(campaign_id))

    def ledger(self, run_id: str) -> dict[str, ck.LedgerEntry]:
        """The ledger of a one-action run, by profile id."""
        with self.kit.store.unit_of_work() as uow:
            return {e.profile_id: e for e in uow.ledger.entries(run_id)}


def person(pid: str, zone: str | None = None) -> ck.Profile:
    return ck.Profile(
        id=pid,
        identities={"email": f"{pid}@example.com"},
        attributes={"firstName": pid.title()},
        consents={EMAIL: True},
        timezone=zone,
    )


class Envs:
    """Builds Envs on one backend (memory or a SQLite file) and closes them afterwards."""

    def __init__(self, backend: str, tmp_path: Path) -> None:
        self.backend = backend
        self.tmp_path = tmp_path
        self.kits: list[ck.CampaignKit] = []

    def __call__(
        self,
        *,
        start: pendulum.DateTime = T0,
        lifecycle: ck.LifecycleRules | None = None,
        delivery: ck.DeliverySettings | None = None,
        channel: RecordingChannel | None = None,
    ) -> Env:
        clock = ManualClock(start)
        channels: dict[ck.ChannelType, ck.Channel] = {
            EMAIL: channel if channel is not None else RecordingChannel("email")
        }
        if self.backend == "memory":
            kit = ck.CampaignKit.in_memory(
                clock=clock,
                channels=channels,
                lifecycle=lifecycle,
                delivery=delivery,
                ids=SequentialIds(),
            )
        else:
            kit = ck.CampaignKit.sqlite(
                self.tmp_path / f"kit{len(self.kits)}.db",
                clock=clock,
                channels=channels,
                lifecycle=lifecycle,
                delivery=delivery,
                ids=SequentialIds(),
            )
        self.kits.append(kit)
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        admin = kit.as_user("ada")
        settings = ck.EmailSettings(sender="shop@example.com")
        marketing = admin.create_surface(name="News", channel=EMAIL, settings=settings)
        transactional = admin.create_surface(
            name="Receipts",
            channel=EMAIL,
            settings=settings,
            category=ck.Category.TRANSACTIONAL,
        )
        return Env(kit, clock, admin, marketing.id, transactional.id)

    def close(self) -> None:
        for kit in self.kits:
            kit.close()


def balanced(counts: ck.ActionCounts) -> bool:
    """``targeted = sent + failed + excluded`` with nothing pending."""
    return counts.pending == 0 and counts.targeted == (
        counts.sent + counts.failed + counts.excluded_total
    )


WAVE_START = T0.add(hours=1)
