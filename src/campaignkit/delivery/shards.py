"""Delivering a run in shards: freeze its audience, plan shards, deliver each under an epoch.

The run-level path (``runner``) delivers a run whole under one worker's lease.
A run the settings split (``DeliverySettings.shard_size``, on a store with
shards) goes through here instead, while its audience streams:

1. **Plan** (under the run's lease): the audience's member ids are frozen in
   the store in their order, then split into shards of even sizes. Both steps
   resume where a dead worker left them.
2. **Work** (under a shard's lease, not the run's): a worker claims a free
   shard, which moves its epoch on, and delivers its members batch by batch:
   one unit of work for the intents and one for the outcomes, exactly as the
   run-level path, except that each unit first checks the shard's epoch
   (``hold``) and writes the counts to the shard. A worker whose claim was
   superseded gets :class:`ShardLost` at its next unit: it records nothing.
   A shard taken over from a dead worker first re-sends what that worker left
   PENDING (same idempotency keys), then goes on from its first member
   without intents: the resume point is read from the shard's counts, which
   every intent unit writes with the intents (:func:`decided`), never kept
   apart from them.
3. **Finish**: once every shard is done, the run's counts are the sum of its
   shards', it is marked streamed, and the run-level path does the rest
   (QUEUED and RETRY entries, the end).

Any worker that ticks works the free shards of the runs it finds due; a kit
with a shard submitter (an executor, Celery) also hands each shard of a new
plan to it, whose workers call :meth:`ShardWork.work_shard`.
"""

from __future__ import annotations

import enum
import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import cast

import attrs
import pendulum

from campaignkit.concurrency import shared_units
from campaignkit.delivery.decide import prepare_batch
from campaignkit.delivery.handover import Handover
from campaignkit.delivery.lease import Leases
from campaignkit.delivery.plan import Plan
from campaignkit.delivery.recording import (
    Recorder,
    record_contacts,
    record_sends,
    unique_provider_ids,
)
from campaignkit.delivery.settings import DeliverySettings
from campaignkit.delivery.suppression import suppressed_in
from campaignkit.delivery.tally import Tally
from campaignkit.domain.campaign_enums import CampaignStatus
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.copying import evolve
from campaignkit.domain.delivery import (
    ExclusionReason,
    LedgerEntry,
    LedgerState,
    OutcomeRow,
    Run,
    RunKind,
)
from campaignkit.domain.profile import Profile
from campaignkit.domain.recipients import unknown_profile
from campaignkit.domain.shards import (
    Shard,
    ShardLost,
    decided,
    describe,
    finished,
    plan_shards,
)
from campaignkit.errors import ConflictError
from campaignkit.host_ports import AudienceSource, Channel, ProfileStore
from campaignkit.ports import ShardRepository, Store, UnitOfWork

logger = logging.getLogger("campaignkit.shards")

_CURRENT: ContextVar[Shard | None] = ContextVar("campaignkit_current_shard", default=None)


def current_shard() -> Shard | None:
    """The shard this thread is delivering now, as claimed (None: none).

    For channels and logs that want to say which shard and epoch a message
    was handed over under (the fault suite's provider records it).
    """
    return _CURRENT.get()


_TAKEOVER_READ = 1_000_000
"""Most PENDING entries of a run read when a shard is taken over (a batch per worker)."""


class ShardEnd(enum.Enum):
    """How delivering a claimed shard ended."""

    DONE = "done"
    """Every member recorded: the shard is done."""
    LOST = "lost"
    """Another worker claimed it (this worker's epoch is gone): nothing more was written."""
    HALTED = "halted"
    """Its campaign is no longer LIVE: the shard stays open for the run's halt."""


def shards_of(uow: UnitOfWork) -> ShardRepository | None:
    """The unit's shards repository, if its store has one."""
    return cast("ShardRepository | None", getattr(uow, "shards", None))


def _shards(uow: UnitOfWork) -> ShardRepository:
    found = shards_of(uow)
    assert found is not None, "a sharded run on a store without shards"
    return found


