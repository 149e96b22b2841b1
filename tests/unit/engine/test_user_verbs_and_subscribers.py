"""User verbs first apply the due transitions, and subscribers hear events after the change is
committed, a failing listener logged without breaking anything."""

from __future__ import annotations

import logging
import threading

import pytest

import campaignkit as ck
from tests.factories import T0, World
from tests.unit.engine.support import S, V, steps, timeline

# ---------------------------------------------------------------- user verbs catch up


def test_user_verb_first_applies_the_due_transitions(world: World) -> None:
    campaign = world.draft(start=T0.add(hours=1))  # due to go live at 10:00
    world.admin.activate(campaign.id)
    world.kit.tick()
    world.events.clear()

    world.clock.set(T0.add(hours=2))  # 11:00, no tick in between
    stopped = world.admin.stop(campaign.id)

    assert stopped.status is S.STOPPED
    assert stopped.went_live_at == T0.add(hours=1)
    assert timeline(stopped)[-2:] == [
        (V.GO_LIVE, S.SCHEDULED, S.LIVE, T0.add(hours=1), "system"),
        (V.STOP, S.LIVE, S.STOPPED, T0.add(hours=2), "ada"),
    ]
    assert steps(world.events) == [
        (campaign.id, V.GO_LIVE, T0.add(hours=1)),
        (campaign.id, V.STOP, T0.add(hours=2)),
    ]
    assert world.kit.tick().events == ()


def test_user_verb_on_a_campaign_that_should_have_completed_sees_it_completed(
    world: World,
) -> None:
    campaign = world.live()
    world.clock.set(T0.add(days=5))

    with pytest.raises(ck.TransitionNotAllowed) as caught:
        world.admin.stop(campaign.id)
    assert caught.value.status == "COMPLETED"

    archived = world.admin.archive(campaign.id)
    assert timeline(archived)[-2:] == [
        (V.COMPLETE, S.LIVE, S.COMPLETED, T0.add(days=3), "system"),
        (V.ARCHIVE, S.COMPLETED, S.ARCHIVED, T0.add(days=5), "ada"),
    ]


# ---------------------------------------------------------------- subscribers


def test_listeners_hear_events_after_the_change_is_committed(world: World) -> None:
    campaign = world.draft()
    observed: list[S] = []
    blocked: list[bool] = []

    def read_from_another_thread(event: ck.DomainEvent) -> None:
        # A store still inside its unit of work would block this reader.
        reader = threading.Thread(
            target=lambda: observed.append(world.admin.get(event.campaign_id).status)
        )
        reader.start()
        reader.join(timeout=5)
        blocked.append(reader.is_alive())

    world.kit.subscribe(read_from_another_thread)
    world.admin.activate(campaign.id)
    world.kit.tick()

    assert blocked == [False, False]
    assert observed == [S.ACTIVATING, S.LIVE]


def test_a_failing_listener_is_logged_and_does_not_break_anything(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(event: ck.DomainEvent) -> None:
        raise RuntimeError("listener bug")

    later: list[ck.DomainEvent] = []
    world.kit.subscribe(explode)
    world.kit.subscribe(later.append)
    campaign = world.draft(start=T0.add(hours=1))
    world.events.clear()
    later.clear()
    caplog.clear()

    with caplog.at_level(logging.ERROR, logger="campaignkit"):
        world.admin.activate(campaign.id)
        world.clock.set(T0.add(hours=2))
        report = world.kit.tick()

    assert world.admin.get(campaign.id).status is S.LIVE
    assert steps(report.events) == [
        (campaign.id, V.PREPARE, T0),
        (campaign.id, V.GO_LIVE, T0.add(hours=1)),
    ]
    # Listeners before and after the failing one heard everything.
    assert later == world.events
    assert steps(later) == [
        (campaign.id, V.ACTIVATE, T0),
        (campaign.id, V.PREPARE, T0),
        (campaign.id, V.GO_LIVE, T0.add(hours=1)),
    ]
    failures = [r for r in caplog.records if r.name == "campaignkit"]
    assert len(failures) == 3
    assert all(r.levelno == logging.ERROR for r in failures)
    assert all(r.exc_info is not None and r.exc_info[0] is RuntimeError for r in failures)
    assert "listener" in failures[0].getMessage()


def test_unsubscribe_stops_delivery(world: World) -> None:
    heard: list[ck.DomainEvent] = []
    unsubscribe = world.kit.subscribe(heard.append)
    first = world.draft("One")
    assert steps(heard) == [(first.id, V.CREATE, T0)]

    unsubscribe()
    unsubscribe()  # harmless the second time
    world.draft("Two")

    assert len(heard) == 1
    assert len(world.events) == 2  # other listeners keep hearing
