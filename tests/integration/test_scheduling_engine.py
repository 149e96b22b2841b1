"""Scheduling end to end: profile time zones, waves, rate control, send windows,
quiet hours, frequency caps, recurrence, downtime and the calendar (SPEC sections 2, 5).

Every test drives a real kit (in memory, and on a SQLite file) with a ManualClock:
the clock only ever moves to the instant the engine says it next has work (or to
an instant the test chooses), so each message is seen arriving at an exact
instant and the engine's ``next_due_at`` is checked along the way. Nothing sleeps.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit.domain.delivery import backoff, idempotency_key
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


@pytest.fixture(params=["memory", "sqlite"])
def envs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Envs]:
    """An Env builder on the in-memory store and on a SQLite file."""
    builder = Envs(str(request.param), tmp_path)
    yield builder
    builder.close()


@pytest.fixture
def env(envs: Envs) -> Env:
    """A default Env on each backend."""
    return envs()


def balanced(counts: ck.ActionCounts) -> bool:
    """``targeted = sent + failed + excluded`` with nothing pending."""
    return counts.pending == 0 and counts.targeted == (
        counts.sent + counts.failed + counts.excluded_total
    )


# ---------------------------------------------------------------- profile time zones

ZONES: dict[str, str | None] = {
    "kai": "Pacific/Kiritimati",  # UTC+14
    "ravi": "+05:30",  # a plain UTC offset
    "pierre": "Europe/Paris",  # the campaign's zone, UTC+1 in December
    "zed": "Mars/Olympus_Mons",  # not a zone: falls back to Europe/Paris
    "nina": "America/New_York",  # UTC-5
    "hana": "Pacific/Honolulu",  # UTC-10
}
# 09:00 on 2 December 2026 on each recipient's own clock
LOCAL_NINE = {
    "kai": utc(2026, 12, 1, 19),
    "ravi": utc(2026, 12, 2, 3, 30),
    "pierre": utc(2026, 12, 2, 8),
    "zed": utc(2026, 12, 2, 8),
    "nina": utc(2026, 12, 2, 14),
    "hana": utc(2026, 12, 2, 19),
}
PARIS_NINE = pendulum.datetime(2026, 12, 2, 9, tz="Europe/Paris")


def zoned_schedule() -> ck.Schedule:
    return ck.Schedule(start=PARIS_NINE, timezone="Europe/Paris", use_profile_timezone=True)


def test_profile_time_zones_deliver_at_nine_on_each_recipients_own_clock(env: Env) -> None:
    env.people(ZONES)
    campaign = env.campaign(zoned_schedule())

    first = env.tick()
    # it goes live when 09:00 first comes anywhere: in UTC+14, 13 hours before Paris
    assert env.status(campaign.id) is S.SCHEDULED
    assert first.next_due_at == LOCAL_NINE["kai"]

    env.drive(LOCAL_NINE["hana"] - SECOND)
    live = env.admin.get(campaign.id)
    assert live.status is S.LIVE
    assert live.went_live_at == LOCAL_NINE["kai"]
    [run] = env.report(campaign.id).runs
    assert run.status is RS.RUNNING
    assert run.finished_at is None
    assert run.counts.pending == 1  # hana's morning has not come yet
    assert "hana" not in env.arrived()

    env.drive(LOCAL_NINE["hana"].add(days=4))

    assert env.arrived() == {pid: [at] for pid, at in LOCAL_NINE.items()}
    report = env.report(campaign.id)
    [run] = report.runs
    assert run.status is RS.SUCCEEDED
    assert run.finished_at == LOCAL_NINE["hana"]
    assert (report.targeted, report.sent, dict(report.excluded)) == (6, 6, {})
    assert report.counts.timezone_fallbacks == 1  # zed
    assert report.counts.late == 0
    assert balanced(report.counts)
    done = env.admin.get(campaign.id)
    assert done.status is S.COMPLETED
    assert done.history[-1].at == LOCAL_NINE["kai"].add(days=3)


def test_a_zoned_campaign_completes_only_once_the_last_zone_is_delivered(envs: Envs) -> None:
    env = envs(lifecycle=ck.LifecycleRules(completion_after=HOUR))
    env.people(ZONES)
    campaign = env.campaign(zoned_schedule())

    env.drive(LOCAL_NINE["hana"] - SECOND)
    # an hour after going live, but the Honolulu recipient is still waiting
    assert env.status(campaign.id) is S.LIVE

    env.drive(LOCAL_NINE["hana"].add(days=1))
    done = env.admin.get(campaign.id)
    assert done.status is S.COMPLETED
    assert (done.history[-1].action, done.history[-1].at) == (ck.Verb.COMPLETE, LOCAL_NINE["hana"])
    assert env.arrived()["hana"] == [LOCAL_NINE["hana"]]


def test_recipients_whose_local_slot_passed_during_downtime_are_late_or_out_of_window(
    env: Env,
) -> None:
    env.people(ZONES)
    campaign = env.campaign(zoned_schedule())
    env.tick()

    late_tick = utc(2026, 12, 2, 10)  # nobody ticked since the activation
    env.at(late_tick)
    env.drive(LOCAL_NINE["hana"].add(hours=1))

    assert env.arrived() == {
        "ravi": [late_tick],
        "pierre": [late_tick],
        "zed": [late_tick],
        "nina": [LOCAL_NINE["nina"]],
        "hana": [LOCAL_NINE["hana"]],
    }
    report = env.report(campaign.id)
    # kai's 09:00 was 15 hours ago: past the 12-hour send window
    assert dict(report.excluded) == {R.SEND_WINDOW: 1}
    assert report.counts.late == 4  # reached after their 09:00: kai, ravi, pierre, zed
    assert report.sent == 5
    assert balanced(report.counts)
    [run] = report.runs
    assert env.ledger(run.run_id)["kai"].reason is R.SEND_WINDOW


# ---------------------------------------------------------------- waves

WAVE_START = T0.add(hours=1)


def wave_sizes(env: Env, campaign_id: str) -> list[int]:
    """How many recipients arrived at each wave start (one hour apart)."""
    per_instant = Counter(at for ats in env.arrived(campaign_id).values() for at in ats)
    assert set(per_instant) <= {WAVE_START.add(hours=i) for i in range(3)}
    return [per_instant[WAVE_START.add(hours=i)] for i in range(3)]


@pytest.mark.parametrize(
    ("waves", "size", "expected"),
    [
        (ck.Waves.equal(count=3, every=HOUR), 12, [4, 4, 4]),
        (ck.Waves.equal(count=3, every=HOUR), 10, [4, 3, 3]),
        (ck.Waves.percentages([50, 30, 20], every=HOUR), 10, [5, 3, 2]),
        (ck.Waves.counts([2, 5, 3], every=HOUR), 10, [2, 5, 3]),
    ],
    ids=["equal", "equal-remainder", "percentages", "counts"],
)
def test_waves_send_each_recipient_once_at_their_waves_start(
    env: Env, waves: ck.Waves, size: int, expected: list[int]
) -> None:
    env.people({f"p{i:02d}": None for i in range(size)})
    campaign = env.campaign(ck.Schedule(start=WAVE_START, waves=waves))

    env.drive(WAVE_START.add(hours=1, minutes=59))
    assert env.status(campaign.id) is S.LIVE
    assert wave_sizes(env, campaign.id)[2] == 0
    report = env.report(campaign.id)
    assert report.counts.pending == expected[2]  # the last wave waits

    env.drive(WAVE_START.add(days=4))
    assert wave_sizes(env, campaign.id) == expected
    arrived = env.arrived(campaign.id)
    assert sorted(arrived) == [f"p{i:02d}" for i in range(size)]
    assert all(len(ats) == 1 for ats in arrived.values())
    report = env.report(campaign.id)
    assert (report.targeted, report.sent, dict(report.excluded)) == (size, size, {})
    [run] = report.runs
    ledger = env.ledger(run.run_id)
    for pid, [at] in arrived.items():
        assert ledger[pid].due_at == at  # the wave start is the recipient's due time
    assert env.status(campaign.id) is S.COMPLETED


def test_recipients_beyond_the_wave_counts_are_excluded_and_counted(env: Env) -> None:
    env.people({f"p{i:02d}": None for i in range(12)})
    waves = ck.Waves.counts([4, 3, 2], every=HOUR)
    campaign = env.campaign(ck.Schedule(start=WAVE_START, waves=waves))

    env.drive(WAVE_START.add(days=4))

    assert wave_sizes(env, campaign.id) == [4, 3, 2]
    report = env.report(campaign.id)
    assert report.targeted == 12
    assert report.sent == 9
    assert dict(report.excluded) == {R.BEYOND_WAVES: 3}
    assert balanced(report.counts)
    [run] = report.runs
    beyond = {pid for pid, e in env.ledger(run.run_id).items() if e.reason is R.BEYOND_WAVES}
    assert len(beyond) == 3
    assert beyond.isdisjoint(env.arrived(campaign.id))


# ---------------------------------------------------------------- rate control


def test_rate_limit_sends_exactly_r_messages_per_simulated_second(env: Env) -> None:
    env.people({f"p{i:02d}": None for i in range(10)})
    campaign = env.campaign(rate_limit=3)

    sent_per_second: list[int] = []
    next_due: list[pendulum.DateTime | None] = []
    for second in range(6):
        if second:
            env.clock.advance(seconds=1)
        before = len(env.channel.sent)
        report = env.tick()
        sent_per_second.append(len(env.channel.sent) - before)
        next_due.append(report.next_due_at)

    assert sent_per_second == [3, 3, 3, 1, 0, 0]
    completion = T0.add(days=3)
    assert next_due == [T0 + SECOND, T0.add(seconds=2), T0.add(seconds=3), *[completion] * 3]
    assert len({m.profile_id for m in env.channel.sent}) == 10
    assert env.report(campaign.id).sent == 10

    # ticking again at the same instant sends nothing more
    assert env.tick().next_due_at == completion
    assert len(env.channel.sent) == 10


def test_rate_limit_waits_between_ticks_instead_of_bursting(env: Env) -> None:
    env.people({f"p{i}": None for i in range(5)})
    env.campaign(rate_limit=2)
    env.tick()
    assert len(env.channel.sent) == 2

    env.at(T0.add(microseconds=500_000))  # half a second later: the next slot is not here
    assert len(env.channel.sent) == 2
    env.at(T0.add(seconds=10))  # late tick: the passed slots are handed out again, 2 a second
    assert len(env.channel.sent) == 4
    env.at(T0.add(seconds=11))
    assert len(env.channel.sent) == 5


# ---------------------------------------------------------------- send window


def test_rate_limited_messages_past_the_send_window_are_excluded(env: Env) -> None:
    env.people({f"p{i}": None for i in range(5)})
    campaign = env.campaign(ck.Schedule(send_window=pendulum.duration(seconds=2)), rate_limit=1)

    env.drive(T0.add(days=4))

    arrivals = sorted(at for ats in env.arrived(campaign.id).values() for at in ats)
    assert arrivals == [T0, T0 + SECOND, T0.add(seconds=2)]
    report = env.report(campaign.id)
    assert (report.sent, dict(report.excluded)) == (3, {R.SEND_WINDOW: 2})
    assert balanced(report.counts)


def test_quiet_hours_that_outlast_the_send_window_exclude_the_late_recipients(
    env: Env,
) -> None:
    env.kit.rules.add_quiet_hours(
        EMAIL, ck.QuietHours(start="21:00", end="08:00", timezone="profile", mode="queue")
    )
    env.people({"lon": "UTC", "noumea": "Pacific/Noumea", "paris": "Europe/Paris"})
    start = utc(2026, 12, 1, 20)
    schedule = ck.Schedule(start=start, send_window=pendulum.duration(hours=2))
    campaign = env.campaign(schedule)

    env.drive(start.add(days=4))

    assert env.arrived(campaign.id) == {
        "lon": [start],  # 20:00 in London: not quiet
        "noumea": [utc(2026, 12, 1, 21)],  # 07:00 in Noumea: queued an hour
    }
    report = env.report(campaign.id)
    # 21:00 in Paris: quiet until 08:00 Paris, 11 hours later, past the 2-hour window
    assert dict(report.excluded) == {R.SEND_WINDOW: 1}
    [run] = report.runs
    assert run.finished_at == utc(2026, 12, 2, 7)  # settled when Paris's quiet hours ended
    assert env.ledger(run.run_id)["paris"].reason is R.SEND_WINDOW


def test_a_retry_is_not_cut_off_by_the_send_window(envs: Envs) -> None:
    channel = FlakyChannel(flaky=["p2"])
    settings = ck.DeliverySettings(retry_base=pendulum.duration(minutes=10))
    env = envs(delivery=settings, channel=channel)
    env.people({"p1": None, "p2": None})
    window = pendulum.duration(minutes=1)
    campaign = env.campaign(ck.Schedule(send_window=window))

    env.drive(T0.add(days=4))

    [run] = env.runs(campaign.id)
    live = env.admin.get(campaign.id).live_version
    assert live is not None
    [action] = live.actions
    delay = backoff(
        idempotency_key(run.id, action.id, "p2"),
        1,
        base=settings.retry_base,
        cap=settings.retry_cap,
    )
    assert delay > window
    assert channel.failures == ["p2"]
    assert env.arrived(campaign.id) == {"p1": [T0], "p2": [T0 + delay]}
    report = env.report(campaign.id)
    assert (report.sent, report.retries, dict(report.excluded)) == (2, 1, {})


# ---------------------------------------------------------------- quiet hours


def test_discard_quiet_hours_exclude_marketing_messages_in_the_recipients_night(
    env: Env,
) -> None:
    env.kit.rules.add_quiet_hours(
        EMAIL, ck.QuietHours(start="21:00", end="08:00", timezone="profile", mode="discard")
    )
    env.people({"lon": "UTC", "ny": "America/New_York", "tokyo": "Asia/Tokyo"})
    start = utc(2026, 12, 1, 22)
    campaign = env.campaign(ck.Schedule(start=start))

    env.drive(start.add(days=4))

    assert env.arrived(campaign.id) == {"ny": [start]}  # 17:00 in New York
    report = env.report(campaign.id)
    assert dict(report.excluded) == {R.QUIET_HOURS: 2}  # 22:00 London, 07:00 Tokyo
    assert balanced(report.counts)
    [run] = report.runs
    assert run.finished_at == start  # nothing was held back


def test_queue_quiet_hours_release_each_message_when_its_quiet_time_ends(env: Env) -> None:
    env.kit.rules.add_quiet_hours(
        EMAIL, ck.QuietHours(start="21:00", end="08:00", timezone="profile", mode="queue")
    )
    env.people({"lon": "UTC", "ny": "America/New_York", "paris": "Europe/Paris"})
    start = utc(2026, 12, 1, 22)
    campaign = env.campaign(ck.Schedule(start=start))

    first = env.drive(start)
    assert first.next_due_at == utc(2026, 12, 2, 7)  # the earliest quiet time to end
    [run] = env.runs(campaign.id)
    queued = env.ledger(run.id)
    assert {pid: e.state for pid, e in queued.items()} == {
        "lon": ck.LedgerState.QUEUED,
        "ny": ck.LedgerState.SENT,
        "paris": ck.LedgerState.QUEUED,
    }

    env.drive(start.add(days=4))
    assert env.arrived(campaign.id) == {
        "ny": [start],
        "paris": [utc(2026, 12, 2, 7)],  # 08:00 in Paris
        "lon": [utc(2026, 12, 2, 8)],  # 08:00 in London
    }
    assert [m.profile_id for _, m in env.arrivals] == ["ny", "paris", "lon"]
    report = env.report(campaign.id)
    assert (report.sent, dict(report.excluded)) == (3, {})
    [run_report] = report.runs
    assert run_report.finished_at == utc(2026, 12, 2, 8)


def test_campaign_quiet_hours_apply_to_that_campaign_only(env: Env) -> None:
    env.people({"p1": None})
    lunch = ck.QuietHours(start="12:00", end="14:00", timezone="Europe/Paris", mode="queue")
    start = utc(2026, 12, 1, 11, 30)  # 12:30 in Paris
    quiet = env.campaign(ck.Schedule(start=start), name="Quiet", quiet_hours=[lunch])
    loud = env.campaign(ck.Schedule(start=start), name="Loud")

    env.drive(start.add(days=4))

    assert env.arrived(loud.id) == {"p1": [start]}
    assert env.arrived(quiet.id) == {"p1": [utc(2026, 12, 1, 13)]}  # 14:00 in Paris


def test_quiet_dates_hold_messages_until_the_local_day_ends(env: Env) -> None:
    christmas = ck.QuietHours(
        dates=(datetime.date(2026, 12, 25),), timezone="Europe/Paris", mode="queue"
    )
    env.kit.rules.add_quiet_hours(EMAIL, christmas)
    env.people({"p1": None})
    start = utc(2026, 12, 25, 20)
    campaign = env.campaign(ck.Schedule(start=start))

    env.drive(start.add(days=4))

    assert env.arrived(campaign.id) == {"p1": [utc(2026, 12, 25, 23)]}  # midnight in Paris


def test_transactional_messages_ignore_quiet_hours(env: Env) -> None:
    env.kit.rules.add_quiet_hours(
        EMAIL, ck.QuietHours(start="00:00", end="23:59", timezone="UTC", mode="discard")
    )
    env.people({"p1": "UTC"})
    receipt = env.transactional_campaign()
    marketing = env.campaign(name="Promo")

    env.admin.trigger(receipt.id, [ck.Recipient(user_id="p1", namespace="email")], request_id="r1")
    env.tick()

    assert env.arrived(receipt.id) == {"p1": [T0]}
    assert env.arrived(marketing.id) == {}
    assert dict(env.report(marketing.id).excluded) == {R.QUIET_HOURS: 1}
    assert env.report(receipt.id).sent == 1


# ---------------------------------------------------------------- frequency caps


def test_a_frequency_cap_excludes_a_second_campaign_within_the_period(env: Env) -> None:
    env.kit.rules.add_frequency_cap(EMAIL, ck.FrequencyCap(max=1, per=DAY))
    env.people({"p1": None, "p2": None}, audience="both")
    env.people({"p1": None}, audience="one")

    first = env.campaign(name="First", audience="one")
    env.tick()
    env.clock.set(T0 + DAY - SECOND)
    second = env.campaign(name="Second", audience="both")
    env.tick()
    env.clock.set(T0 + DAY)
    third = env.campaign(name="Third", audience="one")
    env.tick()

    assert env.arrived(first.id) == {"p1": [T0]}
    assert env.arrived(second.id) == {"p2": [T0 + DAY - SECOND]}
    assert dict(env.report(second.id).excluded) == {R.FREQUENCY_CAP: 1}
    # a day after the first send it no longer counts: the period is half-open
    assert env.arrived(third.id) == {"p1": [T0 + DAY]}
    assert dict(env.report(third.id).excluded) == {}


def test_a_daily_campaign_under_a_weekly_cap_sends_once_a_week(env: Env) -> None:
    env.kit.rules.add_frequency_cap(EMAIL, ck.FrequencyCap(max=1, per=pendulum.duration(days=7)))
    env.people({"p1": None})
    start = utc(2026, 12, 2, 9)
    campaign = env.campaign(ck.Schedule(start=start, recurrence=ck.Recurrence.daily(at="09:00")))

    env.drive(start.add(days=8))

    assert env.arrived(campaign.id) == {"p1": [start, start.add(days=7)]}
    report = env.report(campaign.id)
    assert len(report.runs) == 9
    assert dict(report.excluded) == {R.FREQUENCY_CAP: 7}


def test_a_weekly_campaign_fits_a_cap_of_one_per_seven_days(env: Env) -> None:
    env.kit.rules.add_frequency_cap(EMAIL, ck.FrequencyCap(max=1, per=pendulum.duration(days=7)))
    env.people({"p1": None, "p2": None})
    start = utc(2026, 12, 2, 9)  # a Wednesday
    weekly = ck.Recurrence.weekly(days=[ck.Weekday.WE], at="09:00")
    campaign = env.campaign(ck.Schedule(start=start, recurrence=weekly))

    env.drive(start.add(days=15))

    weeks = [start, start.add(days=7), start.add(days=14)]
    assert env.arrived(campaign.id) == {"p1": weeks, "p2": weeks}
    assert dict(env.report(campaign.id).excluded) == {}


def test_transactional_messages_are_exempt_from_caps_and_not_counted(env: Env) -> None:
    env.kit.rules.add_frequency_cap(EMAIL, ck.FrequencyCap(max=1, per=DAY))
    env.people({"p1": None})
    receipt = env.transactional_campaign()
    p1 = [ck.Recipient(user_id="p1", namespace="email")]

    env.admin.trigger(receipt.id, p1, request_id="before")
    env.tick()
    env.clock.advance(hours=1)
    promo = env.campaign(name="Promo")  # the receipt did not use up the cap
    env.tick()
    env.clock.advance(hours=1)
    env.admin.trigger(receipt.id, p1, request_id="after")  # the promo did, for marketing only
    env.tick()
    env.clock.advance(hours=1)
    capped = env.campaign(name="Capped")
    env.tick()

    assert env.arrived(receipt.id) == {"p1": [T0, T0.add(hours=2)]}
    assert env.arrived(promo.id) == {"p1": [T0.add(hours=1)]}
    assert env.arrived(capped.id) == {}
    assert dict(env.report(capped.id).excluded) == {R.FREQUENCY_CAP: 1}


# ---------------------------------------------------------------- recurring campaigns

DAILY_START = utc(2026, 12, 2)


def daily(
    end: pendulum.DateTime | None = None,
    send_window: pendulum.Duration = TWELVE_HOURS,
) -> ck.Schedule:
    """Daily at 09:00 UTC from 2 December."""
    return ck.Schedule(
        start=DAILY_START,
        end=end,
        recurrence=ck.Recurrence.daily(at="09:00"),
        send_window=send_window,
    )


def nine(day: int) -> pendulum.DateTime:
    return utc(2026, 12, day, 9)


def test_a_daily_campaign_runs_once_per_occurrence(env: Env) -> None:
    env.people({"p1": None, "p2": None})
    campaign = env.campaign(daily())

    env.drive(nine(4))
    env.tick()  # ticking again at the same instant starts nothing new

    days = [nine(2), nine(3), nine(4)]
    assert env.arrived(campaign.id) == {"p1": days, "p2": days}
    report = env.report(campaign.id)
    assert [(r.kind, r.status, r.created_at) for r in report.runs] == [
        (ck.RunKind.OCCURRENCE, RS.SUCCEEDED, day) for day in days
    ]
    assert [r.counts.sent for r in report.runs] == [2, 2, 2]
    assert env.status(campaign.id) is S.LIVE  # no end date: live until stopped
    assert env.tick().next_due_at == nine(5)


def test_after_downtime_only_the_latest_missed_occurrence_runs(env: Env) -> None:
    env.people({"p1": None})
    campaign = env.campaign(daily())
    env.drive(nine(2))

    back = utc(2026, 12, 7, 10)  # five days without a tick
    report = env.at(back)

    assert env.arrived(campaign.id) == {"p1": [nine(2), back]}
    runs = env.report(campaign.id).runs
    assert [(r.status, r.created_at) for r in runs] == [
        (RS.SUCCEEDED, nine(2)),
        *[(RS.SKIPPED, nine(day)) for day in (3, 4, 5, 6)],
        (RS.SUCCEEDED, nine(7)),
    ]
    assert all(r.finished_at == back and r.counts.targeted == 0 for r in runs[1:5])
    assert report.next_due_at == nine(8)


@pytest.mark.parametrize("ending", ["stop", "end date"])
def test_skipped_occurrences_stay_skipped_when_the_campaign_ends(env: Env, ending: str) -> None:
    env.people({"p1": None})
    end = utc(2026, 12, 6)
    campaign = env.campaign(daily(end=end))
    env.drive(nine(2))
    env.at(utc(2026, 12, 4, 10))  # the 3rd is skipped, the 4th runs
    assert [r.status for r in env.report(campaign.id).runs] == [
        RS.SUCCEEDED,
        RS.SKIPPED,
        RS.SUCCEEDED,
    ]

    if ending == "stop":
        env.admin.stop(campaign.id)
        env.tick()
    else:
        env.drive(end.add(days=1))

    report = env.report(campaign.id)
    assert report.runs[1].status is RS.SKIPPED
    assert dict(report.excluded) == {}
    assert report.targeted == report.sent


def test_with_missed_occurrences_all_each_missed_occurrence_runs_within_its_window(
    envs: Envs,
) -> None:
    env = envs(lifecycle=ck.LifecycleRules(missed_occurrences="all"))
    env.people({"p1": None})
    campaign = env.campaign(daily(send_window=pendulum.duration(days=3)))
    env.drive(nine(2))

    back = utc(2026, 12, 7, 10)
    env.at(back)

    runs = env.report(campaign.id).runs
    assert [(r.status, r.created_at) for r in runs] == [
        (RS.SUCCEEDED, nine(day)) for day in range(2, 8)
    ]
    # the 3rd and 4th are more than three days old: out of their send window
    assert [dict(r.counts.excluded) for r in runs] == [
        {},
        {R.SEND_WINDOW: 1},
        {R.SEND_WINDOW: 1},
        {},
        {},
        {},
    ]
    assert env.arrived(campaign.id) == {"p1": [nine(2), back, back, back]}


def test_a_recurring_campaign_with_an_end_date_completes_at_its_end(env: Env) -> None:
    env.people({"p1": None})
    end = utc(2026, 12, 5)
    campaign = env.campaign(daily(end=end))

    env.drive(end - SECOND)
    assert env.status(campaign.id) is S.LIVE
    env.drive(end.add(days=3))

    done = env.admin.get(campaign.id)
    assert done.status is S.COMPLETED
    assert (done.history[-1].action, done.history[-1].at) == (ck.Verb.COMPLETE, end)
    assert env.arrived(campaign.id) == {"p1": [nine(2), nine(3), nine(4)]}
    assert len(env.report(campaign.id).runs) == 3


def test_a_new_live_version_changes_only_later_occurrences(env: Env) -> None:
    env.people({"p1": None})
    campaign = env.campaign(daily(), subject="Version one")
    env.drive(nine(2).add(hours=1))

    env.admin.modify(campaign.id)
    env.admin.update_draft(campaign.id, actions=[env.action("Version two")])
    env.admin.activate(campaign.id)
    env.drive(nine(4))

    subjects = [(at, m.fields["subject"]) for at, m in env.arrivals]
    assert subjects == [
        (nine(2), "Version one"),
        (nine(3), "Version two"),
        (nine(4), "Version two"),
    ]
    assert [r.version for r in env.report(campaign.id).runs] == [1, 2, 2]
    assert env.status(campaign.id) is S.LIVE


# ---------------------------------------------------------------- calendar


def test_the_calendar_lists_one_entry_per_occurrence(env: Env) -> None:
    env.people({"p1": None})
    end = utc(2026, 12, 9)
    recurring = env.campaign(daily(end=end), name="Daily")
    one_shot = env.campaign(ck.Schedule(start=utc(2026, 12, 3, 12)), name="Once")
    env.tick()

    entries = env.admin.calendar(utc(2026, 12, 2), utc(2026, 12, 6))

    assert [(e.campaign_id, e.at) for e in entries] == [
        (recurring.id, nine(2)),
        (recurring.id, nine(3)),
        (one_shot.id, utc(2026, 12, 3, 12)),
        (recurring.id, nine(4)),
        (recurring.id, nine(5)),
    ]
    assert {e.until for e in entries if e.campaign_id == recurring.id} == {end}


# ---------------------------------------------------------------- found in review


def per_second(env: Env, campaign_id: str) -> list[int]:
    """How many messages of a campaign arrived in each second that had any, in order."""
    counted = Counter(
        at.set(microsecond=0) for at, m in env.arrivals if m.campaign_id == campaign_id
    )
    return [counted[at] for at in sorted(counted)]


def test_the_rate_holds_after_a_pause_between_waves(env: Env) -> None:
    env.people({f"p{i:02d}": None for i in range(10)})
    waves = ck.Waves.equal(count=2, every=HOUR)
    campaign = env.campaign(ck.Schedule(start=WAVE_START, waves=waves), rate_limit=2)
    env.drive(WAVE_START.add(hours=2))
    assert per_second(env, campaign.id) == [2, 2, 1, 2, 2, 1]  # each wave: 5 at 2 per second
    assert env.report(campaign.id).sent == 10


def test_the_rate_holds_for_messages_released_from_quiet_hours(env: Env) -> None:
    paris = {f"paris{i}": "Europe/Paris" for i in range(6)}
    new_york = {f"ny{i}": "America/New_York" for i in range(6)}
    env.people({**paris, **new_york})
    env.kit.rules.add_quiet_hours(EMAIL, ck.QuietHours(start="21:00", end="08:00"))
    campaign = env.campaign(rate_limit=2)  # 09:00 UTC: 10:00 in Paris, 04:00 in New York
    env.drive(utc(2026, 12, 1, 14))
    assert per_second(env, campaign.id) == [2, 2, 2, 2, 2, 2]
    arrived = env.arrived(campaign.id)
    assert min(arrived[pid][0] for pid in paris) == T0
    assert min(arrived[pid][0] for pid in new_york) == utc(2026, 12, 1, 13)  # 08:00 there


def test_quiet_hours_that_never_end_exclude_instead_of_failing_every_tick(
    env: Env,
) -> None:
    env.people({"p1": None})
    always = ck.QuietHours(days=tuple(ck.Weekday), mode="queue")
    env.kit.rules.add_quiet_hours(EMAIL, always)
    campaign = env.campaign()
    env.drive(T0.add(days=4))
    report = env.report(campaign.id)
    assert dict(report.excluded) == {R.QUIET_HOURS: 1}
    assert env.status(campaign.id) is S.COMPLETED
    assert env.arrived() == {}


def test_late_counts_only_recipients_reached_after_their_slot(env: Env) -> None:
    env.people({f"p{i}": "Europe/Paris" for i in range(5)})
    start = pendulum.datetime(2026, 12, 2, 9, tz="Europe/Paris")
    schedule = ck.Schedule(start=start, timezone="Europe/Paris", use_profile_timezone=True)
    campaign = env.campaign(schedule, rate_limit=1)
    env.drive(start.add(minutes=1))
    assert per_second(env, campaign.id) == [1, 1, 1, 1, 1]
    assert env.report(campaign.id).counts.late == 0  # held by the rate limit, not reached late


def daily_paris(end: pendulum.DateTime | None = None) -> ck.Schedule:
    """09:00 every day from 2 to 4 December in each recipient's zone (Paris the default)."""
    return ck.Schedule(
        start=pendulum.datetime(2026, 12, 2, tz="Europe/Paris"),
        end=end or pendulum.datetime(2026, 12, 5, tz="Europe/Paris"),
        timezone="Europe/Paris",
        recurrence=ck.Recurrence.daily(at="09:00"),
        use_profile_timezone=True,
    )


