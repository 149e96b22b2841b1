"""Runs: stream the audience once, decide, render, record, send, record.

For each batch of audience members:

1. decide every (profile, action): exclude with a reason, or render the
   message and work out when the recipient is due (wave, own time zone);
   messages due now pass the send-time gate (window, caps, quiet hours, rate
   limit), the others wait QUEUED until their time;
2. **record the intent** in the ledger (one transaction): PENDING entries
   carrying the rendered message, QUEUED and EXCLUDED entries, the new counts
   and the run's resume position;
3. hand the messages to the channels;
4. **record the outcomes** (one transaction): SENT, FAILED, or RETRY with a
   backoff time.

QUEUED and RETRY entries are released when their time comes, through the
same gate and the same intent/outcome steps.

A crash between 2 and 4 leaves PENDING entries: on resume each is looked up
through the channel (if it can) or re-sent with the same idempotency key.
Entries with a recorded outcome are never sent again, and every
(run, action, profile) ends in exactly one outcome.

This module orchestrates; a batch's steps 1-4 are in
:mod:`campaignkit.delivery.batching`, step 1 in :mod:`campaignkit.delivery.decide`,
steps 3-4 and the crash reconciliation in :mod:`campaignkit.delivery.handover`,
how runs end in :mod:`campaignkit.delivery.endings`, and ``DeliverySettings``
in :mod:`campaignkit.delivery.settings` (importable from here too).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence

import attrs
import pendulum

from campaignkit.clock import Clock
from campaignkit.concurrency import finish_parked, lock_run, reads_ahead, shared_units
from campaignkit.delivery import collector, members, runlog
from campaignkit.delivery.batching import Batches
from campaignkit.delivery.decide import PreparedBatch, admit, describe, suppressed_in
from campaignkit.delivery.endings import (
    end_with_outcomes,
    final,
    finish,
    has_open_entries,
    log_end,
    stop_open_entries,
    stopped_batch,
)
from campaignkit.delivery.gate import RateState
from campaignkit.delivery.handover import Handover
from campaignkit.delivery.lease import LeaseLost, Leases
from campaignkit.delivery.plan import Plan, PlanParts, decided_at_claim, make_plan
from campaignkit.delivery.recording import Recorder
from campaignkit.delivery.settings import DeliverySettings
from campaignkit.delivery.shards import ShardWork
from campaignkit.delivery.splitting import Splitting, split_run
from campaignkit.delivery.tally import Tally
from campaignkit.domain.campaign_enums import CampaignStatus
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import (
    LedgerEntry,
    LedgerState,
    Run,
    RunKind,
    RunStatus,
)
from campaignkit.domain.lifecycle import LifecycleRules
from campaignkit.domain.profile import Profile
from campaignkit.domain.unsubscribe import UnsubscribeSigner
from campaignkit.errors import ConflictError, DeliveryError, StorageUnavailable
from campaignkit.ports import (
    AudienceSource,
    Channel,
    Progress,
    Store,
    UnitOfWork,
)

__all__ = ["Claimed", "DeliverySettings", "Paused", "Runner"]

logger = logging.getLogger("campaignkit.delivery")


class Paused(Exception):
    """The worker is stopping (``Runner.stop_requested``): hand the run back between batches."""


Claimed = tuple[Run, Plan, PreparedBatch | None]
"""A claimed run, its plan, and a fresh trigger's batch decided at the claim."""

Ahead = Callable[[UnitOfWork], object] | None
"""Called in the transaction that ends a run with its last outcomes (see ``Runner.deliver``)."""


def _never() -> bool:
    return False


