"""Recurring campaigns and the calendar: once per occurrence, missed occurrences after
downtime, end dates, new live versions, and one calendar entry per occurrence."""

from __future__ import annotations

import pendulum
import pytest

import campaignkit as ck
from tests.integration.scheduling_engine.support import (
    RS,
    SECOND,
    TWELVE_HOURS,
    Env,
    Envs,
    R,
    S,
    utc,
)

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