@attrs.define
class _Holding:
    """The shard a :class:`_ShardRecorder` writes under, as last saved."""

    shard: Shard
    run: Run


@attrs.frozen
class _ShardRecorder(Recorder):
    """A :class:`Recorder` whose outcomes are fenced by a shard's epoch, counted on the shard."""

    holding: _Holding = attrs.field(kw_only=True)

    def _settled(  # noqa: PLR0917 - the parent's signature
        self,
        run_id: str,
        held: Run | None,
        settled: Sequence[OutcomeRow],
        never_sent: Mapping[ChannelType, list[tuple[str, str]]],
        tally: Tally,
        then: Callable[[UnitOfWork, Run], Run] | None,
    ) -> Run:
        del held, then  # the run is not written: the shard is
        with shared_units(), self.store.unit_of_work() as uow:
            shards = _shards(uow)
            stored = shards.hold(self.holding.shard)
            try:
                uow.ledger.settle(run_id, settled)
            except ConflictError:  # a provider id another message holds
                uow.ledger.settle(run_id, unique_provider_ids(uow, run_id, settled))
            for channel, gone in never_sent.items():
                uow.contacts.forget(channel, gone)
            self.holding.shard = shards.save(
                evolve(
                    stored,
                    counts=tally.merged_into(stored.counts),
                    lease_expires_at=self.leases.expiry(),
                )
            )
        return self.holding.run


