"""One batch of a run's audience: decide it, record its intents, hand it over.

Split from ``runner`` by concern: the runner streams the audience, reconciles,
retries and ends runs; :class:`Batches` does the work of each batch it reads
(two transactions, see :meth:`Batches.deliver`), and decides and records the
batch of a fresh trigger in its claim's transaction (:meth:`Batches.prepare`,
:meth:`Batches.write`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence

import attrs
import pendulum

from campaignkit.concurrency import can_park, finish_parked, reads_ahead
from campaignkit.delivery import members, runlog
from campaignkit.delivery.admission import caps_apply
from campaignkit.delivery.decide import PreparedBatch, prepare_batch, suppressed_in
from campaignkit.delivery.handover import Handover
from campaignkit.delivery.lease import Leases
from campaignkit.delivery.plan import Plan
from campaignkit.delivery.recording import Recorder
from campaignkit.delivery.settings import DeliverySettings
from campaignkit.delivery.tally import Tally
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import Run
from campaignkit.domain.profile import Profile
from campaignkit.ports import AudienceSource, Store, UnitOfWork


@attrs.frozen
class Batches:
    """The per-batch work of a :class:`~campaignkit.delivery.runner.Runner`.

    Attributes:
        store: Runs, ledger, suppressions and campaigns.
        audiences: Streams audience members (the size of a wave's audience).
        leases: This worker's leases.
        recorder: Records intents and outcomes.
        handover: Hands messages to the channels and records their outcomes.
        settings: Render limits, and the batch size of the run's own steps.
    """

    store: Store
    audiences: AudienceSource
    leases: Leases
    recorder: Recorder
    handover: Handover
    settings: DeliverySettings

    def deliver(
        self,
        run_id: str,
        plan: Plan,
        start: int,
        batch: Sequence[Profile],
        now: pendulum.DateTime,
        *,
        last: bool,
        known: Run | None = None,
        ended: Callable[..., Run],
    ) -> Run | None:
        """Decide, record, send and record one batch, in two transactions.

        The first reads what deciding needs (the lease, what the ledger holds,
        suppressions, contacts for caps), decides and renders, and records the
        intents; the second records the outcomes.

        On a store that parks commits (PostgreSQL; see
        :func:`campaignkit.concurrency.parked_commits`) the outcomes of every
        batch but the last are parked: the server writes them while the
        runner reads and decides the next batch. That batch (given ``known``,
        the run as the last batch left it) is read without its run's row and
        decided from ``known``: of the run, deciding needs only its waves and
        rate slots, which only this worker's intents change. The parked
        outcomes are finished (answered, or recorded again) before its intents.

        The outcomes of the ``last`` batch are saved by ``ended`` (the runner's:
        it ends the run there if nothing is left to do).

        Returns:
            The run as the batch left it, or None if the run was halted.
        """
        tally = Tally()
        capped = caps_apply(plan)  # the caps read must be in the unit that writes the intents
        parks = can_park(self.store) and not capped
        ahead = parks and known is not None  # deciding beside the last batch's parked outcomes
        with reads_ahead():
            size = members.wave_audience_size(plan, self.audiences)  # outside any transaction
        if (plan.renders_quickly or capped) and not ahead:
            # no Jinja: deciding holds the write lock for a moment only (and a capped batch
            # is decided there even so)
            with self.store.unit_of_work() as uow:
                run = self.leases.owned(uow, run_id)
                recorded = uow.ledger.recorded(run_id, [p.id for p in batch])
                suppressed = suppressed_in(uow, plan, batch)
                work = self.prepare(run, plan, batch, recorded, suppressed, size, tally, now)
                live, saved = self.write(uow, run, work, tally, now, start + len(batch), last)
        else:  # decided outside any transaction: a Jinja render may be long, or outcomes parked
            with reads_ahead(), self.store.unit_of_work() as uow:  # the run's row is not locked
                run = known if ahead and known is not None else uow.runs.get(run_id)
                recorded = uow.ledger.recorded(run_id, [p.id for p in batch])
                suppressed = suppressed_in(uow, plan, batch)
            work = self.prepare(run, plan, batch, recorded, suppressed, size, tally, now)
            finish_parked(self.store)  # the last batch's outcomes, before this one's intents
            with self.store.unit_of_work() as uow:
                owned = self.leases.owned(uow, run_id)
                live, saved = self.write(uow, owned, work, tally, now, start + len(batch), last)
        entries, sending = work.entries, work.sending
        runlog.failures(run_id, plan.campaign.id, runlog.failed_entries(entries))
        if not live:
            return None
        if sending:
            if last:
                then = functools.partial(ended, now=now)
                return self.handover.deliver(run_id, plan, sending, now, retry=False, then=then)
            return self.handover.deliver(
                run_id, plan, sending, now, retry=False, held=saved if parks else None, park=parks
            )
        return saved

    def prepare(  # noqa: PLR0917 - the first half of deliver
        self,
        run: Run,
        plan: Plan,
        batch: Sequence[Profile],
        recorded: set[tuple[str, str]],
        suppressed: Mapping[ChannelType, set[str]],
        size: int | None,
        tally: Tally,
        now: pendulum.DateTime,
    ) -> PreparedBatch:
        """Decide and render ``batch`` of ``run`` (see ``decide.prepare_batch``)."""
        return prepare_batch(
            self.store,
            run,
            plan,
            batch,
            recorded=recorded,
            suppressed=suppressed,
            audience_size=size,
            limits=self.settings.render_limits,
            tally=tally,
            now=now,
        )

    def write(  # noqa: PLR0917 - the second half of deliver
        self,
        uow: UnitOfWork,
        run: Run,
        work: PreparedBatch,
        tally: Tally,
        now: pendulum.DateTime,
        position: int,
        last: bool,
        live: bool | None = None,
    ) -> tuple[bool, Run]:
        """Record a decided batch's intents in ``uow`` (see ``Recorder.write_intents``)."""
        return self.recorder.write_intents(
            uow,
            run,
            work.entries,
            work.rows,
            tally=tally,
            now=now,
            position=position,
            wave_filled=work.wave_filled,
            rate=work.rate,
            streamed=last,
            live=live,
        )
