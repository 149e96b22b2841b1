"""Run leases: one worker at a time delivers a run, and a live worker keeps it.

A worker claims a run by writing itself as ``lease_owner`` with an expiry
read from the clock. It renews the expiry **from the clock** at every batch
and, while it delivers, a heartbeat thread renews it every third of the lease
(so a channel call slower than the lease does not lose the run). Another
worker takes a run over only once its expiry has passed by the clock: the
owner is then truly gone (killed, or frozen longer than a lease). A worker
that finds another owner on its run writes nothing more (:class:`LeaseLost`).
"""

from __future__ import annotations

import datetime
import functools
import logging
import math
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import attrs
import pendulum

from campaignkit.clock import Clock
from campaignkit.concurrency import shared_units
from campaignkit.domain.copying import evolve
from campaignkit.domain.delivery import Run, RunStatus
from campaignkit.ports import Store, UnitOfWork

logger = logging.getLogger("campaignkit.delivery")


class LeaseLost(Exception):
    """This worker's lease on a run lapsed and another worker took the run over."""


_IDLE_SECONDS = 1.0
"""How long a heartbeat thread without runs waits for another before it ends.

Also the longest single wait of a thread with runs: a lease's interval is
waited in slices of at most this, so the thread notices within a slice that
its last run was dropped, without being woken for it.
"""


Renewal = Callable[["Leases"], bool]
"""Renews one lease with the worker's ``Leases``; False once it is lost."""


class _Heart:
    """One renewal thread, shared by the heartbeat blocks of one ``Leases``.

    It keeps leases by key: a run's id, or a shard's ``<run id>#<number>``.
    """

    def __init__(self, leases: Leases) -> None:
        # weak: a strong reference back would make every kit's Leases and _Heart a cycle
        # left for the garbage collector once the kit is dropped
        self._leases = weakref.ref(leases)
        self._wake = threading.Condition()
        self._runs: dict[str, Renewal] = {}
        self._blocks: dict[str, int] = {}  # heartbeat blocks open per key
        self._interval = 1.0
        self._thread: threading.Thread | None = None

    def keep(self, run_id: str, renewal: Renewal, interval: float) -> None:
        with self._wake:
            first = not self._runs
            self._runs[run_id] = renewal
            self._blocks[run_id] = self._blocks.get(run_id, 0) + 1
            self._interval = interval
            if self._thread is None:
                self._thread = threading.Thread(target=self._beat, daemon=True)
                self._name()
                self._thread.start()
            else:
                self._name()
            if first and interval < 2 * _IDLE_SECONDS:
                # a short lease cannot wait for the idle thread's next wake-up; a longer
                # one can (renewed within a second plus an interval, at most half of the
                # lease of three intervals, leaving the other half for a renewal that
                # waits behind a busy store), and waking a thread per run cost more
                # than a whole API trigger
                self._wake.notify()

    def drop(self, run_id: str) -> None:
        with self._wake:
            left = self._blocks.get(run_id, 1) - 1
            if left > 0:  # another block keeps this run too (one kit, two threads)
                self._blocks[run_id] = left
                return
            self._blocks.pop(run_id, None)
            self._runs.pop(run_id, None)
            self._name()  # the thread notices within a slice of its wait (never woken for it)

    def _name(self) -> None:
        if self._thread is not None:
            self._thread.name = "campaignkit-lease-" + ("+".join(self._runs) or "idle")

    def _beat(self) -> None:
        waited = 0  # slices of the current interval waited so far
        while True:
            with self._wake:
                if not self._runs:
                    waited = 0
                    self._wake.wait(_IDLE_SECONDS)
                    if not self._runs:
                        self._thread = None
                        return
                slices = max(1, math.ceil(self._interval / _IDLE_SECONDS))
                self._wake.wait(self._interval / slices)
                waited += 1
                if waited < slices or not self._runs:
                    continue  # an early wake-up (a notify) only renews earlier
                waited = 0
                runs = list(self._runs.items())
            for run_id, renewal in runs:
                try:
                    leases = self._leases()
                    kept = leases is not None and renewal(leases)
                except Exception:  # a busy or closed store: try again at the next beat
                    logger.warning("could not renew the lease of %s", run_id, exc_info=True)
                    continue
                if not kept:
                    with self._wake:
                        if self._runs.get(run_id) is renewal:
                            del self._runs[run_id]
                            self._name()