class Runner:
    """Delivers runs. Used by the engine; one instance per kit.

    Args:
        store: Runs, ledger, suppressions and campaigns.
        clock: Read for lease times only (each renewal reads it); the tick's
            instant dates everything else.
        audiences: Streams audience members.
        channels: One channel per channel type.
        settings: Batch size, retries, lease.
        rules: Lifecycle rules (a finished run may let its campaign complete).
        worker_id: Identifies this process in run leases.
        progress: Called after every batch, if given.
        unsubscribe: Signs the unsubscribe URLs of marketing email (the kit's
            signer, when it has a ``secret``).

    Attributes:
        stop_requested: Checked after every batch a run records (and by the
            engine between two pieces of work); once it answers True the run
            in hand stops there, with its lease released, and no further
            work starts. ``kit.run_forever`` sets it to its stop event.
        observer: Told of claims, batches and delivery ends (:func:`campaignkit.otel.instrument`).
    """

    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        audiences: AudienceSource,
        channels: Mapping[ChannelType, Channel],
        settings: DeliverySettings,
        rules: LifecycleRules,
        worker_id: str,
        progress: Progress | None = None,
        unsubscribe: UnsubscribeSigner | None = None,
    ) -> None:
        self._store = store
        self._rules = rules
        self._audiences = audiences
        self._channels = channels
        self._plan_parts: PlanParts = {}  # this runner's, not the process's: see make_plan
        self._settings = settings
        self._worker = worker_id
        self._leases = Leases(worker_id, clock, settings.lease)
        self._recorder = Recorder(
            store, self._leases, settings.max_attempts, settings.retry_base, settings.retry_cap
        )
        self._handover = Handover(
            store,
            self._recorder,
            max_attempts=settings.max_attempts,
            batch_size=settings.batch_size,
        )
        self._batches = Batches(
            store, audiences, self._leases, self._recorder, self._handover, settings
        )
        self.progress = progress
        self.observer: runlog.DeliveryObserver | None = None
        self._signer = unsubscribe
        self.stop_requested: Callable[[], bool] = _never
        self.shards: ShardWork | None = None
        """Splits runs into shards and delivers shards (set by the kit; None: runs whole)."""

    def plan_for(self, uow: UnitOfWork, run: Run) -> Plan:
        """The plan of ``run`` read in ``uow`` (its campaign as stored now)."""
        campaign = uow.campaigns.get(run.campaign_id)
        return make_plan(uow, campaign, run, self._channels, self._signer, parts=self._plan_parts)

    @property
    def leases(self) -> Leases:
        """This worker's leases (its id, clock and lease length)."""
        return self._leases

    # ------------------------------------------------------------ entry point

    def claim(self, run_id: str, now: pendulum.DateTime) -> Claimed | None:
        """:meth:`_claim`, in the caller's unit of work if one is open (a nested unit joins it).

        Hand the result to :meth:`deliver`. If this raises, roll the unit back, then
        call :meth:`unclaimable` (a ``ConflictError``: try the run later).
        """
        return self._claim(run_id, now)

    def unclaimable(self, run_id: str, now: pendulum.DateTime, exc: Exception) -> Run:
        """FAIL a run whose claim raised ``exc`` (no channel, no surface, a bad document)."""
        return self._fail(run_id, now, describe(exc))

    def deliver(
        self, run_id: str, claimed: Claimed | None, now: pendulum.DateTime, ahead: Ahead = None
    ) -> Run:
        """Do every piece of work of a claimed run that is due at ``now``.

        Returns the run as saved: final, or with ``due_at`` set to when it next
        has work (a retry), or unchanged when another worker holds its lease.
        Unclaimed (``claimed`` None), a split run's free shards are delivered all
        the same (:meth:`ShardWork.work_unclaimed`), and the run is claimed and
        ended here if this worker finished its last shard.
        A run that cannot go on (an adapter raised) is FAILED with the error and
        a WARNING is logged. ``ahead`` is called in the transaction that ends the
        run with its last outcomes, after the run's write, if it ends there.

        Raises:
            ConflictError: another worker wrote the run meanwhile (try it later).
        """
        # another worker holds the run (a moment, if it is split): its free shards go
        # now; whoever finishes the last one claims the run to fold and end it
        if (
            claimed is None
            and self.shards is not None
            and self.shards.work_unclaimed(run_id, now, self.stop_requested)
        ):
            now = self._leases.clock.now()
            claimed = self._claim(run_id, now)
        if claimed is None:
            # beside the delivery units in flight (it waits, a moment, only for a unit
            # holding the run's row; alone, it would wait for every unit of every shard)
            with shared_units(), self._store.unit_of_work() as uow:
                return uow.runs.get(run_id)
        with shared_units():  # each unit locks the run's row, and what else it checks
            return self._deliver_claimed(run_id, claimed, now, ahead)

    def _deliver_claimed(
        self, run_id: str, claimed: Claimed, now: pendulum.DateTime, ahead: Ahead
    ) -> Run:
        try:
            with self._leases.heartbeat(self._store, run_id, enabled=self._settings.heartbeat):
                return self._deliver_run(claimed, now, ahead)
        except LeaseLost:  # another worker took the run over: it records what follows
            with self._store.unit_of_work() as uow:
                return uow.runs.get(run_id)
        except Paused:  # the worker stops: hand the run back so the next worker resumes it now
            self._release(run_id, now)
            with self._store.unit_of_work() as uow:
                run = uow.runs.get(run_id)
            runlog.paused(run)
            return run
        except (ConflictError, StorageUnavailable):  # try later: released if it can be
            self._release(run_id, now)
            raise
        except Exception as exc:  # an adapter or a bug: this run fails, the others go on
            return self._fail(run_id, now, describe(exc), owned=True)
        except BaseException:
            # an interrupted delivery (KeyboardInterrupt): hand the run back at once, so
            # this worker or another resumes it without waiting for the lease; a killed
            # process cannot do this, and its lease lapses
            self._release(run_id, now)
            raise

    def _deliver_run(self, claimed: Claimed, now: pendulum.DateTime, ahead: Ahead) -> Run:
        run, plan, first = claimed
        run_id = run.id
        try:
            if first is None and self.shards is not None:
                split = self._split(run, plan, now)
                if split is not None:
                    if split.status.is_final or split.lease_owner != self._worker:
                        return split  # other workers' shards are not done yet
                    run = split  # every shard done and folded in: the rest is the run's
            if first is not None:  # a fresh trigger's batch, recorded with its claim
                run = self._first_batch(run, plan, first, now, ahead)
                if run.status.is_final:
                    return run
            if has_open_entries(run) or run.position or run.streamed:
                # a crash may have left PENDING entries; a run that recorded none cannot
                self._reconcile(run_id, plan, now)
            halted = plan.campaign.status is not CampaignStatus.LIVE
            if not halted:
                halted, current = self._stream(run, plan, now)
                if current is not None and current.status.is_final:
                    return current  # ended with its last batch's outcomes
                if not halted and (current is None or has_open_entries(current)):
                    halted = self._retry(run_id, plan, now)
            if halted:
                return self._halt(run_id, plan, now)
            return self._settle(run_id, plan, now)
        except DeliveryError as exc:
            return self._fail(run_id, now, str(exc), owned=True)

    def _split(self, run: Run, plan: Plan, now: pendulum.DateTime) -> Run | None:
        """Deliver ``run`` in shards if it is (or now gets) split (:mod:`.splitting`)."""
        assert self.shards is not None
        return split_run(
            Splitting(
                self._store,
                self._leases,
                self.shards,
                release=self._release,
                halt=self._halt,
                stop=self.stop_requested,
            ),
            run,
            plan,
            now,
        )

    def _release(self, run_id: str, now: pendulum.DateTime) -> None:
        with contextlib.suppress(Exception), self._store.unit_of_work() as uow:
            run = uow.runs.get(run_id)
            if run.lease_owner == self._worker and not run.status.is_final:
                uow.runs.save(
                    attrs.evolve(run, lease_owner=None, lease_expires_at=None, due_at=now)
                )

    # ------------------------------------------------------------ claiming

    def _claim(self, run_id: str, now: pendulum.DateTime) -> Claimed | None:
        """Claim a due run and plan it; None when it is final or another worker holds it.

        A fresh unitary trigger (``plan.decided_at_claim``) is also decided, and its
        intents recorded, in the claim's transaction (one write of the run); the
        decided batch is returned to hand over.
        """
        with self._store.unit_of_work() as uow:
            if not lock_run(uow, run_id, wait=False):  # another worker claims or delivers it
                return None
            run = uow.runs.get(run_id)
            if run.status.is_final:
                return None
            if self._leases.held_elsewhere(run):
                expires = run.lease_expires_at
                assert expires is not None
                if run.due_at is None or run.due_at < expires:
                    # another worker delivers it: due again only when its lease may lapse
                    uow.runs.save(attrs.evolve(run, due_at=expires))
                return None
            campaign = uow.campaigns.get(run.campaign_id)
            before = run
            run = self._leases.claimed(run, now)
            plan = make_plan(
                uow, campaign, run, self._channels, self._signer, parts=self._plan_parts
            )
            first = None
            if decided_at_claim(before, plan, self._settings.batch_size):
                batch = [recipient.profile for recipient in run.recipients]
                tally = Tally()
                suppressed = suppressed_in(uow, plan, batch)
                work = self._batches
                first = work.prepare(run, plan, batch, set(), suppressed, None, tally, now)
                # the campaign was read LIVE in this transaction
                _, run = work.write(uow, run, first, tally, now, len(batch), True, live=True)
            else:
                run = uow.runs.save(run)
            runlog.claimed(before, run)
            runlog.observed_claim(self.observer, before, plan)
        return run, plan, first

    def _first_batch(
        self, run: Run, plan: Plan, work: PreparedBatch, now: pendulum.DateTime, ahead: Ahead
    ) -> Run:
        """Hand over a fresh trigger's batch recorded by :meth:`_claim`; the run as left.

        What :meth:`_stream` does after a batch's intents: send, record the outcomes
        (ending the run there when nothing is left), log and report progress.
        """
        runlog.failures(run.id, plan.campaign.id, runlog.failed_entries(work.entries))
        with runlog.Batch(self.observer, run, 1, len(run.recipients)) as seen:
            if work.sending:
                then = functools.partial(self._ended, now=now, ahead=ahead)
                run = self._handover.deliver(
                    run.id, plan, work.sending, now, retry=False, then=then, held=run
                )
            seen(run)
        runlog.batch_done(self._store, run.id, 1)
        if self.progress is not None:
            runlog.progress(self.progress, run, len(run.recipients))
        if run.status.is_final:  # it ended with the batch's outcomes
            log_end(run)
        if self.stop_requested():
            raise Paused(run.id)
        return run

    # ------------------------------------------------------------ streaming

    def _members(self, run: Run, plan: Plan) -> Iterator[tuple[int, Sequence[Profile]]]:
        """Audience batches from the run's resume position (:func:`members.batches`)."""
        return members.batches(run, plan, self._audiences, self._settings.batch_size)

    def _stream(self, run: Run, plan: Plan, now: pendulum.DateTime) -> tuple[bool, Run | None]:
        """Process the audience from the resume position.

        The last batch records ``streamed`` with its intents; a run whose audience
        yields nothing more records it on its own.

        Returns:
            Whether the run was halted, and the run as the last batch left it (None
            when it streamed nothing).
        """
        if run.streamed:
            return False, None
        try:
            streamed = self._stream_batches(run, plan, now)
        except BaseException:
            with contextlib.suppress(Exception):  # the runner handles its own error
                finish_parked(self._store)
            raise
        finish_parked(self._store)
        return streamed

    def _stream_batches(
        self, run: Run, plan: Plan, now: pendulum.DateTime
    ) -> tuple[bool, Run | None]:
        """:meth:`_stream`'s loop (it may leave the last outcomes parked)."""
        audience = plan.version.audience
        if run.kind is RunKind.TRIGGER:
            total: int | None = len(run.recipients)
        else:
            total = None if audience is None else self._audiences.count(audience)
        batches = members.last_marked(self._members(run, plan))
        ended = self._ended
        number = 0
        known: Run | None = None  # the run as this worker's last batch left it
        while True:
            # reading a batch of the audience allocates as much as delivering it
            with collector.paused(self._settings.pause_gc):
                with reads_ahead():  # a parked batch's outcomes change no member
                    item = next(batches, None)
                if item is None:
                    break
                start, batch, last = item
                with runlog.Batch(self.observer, run, number + 1, len(batch)) as seen:
                    outcome = seen(
                        self._batches.deliver(
                            run.id, plan, start, batch, now, last=last, known=known, ended=ended
                        )
                    )
                collector.tidy(self._settings.pause_gc)
            number += 1
            if outcome is None:
                return True, None
            runlog.batch_done(self._store, run.id, number)
            if self.progress is not None:
                runlog.progress(self.progress, outcome, total)
            if outcome.status.is_final:  # it ended with this batch's outcomes
                log_end(outcome)
            if self.stop_requested():
                raise Paused(run.id)
            if last:
                return False, outcome
            known = outcome
        with self._store.unit_of_work() as uow:
            current = uow.runs.get(run.id)
            uow.runs.save(attrs.evolve(current, streamed=True))
        return False, None

    def _ended(
        self, uow: UnitOfWork, run: Run, *, now: pendulum.DateTime, ahead: Ahead = None
    ) -> Run:
        """Save ``run`` with its last batch's outcomes, ended if nothing is left to do.

        See :func:`~campaignkit.delivery.endings.end_with_outcomes` (a stopping
        worker leaves the ending to :meth:`_settle`).
        """
        return end_with_outcomes(
            uow, run, now, stopping=self.stop_requested, finish_run=self._finish, ahead=ahead
        )

    # ------------------------------------------------------------ sending

    def _reconcile(self, run_id: str, plan: Plan, now: pendulum.DateTime) -> None:
        """Settle PENDING entries left by a crash: look them up, else re-send them."""
        while self._handover.reconcile(run_id, plan, now):
            if self.stop_requested():
                raise Paused(run_id)

    def _retry(self, run_id: str, plan: Plan, now: pendulum.DateTime) -> bool:
        """Release the QUEUED and RETRY entries due at ``now``; True if halted meanwhile."""
        while True:
            with self._store.unit_of_work() as uow:
                due = list(uow.ledger.due(run_id, now, self._settings.batch_size))
                run = uow.runs.get(run_id)
                live = uow.campaigns.status(plan.campaign.id) is CampaignStatus.LIVE
            if not due:
                return False
            if not live:
                return True
            retries = {e.key for e in due if e.state is LedgerState.RETRY}
            tally = Tally()
            rate = RateState(dict(run.rate_sent), dict(run.rate_origin))
            out: list[LedgerEntry] = []
            sending = admit(self._store, plan, due, rate=rate, tally=tally, now=now, out=out)
            if not self._recorder.intents(run_id, out, tally, now, rate=rate):
                return True
            fresh = [e for e in sending if e.key not in retries]
            again = [e for e in sending if e.key in retries]
            if fresh:
                self._handover.deliver(run_id, plan, fresh, now, retry=False)
            if again:
                self._handover.deliver(run_id, plan, again, now, retry=True)
            if self.stop_requested():
                raise Paused(run_id)

    # ------------------------------------------------------------ endings

    def _settle(self, run_id: str, plan: Plan, now: pendulum.DateTime) -> Run:
        """End the run, or hand it back until its next QUEUED or RETRY entry is due.

        A campaign stopped, completed or removed during the last batch halts the run.
        """
        with self._store.unit_of_work() as uow:
            run = self._leases.owned(uow, run_id)
            halted = uow.campaigns.status(plan.campaign.id) is not CampaignStatus.LIVE
            if not halted:
                next_retry = uow.ledger.next_due_at(run_id)
                if next_retry is not None or not run.streamed:
                    return uow.runs.save(
                        attrs.evolve(
                            run, due_at=next_retry, lease_owner=None, lease_expires_at=None
                        )
                    )
                return self._finish(uow, run, RunStatus.SUCCEEDED, now)
        return self._halt(run_id, plan, now)

    def _halt(self, run_id: str, plan: Plan, now: pendulum.DateTime) -> Run:
        """Stop at a batch boundary: queued retries and unreached members are excluded."""
        stop_open_entries(self._store, self._leases, run_id, self._settings.batch_size)
        with self._store.unit_of_work() as uow:
            run = uow.runs.get(run_id)
        if not run.streamed:
            for start, batch in self._members(run, plan):
                with self._store.unit_of_work() as uow:
                    recorded = uow.ledger.recorded(run_id, [p.id for p in batch])
                entries, tally = stopped_batch(run_id, plan, batch, recorded)
                self._recorder.intents(run_id, entries, tally, now, position=start + len(batch))
        with self._store.unit_of_work() as uow:
            run = uow.runs.get(run_id)
            return self._finish(uow, attrs.evolve(run, streamed=True), RunStatus.STOPPED, now)

    def _fail(self, run_id: str, now: pendulum.DateTime, error: str, *, owned: bool = False) -> Run:
        """Mark the run FAILED with ``error`` and log a WARNING.

        If its campaign cannot be updated (its document cannot be loaded), the
        run alone is marked. With ``owned``, a run another worker has taken
        over meanwhile is left to that worker, unchanged.
        """
        try:
            with self._store.unit_of_work() as uow:
                run = uow.runs.get(run_id)
                if owned and run.lease_owner not in (None, self._worker):
                    return run
                saved = self._finish(uow, attrs.evolve(run, error=error), RunStatus.FAILED, now)
        except (ConflictError, StorageUnavailable):
            raise
        except Exception as exc:
            error = f"{error}; its campaign could not be updated: {describe(exc)}"
            with self._store.unit_of_work() as uow:
                run = uow.runs.get(run_id)
                saved = uow.runs.save(final(attrs.evolve(run, error=error), RunStatus.FAILED, now))
        runlog.run_failed(saved)
        return saved

    def _finish(
        self,
        uow: UnitOfWork,
        run: Run,
        status: RunStatus,
        now: pendulum.DateTime,
        *,
        log: bool = True,
    ) -> Run:
        """Save ``run`` final and let its campaign complete.

        ``log=False`` leaves the log lines to the caller (:func:`_log_end`), which
        writes them once the run's last batch is logged.
        """
        return finish(uow, run, status, now, self._rules, log=log)