WORLD: dict[str, str | None] = {
    "kai": "Pacific/Kiritimati",
    "pierre": "Europe/Paris",
    "hana": "Pacific/Honolulu",
}


def test_a_new_version_does_not_rerun_an_occurrence_already_started(env: Env) -> None:
    env.people(WORLD)
    campaign = env.campaign(daily_paris())
    # 2 December 20:00 UTC: the run for 3 December started at 19:00 (09:00 at UTC+14)
    env.drive(utc(2026, 12, 2, 20))
    env.admin.modify(campaign.id)
    env.admin.update_draft(campaign.id, actions=[env.action("Hi v2")])
    env.admin.activate(campaign.id)
    env.drive(utc(2026, 12, 6))
    subjects: dict[str, list[str]] = {}
    for _, message in env.arrivals:
        subjects.setdefault(message.profile_id, []).append(message.fields["subject"])
    assert subjects == {pid: ["Hi", "Hi", "Hi v2"] for pid in WORLD}  # 2, 3, 4 December


def test_a_recurring_profile_time_zone_campaign_completes_after_its_last_zone(
    env: Env,
) -> None:
    env.people(WORLD)
    # the end, noon in Paris on 4 December, comes before 09:00 in Honolulu that day
    campaign = env.campaign(daily_paris(end=pendulum.datetime(2026, 12, 4, 12, tz="Europe/Paris")))
    env.drive(utc(2026, 12, 6))
    report = env.report(campaign.id)
    assert report.sent == 9  # nobody cut off by the end
    assert dict(report.excluded) == {}
    last = max(at for at, _ in env.arrivals)
    assert last == utc(2026, 12, 4, 19)  # 09:00 in Honolulu on 4 December
    history = env.admin.get(campaign.id).history
    assert history[-1].to_status is S.COMPLETED
    assert history[-1].at == last  # when the last zone was delivered, after the end date


