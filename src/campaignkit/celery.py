"""Shard work on the host's Celery app (extra ``campaignkit[celery]``).

:func:`register` adds one task, ``campaignkit.work_shard``, to the host's
Celery app and returns a :class:`CelerySubmitter` to give the kit::

    # myshop/tasks.py: imported by the scheduling process and by every worker
    from celery import Celery
    import campaignkit.celery

    app = Celery("myshop", broker="redis://127.0.0.1:6379/0")  # or amqp://...
    shards = campaignkit.celery.register(app, "myshop.kits:make_kit")

    # the process that ticks the kit (kit.run_forever(), campaignkit worker)
    kit.shard_submitter = shards

    # the workers:  celery -A myshop.tasks worker

The task is registered with ``acks_late=True`` (the message is acknowledged
after the shard is done, so a worker that dies mid-shard leaves it to be
delivered again) and ``reject_on_worker_lost=True`` (a worker process killed
by a signal gives the message back to the broker instead of acknowledging
it), and the app's ``worker_prefetch_multiplier`` is set to 1 (a worker
holds one shard message at a time: the others stay with the broker for
idle workers). Configure the app before calling :func:`register`: a later
``config_from_object`` or a worker's ``--prefetch-multiplier`` would
override the prefetch.

Celery may run such a task twice (its documentation says so of
``acks_late``), and may lose one (a broker restarted without persistent
queues, a message expired): neither matters. The second run is just another
claim, which finds the shard done or leased and does nothing
(``work_shard`` returns False); a lost task leaves its shard free, or leased
until the lease lapses, and the worker that ticks the run next sends it
again. No chord and no result backend: completion is read from the shard
table (``kit.shards(run_id)``).

A message names the run and the shard only. The factory is the one given to
:func:`register` in the worker's own process, never read from the broker:
whoever can write to the broker cannot make a worker import another
function.
"""

from __future__ import annotations

import logging
import weakref
from typing import Final

try:
    from celery import Celery, Task
except ImportError as exc:  # the extra is missing
    from campaignkit.errors import MissingDependency

    raise MissingDependency("campaignkit.celery", "celery", "celery") from exc

from campaignkit.domain import checks
from campaignkit.scale.factory import factory_problems
from campaignkit.scale.submit import Failures, ShardFailure, work_shard_task

logger = logging.getLogger("campaignkit.scale")

TASK_NAME: Final = "campaignkit.work_shard"
"""The name of the shard task on the host's app."""

_registered: weakref.WeakKeyDictionary[Celery, CelerySubmitter] = weakref.WeakKeyDictionary()


class CelerySubmitter:
    """Sends ``campaignkit.work_shard(run_id, number)`` to the app's broker.

    A :class:`~campaignkit.scale.ShardSubmitter`: set it as
    ``kit.shard_submitter``. Made by :func:`register`.

    Args:
        task: The registered shard task.
        factory: The factory its workers build their kit with.

    Attributes:
        task: The registered ``campaignkit.work_shard`` task.
        factory: ``"package.module:function"``.
    """

    def __init__(self, task: Task[[str, int], bool], factory: str) -> None:
        self.task = task
        self.factory = factory
        self._failures = Failures()

    def submit(self, run_id: str, number: int) -> None:
        """Send the shard's task to the broker; never raises.

        A broker that cannot be reached (after Celery's own publish retries)
        is logged and kept in :attr:`failures`; the shard is left for the
        next claim.
        """
        try:
            self.task.apply_async((run_id, number))
        except Exception as exc:
            self._failures.record(run_id, number, exc, "could not be sent to the broker")

    @property
    def failures(self) -> list[ShardFailure]:
        """The latest sends the broker refused, oldest first."""
        return self._failures()

    def __repr__(self) -> str:
        return f"CelerySubmitter({self.task.app.main!r}, factory={self.factory!r})"


def register(app: Celery, factory: str) -> CelerySubmitter:
    """Register ``campaignkit.work_shard`` on ``app``; its submitter.

    Sets ``app.conf.worker_prefetch_multiplier = 1``. Registering again on
    the same app with the same factory returns the same submitter.

    Args:
        app: The host's Celery app (imported by its workers too).
        factory: ``"package.module:function"`` building the workers' kit
            (see :func:`campaignkit.scale.kit_for`).

    Returns:
        The submitter to set as ``kit.shard_submitter``.

    Raises:
        ValidationError: ``app`` is not a ``celery.Celery``, ``factory`` is
            not ``"package.module:function"``, or ``app`` has the task
            already with another factory.
    """
    problems = factory_problems(factory)
    given: object = app
    if not isinstance(given, Celery):
        problems.insert(0, f"app must be a celery.Celery, not {checks.describe(given)}")
    checks.raise_if(problems, "campaignkit.celery.register")
    known = _registered.get(app)
    if known is not None:
        if known.factory != factory:
            checks.raise_if(
                [
                    f"factory {factory!r}: app {app.main!r} has {TASK_NAME} already, "
                    f"with the factory {known.factory!r}"
                ],
                "campaignkit.celery.register",
            )
        return known

    def work_shard(run_id: str, number: int) -> bool:
        """Work shard ``number`` of run ``run_id`` with this worker's kit."""
        return work_shard_task(factory, run_id, number)

    app.conf.worker_prefetch_multiplier = 1
    task = app.task(
        name=TASK_NAME,
        acks_late=True,
        reject_on_worker_lost=True,
        ignore_result=True,
        shared=False,
    )(work_shard)
    submitter = CelerySubmitter(task, factory)
    _registered[app] = submitter
    logger.debug("registered %s on the Celery app %r (factory %s)", TASK_NAME, app.main, factory)
    return submitter
