"""How runs end: the final run record, warnings on likely mistakes, and a stop's exclusions."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import attrs
import pendulum

from campaignkit.concurrency import lock
from campaignkit.delivery import runlog
from campaignkit.delivery.lease import Leases
from campaignkit.delivery.plan import Plan
from campaignkit.delivery.recording import stopped
from campaignkit.delivery.tally import Tally
from campaignkit.domain.campaign_enums import CampaignStatus
from campaignkit.domain.copying import evolve
from campaignkit.domain.delivery import (
    ExclusionReason,
    LedgerEntry,
    LedgerState,
    Run,
    RunKind,
    RunStatus,
)
from campaignkit.domain.lifecycle import LifecycleRules, run_finished
from campaignkit.domain.profile import Profile
from campaignkit.ports import Store, UnitOfWork

logger = logging.getLogger("campaignkit.delivery")

_WARN_REASONS = (ExclusionReason.UNKNOWN_PROFILE, ExclusionReason.MISSING_ATTRIBUTE)
"""Exclusions that usually mean a mistake (a typo in a template, an id never loaded)."""


def final(run: Run, status: RunStatus, now: pendulum.DateTime) -> Run:
    """The run ended with ``status`` at ``now``: nothing due, no lease.

    Args:
        run: The run.
        status: Its final status.
        now: The tick's instant.

    Returns:
        The run to save.
    """
    return evolve(
        run,
        status=status,
        finished_at=now,
        due_at=None,
        lease_owner=None,
        lease_expires_at=None,
    )


def finish(
    uow: UnitOfWork,
    run: Run,
    status: RunStatus,
    now: pendulum.DateTime,
    rules: LifecycleRules,
    *,
    log: bool = True,
) -> Run:
    """Save ``run`` final and let its campaign complete.

    Args:
        uow: The transaction to write in.
        run: The run (its stored revision).
        status: Its final status.
        now: The tick's instant.
        rules: Lifecycle rules (the campaign may complete).
        log: Log the end here; False leaves it to the caller (:func:`log_end`).

    Returns:
        The run as saved.
    """
    saved = uow.runs.save(final(run, status, now))
    if log:
        log_end(saved)
    if run.kind in (RunKind.SCHEDULED, RunKind.OCCURRENCE):  # runs a completion waits for
        lock(uow, f"campaign:{run.campaign_id}")  # another run of it may end meanwhile
        campaign = uow.campaigns.find(run.campaign_id)
        if campaign is not None and campaign.open_runs > 0:
            uow.campaigns.save(run_finished(campaign, now, rules))
    return saved


ENDED_WITH_OUTCOMES = (RunKind.TRIGGER, RunKind.AUDIENCE_EXECUTION)
"""Runs whose end writes nothing but the run: they may end in their last outcome transaction."""


def has_open_entries(run: Run) -> bool:
    """True while the run's counts show PENDING, QUEUED or RETRY entries.

    Args:
        run: The run.
    """
    return any(counts.pending for counts in run.counts.values())


def end_with_outcomes(
    uow: UnitOfWork,
    run: Run,
    now: pendulum.DateTime,
    *,
    stopping: Callable[[], bool],
    finish_run: Callable[..., Run],
    ahead: Callable[[UnitOfWork], object] | None = None,
) -> Run:
    """Save ``run`` in the last batch's outcome transaction, ended if nothing is left to do.

    Nothing is left when every entry has its outcome and the campaign is still
    LIVE; a worker that is stopping leaves the ending to the runner's settling
    later. Only runs whose end writes nothing but the run (API triggers and
    audience executions) end here: a scheduled run's end also updates its
    campaign, and a failure there must not take the batch's recorded outcomes
    with it.

    Args:
        uow: The last batch's outcome transaction.
        run: The run as its outcomes leave it.
        now: The tick's instant.
        stopping: Whether the worker is stopping.
        finish_run: Saves a run final, called as ``finish_run(uow, run, status,
            now, log=False)`` (the runner's :func:`finish`).
        ahead: The engine's look for its next due work, called after an end.

    Returns:
        The run as saved.
    """
    if run.kind not in ENDED_WITH_OUTCOMES or not run.streamed or has_open_entries(run):
        return uow.runs.save(run)
    try:
        if (
            stopping()
            or uow.campaigns.status(run.campaign_id) is not CampaignStatus.LIVE
            or uow.ledger.next_due_at(run.id) is not None  # the ledger agrees with the counts
        ):
            return uow.runs.save(run)
    except Exception:  # never lose the outcomes to a check: settling ends the run instead
        logger.warning("run %s is ended later: a check failed", run.id, exc_info=True)
        return uow.runs.save(run)
    ended: Run = finish_run(uow, run, RunStatus.SUCCEEDED, now, log=False)
    if ahead is not None:
        ahead(uow)
    return ended


def log_end(run: Run) -> None:
    """Log the end of a run, and a WARNING on exclusions that look like mistakes.

    Args:
        run: The finished run.
    """
    warn_exclusions(run)
    runlog.ended(run)


def warn_exclusions(run: Run) -> None:
    """Log a WARNING when a finished run excluded recipients for a likely mistake.

    Args:
        run: The finished run (its counts).
    """
    if not any(counts.excluded for counts in run.counts.values()):
        return  # nothing excluded (the common case): no total to work out
    counts = run.total().excluded
    found = [f"{counts[r]} for {r}" for r in _WARN_REASONS if counts.get(r)]
    if found:
        logger.warning(
            "run %s of campaign %s excluded recipients: %s (see the campaign report)",
            run.id,
            run.campaign_id,
            ", ".join(found),
        )


def stop_open_entries(store: Store, leases: Leases, run_id: str, batch_size: int) -> None:
    """Exclude every PENDING, QUEUED or RETRY entry of a stopped run as STOPPED.

    Args:
        store: The run's store.
        leases: Checks this worker still owns the run (renewing its lease).
        run_id: The run.
        batch_size: Entries per transaction.

    Raises:
        LeaseLost: another worker took the run over.
    """
    while True:
        with store.unit_of_work() as uow:
            run = leases.owned(uow, run_id)
            open_entries = list(uow.ledger.open_entries(run_id, batch_size))
            if not open_entries:
                return
            uow.ledger.put([stopped(e) for e in open_entries])
            tally = Tally()
            for entry in open_entries:
                tally.exclude(entry.action_id, ExclusionReason.STOPPED, targeted=0)
                tally.add(entry.action_id, "pending", -1)
            uow.runs.save(attrs.evolve(run, counts=tally.merged_into(run.counts)))


def stopped_batch(
    run_id: str, plan: Plan, batch: Sequence[Profile], recorded: set[tuple[str, str]]
) -> tuple[list[LedgerEntry], Tally]:
    """The STOPPED exclusions of audience members a stopped run never reached.

    Args:
        run_id: The run.
        plan: The run's plan (its campaign and actions).
        batch: The members.
        recorded: The ``(action_id, profile_id)`` pairs the run's ledger already has
            (counted as duplicates, like repeats within the batch).

    Returns:
        The entries to record and their counts.
    """
    entries: list[LedgerEntry] = []
    tally = Tally()
    seen: set[str] = set()
    for profile in batch:
        repeated = profile.id in seen
        seen.add(profile.id)
        for action in plan.actions:
            if repeated or (action.id, profile.id) in recorded:
                tally.exclude(action.id, ExclusionReason.DUPLICATE)
                continue
            entry = LedgerEntry(
                run_id,
                action.id,
                profile.id,
                plan.campaign.id,
                action.channel,
                LedgerState.EXCLUDED,
                reason=ExclusionReason.STOPPED,
            )
            tally.entry(entry)
            entries.append(entry)
    return entries, tally
