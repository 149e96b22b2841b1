"""Profile data that breaks each decide step on the simple and the timed path fails only that
recipient, and duplicates inside a batch and across a resume are sent once."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pendulum
import pytest

import campaignkit as ck
from campaignkit.testing import CallbackChannel
from tests.factories import bypass, person
from tests.unit.pipeline_attacks.support import EMAIL, Env, HostAudiences, accept, crowd

# ---------------------------------------------------------------- bad profile data

SIMPLE = ck.Schedule()
TIMED = ck.Schedule(
    use_profile_timezone=True,
    waves=ck.Waves.equal(count=2, every=pendulum.duration(hours=1)),
)


@pytest.mark.parametrize("schedule", [SIMPLE, TIMED], ids=["simple", "waves+zones"])
@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"identities": ["bad@example.com"]}, ""),
        ({"identities": None}, ""),
        ({"timezone": 5}, ""),
        ({"timezone": b"Europe/Paris"}, ""),
        ({"consents": None}, ""),
        ({"attributes": None}, ""),
    ],
    ids=[
        "identities-list",
        "identities-none",
        "zone-int",
        "zone-bytes",
        "consents-none",
        "attrs-none",
    ],
)
def test_bad_profile_data_fails_that_recipient_alone(
    make_env: Callable[..., Env], schedule: ck.Schedule, fields: dict[str, object], why: str
) -> None:
    people = crowd(20, firstName="A")
    people.insert(7, bypass(person("bad", firstName="B"), **fields))
    env = make_env(audiences=HostAudiences({"c": people}))
    campaign = env.start("c", "Hi {{ profile.firstName }}", schedule=schedule)
    env.kit.tick()
    env.clock.advance(pendulum.duration(hours=1))
    env.kit.tick()
    assert env.run_of(campaign.id).status is ck.RunStatus.SUCCEEDED
    report = env.admin.report(campaign.id)
    assert report.sent == 20, report
    (bad,) = [e for e in env.entries(campaign.id) if e.profile_id == "bad"]
    assert bad.state in (ck.LedgerState.FAILED, ck.LedgerState.EXCLUDED), bad
    if bad.state is ck.LedgerState.FAILED:
        assert bad.error is not None
        assert "profile data cannot be used" in bad.error


def test_a_template_failing_for_one_recipient_fails_that_recipient_alone(
    make_env: Callable[..., Env],
) -> None:
    people = crowd(20, n=2)
    people.insert(3, person("zero", n=0))
    env = make_env(audiences=HostAudiences({"c": people}))
    campaign = env.start(
        "c", "{% if profile.n %}{{ 10 // profile.n }}{% else %}{{ 1 // 0 }}{% endif %}"
    )
    env.kit.tick()
    assert env.run_of(campaign.id).status is ck.RunStatus.SUCCEEDED
    report = env.admin.report(campaign.id)
    assert (report.sent, report.counts.failed) == (20, 1)
    (bad,) = [e for e in env.entries(campaign.id) if e.state is not ck.LedgerState.SENT]
    assert bad.profile_id == "zero"
    assert bad.state is ck.LedgerState.FAILED


# ---------------------------------------------------------------- duplicates


def test_duplicates_inside_a_batch_and_across_a_resume_are_sent_once(
    make_env: Callable[..., Env],
) -> None:
    people = crowd(8)
    audience = [people[0], people[1], people[0], *people[2:], people[1], people[5], people[0]]
    handed: list[str] = []

    def spy(message: ck.Message) -> ck.SendResult:
        handed.append(message.profile_id)
        return accept(message)

    env = make_env(
        audiences=HostAudiences({"c": audience}),
        channel=CallbackChannel(spy),
        delivery=ck.DeliverySettings(batch_size=4),
    )
    campaign = env.start("c")
    stopping = threading.Event()

    def stop_after(message: ck.Message) -> ck.SendResult:
        stopping.set()
        return spy(message)

    env.kit.channels[EMAIL]._respond = stop_after
    env.kit.runner.stop_requested = stopping.is_set
    env.kit.tick()  # the first batch, then the worker stops
    assert env.run_of(campaign.id).status is ck.RunStatus.RUNNING
    env.kit.runner.stop_requested = lambda: False
    env.kit.channels[EMAIL]._respond = spy
    env.kit.tick()  # resumes from its position
    assert env.run_of(campaign.id).status is ck.RunStatus.SUCCEEDED
    assert sorted(handed) == sorted(p.id for p in people)
    report = env.admin.report(campaign.id)
    assert report.sent == 8
    assert report.counts.excluded.get(ck.ExclusionReason.DUPLICATE) == 4, report.counts
