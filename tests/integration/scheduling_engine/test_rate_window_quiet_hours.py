"""Rate control (exactly R per simulated second, no bursts), the send window (late messages
excluded, retries not cut off) and quiet hours (discard, queue, per campaign, quiet dates,
transactional messages exempt)."""

from __future__ import annotations

import datetime

import pendulum

import campaignkit as ck
from campaignkit.domain.delivery import backoff, idempotency_key
from tests.integration.scheduling_engine.support import (
    EMAIL,
    SECOND,
    T0,
    Env,
    Envs,
    FlakyChannel,
    R,
    balanced,
    utc,
)

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
