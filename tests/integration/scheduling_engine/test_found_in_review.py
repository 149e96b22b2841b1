"""Scheduling cases found in review: the rate across pauses, quiet hours and late ticks,
endless quiet hours, late counts, new versions of recurring campaigns, and RRULE counts."""

from __future__ import annotations

from collections import Counter

import pendulum

import campaignkit as ck
from tests.integration.scheduling_engine.support import (
    EMAIL,
    HOUR,
    RS,
    T0,
    WAVE_START,
    Env,
    R,
    S,
    utc,
)

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
