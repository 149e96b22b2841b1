"""Profile time zones (nine o'clock on each recipient's own clock, completion after the last
zone, downtime) and waves (each recipient once, at their wave's start)."""

from __future__ import annotations

from collections import Counter

import pendulum
import pytest

import campaignkit as ck
from tests.integration.scheduling_engine.support import (
    HOUR,
    RS,
    SECOND,
    WAVE_START,
    Env,
    Envs,
    R,
    S,
    balanced,
    utc,
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
