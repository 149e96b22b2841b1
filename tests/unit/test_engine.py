"""The lifecycle engine, driven by a ManualClock: due transitions, dating, order, events."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence

import pendulum
import pytest

import campaignkit as ck
from campaignkit.testing import ManualClock, SequentialIds
from tests.factories import T0, World

S = ck.CampaignStatus
V = ck.Verb
SECOND = pendulum.duration(seconds=1)


# ---------------------------------------------------------------- helpers


def steps(events: tuple[ck.DomainEvent, ...] | list[ck.DomainEvent]) -> list[tuple[str, V, object]]:
    """(campaign id, action, dated at) of every event, in order."""
    found: list[tuple[str, V, object]] = []
    for event in events:
        if isinstance(event, ck.CampaignChanged):
            found.append((event.campaign_id, event.entry.action, event.entry.at))
        elif isinstance(event, ck.CampaignRemoved):
            found.append((event.campaign_id, event.verb, event.at))
    return found


def timeline(campaign: ck.Campaign) -> list[tuple[V, S | None, S, pendulum.DateTime, str]]:
    """(action, from, to, at, actor) of every history entry."""
    return [(e.action, e.from_status, e.to_status, e.at, e.actor) for e in campaign.history]


def status_at(world: World, campaign_id: str, when: pendulum.DateTime) -> S:
    """Move the clock to ``when``, tick, and return the campaign's status."""
    world.clock.set(when)
    world.kit.tick()
    return world.admin.get(campaign_id).status


class SwitchableAudiences:
    """An audience source whose readiness the test can change at any time."""

    def __init__(self) -> None:
        self.statuses: dict[str, ck.AudienceStatus | None] = {}

    def status(self, name: str) -> ck.AudienceStatus | None:
        return self.statuses.get(name)

    def count(self, name: str) -> int | None:
        return 0 if self.statuses.get(name) else None

    def members(
        self, name: str, *, namespace: str, batch_size: int
    ) -> Iterator[Sequence[ck.Profile]]:
        return iter(())


def small_kit(
    clock: ManualClock,
    *,
    audiences: SwitchableAudiences | None = None,
    rules: ck.LifecycleRules | None = None,
) -> tuple[ck.CampaignKit, ck.UserSession, ck.Action]:
    """A kit with an administrator ``ada`` and one email action ready to use."""
    if audiences is None:
        kit = ck.CampaignKit.in_memory(clock=clock, lifecycle=rules, ids=SequentialIds())
        kit.audiences.define("vip", ["p1"])
    else:
        kit = ck.CampaignKit(
            store=ck.InMemoryStore(),
            clock=clock,
            audiences=audiences,
            lifecycle=rules,
            ids=SequentialIds(),
        )
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    ada = kit.as_user("ada")
    surface = ada.create_surface(
        name="Newsletter",
        channel=ck.ChannelType.EMAIL,
        settings=ck.EmailSettings(sender="news@example.com"),
    )
    action = ck.Action(surface.id, ck.EmailContent(subject="Hi", html="<p>Hello</p>"))
    return kit, ada, action


# ---------------------------------------------------------------- activation


def test_activate_goes_to_activating_and_the_tick_makes_it_live(world: World) -> None:
    campaign = world.draft()

    activated = world.admin.activate(campaign.id)
    assert activated.status is S.ACTIVATING
    assert activated.activated_at == T0
    assert activated.went_live_at is None

    report = world.kit.tick()

    live = world.admin.get(campaign.id)
    assert live.status is S.LIVE
    assert live.went_live_at == T0
    assert steps(report.events) == [(campaign.id, V.PREPARE, T0)]
    assert live.history[-1].actor == "system"
    assert (live.history[-1].from_status, live.history[-1].to_status) == (S.ACTIVATING, S.LIVE)


def test_activation_with_a_future_start_is_scheduled_then_goes_live_exactly_at_start(
    world: World,
) -> None:
    start = T0.add(hours=5)
    campaign = world.draft(start=start)
    world.admin.activate(campaign.id)

    report = world.kit.tick()
    scheduled = world.admin.get(campaign.id)
    assert scheduled.status is S.SCHEDULED
    assert scheduled.went_live_at is None
    assert report.next_due_at == start

    assert status_at(world, campaign.id, start - SECOND) is S.SCHEDULED
    assert status_at(world, campaign.id, start) is S.LIVE
    assert world.admin.get(campaign.id).went_live_at == start


# ---------------------------------------------------------------- completion


def test_one_shot_completes_exactly_three_days_after_going_live(world: World) -> None:
    campaign = world.live()
    assert campaign.went_live_at == T0
    done_at = T0.add(days=3)

    assert status_at(world, campaign.id, done_at - SECOND) is S.LIVE
    assert status_at(world, campaign.id, done_at) is S.COMPLETED
    last = world.admin.get(campaign.id).history[-1]
    assert (last.action, last.at, last.actor) == (V.COMPLETE, done_at, "system")


