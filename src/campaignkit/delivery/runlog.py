"""What a run logs: its start, its progress, its permanent failures and its end.

Everything goes through the stdlib logger ``campaignkit.delivery`` (a child
of ``campaignkit``), each record with structured ``extra=`` fields a JSON
log formatter can pick up: ``campaign_id``, ``run_id`` and, where it has
them, ``counts`` (a plain dict: targeted, sent, failed, excluded, pending,
retries).

Levels, chosen so that a production worker's log stays readable:

- INFO: a run starts, resumes mid-audience after a restart, is paused
  because the worker stops, and ends (with its counts); progress every
  :data:`PROGRESS_EVERY` batches.
- DEBUG: progress after every batch; a run due again for its retries.
- WARNING: permanent failures, one summary line per batch naming the first
  :data:`FIRST_FAILURES` (profile, error), never one line per message, so a
  provider refusing a whole batch cannot flood the log; a run that FAILED
  (with its ``error``).

A :class:`DeliveryObserver` on the runner (``runner.observer``, set by
:func:`campaignkit.otel.instrument`) hears of the same moments: each claim,
each audience batch (around it, for a span) and each delivery's end, with the
run as it was left (for counters).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar

from campaignkit.domain.delivery import LedgerEntry, LedgerState, Message, Run
from campaignkit.ports import Progress, RunProgress, Store

if TYPE_CHECKING:
    from campaignkit.delivery.plan import Plan

logger = logging.getLogger("campaignkit.delivery")

PROGRESS_EVERY: Final = 10
"""Batches between two INFO progress lines of a run (every batch is logged at DEBUG)."""
FIRST_FAILURES: Final = 3
"""Failures named in a batch's WARNING line (the count covers them all)."""


_R = TypeVar("_R", bound="Run | None")


class DeliveryObserver(Protocol):
    """Protocol: told of a worker's deliveries (metrics, traces); see :mod:`campaignkit.otel`.

    Calls come from the thread that delivers; an observer that raises is
    logged and the delivery goes on.
    """

    def claimed(self, before: Run, plan: Plan) -> None:
        """This worker claimed the run stored as ``before``, to deliver ``plan``."""
        ...

    def batch_started(self, run: Run, number: int, size: int) -> object:
        """Batch ``number`` (1-based) of ``size`` audience members starts; returns a token."""
        ...

    def batch_ended(self, token: object, run: Run | None, error: BaseException | None) -> None:
        """The batch of ``token`` ended: the run as it left it (None: halted), or ``error``."""
        ...

    def delivered(self, run: Run) -> None:
        """A delivery of the run ended (final, due again, paused or failed)."""
        ...