class ShardWork:
    """Plans runs into shards and delivers shards, for one worker.

    Args:
        store: The store (it must have shards for anything here to happen).
        audiences: Where a run's audience is read when it is frozen.
        profiles: Where a shard's members are read.
        channels: The kit's channels.
        settings: The delivery settings (``shard_size``, batch size, lease).
        leases: This worker's leases (its id, clock and lease length).
        plans: Makes a run's plan in a unit of work (the runner's cache).
    """

    def __init__(  # noqa: PLR0917 - the worker's collaborators
        self,
        store: Store,
        audiences: AudienceSource,
        profiles: ProfileStore,
        channels: Mapping[ChannelType, Channel],
        settings: DeliverySettings,
        leases: Leases,
        plans: Callable[[UnitOfWork, Run], Plan],
    ) -> None:
        self._store = store
        self._audiences = audiences
        self._profiles = profiles
        self._channels = channels
        self._settings = settings
        self._leases = leases
        self._plans = plans
        self.submit: Callable[[str, int], None] | None = None
        """Hands one shard of a newly planned run to other workers (an executor, Celery)."""
        self._supported: bool | None = None

    # ------------------------------------------------------------ planning

    def supported(self) -> bool:
        """Whether the store has shards (read once)."""
        if self._supported is None:
            with self._store.unit_of_work() as uow:
                self._supported = shards_of(uow) is not None
        return self._supported

    def eligible(self, run: Run, plan: Plan) -> bool:
        """Whether ``run`` is split: settings and store allow it, and nothing of it streamed."""
        version = plan.version
        return (
            self._settings.shard_size is not None
            and run.kind in (RunKind.SCHEDULED, RunKind.OCCURRENCE)
            and not run.streamed
            and run.position == 0
            and version.audience is not None
            and version.schedule.waves is None
            and not any(action.rate_limit for action in version.actions)
            and self.supported()
        )

    def planned(self, run_id: str) -> list[Shard]:
        """The run's shards (none: it is not split).

        A read beside the delivering units (``shared_units``): a monitor
        polling ``kit.shards()`` must not hold every shard worker up (on
        PostgreSQL any other unit takes the schema lock exclusively).
        """
        if not self.supported():
            return []
        with shared_units(), self._store.unit_of_work() as uow:
            return _shards(uow).for_run(run_id)

    def plan(self, run: Run, plan: Plan) -> list[Shard]:
        """Freeze the audience of ``run`` (this worker holds its lease) and split it.

        Resumes a freeze a dead worker left half done: members already frozen
        are skipped (the audience's order is stable).

        Raises:
            LeaseLost: another worker took the run over.
        """
        shard_size = self._settings.shard_size
        audience = plan.version.audience
        assert shard_size is not None
        assert audience is not None
        with self._store.unit_of_work() as uow:
            frozen = _shards(uow).frozen(run.id)
        held_in_store = getattr(self._audiences, "held_in_store", None)
        if held_in_store is not None and held_in_store(audience):
            # a static audience of this store: copied by position, no profile loaded
            with self._store.unit_of_work() as uow:
                self._leases.owned(uow, run.id)
                position = _shards(uow).freeze_audience(run.id, audience, frozen)
        else:
            position = self._freeze_streamed(run, plan, frozen)
        shards = plan_shards(run.id, position, shard_size)
        if shards:
            with self._store.unit_of_work() as uow:
                self._leases.owned(uow, run.id)
                _shards(uow).plan(shards)
            logger.info(
                "run %s split into %d shards of up to %d members (%d members)",
                run.id,
                len(shards),
                shard_size,
                position,
                extra={"run_id": run.id, "shards": len(shards), "members": position},
            )
        return shards

    def _freeze_streamed(self, run: Run, plan: Plan, frozen: int) -> int:
        """Freeze the audience as its source streams it, after ``frozen`` members; its size."""
        audience = plan.version.audience
        assert audience is not None
        position = 0
        namespace = plan.version.namespace or ""
        batch_size = self._settings.batch_size
        for batch in self._audiences.members(audience, namespace=namespace, batch_size=batch_size):
            end = position + len(batch)
            if end > frozen:
                skip = max(0, frozen - position)
                with self._store.unit_of_work() as uow:
                    self._leases.owned(uow, run.id)
                    _shards(uow).freeze(run.id, position + skip, [p.id for p in batch[skip:]])
            position = end
        return position

    # ------------------------------------------------------------ working

    def work_free(
        self,
        run: Run,
        plan: Plan,
        now: pendulum.DateTime,
        stop: Callable[[], bool],
    ) -> int:
        """Deliver free shards of ``run`` until none is left (or ``stop``); how many were done.

        Each claim reads the clock again (``now`` is only the first): a shard
        whose holder's lease lapsed while this worker delivered others is free
        at its next claim, not only at its next tick, which for a large run
        would be the end of the run.
        """
        done = 0
        while not stop():
            with shared_units(), self._store.unit_of_work() as uow:
                shard = _shards(uow).claim(
                    run.id, None, self._leases.worker, now, self._leases.expiry()
                )
            if shard is None:
                return done
            end = self.deliver(run, plan, shard, now)
            if end is ShardEnd.HALTED:
                return done  # the campaign stopped: the run-level path halts the run
            if end is ShardEnd.DONE:
                done += 1
            now = self._leases.clock.now()
        return done

    def work_unclaimed(self, run_id: str, now: pendulum.DateTime, stop: Callable[[], bool]) -> bool:
        """Deliver the free shards of a split run this worker could not claim.

        Shards have leases of their own: the run's lease, which a worker holds a
        moment to plan the run, to fold its shards or to hand them over, is not
        needed to deliver them, so a worker whose claim of the run lost that race
        works its shards at once instead of waiting for its next tick. With a
        shard submitter, the executor's workers deliver them: nothing is done here.

        Returns:
            True if this call delivered a shard and every shard is done now (the
            run can be claimed, folded and ended); False otherwise.
        """
        if self.submit is not None or not self.supported():
            return False
        with shared_units(), self._store.unit_of_work() as uow:
            if not any(shard.free(now) for shard in _shards(uow).for_run(run_id)):
                return False
            run = uow.runs.get(run_id)
            if run.status.is_final:
                return False
            plan = self._plans(uow, run)
        if plan.campaign.status is not CampaignStatus.LIVE:
            return False  # the run-level path halts it
        if self.work_free(run, plan, now, stop) == 0:
            return False
        return finished(self.planned(run_id))

    def work_shard(self, run_id: str, number: int, now: pendulum.DateTime) -> bool:
        """Claim shard ``number`` of ``run_id`` if it is free, and deliver it.

        Returns:
            True if this call delivered it to the end; False if it was done,
            held by another worker's lease, missing, or its run is final or
            halted (a redelivered task does nothing).
        """
        with shared_units(), self._store.unit_of_work() as uow:
            run = uow.runs.get(run_id)
            if run.status.is_final:
                return False
            shard = _shards(uow).claim(
                run_id, number, self._leases.worker, now, self._leases.expiry()
            )
            if shard is None:
                return False
            plan = self._plans(uow, run)
        return self.deliver(run, plan, shard, now) is ShardEnd.DONE

    def deliver(self, run: Run, plan: Plan, shard: Shard, now: pendulum.DateTime) -> ShardEnd:
        """Deliver a claimed shard to its end, or until it is lost or its campaign halts."""
        holding = _Holding(shard, run)
        recorder = _ShardRecorder(
            self._store,
            self._leases,
            self._settings.max_attempts,
            self._settings.retry_base,
            self._settings.retry_cap,
            holding=holding,
        )
        handover = Handover(
            self._store,
            recorder,
            max_attempts=self._settings.max_attempts,
            batch_size=self._settings.batch_size,
        )
        logger.info(
            "shard %d of run %s claimed by %s at epoch %d",
            shard.number,
            run.id,
            shard.owner,
            shard.epoch,
            extra=dict(describe(shard)),
        )
        token = _CURRENT.set(shard)
        renewal = functools.partial(_renew_shard, self._store, holding)
        keeping = self._leases.keep_alive(
            f"{run.id}#{shard.number}", renewal, enabled=self._settings.heartbeat
        )
        with keeping:  # the heartbeat renews the shard's lease while it is worked
            try:
                if shard.epoch > 1:  # taken over: what the last holder left in flight goes again
                    self._resend_pending(run, plan, holding, handover, now)
                position = shard.first + decided(shard)
                while position < shard.end:
                    end = min(position + self._settings.batch_size, shard.end)
                    if not self._batch(run, plan, holding, handover, position, end, now):
                        return ShardEnd.HALTED
                    position = end
                with shared_units(), self._store.unit_of_work() as uow:
                    shards = _shards(uow)
                    stored = shards.hold(holding.shard)
                    holding.shard = shards.save(evolve(stored, done=True, lease_expires_at=None))
            except ShardLost:
                logger.warning(
                    "shard %d of run %s was taken over by another worker (epoch %d lost): "
                    "this worker recorded nothing more for it",
                    shard.number,
                    run.id,
                    shard.epoch,
                    extra=dict(describe(shard)),
                )
                return ShardEnd.LOST
            finally:
                _CURRENT.reset(token)
        logger.info(
            "shard %d of run %s done by %s",
            shard.number,
            run.id,
            shard.owner,
            extra=dict(describe(holding.shard)),
        )
        return ShardEnd.DONE

    def stop_rest(self, run: Run, plan: Plan) -> None:
        """Record every member no shard reached as STOPPED, and close the shards.

        For a run whose campaign stopped while its shards went out (this worker
        holds the run's lease). Members with intents are left as they are (the
        run-level halt stops what is still open); the STOPPED entries are
        counted on their shard, which is then done.
        """
        for shard in self.planned(run.id):
            if shard.done:
                continue
            position = shard.first
            while position < shard.end:
                end = min(position + self._settings.batch_size, shard.end)
                with self._store.unit_of_work() as uow:
                    self._leases.owned(uow, run.id)
                    shards = _shards(uow)
                    ids = shards.members(run.id, position, end)
                    recorded = uow.ledger.recorded(run.id, ids)
                    tally = Tally()
                    entries = []
                    for profile_id in dict.fromkeys(ids):
                        for action in plan.actions:
                            if (action.id, profile_id) in recorded:
                                continue
                            entry = LedgerEntry(
                                run.id,
                                action.id,
                                profile_id,
                                run.campaign_id,
                                action.channel,
                                LedgerState.EXCLUDED,
                                reason=ExclusionReason.STOPPED,
                            )
                            tally.entry(entry)
                            entries.append(entry)
                    uow.ledger.put(entries)
                    (stored,) = [s for s in shards.for_run(run.id) if s.number == shard.number]
                    shards.save(
                        evolve(
                            shards.hold(stored),
                            counts=tally.merged_into(stored.counts),
                            done=end == shard.end,
                            lease_expires_at=None,
                        )
                    )
                position = end

    def _members(self, ids: Sequence[str]) -> list[Profile]:
        found = self._profiles.get_many(ids)
        return [found.get(pid) or unknown_profile(pid) for pid in ids]

    def _batch(  # noqa: PLR0917 - private, one batch of a shard
        self,
        run: Run,
        plan: Plan,
        holding: _Holding,
        handover: Handover,
        first: int,
        end: int,
        now: pendulum.DateTime,
    ) -> bool:
        """Decide, record, send and record the members at ``first .. end - 1``; False if halted.

        The members are read in the unit that records their intents (a profile
        store of the same database joins it): one transaction fewer a batch.
        """
        tally = Tally()
        with shared_units(), self._store.unit_of_work() as uow:
            shards = _shards(uow)
            stored = shards.hold(holding.shard)
            ids = shards.members(run.id, first, end)
            batch = self._members(ids)
            if uow.campaigns.status(run.campaign_id) is not CampaignStatus.LIVE:
                return False
            recorded = uow.ledger.recorded(run.id, ids)
            suppressed = suppressed_in(uow, plan, batch)
            work = prepare_batch(
                self._store,
                run,
                plan,
                batch,
                recorded=recorded,
                suppressed=suppressed,
                audience_size=None,
                limits=self._settings.render_limits,
                tally=tally,
                now=now,
            )
            if work.entries:
                uow.ledger.put(work.entries)
                record_contacts(uow, work.entries, now)
            if work.rows:
                uow.ledger.add_pending(work.rows)
                record_sends(uow, work.rows, now)
            holding.shard = shards.save(
                evolve(
                    stored,
                    counts=tally.merged_into(stored.counts),
                    lease_expires_at=self._leases.expiry(),
                )
            )
        if work.sending:
            handover.deliver(run.id, plan, work.sending, now, retry=False)
        return True

    def _resend_pending(
        self, run: Run, plan: Plan, holding: _Holding, handover: Handover, now: pendulum.DateTime
    ) -> None:
        """Hand over again the shard's PENDING entries (a dead or stalled holder's batch)."""
        shard = holding.shard
        with shared_units(), self._store.unit_of_work() as uow:
            _shards(uow).hold(shard)
            members = set(_shards(uow).members(run.id, shard.first, shard.end))
            pending = [
                entry
                for entry in uow.ledger.pending(run.id, _TAKEOVER_READ)
                if entry.profile_id in members and entry.state is LedgerState.PENDING
            ]
        if pending:
            logger.info(
                "shard %d of run %s: %d messages its last holder left in flight go again "
                "(same idempotency keys)",
                shard.number,
                run.id,
                len(pending),
            )
            handover.deliver(run.id, plan, pending, now, retry=False)


def _renew_shard(store: Store, holding: _Holding, leases: Leases) -> bool:
    """Extend the lease of the shard ``holding`` holds (the heartbeat); False once it is lost.

    The shard is read locked and saved as read with the new expiry, so its
    counts, written by the worker's own units, stay as they are.
    """
    try:
        with shared_units(), store.unit_of_work() as uow:
            shards = _shards(uow)
            stored = shards.hold(holding.shard)
            shards.save(evolve(stored, lease_expires_at=leases.expiry()))
    except ShardLost:
        return False
    return True