def test_campaign_scheduled_far_ahead_completes_three_days_after_its_start(
    world: World,
) -> None:
    start = T0.add(days=60)
    campaign = world.draft(start=start)
    world.admin.activate(campaign.id)
    world.kit.tick()

    # Counting from activation would have completed it before it ever ran.
    assert status_at(world, campaign.id, T0.add(days=3)) is S.SCHEDULED
    assert status_at(world, campaign.id, start - SECOND) is S.SCHEDULED
    assert status_at(world, campaign.id, start) is S.LIVE
    assert status_at(world, campaign.id, start.add(days=3) - SECOND) is S.LIVE
    assert status_at(world, campaign.id, start.add(days=3)) is S.COMPLETED
    assert world.admin.get(campaign.id).history[-1].at == start.add(days=3)


def test_end_date_before_three_days_completes_at_the_end(world: World) -> None:
    end = T0.add(days=1, hours=6)
    campaign = world.live(end=end)

    assert status_at(world, campaign.id, end - SECOND) is S.LIVE
    assert status_at(world, campaign.id, end) is S.COMPLETED
    assert world.admin.get(campaign.id).history[-1].at == end


def test_end_date_after_three_days_does_not_delay_completion(world: World) -> None:
    campaign = world.live(end=T0.add(days=10))

    assert status_at(world, campaign.id, T0.add(days=3)) is S.COMPLETED


def test_recurring_campaign_without_end_stays_live(world: World) -> None:
    campaign = world.live(recurrence=ck.Recurrence.daily(at="09:00"))

    report = world.kit.run_until(T0.add(days=60))

    assert world.admin.get(campaign.id).status is S.LIVE
    assert report.events == ()
    assert report.next_due_at == T0.add(days=61)  # its next occurrence


def test_recurring_campaign_with_end_completes_at_its_end(world: World) -> None:
    end = T0.add(days=20)
    campaign = world.live(recurrence=ck.Recurrence.daily(at="09:00"), end=end)

    # Not after 3 days: a recurring campaign runs until its end date.
    assert status_at(world, campaign.id, T0.add(days=3)) is S.LIVE
    assert status_at(world, campaign.id, end - SECOND) is S.LIVE
    assert status_at(world, campaign.id, end) is S.COMPLETED
    assert world.admin.get(campaign.id).history[-1].at == end


def test_api_triggered_campaign_without_end_stays_live_forever(world: World) -> None:
    campaign = world.live(type=ck.CampaignType.API_TRIGGERED)
    assert campaign.status is S.LIVE

    report = world.kit.run_until(T0.add(years=2))

    assert world.admin.get(campaign.id).status is S.LIVE
    assert report.next_due_at is None


def test_api_triggered_campaign_with_end_stays_live_until_the_end(world: World) -> None:
    end = T0.add(days=45)
    campaign = world.live(type=ck.CampaignType.API_TRIGGERED, end=end)

    assert status_at(world, campaign.id, T0.add(days=3)) is S.LIVE
    assert status_at(world, campaign.id, end - SECOND) is S.LIVE
    assert status_at(world, campaign.id, end) is S.COMPLETED


# ---------------------------------------------------------------- dating and ordering


def test_late_tick_applies_every_due_transition_dated_when_it_was_due(world: World) -> None:
    """Status changes are dated when due; the delivery happens when the tick runs.

    The one-shot run starts at the (late) tick, so completion, which never
    comes before the run has finished, is dated at that tick.
    """
    start = T0.add(days=1)
    campaign = world.draft(start=start)
    world.admin.activate(campaign.id)
    world.events.clear()

    late = T0.add(days=30)
    world.clock.set(late)
    report = world.kit.tick()

    expected = [
        (campaign.id, V.PREPARE, T0),
        (campaign.id, V.GO_LIVE, start),
        (campaign.id, V.COMPLETE, late),
    ]
    assert steps(report.events) == expected
    assert steps(world.events) == expected
    assert report.now == late
    done = world.admin.get(campaign.id)
    assert done.status is S.COMPLETED
    assert timeline(done)[-3:] == [
        (V.PREPARE, S.ACTIVATING, S.SCHEDULED, T0, "system"),
        (V.GO_LIVE, S.SCHEDULED, S.LIVE, start, "system"),
        (V.COMPLETE, S.LIVE, S.COMPLETED, late, "system"),
    ]
    assert done.went_live_at == start
    assert done.runs_finished_at == late


