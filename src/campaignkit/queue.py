"""API triggers delivered across workers by procrastinate, a PostgreSQL-native queue.

Extra ``campaignkit[queue]`` (SPEC section 16, issue 15 point 4). Opt in per
kit: once ``TriggerQueue(kit)`` has run on a ``CampaignKit.postgres`` kit,
accepting a unitary trigger (``trigger``, ``trigger_many``, the AJO verbs) is
one transaction that stores the execution under its request id, its run, and
a procrastinate job delivering that run; a worker process of any machine
takes the job and delivers the run through the kit's runner::

    kit = CampaignKit.postgres(dsn)
    queue = TriggerQueue(kit)  # procrastinate's schema is applied once
    ...
    queue.run_worker()  # in each worker process (or: python -m campaignkit.queue)

The job claims the run like the engine's tick does: a run already final, or
leased by another worker, makes it a no-op (a run leased elsewhere gets a
follow-up job at its lease's expiry), so a job delivered twice is only
another claim, and the ledger keeps one outcome per (run, action, profile).
The run stays due as before, so a kit that ticks delivers it too if no queue
worker ever comes. A worker killed mid-job leaves the job ``doing``:
:meth:`TriggerQueue.retry_stalled` (procrastinate's stalled-job recovery, by
worker heartbeat; run every minute by the workers themselves unless
``stalled_cron`` is None) hands it to another worker.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, Literal

import attrs
import pendulum

from campaignkit.concurrency import shared_units
from campaignkit.delivery import runlog
from campaignkit.domain import checks
from campaignkit.errors import ConflictError, MissingDependency, NotFound, StorageUnavailable
from campaignkit.scale.factory import load_factory

if TYPE_CHECKING:
    import procrastinate
    from procrastinate.job_context import JobContext

    from campaignkit.kit import CampaignKit

__all__ = ["Delivery", "TriggerQueue", "deliver", "main"]

logger = logging.getLogger("campaignkit.queue")

Outcome = Literal["delivered", "later", "final", "held", "missing", "failed"]

MAX_STALLED_AFTER: Final = 86_400.0
"""The longest ``stalled_after`` in seconds (a day)."""

RETRIED: Final = (StorageUnavailable,)
"""Errors after which procrastinate retries a job (the server was away)."""


@attrs.frozen
class Delivery:
    """What one trigger job did with its run.

    Attributes:
        run_id: The run.
        outcome: ``delivered`` (the run is final now), ``later`` (it has work
            due later: retries), ``final`` (it was final already: nothing
            done), ``held`` (another worker holds it), ``missing`` (no such
            run in this store), ``failed`` (it could not be claimed and was
            FAILED, as the tick does).
        again_at: When the run is due again (on the kit's clock), for
            ``later`` and ``held``; None otherwise.
    """

    run_id: str
    outcome: Outcome
    again_at: pendulum.DateTime | None = None


def deliver(kit: CampaignKit, run_id: str) -> Delivery:
    """Claim and deliver one run through the kit's runner, as the engine's tick does.

    Args:
        kit: The worker's kit.
        run_id: The run to deliver.

    Returns:
        What happened; a run another worker holds or that is final already is
        left alone.

    Raises:
        StorageUnavailable: the server cannot be reached (retry the job).
    """
    runner = kit.runner
    now = kit.clock.now()
    try:
        with shared_units(), kit.store.unit_of_work():
            claimed = runner.claim(run_id, now)
    except ConflictError:  # another worker wrote the run meanwhile: see how it is now
        claimed = None
    except StorageUnavailable:
        raise
    except NotFound:
        logger.warning("trigger job of run %s: no such run in this store; nothing done", run_id)
        return Delivery(run_id, "missing")
    except Exception as exc:  # rolled back: the run cannot be planned (no channel, ...)
        runner.unclaimable(run_id, now, exc)
        return Delivery(run_id, "failed")
    if claimed is not None:
        try:
            run = runner.deliver(run_id, claimed, now)
        except ConflictError:  # another worker took the run over meanwhile
            pass
        else:
            runlog.delivered(runner.observer, run)
            if run.status.is_final:
                return Delivery(run_id, "delivered")
            return Delivery(run_id, "later", run.due_at or now)
    with kit.store.unit_of_work() as uow:
        run = uow.runs.get(run_id)
    if run.status.is_final:
        return Delivery(run_id, "final")
    return Delivery(run_id, "held", run.due_at or now)


class TriggerQueue:
    """Queue a PostgreSQL kit's unitary triggers on procrastinate, and work that queue.

    Building it opts ``kit`` in: procrastinate's schema is applied in the
    store's schema if it is not there (once, under the store's advisory
    lock), and from then on each unitary trigger run the kit accepts is
    deferred as a job in the transaction that accepts it.

    Args:
        kit: A ``CampaignKit.postgres`` kit.
        max_attempts: How often a job is tried when the server was away (1 to 100).
        stalled_cron: When the workers hand the jobs of dead workers to live
            ones (a cron line; None: never, call :meth:`retry_stalled` yourself).
        stalled_after: Seconds without a heartbeat after which a worker is
            dead (above 0, at most a day; procrastinate's workers beat every
            10 s by default).

    Attributes:
        app: The procrastinate ``App`` holding the delivery task.
        kit: The kit it delivers with.

    Raises:
        MissingDependency: procrastinate is not installed.
        ValidationError: ``kit`` is not a PostgreSQL kit, or an argument is
            out of range (each named).
    """

    def __init__(
        self,
        kit: CampaignKit,
        *,
        max_attempts: int = 5,
        stalled_cron: str | None = "* * * * *",
        stalled_after: float = 30.0,
    ) -> None:
        try:
            import procrastinate  # noqa: PLC0415 - the optional extra
            from procrastinate import psycopg_connector  # noqa: PLC0415
        except ImportError as exc:
            raise MissingDependency("campaignkit.queue", "procrastinate", "queue") from exc
        from campaignkit.adapters.postgres import queue as pg_queue  # noqa: PLC0415

        checks.raise_if(_problems(max_attempts, stalled_cron, stalled_after), "TriggerQueue")
        pg_queue.enable(kit.store)
        store: Any = kit.store
        self.kit = kit
        self.stalled_after = stalled_after
        self._store = store
        schema_path = f"SET search_path TO {_identifier(store.schema)}"

        async def configure(connection: Any) -> None:
            await connection.execute(schema_path)
            await connection.commit()  # the pool takes idle connections only

        connector = psycopg_connector.PsycopgConnector(
            conninfo=store.database.pool.conninfo,
            configure=configure,
            min_size=1,
            max_size=3,
        )
        self.app: procrastinate.App = procrastinate.App(connector=connector)
        retry = procrastinate.RetryStrategy(
            max_attempts=max_attempts, exponential_wait=2, retry_exceptions=set(RETRIED)
        )
        self.app.task(name=pg_queue.TASK, queue=pg_queue.QUEUE, pass_context=True, retry=retry)(
            self._job
        )
        if stalled_cron is not None:
            recover = self.app.task(
                name="campaignkit.retry_stalled_triggers",
                queue=pg_queue.QUEUE,
                queueing_lock="campaignkit.retry_stalled_triggers",
                pass_context=True,
            )(self._recover)
            self.app.periodic(cron=stalled_cron)(recover)

    def _job(self, context: JobContext, run_id: str) -> str:
        """The delivery task: deliver the run; follow it up when it is due again."""
        done = deliver(self.kit, run_id)
        logger.info(
            "trigger job %s (worker %s): run %s %s",
            context.job.id,
            context.job.worker_id,
            run_id,
            done.outcome,
        )
        if done.again_at is not None:
            self.defer(run_id, done.again_at)
        return done.outcome

    async def _recover(self, context: JobContext, timestamp: int) -> list[int]:
        """The periodic task handing jobs of dead workers to live ones."""
        del context, timestamp
        return await self._retry_stalled(self.app, self.stalled_after)

    def defer(self, run_id: str, at: pendulum.DateTime | None = None) -> None:
        """Defer one more delivery job of ``run_id``, due at ``at`` on the kit's clock.

        Args:
            run_id: The run.
            at: When (None: now); the delay is taken on the kit's clock and
                counted from the server's ``now()``.

        Raises:
            ValidationError: ``run_id`` is not a non-empty string, or ``at``
                not an aware date-time.
        """
        from campaignkit.adapters.postgres import queue as pg_queue  # noqa: PLC0415

        checks.require_ids(run_id=run_id)
        problems: list[str] = []
        if at is not None:
            checks.aware_datetime(problems, "at", at)
        checks.raise_if(problems, "TriggerQueue.defer")
        delay = 0.0 if at is None else max(0.0, (at - self.kit.clock.now()).total_seconds())
        with self._store.unit_of_work():
            pg_queue.enqueue(self._store.database, run_id, delay)

    def run_worker(self, **options: Any) -> None:
        """Work the trigger queue in this process (procrastinate's ``App.run_worker``).

        Args:
            options: procrastinate's worker options (``wait=False`` returns once
                the queue is empty; ``name``, ``update_heartbeat_interval``...).
        """
        from campaignkit.adapters.postgres.queue import QUEUE  # noqa: PLC0415

        self.app.run_worker(queues=[QUEUE], **options)

    def retry_stalled(self, seconds_since_heartbeat: float | None = None) -> list[int]:
        """Hand the jobs of dead workers (no heartbeat for that long) to live ones.

        procrastinate's stalled-job recovery: each job left ``doing`` by a
        worker whose heartbeat is older than ``seconds_since_heartbeat``
        (default ``stalled_after``) goes back to ``todo``.

        Returns:
            The ids of the jobs handed back.

        Raises:
            ValidationError: ``seconds_since_heartbeat`` is not a number of
                seconds above 0 and at most a day.
        """
        after = self.stalled_after if seconds_since_heartbeat is None else seconds_since_heartbeat
        problems: list[str] = []
        checks.seconds(problems, "seconds_since_heartbeat", after, maximum=MAX_STALLED_AFTER)
        checks.raise_if(problems, "TriggerQueue.retry_stalled")

        async def run() -> list[int]:
            async with self.app.open_async() as app:
                return await self._retry_stalled(app, after)

        return asyncio.run(run())

    @staticmethod
    async def _retry_stalled(app: procrastinate.App, after: float) -> list[int]:
        from campaignkit.adapters.postgres.queue import QUEUE, TASK  # noqa: PLC0415

        stalled = await app.job_manager.get_stalled_jobs(
            queue=QUEUE, task_name=TASK, seconds_since_heartbeat=after
        )
        handed = []
        for job in stalled:
            await app.job_manager.retry_job(job)
            assert job.id is not None  # a stored job has one
            handed.append(job.id)
        if handed:
            logger.warning("handed trigger jobs %s of dead workers to live ones", handed)
        return handed


def _problems(max_attempts: object, stalled_cron: object, stalled_after: object) -> list[str]:
    """Every problem with the arguments of :class:`TriggerQueue` (empty if none)."""
    from croniter import croniter  # type: ignore[import-untyped]  # noqa: PLC0415 - procrastinate's

    problems: list[str] = []
    checks.whole_number(problems, "max_attempts", max_attempts, minimum=1, maximum=100)
    if stalled_cron is not None and (
        not isinstance(stalled_cron, str) or not croniter.is_valid(stalled_cron)
    ):
        problems.append(
            "stalled_cron must be a cron line such as '* * * * *' (every minute) or None, "
            f"not {checks.describe(stalled_cron)}"
        )
    checks.seconds(problems, "stalled_after", stalled_after, maximum=MAX_STALLED_AFTER)
    return problems


def _identifier(name: str) -> str:
    """``name`` quoted as a PostgreSQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m campaignkit.queue --factory pkg.mod:make_kit``: a trigger queue worker.

    Args:
        argv: The arguments (default: the command line's).
    """
    parser = argparse.ArgumentParser(
        prog="python -m campaignkit.queue",
        description="Deliver campaignkit's API triggers queued on procrastinate.",
    )
    parser.add_argument("--factory", required=True, help="pkg.module:function making the kit")
    parser.add_argument("--once", action="store_true", help="stop once the queue is empty")
    parser.add_argument("--name", default=None, help="the worker's name in logs")
    parsed = parser.parse_args(argv)
    kit = load_factory(parsed.factory)()
    try:
        TriggerQueue(kit).run_worker(wait=not parsed.once, name=parsed.name)
    finally:
        kit.close()


if __name__ == "__main__":  # pragma: no cover - python -m campaignkit.queue (a subprocess test)
    main()