def test_a_new_version_keeps_the_every_n_rhythm_of_a_campaign_without_start(
    env: Env,
) -> None:
    env.people({"p1": None})
    every_other = ck.Schedule(recurrence=ck.Recurrence.daily(at="09:00", every=2))
    campaign = env.campaign(every_other)
    env.drive(utc(2026, 12, 2, 12))  # 1 December (activation day) has run
    env.admin.modify(campaign.id)
    env.admin.update_draft(campaign.id, actions=[env.action("Hi v2")])
    env.admin.activate(campaign.id)
    env.drive(utc(2026, 12, 8))
    assert [at.day for at in env.arrived()["p1"]] == [1, 3, 5, 7]


def test_an_rrule_count_holds_for_a_campaign_without_start(env: Env) -> None:
    env.people({"p1": None})
    three = ck.Recurrence.rrule("FREQ=DAILY;COUNT=3;BYHOUR=10;BYMINUTE=0")
    campaign = env.campaign(ck.Schedule(recurrence=three))
    env.drive(utc(2026, 12, 10))
    assert [at.day for at in env.arrived()["p1"]] == [1, 2, 3]
    assert [r.status for r in env.report(campaign.id).runs] == [RS.SUCCEEDED] * 3


def test_the_rate_holds_when_a_tick_comes_late(env: Env) -> None:
    env.people({f"p{i:02d}": None for i in range(10)})
    campaign = env.campaign(rate_limit=2)
    env.tick()  # live, 2 sent, 8 given slots in the next 4 seconds
    env.at(T0.add(seconds=30))  # nobody ticked at those slots
    env.drive(T0.add(minutes=1))
    assert per_second(env, campaign.id) == [2, 2, 2, 2, 2]  # never the 8 at once
    assert sorted({at for ats in env.arrived().values() for at in ats})[1] == T0.add(seconds=30)


class RefusingChannel(RecordingChannel):
    """A RecordingChannel that permanently refuses messages to some profiles."""

    def __init__(self, refused: Iterable[str]) -> None:
        super().__init__("email")
        self.refused = set(refused)

    def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
        return [
            ck.PermanentFailure("mailbox does not exist")
            if m.profile_id in self.refused
            else super(RefusingChannel, self).send([m])[0]
            for m in messages
        ]


def test_a_message_that_permanently_failed_does_not_count_towards_the_cap(
    envs: Envs,
) -> None:
    env = envs(channel=RefusingChannel({"p1"}))
    env.people({"p1": None, "p2": None})
    env.kit.rules.add_frequency_cap(EMAIL, ck.FrequencyCap(max=1, per=DAY))
    first = env.campaign(name="First")
    env.drive(T0.add(minutes=5))
    assert (env.report(first.id).sent, env.report(first.id).counts.failed) == (1, 1)
    env.channel.refused.clear()  # type: ignore[attr-defined]
    second = env.campaign(name="Second")
    env.drive(T0.add(minutes=10))
    assert env.report(second.id).sent == 1  # p1: the failed message never reached them
    assert env.report(second.id).excluded == {R.FREQUENCY_CAP: 1}  # p2 got the first
