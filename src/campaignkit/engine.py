"""The lifecycle engine: runs every piece of due work, in order, on tick.

``tick()`` reads the clock once and processes all lifecycle work due at that
instant in ``(due_at, id)`` order, one unit of work per step, each step dated
at the instant it was due. Due work comes from the store's due index, so
idle campaigns cost nothing. Ticking twice at the same instant does nothing
the second time. The engine never sleeps.

One bad item never stops the others: a lifecycle step that raises (a
campaign document that cannot be loaded, a bug) is rolled back, logged as a
WARNING and set aside, and the tick goes on; a run that raises is FAILED by
the runner. An item set aside is retried once its due time changes (or by a
new engine, after a restart), so it never spins a tick or ``run_until``.

Once the runner's ``stop_requested`` answers True (``kit.run_forever`` is
stopping), a tick starts no further work: the run in hand stops after its
current batch and the tick returns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import attrs
import pendulum

from campaignkit.clock import Clock, SettableClock
from campaignkit.concurrency import shared_units
from campaignkit.delivery import runlog
from campaignkit.delivery.runner import Claimed, Runner
from campaignkit.domain.campaign import Campaign, Verb
from campaignkit.domain.campaign_enums import CampaignStatus, CampaignType
from campaignkit.domain.delivery import Run, RunKind, RunStatus
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
    run_start,
    run_started,
)
from campaignkit.errors import (
    CampaignKitError,
    ClockError,
    ConflictError,
    StorageError,
    StorageUnavailable,
)
from campaignkit.ports import Store, UnitOfWork
from campaignkit.preflight import Preflight
from campaignkit.timeutil import ensure_utc

Publish = Callable[[Sequence[DomainEvent]], None]

logger = logging.getLogger("campaignkit.engine")

_Firsts = list[tuple[pendulum.DateTime, str, str]]
"""Due items as (due time, id, kind), in due order."""

_FAR = pendulum.datetime(9999, 12, 31, tz="UTC")
"""Later than any due time (the bound of a due query that skips set-aside items)."""


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
        runner: Delivers due runs.
        ids: Makes run ids.
    """

    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        rules: LifecycleRules,
        preflight: Preflight,
        publish: Publish,
        runner: Runner,
        ids: Callable[[str], str],
    ) -> None:
        self._store = store
        self._clock = clock
        self._rules = rules
        self._preflight = preflight
        self._publish = publish
        self._runner = runner
        self._ids = ids
        self._set_aside: dict[tuple[str, str], pendulum.DateTime] = {}
        """Items whose step raised, by (kind, id), with the due time they failed at."""

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
        """When the engine next has work (a lifecycle step or a run), or None.

        Items set aside after their step raised do not count. A read beside the
        delivery units in flight (``shared_units``): a unit alone would wait for
        every shard batch in flight and hold the next ones up, at every idle tick.
        """
        with shared_units(), self._store.unit_of_work() as uow:
            return self._next_due(uow)

    def _next_due(self, uow: UnitOfWork) -> pendulum.DateTime | None:
        """``next_due_at``, read inside ``uow``."""
        if not self._set_aside:
            times = [t for t in (uow.campaigns.next_due_at(), uow.runs.next_due_at()) if t]
        else:
            times = [
                first[0][0]
                for first in (
                    self._due(uow, "campaign", _FAR, frozenset()),
                    self._due(uow, "run", _FAR, frozenset()),
                )
                if first
            ]
        return min(times, default=None)

    def _due(
        self,
        uow: UnitOfWork,
        kind: str,
        until: pendulum.DateTime,
        skipped: frozenset[str] | set[str],
    ) -> list[tuple[pendulum.DateTime, str]]:
        """The first due item of ``kind`` (a list of at most one), skipping some.

        Items in ``skipped`` and items set aside at their current due time are
        left out; a set-aside item whose due time changed is tried again.
        """
        repository = uow.campaigns if kind == "campaign" else uow.runs
        aside = self._set_aside
        for due_at, item_id in repository.due(until, 1 + len(skipped) + len(aside)):
            if item_id in skipped:
                continue
            failed_at = aside.get((kind, item_id))
            if failed_at is not None:
                if failed_at == due_at:
                    continue
                del aside[(kind, item_id)]  # it changed since: try it again
            return [(due_at, item_id)]
        return []

    def _put_aside(
        self, kind: str, item_id: str, due_at: pendulum.DateTime, exc: Exception
    ) -> None:
        self._set_aside[(kind, item_id)] = due_at
        logger.warning(
            "%s %s was set aside: its due step raised %s: %s; the engine goes on with the others",
            kind,
            item_id,
            type(exc).__name__,
            exc,
            exc_info=exc,
        )

    def catch_up(self, uow: UnitOfWork, campaign: Campaign, now: pendulum.DateTime) -> CatchUp:
        """Apply, inside ``uow``, every step of ``campaign`` due at or before ``now``.

        User verbs call this first so a command always sees the true status and
        history stays in time order even when no tick ran in between.

        Raises:
            StorageError: a step raised something else than a ``CampaignKitError``
                (a stored document that loads but does not hold together); the
                caller's unit of work rolls back.
        """
        result = CatchUp(campaign)
        current: Campaign | None = campaign
        while current is not None and current.due_at is not None and current.due_at <= now:
            try:
                current, events = self._step(uow, current, now)
            except CampaignKitError:
                raise
            except Exception as exc:  # a stored document that loads but does not hold together
                detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                raise StorageError(
                    f"campaign {campaign.id!r} cannot be brought up to date: its due step "
                    f"raised {detail}"
                ) from exc
            result.events.extend(events)
        result.campaign = current
        return result

    def _tick_at(self, now: pendulum.DateTime) -> TickReport:
        events: list[DomainEvent] = []
        skipped: set[str] = set()  # runs another worker claimed meanwhile
        ahead: list[_Firsts] = []  # what was first due when a run ended with its outcomes
        while not self._runner.stop_requested():  # a stopping worker starts nothing new
            if ahead and not skipped:  # read in the transaction that ended the last run
                candidates, later = _split(ahead.pop(), now)
                if not candidates:
                    return TickReport(now, tuple(events), later)
            ahead.clear()
            # one short transaction per step, which also claims a due run; when nothing
            # is due, the same one reads when the next item will be (one transaction)
            claimed: Claimed | None = None
            claiming = False
            try:
                with shared_units(), self._store.unit_of_work() as uow:
                    candidates, later = self._candidates(uow, now, skipped)
                    if not candidates:
                        return TickReport(now, tuple(events), later)
                    due_at, item_id, kind = candidates[0]
                    if kind == "run":
                        claiming = True
                        claimed = self._runner.claim(item_id, now)
            except ConflictError:
                if not claiming:
                    raise
                skipped.add(item_id)
                continue
            except StorageUnavailable:  # nothing can go on: the worker ticks again later
                raise
            except Exception as exc:  # rolled back: the run cannot be planned
                if not claiming:
                    raise
                self._run_step(item_id, due_at, now, skipped, failed=exc)
                continue
            if kind == "run":
                self._run_step(item_id, due_at, now, skipped, claimed=claimed, ahead=ahead)
                continue
            try:
                with self._store.unit_of_work() as uow:
                    campaign = uow.campaigns.find(item_id)
                    step_events: Sequence[DomainEvent] = ()
                    if (
                        campaign is not None
                        and campaign.due_at is not None
                        and campaign.due_at <= now
                    ):
                        _, step_events = self._step(uow, campaign, now)
            except StorageUnavailable:
                raise
            except Exception as exc:  # rolled back; the other campaigns go on
                self._put_aside(kind, item_id, due_at, exc)
                continue
            self._publish(step_events)
            events.extend(step_events)
        return TickReport(now, tuple(events), self.next_due_at())

    def _run_step(
        self,
        run_id: str,
        due_at: pendulum.DateTime,
        now: pendulum.DateTime,
        skipped: set[str],
        *,
        claimed: Claimed | None = None,
        failed: Exception | None = None,
        ahead: list[_Firsts] | None = None,
    ) -> None:
        """Deliver a run claimed at ``now`` (or FAIL it if its claim raised ``failed``)."""
        try:
            if failed is not None:
                self._runner.unclaimable(run_id, now, failed)
                return
            look = None if ahead is None else self._look_ahead(ahead)
            run = self._runner.deliver(run_id, claimed, now, look)
            runlog.delivered(self._runner.observer, run)  # never raises
        except ConflictError:
            skipped.add(run_id)
            return
        except StorageUnavailable:
            raise
        except Exception as exc:  # not even FAILED could be recorded
            self._put_aside("run", run_id, due_at, exc)
            return
        if run.due_at is not None and run.due_at <= now:
            skipped.add(run_id)  # held by another worker's lease

    def _candidates(
        self, uow: UnitOfWork, now: pendulum.DateTime, skipped: set[str]
    ) -> tuple[_Firsts, pendulum.DateTime | None]:
        """The items due at ``now`` in order, and when the next is due if none is."""
        if skipped:
            candidates = sorted(
                [(*d, "campaign") for d in self._due(uow, "campaign", now, frozenset())]
                + [(*d, "run") for d in self._due(uow, "run", now, skipped)]
            )
            return candidates, None if candidates else self._next_due(uow)
        return _split(self._firsts(uow), now)

    def _firsts(self, uow: UnitOfWork) -> _Firsts:
        """The first item of each kind, due or not (also tells when the next one is due)."""
        both = getattr(uow.runs, "due_with_campaigns", None)  # one statement on SQLite
        if both is not None and not self._set_aside:
            campaigns, runs = both(_FAR, 1)
            return sorted([(*d, "campaign") for d in campaigns] + [(*d, "run") for d in runs])
        return sorted(
            [(*d, "campaign") for d in self._due(uow, "campaign", _FAR, frozenset())]
            + [(*d, "run") for d in self._due(uow, "run", _FAR, frozenset())]
        )

    def _look_ahead(self, ahead: list[_Firsts]) -> Callable[[UnitOfWork], None]:
        """Read :meth:`_firsts` into ``ahead`` in the transaction that ends a run.

        The tick then needs no transaction of its own to learn that nothing else
        is due. A read that raises is left out (never lose the outcomes to it):
        the tick reads again in a transaction of its own.
        """

        def look(uow: UnitOfWork) -> None:
            try:
                ahead.append(self._firsts(uow))
            except Exception:  # the tick's own read will raise it, or succeed
                logger.debug("looking ahead failed; the tick reads again", exc_info=True)

        return look

    def _step(
        self, uow: UnitOfWork, campaign: Campaign, now: pendulum.DateTime
    ) -> tuple[Campaign | None, Sequence[DomainEvent]]:
        """Apply the one lifecycle step due for ``campaign`` (``now`` is the tick's instant)."""
        due_at = campaign.due_at
        assert due_at is not None
        expected = next_due(campaign, self._rules)
        if expected != due_at:  # rules changed since it was stored: re-index only
            return uow.campaigns.save(attrs.evolve(campaign, due_at=expected)), ()
        version = campaign.live_version
        occurrence = campaign.next_occurrence_at
        if (
            campaign.status is CampaignStatus.LIVE
            and version is not None
            and occurrence is not None
            and run_start(version.schedule, occurrence) <= due_at
        ):
            return uow.campaigns.save(self._occur(uow, campaign, now)), ()
        command = self._due_command(uow, campaign, due_at)
        outcome = apply(campaign, command, now=due_at, actor=SYSTEM_ACTOR, rules=self._rules)
        if outcome.removed:
            uow.campaigns.remove(campaign)
            return None, outcome.events
        changed = outcome.campaign
        if changed.status is CampaignStatus.LIVE and campaign.status is not CampaignStatus.LIVE:
            changed = self._start_runs(uow, changed, due_at)
        elif campaign.status is CampaignStatus.LIVE:
            wake_runs(uow, changed.id, due_at)  # completed at its end date: cut runs off
        return uow.campaigns.save(changed), outcome.events

    def _occur(self, uow: UnitOfWork, campaign: Campaign, now: pendulum.DateTime) -> Campaign:
        """Start the run of each due occurrence of a recurring campaign.

        Occurrences missed while no tick ran (downtime) follow
        ``LifecycleRules.missed_occurrences``: by default only the latest runs,
        the others are recorded as SKIPPED runs; never a burst of stale sends.
        """
        version = campaign.live_version
        assert version is not None
        assert campaign.next_occurrence_at is not None
        schedule = version.schedule
        anchor = campaign.activated_at
        due = [campaign.next_occurrence_at]
        upcoming = next(schedule.occurrences(after=due[-1], anchor=anchor), None)
        while upcoming is not None and run_start(schedule, upcoming) <= now:
            due.append(upcoming)
            upcoming = next(schedule.occurrences(after=upcoming, anchor=anchor), None)
        skipped = due[:-1] if self._rules.missed_occurrences == "latest" else []
        for occurrence in due:
            start = run_start(schedule, occurrence)
            missed = occurrence in skipped
            uow.runs.add(
                Run(
                    id=self._ids("run"),
                    campaign_id=campaign.id,
                    version=version.number,
                    kind=RunKind.OCCURRENCE,
                    status=RunStatus.SKIPPED if missed else RunStatus.PENDING,
                    created_at=start,
                    due_at=None if missed else start,
                    finished_at=now if missed else None,
                    nominal_at=occurrence,
                )
            )
        started = len(due) - len(skipped)  # completion waits for these runs
        changed = attrs.evolve(
            campaign, next_occurrence_at=upcoming, open_runs=campaign.open_runs + started
        )
        return attrs.evolve(changed, due_at=next_due(changed, self._rules))

    def _start_runs(self, uow: UnitOfWork, campaign: Campaign, at: pendulum.DateTime) -> Campaign:
        """A one-shot scheduled campaign gets its one run when it goes live."""
        if campaign.type is not CampaignType.SCHEDULED or campaign.is_recurring:
            return campaign
        version = campaign.live_version
        assert version is not None
        uow.runs.add(
            Run(
                id=self._ids("run"),
                campaign_id=campaign.id,
                version=version.number,
                kind=RunKind.SCHEDULED,
                status=RunStatus.PENDING,
                created_at=at,
                due_at=at,
                nominal_at=version.schedule.start or at,
            )
        )
        return run_started(campaign, self._rules)

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


def _split(firsts: _Firsts, now: pendulum.DateTime) -> tuple[_Firsts, pendulum.DateTime | None]:
    """The items of ``firsts`` due at ``now``, and the first due time if none is."""
    candidates = [first for first in firsts if first[0] <= now]
    return candidates, None if candidates or not firsts else firsts[0][0]


def wake_runs(uow: UnitOfWork, campaign_id: str, now: pendulum.DateTime) -> None:
    """Make the unfinished runs of a campaign due now, so a stop or cut-off settles them.

    A run a worker is delivering right now (its lease is live) is left alone:
    that worker notices at its next batch boundary.
    """
    for run in uow.runs.for_campaign(campaign_id):
        if run.status.is_final:
            continue
        if run.lease_expires_at is not None and run.lease_expires_at > now:
            continue
        uow.runs.save(attrs.evolve(run, due_at=now))
