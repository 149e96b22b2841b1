"""A run delivered in shards, seen from the run: plan, hand over or work shards, fold, end.

The run-level half of sharded delivery (:mod:`.shards` is the shard-level
half): what the runner does with a claimed scheduled or recurring run whose
audience is (or now gets) split. Split from ``runner`` by concern.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import pendulum

from campaignkit.delivery.lease import Leases
from campaignkit.delivery.plan import Plan
from campaignkit.delivery.shards import ShardWork
from campaignkit.domain.campaign_enums import CampaignStatus
from campaignkit.domain.delivery import Run, RunKind
from campaignkit.domain.shards import finished, folded, next_lease_end
from campaignkit.ports import Store

SPLITTABLE = frozenset({RunKind.SCHEDULED, RunKind.OCCURRENCE})
"""Kinds of run whose audience may be split into shards."""


@attrs.frozen
class Splitting:
    """What :func:`split_run` needs of the runner.

    Attributes:
        store: The store.
        leases: This worker's leases.
        work: Plans runs into shards and delivers shards.
        release: Hands a run's lease back, due now.
        halt: Stops what is left of a run whose campaign is no longer LIVE.
        stop: Whether the worker is stopping (no new shard is claimed then).
    """

    store: Store
    leases: Leases
    work: ShardWork
    release: Callable[[str, pendulum.DateTime], None]
    halt: Callable[[str, Plan, pendulum.DateTime], Run]
    stop: Callable[[], bool]


def split_run(parts: Splitting, run: Run, plan: Plan, now: pendulum.DateTime) -> Run | None:
    """Deliver ``run`` in shards if it is (or now gets) split; None: it goes whole.

    Returns the run as stored: still this worker's (its shards all done and
    folded in, the run-level path goes on), or handed back, due again when
    the first lease of another worker's shard may lapse.
    """
    work = parts.work
    if run.kind not in SPLITTABLE:
        return None
    shards = work.planned(run.id)
    live = plan.campaign.status is CampaignStatus.LIVE
    if not shards:
        if not live or not work.eligible(run, plan):
            return None
        shards = work.plan(run, plan)
        if not shards:
            return None  # an empty audience: nothing to split
    if not finished(shards):
        parts.release(run.id, now)  # shards are claimed one by one, not with the run
        if live and work.submit is not None:
            # an executor's workers deliver them; a free shard is handed over again
            # each time (its task may have been lost): a task for a shard done or
            # leased meanwhile does nothing
            for shard in shards:
                if shard.free(now):
                    work.submit(run.id, shard.number)
        elif live:
            work.work_free(run, plan, now, parts.stop)
        shards = work.planned(run.id)
    with parts.store.unit_of_work() as uow:
        current = uow.runs.get(run.id)
        if current.status.is_final or parts.leases.held_elsewhere(current):
            return current
        live = uow.campaigns.status(run.campaign_id) is CampaignStatus.LIVE
        if not finished(shards) and not live:
            uow.runs.save(parts.leases.claimed(current, now))
            halted = True
        else:
            halted = False
    if halted:  # members no shard reached are stopped, then the run as usual
        work.stop_rest(run, plan)
        with parts.store.unit_of_work() as uow:
            current = parts.leases.owned(uow, run.id)
            uow.runs.save(folded(current, work.planned(run.id)))
        return parts.halt(run.id, plan, now)
    with parts.store.unit_of_work() as uow:
        current = uow.runs.get(run.id)
        if current.status.is_final or parts.leases.held_elsewhere(current):
            return current
        if not finished(shards):
            lapse = next_lease_end(shards)
            if work.submit is not None and (lapse is None or lapse <= now):
                # look again (and hand free shards over) a lease later: a lapsed lease's
                # shard was handed over just now; looking again at once would hand every
                # free shard over at every tick while its task waits in the engine's queue
                lapse = parts.leases.expiry()
            if current.lease_owner is None and lapse is not None and lapse > now:
                current = uow.runs.save(attrs.evolve(current, due_at=lapse))
            return current
        if not current.streamed:
            current = folded(current, shards)
        return uow.runs.save(parts.leases.claimed(current, now))