def _guarded(what: str, call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except Exception:  # an observer's bug must not fail the run
        logger.exception("campaignkit delivery observer failed on %s", what)
        return None


class Batch:
    """Tells the observer of a batch around it: ``with Batch(...) as seen: run = seen(...)``.

    Args:
        observer: The runner's observer (None: this does nothing).
        run: The run the batch belongs to.
        number: The batch's number in this stream of the run (1-based).
        size: Audience members in the batch.
    """

    __slots__ = ("_args", "_observer", "_run", "_token")

    def __init__(self, observer: DeliveryObserver | None, run: Run, number: int, size: int):
        self._observer = observer
        self._args = (run, number, size)
        self._run: Run | None = None
        self._token: object = None

    def __enter__(self) -> Batch:
        if self._observer is not None:
            self._token = _guarded("batch start", self._observer.batch_started, *self._args)
        return self

    def __call__(self, run: _R) -> _R:
        """Note ``run`` as the batch left it (None: halted) and return it."""
        self._run = run
        return run

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._observer is not None:
            _guarded("batch end", self._observer.batch_ended, self._token, self._run, error)


def observed_claim(observer: DeliveryObserver | None, before: Run, plan: Plan) -> None:
    """Tell ``observer`` (if any) that the run stored as ``before`` was claimed for ``plan``."""
    if observer is not None:
        _guarded("claim", observer.claimed, before, plan)


def delivered(observer: DeliveryObserver | None, run: Run) -> None:
    """Tell ``observer`` (if any) that a delivery of ``run`` ended, as ``run`` was saved."""
    if observer is not None:
        _guarded("delivery end", observer.delivered, run)


def counts_of(run: Run) -> dict[str, int]:
    """The run's counts summed over its actions, as a plain dict for ``extra=``."""
    total = run.total()
    return {
        "targeted": total.targeted,
        "sent": total.sent,
        "failed": total.failed,
        "excluded": total.excluded_total,
        "pending": total.pending,
        "retries": total.retries,
    }


def _extra(run: Run, **more: Any) -> dict[str, Any]:
    return {"campaign_id": run.campaign_id, "run_id": run.id, "counts": counts_of(run), **more}


def claimed(before: Run, run: Run) -> None:
    """Log that this worker claimed ``run`` (``before``: the run as it was stored)."""
    if not logger.isEnabledFor(logging.DEBUG if before.streamed else logging.INFO):
        return  # the counts for extra= are not worked out for nothing
    if before.started_at is None:
        logger.info(
            "run %s of campaign %s started (version %d, %s)",
            run.id,
            run.campaign_id,
            run.version,
            run.kind.value,
            extra=_extra(run, version=run.version, kind=run.kind.value),
        )
    elif not before.streamed:
        logger.info(
            "run %s of campaign %s resumed at audience position %d (version %d, %s)",
            run.id,
            run.campaign_id,
            run.position,
            run.version,
            run.kind.value,
            extra=_extra(run, version=run.version, kind=run.kind.value),
        )
    else:
        logger.debug(
            "run %s of campaign %s is due again (retries or queued messages)",
            run.id,
            run.campaign_id,
            extra=_extra(run),
        )


def batch_done(store: Store, run_id: str, number: int) -> None:
    """Log progress after batch ``number`` (1-based) of this stream of a run.

    Reads the run only when a line will be written.
    """
    level = logging.INFO if number % PROGRESS_EVERY == 0 else logging.DEBUG
    if not logger.isEnabledFor(level):
        return
    with store.unit_of_work() as uow:
        run = uow.runs.get(run_id)
    counts = counts_of(run)
    logger.log(
        level,
        "run %s of campaign %s: batch %d done, %d audience members processed "
        "(sent %d, failed %d, excluded %d, pending %d)",
        run.id,
        run.campaign_id,
        number,
        run.position,
        counts["sent"],
        counts["failed"],
        counts["excluded"],
        counts["pending"],
        extra=_extra(run, batch=number, position=run.position),
    )


def progress(callback: Progress, run: Run, total: int | None) -> None:
    """Call the host's progress callback; a bug in it is logged, never raised.

    Args:
        callback: The runner's ``progress``.
        run: The run as its last batch left it.
        total: Its audience size, if known.
    """
    try:
        callback(RunProgress(run.id, run.campaign_id, run.position, total, run.total()))
    except Exception:  # a progress bar's bug must not fail the run
        logger.exception("campaignkit progress callback %r failed", callback)


def paused(run: Run) -> None:
    """Log that the worker stopped between two batches of ``run`` and handed it back."""
    logger.info(
        "run %s of campaign %s paused at audience position %d: the worker is stopping; "
        "its lease is released, so the next worker resumes it at once",
        run.id,
        run.campaign_id,
        run.position,
        extra=_extra(run, position=run.position),
    )


def ended(run: Run) -> None:
    """Log a run's final status and counts."""
    if not logger.isEnabledFor(logging.INFO):
        return
    counts = counts_of(run)
    logger.info(
        "run %s of campaign %s ended %s: targeted %d, sent %d, failed %d, excluded %d",
        run.id,
        run.campaign_id,
        run.status.value,
        counts["targeted"],
        counts["sent"],
        counts["failed"],
        counts["excluded"],
        extra=_extra(run, status=run.status.value),
    )


def run_failed(run: Run) -> None:
    """Log a WARNING: ``run`` FAILED (its ``error`` says why)."""
    logger.warning(
        "run %s of campaign %s failed: %s",
        run.id,
        run.campaign_id,
        run.error,
        extra=_extra(run, error=run.error),
    )


def failed_entries(entries: Sequence[LedgerEntry]) -> list[tuple[LedgerEntry, str]]:
    """The entries recorded FAILED without a send (a template or profile that failed)."""
    return [(e, e.error or "") for e in entries if e.state is LedgerState.FAILED]


def failures(
    run_id: str, campaign_id: str, failed: Sequence[tuple[LedgerEntry | Message, str]]
) -> None:
    """Log one WARNING for a batch's permanent failures, naming the first few."""
    if not failed:
        return
    first = [
        {"profile_id": entry.profile_id, "action_id": entry.action_id, "error": error}
        for entry, error in failed[:FIRST_FAILURES]
    ]
    named = "; ".join(f"{f['profile_id']}: {f['error']}" for f in first)
    more = len(failed) - len(first)
    logger.warning(
        "run %s of campaign %s: %d message(s) failed permanently: %s%s",
        run_id,
        campaign_id,
        len(failed),
        named,
        f"; and {more} more (see the ledger)" if more else "",
        extra={
            "campaign_id": campaign_id,
            "run_id": run_id,
            "failed": len(failed),
            "failures": first,
        },
    )
