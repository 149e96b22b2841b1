"""Frequency caps: a second campaign within the period is excluded, daily and weekly
campaigns under caps, transactional messages exempt and not counted, and permanent failures
not counted."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pendulum

import campaignkit as ck
from campaignkit.testing import RecordingChannel
from tests.integration.scheduling_engine.support import DAY, EMAIL, SECOND, T0, Env, Envs, R, utc

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