def test_late_tick_without_delivery_still_completes_three_days_after_going_live(
    world: World,
) -> None:
    """A run that finished on time never delays completion: the 3-day instant holds."""
    campaign = world.draft(start=T0.add(days=1))
    world.admin.activate(campaign.id)
    world.clock.set(T0.add(days=1))
    world.kit.tick()  # goes live and delivers at its start
    world.clock.set(T0.add(days=30))
    world.kit.tick()
    done = world.admin.get(campaign.id)
    assert done.history[-1].at == T0.add(days=4)
    assert done.status is S.COMPLETED


def test_ticking_twice_at_the_same_instant_does_nothing_the_second_time(world: World) -> None:
    campaign = world.draft(start=T0.add(hours=1))
    world.admin.activate(campaign.id)
    world.clock.set(T0.add(hours=2))
    first = world.kit.tick()
    before = world.admin.get(campaign.id)
    world.events.clear()

    second = world.kit.tick()

    assert len(first.events) == 2
    assert second.events == ()
    assert world.events == []
    assert world.admin.get(campaign.id) == before


def test_due_work_of_several_campaigns_runs_in_due_at_then_id_order(world: World) -> None:
    late = world.draft("Late", start=T0.add(hours=2))  # cmp_0001
    early_a = world.draft("Early A", start=T0.add(hours=1))  # cmp_0002
    early_b = world.draft("Early B", start=T0.add(hours=1))  # cmp_0003
    assert late.id < early_a.id < early_b.id
    for campaign in (early_b, early_a, late):  # activation order must not matter
        world.admin.activate(campaign.id)

    prepared = world.kit.tick()
    assert steps(prepared.events) == [
        (late.id, V.PREPARE, T0),
        (early_a.id, V.PREPARE, T0),
        (early_b.id, V.PREPARE, T0),
    ]

    world.clock.set(T0.add(days=5))
    report = world.kit.tick()

    # go-lives in (due_at, id) order; each run delivers at the tick, so the
    # completions (which wait for their runs) are dated at the tick
    assert steps(report.events) == [
        (early_a.id, V.GO_LIVE, T0.add(hours=1)),
        (early_b.id, V.GO_LIVE, T0.add(hours=1)),
        (late.id, V.GO_LIVE, T0.add(hours=2)),
        (late.id, V.COMPLETE, T0.add(days=5)),  # same instant: by id
        (early_a.id, V.COMPLETE, T0.add(days=5)),
        (early_b.id, V.COMPLETE, T0.add(days=5)),
    ]


# ---------------------------------------------------------------- archive and purge


def test_archived_campaign_is_purged_after_thirty_days(world: World) -> None:
    campaign = world.live()
    world.clock.set(T0.add(hours=1))
    world.admin.stop(campaign.id)
    world.clock.set(T0.add(days=2))
    archived = world.admin.archive(campaign.id)
    assert archived.status is S.ARCHIVED
    assert archived.due_at == T0.add(days=32)
    world.events.clear()

    assert status_at(world, campaign.id, T0.add(days=31)) is S.ARCHIVED  # 29 days later
    assert status_at(world, campaign.id, T0.add(days=32) - SECOND) is S.ARCHIVED

    world.clock.set(T0.add(days=32))
    report = world.kit.tick()

    with pytest.raises(ck.NotFound) as caught:
        world.admin.get(campaign.id)
    assert caught.value.key == campaign.id
    removed = [e for e in report.events if isinstance(e, ck.CampaignRemoved)]
    assert removed == [ck.CampaignRemoved(campaign.id, T0.add(days=32), "system", V.PURGE)]
    assert world.events == list(report.events)
    assert report.next_due_at is None


def test_custom_lifecycle_rules_are_honoured() -> None:
    clock = ManualClock(T0)
    rules = ck.LifecycleRules(
        completion_after=pendulum.duration(hours=6),
        archive_retention=pendulum.duration(days=2),
    )
    kit, ada, action = small_kit(clock, rules=rules)
    assert kit.lifecycle == rules
    campaign = ada.create_campaign(
        name="Flash", audience="vip", namespace="email", actions=[action]
    )
    ada.activate(campaign.id)
    kit.tick()

    clock.set(T0.add(hours=6) - SECOND)
    kit.tick()
    assert ada.get(campaign.id).status is S.LIVE
    clock.set(T0.add(hours=6))
    kit.tick()
    assert ada.get(campaign.id).status is S.COMPLETED

    clock.set(T0.add(days=1))
    ada.archive(campaign.id)
    clock.set(T0.add(days=3) - SECOND)
    kit.tick()
    assert ada.get(campaign.id).status is S.ARCHIVED
    clock.set(T0.add(days=3))
    report = kit.tick()
    assert steps(report.events) == [(campaign.id, V.PURGE, T0.add(days=3))]
    with pytest.raises(ck.NotFound):
        ada.get(campaign.id)


