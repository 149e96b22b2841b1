"""One bad recipient fails alone among a thousand, and one run whose audience source or
progress callback raises does not stop the others."""

from __future__ import annotations

import logging

import pytest

import campaignkit as ck
from tests.factories import bypass, person
from tests.unit.isolation.support import EMAIL, HostAudiences, Unprintable

# ---------------------------------------------------------------- one bad recipient


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (bypass(person("bad", firstName="B"), timezone=5), "AttributeError"),
        (bypass(person("bad", firstName="B"), timezone=b"Europe/Paris"), "TypeError"),
        (bypass(person("bad"), attributes={"firstName": Unprintable()}), "cannot print me"),
        (bypass(person("bad", firstName="B"), channel_data=None), "AttributeError"),
    ],
    ids=["int-zone", "bytes-zone", "unprintable-value", "no-channel-data"],
)
def test_one_bad_profile_among_a_thousand_fails_alone(
    make_env: object, bad: ck.Profile, why: str
) -> None:
    crowd = [person(f"p{i}", firstName=f"P{i}") for i in range(999)]
    crowd.insert(500, bad)
    env = make_env(audiences=HostAudiences({"crowd": crowd}))  # type: ignore[operator]
    campaign = env.campaign("Crowd", "crowd", subject="Hi {{ profile.firstName }}")
    env.admin.activate(campaign.id)
    env.kit.tick()

    run = env.run_of(campaign.id)
    assert run.status is ck.RunStatus.SUCCEEDED
    report = env.admin.report(campaign.id)
    assert (report.sent, report.counts.failed, report.counts.pending) == (999, 1, 0), report
    (failed,) = [e for e in env.entries(run.id) if e.state is not ck.LedgerState.SENT]
    assert failed.profile_id == "bad"
    assert failed.state is ck.LedgerState.FAILED
    assert failed.error is not None
    assert "profile data cannot be used" in failed.error
    assert why in failed.error
    assert len(env.kit.channels[EMAIL].sent) == 999


def test_an_over_long_time_zone_falls_back_and_is_delivered(make_env: object) -> None:
    crowd = [person("a"), bypass(person("b"), timezone="X" * 300)]
    env = make_env(audiences=HostAudiences({"crowd": crowd}))  # type: ignore[operator]
    campaign = env.campaign("Crowd", "crowd")
    env.admin.activate(campaign.id)
    env.kit.tick()
    assert env.admin.report(campaign.id).sent == 2


# ---------------------------------------------------------------- one bad run


def test_a_run_whose_audience_source_raises_fails_and_the_others_deliver(
    make_env: object, caplog: pytest.LogCaptureFixture
) -> None:
    host = HostAudiences({"good": [person("a"), person("b")], "down": [person("c")]})
    host.broken.add("down")
    env = make_env(audiences=host)  # type: ignore[operator]
    first = env.campaign("Down", "down")
    second = env.campaign("Good", "good")
    for campaign in (first, second):
        env.admin.activate(campaign.id)
    with caplog.at_level(logging.WARNING, logger="campaignkit"):
        env.kit.tick()

    failed = env.run_of(first.id)
    assert failed.status is ck.RunStatus.FAILED
    assert failed.error == "RuntimeError: audience service down for down"
    assert env.run_of(second.id).status is ck.RunStatus.SUCCEEDED
    assert env.admin.report(second.id).sent == 2
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        failed.id in r.getMessage() and "audience service down" in r.getMessage() for r in warned
    )
    with env.kit.store.unit_of_work() as uow:
        assert uow.runs.next_due_at() is None  # the failed run is not retried


def test_a_progress_callback_that_raises_does_not_fail_the_run(
    make_env: object, caplog: pytest.LogCaptureFixture
) -> None:
    env = make_env(audiences=HostAudiences({"crowd": [person("a")]}))  # type: ignore[operator]

    def broken(progress: ck.RunProgress) -> None:
        raise ValueError("progress bar bug")

    env.kit.runner.progress = broken
    campaign = env.campaign("Crowd", "crowd")
    env.admin.activate(campaign.id)
    with caplog.at_level(logging.ERROR, logger="campaignkit"):
        env.kit.tick()
    assert env.run_of(campaign.id).status is ck.RunStatus.SUCCEEDED
    assert any("progress callback" in r.getMessage() for r in caplog.records)
