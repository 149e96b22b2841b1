"""The lifecycle engine: runs every piece of due work, in order, on tick.

``tick()`` reads the clock once and processes all lifecycle work due at that
instant in ``(due_at, id)`` order, one unit of work per step, each step dated
at the instant it was due. Due work comes from the store's due index, so
idle campaigns cost nothing. Ticking twice at the same instant does nothing
the second time. The engine never sleeps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs
import pendulum

from campaignkit.clock import Clock, SettableClock
from campaignkit.domain.campaign import Campaign, Verb
from campaignkit.domain.events import DomainEvent
from campaignkit.domain.lifecycle import (
    DUE_VERBS,
    SYSTEM_ACTOR,
    Command,
    Complete,
    GoLive,
    LifecycleRules,
    Prepare,
    Purge,
    apply,
    next_due,
)
from campaignkit.errors import ClockError
from campaignkit.ports import Store, UnitOfWork
from campaignkit.preflight import Preflight
from campaignkit.timeutil import ensure_utc

Publish = Callable[[Sequence[DomainEvent]], None]


@attrs.frozen
class TickReport:
    """What a tick (or ``run_until``) did.

    Attributes:
        now: The instant the tick ran at.
        events: Every domain event it produced, in order.
        next_due_at: When the engine next has work (None: nothing scheduled).
    """

    now: pendulum.DateTime
    events: tuple[DomainEvent, ...]
    next_due_at: pendulum.DateTime | None


@attrs.define
class CatchUp:
    """The result of bringing one campaign up to date (see ``LifecycleEngine.catch_up``).

    Attributes:
        campaign: The campaign as it is now, or None if it was purged.
        events: The events of the steps applied.
    """

    campaign: Campaign | None
    events: list[DomainEvent] = attrs.Factory(list)


class LifecycleEngine:
    """Applies due lifecycle transitions (ACTIVATING -> SCHEDULED/LIVE -> COMPLETED, purge).

    Args:
        store: The store holding campaigns and their due index.
        clock: The only source of "now".
        rules: Completion and retention periods.
        preflight: Re-validates an activation when it is prepared.
        publish: Receives the events of every committed step.
    """

    def __init__(
        self,
        store: Store,
        clock: Clock,
        rules: LifecycleRules,
        preflight: Preflight,
        publish: Publish,
    ) -> None:
        self._store = store
        self._clock = clock
        self._rules = rules
        self._preflight = preflight
        self._publish = publish

    def tick(self) -> TickReport:
        """Process every lifecycle step due at the clock's current instant."""
        return self._tick_at(self._clock.now())

    def run_until(self, when: pendulum.DateTime) -> TickReport:
        """Step a settable clock through every due instant up to ``when``, ticking at each.

        Raises:
            ClockError: the clock cannot be set, or ``when`` is in the past.
        """
        clock = self._clock
        if not isinstance(clock, SettableClock):
            raise ClockError(f"run_until needs a settable clock such as ManualClock, not {clock!r}")
        target = ensure_utc(when, "run_until(when)")
        if target < clock.now():
            raise ClockError(
                f"run_until({target.isoformat()}) is before now ({clock.now().isoformat()})"
            )
        events: list[DomainEvent] = []
        while (due := self.next_due_at()) is not None and due <= target:
            clock.set(max(due, clock.now()))
            events.extend(self._tick_at(clock.now()).events)
        clock.set(target)
        final = self._tick_at(target)
        return TickReport(target, (*events, *final.events), final.next_due_at)

    def next_due_at(self) -> pendulum.DateTime | None:
        """When the engine next has work, or None."""
        with self._store.unit_of_work() as uow:
            return uow.campaigns.next_due_at()

    def catch_up(self, uow: UnitOfWork, campaign: Campaign, now: pendulum.DateTime) -> CatchUp:
        """Apply, inside ``uow``, every step of ``campaign`` due at or before ``now``.

        User verbs call this first so a command always sees the true status and
        history stays in time order even when no tick ran in between.
        """
        result = CatchUp(campaign)
        current: Campaign | None = campaign
        while current is not None and current.due_at is not None and current.due_at <= now:
            current, events = self._step(uow, current)
            result.events.extend(events)
        result.campaign = current
        return result

    def _tick_at(self, now: pendulum.DateTime) -> TickReport:
        events: list[DomainEvent] = []
        while True:
            with self._store.unit_of_work() as uow:
                due = uow.campaigns.due(now, 1)
                if not due:
                    next_at = uow.campaigns.next_due_at()
                    break
                _, campaign_id = due[0]
                _, step_events = self._step(uow, uow.campaigns.get(campaign_id))
            self._publish(step_events)
            events.extend(step_events)
        return TickReport(now, tuple(events), next_at)

    def _step(
        self, uow: UnitOfWork, campaign: Campaign
    ) -> tuple[Campaign | None, Sequence[DomainEvent]]:
        due_at = campaign.due_at
        assert due_at is not None
        expected = next_due(campaign, self._rules)
        if expected != due_at:  # rules changed since it was stored: re-index only
            return uow.campaigns.save(attrs.evolve(campaign, due_at=expected)), ()
        command = self._due_command(uow, campaign, due_at)
        outcome = apply(campaign, command, now=due_at, actor=SYSTEM_ACTOR, rules=self._rules)
        if outcome.removed:
            uow.campaigns.remove(campaign)
            return None, outcome.events
        return uow.campaigns.save(outcome.campaign), outcome.events

    def _due_command(
        self, uow: UnitOfWork, campaign: Campaign, due_at: pendulum.DateTime
    ) -> Command:
        verb = DUE_VERBS[campaign.status]
        if verb is Verb.PREPARE:
            version = campaign.live_version
            assert version is not None
            problems = self._preflight.problems(
                uow, campaign, version, now=due_at, check_start=False
            )
            return Prepare(tuple(problems))
        if verb is Verb.GO_LIVE:
            return GoLive()
        if verb is Verb.COMPLETE:
            return Complete()
        return Purge()