@attrs.frozen
class Leases:
    """Reads, checks and renews the leases of one worker.

    Attributes:
        worker: This worker's id (``Run.lease_owner``).
        clock: Where lease times are read; never the tick's instant, which may
            be long past by the time a batch ends.
        length: How long a lease lasts after each renewal.
    """

    worker: str
    clock: Clock
    length: pendulum.Duration
    _heart: _Heart = attrs.field(
        init=False,
        eq=False,
        repr=False,
        default=attrs.Factory(_Heart, takes_self=True),
    )
    _span: datetime.timedelta = attrs.field(
        init=False,
        eq=False,
        repr=False,
        default=attrs.Factory(
            lambda self: datetime.timedelta(
                days=self.length.days,
                seconds=self.length.seconds,
                microseconds=self.length.microseconds,
            ),
            takes_self=True,
        ),
    )

    def expiry(self) -> pendulum.DateTime:
        """When a lease renewed now expires."""
        now = self.clock.now()
        if now.tzinfo is pendulum.UTC:  # plain datetime arithmetic: a 15th of pendulum's cost
            return datetime.datetime.__add__(now, self._span)
        return now + self.length

    def claimed(self, run: Run, now: pendulum.DateTime) -> Run:
        """``run`` claimed by this worker at ``now``: RUNNING, with a lease from the clock.

        The run is due again when the lease lapses, in case this worker dies.
        """
        expires = self.expiry()
        return evolve(
            run,
            status=RunStatus.RUNNING,
            started_at=run.started_at or now,
            lease_owner=self.worker,
            lease_expires_at=expires,
            due_at=expires,
        )

    def held_elsewhere(self, run: Run) -> bool:
        """True while another worker's lease on ``run`` has not expired by the clock."""
        expires = run.lease_expires_at
        return (
            run.lease_owner not in (None, self.worker)
            and expires is not None
            and expires > self.clock.now()
        )

    def owned(self, uow: UnitOfWork, run_id: str) -> Run:
        """The run, if this worker still holds its lease; else ``LeaseLost`` (nothing written).

        A worker whose lease lapsed and whose run another worker took over
        must not record outcomes or counts: the new owner re-sends with the
        same idempotency keys and records them.
        """
        run = uow.runs.get(run_id)
        if run.lease_owner != self.worker:
            raise LeaseLost(run_id)
        return run

    def renew(self, store: Store, run_id: str) -> bool:
        """Extend this worker's lease on ``run_id`` from the clock; False if it is lost."""
        with shared_units(), store.unit_of_work() as uow:  # beside the delivery's own units
            run = uow.runs.get(run_id)
            if run.lease_owner != self.worker or run.status.is_final:
                return False
            expires = self.expiry()
            uow.runs.save(evolve(run, lease_expires_at=expires, due_at=expires))
        return True

    @contextmanager
    def heartbeat(self, store: Store, run_id: str, *, enabled: bool = True) -> Iterator[None]:
        """Renew the lease on ``run_id`` every third of a lease while the block runs.

        The renewals run on this worker's heartbeat thread, each in its own unit
        of work (the stores serialize units across threads). The thread is
        started by the first block and shared by the blocks that follow (starting
        a thread per run cost more than a whole API trigger); it is named after
        the runs it keeps (``campaignkit-lease-<run id>``), stops renewing a run
        when its block ends, however it ends, or once the lease is lost, and ends
        after a second without runs.
        """
        with self.keep_alive(run_id, functools.partial(_renew_run, store, run_id), enabled=enabled):
            yield

    @contextmanager
    def keep_alive(self, key: str, renewal: Renewal, *, enabled: bool = True) -> Iterator[None]:
        """Call ``renewal`` every third of a lease on the heartbeat thread while the block runs.

        :meth:`heartbeat` for any lease: a run's, or a shard's
        (:class:`campaignkit.delivery.shards.ShardWork`). ``key`` names the
        lease (and the thread); ``renewal`` returning False stops its renewals.
        """
        if not enabled:
            yield
            return
        heart = self._heart
        heart.keep(key, renewal, max(self.length.total_seconds() / 3, 0.001))
        try:
            yield
        finally:
            heart.drop(key)


def _renew_run(store: Store, run_id: str, leases: Leases) -> bool:
    return leases.renew(store, run_id)
