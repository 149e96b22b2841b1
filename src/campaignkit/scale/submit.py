"""Handing shards to existing engines: any ``concurrent.futures.Executor``.

When the engine plans a run in shards (``DeliverySettings.shard_size``) on a
kit that has a :class:`ShardSubmitter`, it submits "work shard ``number`` of
run ``run_id``" for every free shard, and again for those still free each
time it looks at the run (a lease later). :class:`ExecutorSubmitter` sends
that to an executor: ``ProcessPoolExecutor``, Dask's
``Client.get_executor()``, loky. The task, :func:`work_shard_task`, rebuilds
the kit in the worker from the host's factory
(:func:`~campaignkit.scale.factory.kit_for`) and calls
``kit.work_shard(run_id, number)``.

Nothing here decides who does a shard: the store does. A claim takes a shard
only if it is free or its lease lapsed, so a task delivered twice, or a
shard another worker took first, does nothing the second time
(``work_shard`` returns False).

A failed task is not lost work: its failure is logged and kept in
:attr:`ExecutorSubmitter.failures`, and the shard stays in the store,
either never claimed (free) or claimed under a lease that lapses; the
worker that ticks the run next hands it over again. A submission the
executor refuses (shut down, broken pool) is logged and kept the same way,
and never raises into the engine.
"""

from __future__ import annotations

import collections
import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Final, Protocol

import attrs

from campaignkit.domain import checks
from campaignkit.scale.factory import factory_problems, kit_for

logger = logging.getLogger("campaignkit.scale")

KEPT_FAILURES: Final = 1000
"""How many of the latest failures a submitter keeps."""


class ShardSubmitter(Protocol):
    """Protocol: hands "work shard ``number`` of run ``run_id``" to other workers.

    The engine calls :meth:`submit` for each free shard of a run it plans,
    and again for those still free when it looks at the run a lease later.
    It must not block for long and should not raise: a shard nobody works is
    handed over again anyway.
    """

    def submit(self, run_id: str, number: int) -> None:
        """Have some worker call ``kit.work_shard(run_id, number)``."""
        ...


class SupportsSubmit(Protocol):
    """Protocol: what :class:`ExecutorSubmitter` needs of an executor (``submit``)."""

    def submit(self, fn: Callable[..., bool], /, *args: Any) -> Future[bool]:
        """Schedule ``fn(*args)``; a future of its result."""
        ...


def work_shard_task(factory: str, run_id: str, number: int, submission: str = "") -> bool:
    """Work one shard in this process: what an executor runs (picklable by name).

    Args:
        factory: ``"package.module:function"`` building the worker's kit
            (built once per process, see :func:`~campaignkit.scale.factory.kit_for`).
        run_id: The run.
        number: The shard's number.
        submission: Unused by the work: a token unique to each submission, so
            that an engine merging equal calls (Dask's ``Client.submit`` is
            ``pure=True`` by default: an equal call while the first is still
            held returns that first future) runs a shard handed over again
            instead of waiting on a task lost with a stalled worker.

    Returns:
        True if this call finished the shard; False if it was done or leased
        elsewhere (a redelivered task does nothing).

    Raises:
        ValidationError: the factory cannot be loaded or returned no kit, or
            ``run_id``/``number`` are malformed.
        NotFound: there is no such run.
    """
    del submission  # it only makes each submission a task of its own
    done = kit_for(factory).work_shard(run_id, number)
    logger.debug(
        "shard %d of run %s: %s", number, run_id, "finished here" if done else "left alone"
    )
    return done


def executor_problems(value: object, name: str = "executor") -> list[str]:
    """What is wrong with an executor argument (it needs a ``submit`` method)."""
    if callable(getattr(value, "submit", None)):
        return []
    return [
        f"{name} must be a concurrent.futures.Executor (or have submit()), "
        f"not {checks.describe(value)}"
    ]


@attrs.frozen
class ShardFailure:
    """A shard task that failed, or that the executor refused.

    Attributes:
        run_id: The run.
        number: The shard's number.
        error: What went wrong (the exception's type and message).
    """

    run_id: str
    number: int
    error: str