# ---------------------------------------------------------------- preparation failure


@pytest.mark.parametrize(
    ("audience_now", "reason"),
    [
        (None, "audience 'vip' does not exist"),
        (ck.AudienceStatus.NOT_READY, "audience 'vip' is not ready"),
    ],
)
def test_preparation_fails_when_the_audience_is_gone_or_not_ready(
    audience_now: ck.AudienceStatus | None, reason: str
) -> None:
    clock = ManualClock(T0)
    audiences = SwitchableAudiences()
    audiences.statuses["vip"] = ck.AudienceStatus.READY
    kit, ada, action = small_kit(clock, audiences=audiences)
    campaign = ada.create_campaign(
        name="Promo", audience="vip", namespace="email", actions=[action]
    )
    assert ada.activate(campaign.id).status is S.ACTIVATING

    audiences.statuses["vip"] = audience_now
    clock.set(T0.add(minutes=5))
    report = kit.tick()

    failed = ada.get(campaign.id)
    assert failed.status is S.FAILED
    assert failed.failure_reason is not None
    assert reason in failed.failure_reason
    assert failed.went_live_at is None
    assert failed.due_at is None
    last = failed.history[-1]
    assert (last.action, last.from_status, last.to_status, last.at, last.actor) == (
        V.PREPARE,
        S.ACTIVATING,
        S.FAILED,
        T0,
        "system",
    )
    assert reason in last.detail
    assert steps(report.events) == [(campaign.id, V.PREPARE, T0)]
    assert report.next_due_at is None


# ---------------------------------------------------------------- run_until


def test_run_until_steps_through_every_due_instant_and_stops_at_when(world: World) -> None:
    start = T0.add(days=1)
    campaign = world.draft(start=start)
    world.admin.activate(campaign.id)
    seen: list[tuple[V, pendulum.DateTime, pendulum.DateTime]] = []

    def record(event: ck.DomainEvent) -> None:
        if isinstance(event, ck.CampaignChanged):
            seen.append((event.entry.action, event.entry.at, world.clock.now()))

    world.kit.subscribe(record)
    target = T0.add(days=10)

    report = world.kit.run_until(target)

    # Each step ran with the clock set to its own due instant.
    assert seen == [
        (V.PREPARE, T0, T0),
        (V.GO_LIVE, start, start),
        (V.COMPLETE, start.add(days=3), start.add(days=3)),
    ]
    assert world.clock.now() == target
    assert report.now == target
    assert steps(report.events) == [
        (campaign.id, V.PREPARE, T0),
        (campaign.id, V.GO_LIVE, start),
        (campaign.id, V.COMPLETE, start.add(days=3)),
    ]
    assert report.next_due_at is None
    assert world.admin.get(campaign.id).status is S.COMPLETED


def test_run_until_with_nothing_due_just_moves_the_clock(world: World) -> None:
    target = T0.add(days=1)

    report = world.kit.run_until(target)

    assert world.clock.now() == target
    assert report == ck.TickReport(target, (), None)


def test_run_until_stops_before_work_due_after_when(world: World) -> None:
    campaign = world.live()
    target = T0.add(days=2)

    report = world.kit.run_until(target)

    assert report.events == ()
    assert report.next_due_at == T0.add(days=3)
    assert world.admin.get(campaign.id).status is S.LIVE


def test_run_until_refuses_a_past_instant_and_changes_nothing(world: World) -> None:
    campaign = world.draft()
    world.admin.activate(campaign.id)
    world.clock.set(T0.add(hours=1))

    with pytest.raises(ck.ClockError, match="before now"):
        world.kit.run_until(T0)

    assert world.clock.now() == T0.add(hours=1)
    assert world.admin.get(campaign.id).status is S.ACTIVATING


def test_run_until_refuses_a_clock_that_cannot_be_set() -> None:
    kit = ck.CampaignKit.in_memory(clock=ck.SystemClock())

    with pytest.raises(ck.ClockError, match="settable clock"):
        kit.run_until(pendulum.now("UTC").add(days=1))


# ---------------------------------------------------------------- tick report


def test_tick_report_tells_when_the_engine_next_has_work(world: World) -> None:
    assert world.kit.tick() == ck.TickReport(T0, (), None)

    campaign = world.draft(start=T0.add(hours=3))
    world.admin.activate(campaign.id)
    assert world.kit.tick().next_due_at == T0.add(hours=3)

    world.clock.set(T0.add(hours=3))
    assert world.kit.tick().next_due_at == T0.add(days=3, hours=3)

    world.clock.set(T0.add(days=3, hours=3))
    assert world.kit.tick().next_due_at is None
    assert world.kit.engine.next_due_at() is None


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