class Failures:
    """The latest shard tasks that failed or were refused, logged as they are kept.

    Shared by the submitters: a failure is logged at ERROR on
    ``campaignkit.scale`` (with the traceback when there is one) and kept,
    at most :data:`KEPT_FAILURES` of them, oldest dropped first.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: collections.deque[ShardFailure] = collections.deque(maxlen=KEPT_FAILURES)

    def record(self, run_id: str, number: int, error: BaseException | None, what: str) -> None:
        """Log and keep that shard ``number`` of ``run_id`` ``what`` (failed, was cancelled)."""
        detail = "cancelled" if error is None else f"{type(error).__name__}: {error}"
        with self._lock:
            self._kept.append(ShardFailure(run_id, number, detail))
        logger.error(
            "shard %d of run %s %s (%s); it is claimed again once free or its lease lapses",
            number,
            run_id,
            what,
            detail,
            exc_info=error,
            extra={"run_id": run_id, "shard": number},
        )

    def __call__(self) -> list[ShardFailure]:
        """The failures kept, oldest first."""
        with self._lock:
            return list(self._kept)


class ExecutorSubmitter:
    """Submits :func:`work_shard_task` to any ``concurrent.futures.Executor``.

    Args:
        executor: A ``ProcessPoolExecutor``, Dask's ``Client.get_executor()``,
            a loky executor, or anything with ``submit(fn, *args)`` returning
            a future. The submitter does not shut it down.
        factory: ``"package.module:function"``: how a worker rebuilds its kit.

    Raises:
        ValidationError: naming ``executor`` or ``factory``.
    """

    def __init__(self, executor: SupportsSubmit, factory: str) -> None:
        problems = executor_problems(executor) + factory_problems(factory)
        checks.raise_if(problems, "ExecutorSubmitter")
        self.executor = executor
        self.factory = factory
        self._lock = threading.Condition()
        self._outstanding = 0
        self._failures = Failures()

    def submit(self, run_id: str, number: int) -> None:
        """Submit ``work_shard_task(factory, run_id, number, token)``; never raises.

        Each submission has a token of its own, so a shard handed over again
        is a new task even on an engine that merges equal calls (Dask). An
        executor that refuses the task (shut down, broken) is logged and
        kept in :attr:`failures`; the shard is left for the next claim.
        """
        try:
            # a token of its own: Dask would merge it with an equal task still pending
            # (on a stalled worker, say) instead of running it again
            token = uuid.uuid4().hex
            future = self.executor.submit(work_shard_task, self.factory, run_id, number, token)
        except Exception as exc:
            self._failures.record(run_id, number, exc, "could not be submitted")
            return
        with self._lock:
            self._outstanding += 1
        future.add_done_callback(lambda done: self._done(run_id, number, done))

    def _done(self, run_id: str, number: int, future: Future[bool]) -> None:
        try:
            if future.cancelled():
                self._failures.record(run_id, number, None, "was cancelled")
                return
            error = future.exception()
            if error is not None:
                self._failures.record(run_id, number, error, "failed")
        finally:
            with self._lock:
                self._outstanding -= 1
                self._lock.notify_all()

    @property
    def failures(self) -> list[ShardFailure]:
        """The latest failed or refused tasks (at most :data:`KEPT_FAILURES`), oldest first."""
        return self._failures()

    @property
    def outstanding(self) -> int:
        """How many submitted tasks have not finished yet."""
        with self._lock:
            return self._outstanding

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every task submitted so far has finished (or failed).

        Args:
            timeout: The most seconds to wait; None waits as long as it takes.

        Returns:
            True if none is left; False if ``timeout`` passed first.
        """
        with self._lock:
            return self._lock.wait_for(lambda: self._outstanding == 0, timeout)

    def __repr__(self) -> str:
        return f"ExecutorSubmitter({self.executor!r}, factory={self.factory!r})"
