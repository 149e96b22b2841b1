"""Scale-out: one run's shards worked by many processes on existing engines.

A kit built with ``executor=`` and ``factory=`` (or given a
:class:`ShardSubmitter`, such as :func:`campaignkit.celery.register`'s)
hands every shard of a run it plans to that engine; each worker rebuilds
its kit from the factory and calls ``kit.work_shard``. See docs/scale-out.md.
"""

from __future__ import annotations

from campaignkit.scale.factory import (
    KitFactory,
    build_kit,
    factory_problems,
    forget_kits,
    kit_for,
    load_factory,
)
from campaignkit.scale.submit import (
    ExecutorSubmitter,
    Failures,
    ShardFailure,
    ShardSubmitter,
    SupportsSubmit,
    executor_problems,
    work_shard_task,
)

__all__ = [
    "ExecutorSubmitter",
    "Failures",
    "KitFactory",
    "ShardFailure",
    "ShardSubmitter",
    "SupportsSubmit",
    "build_kit",
    "executor_problems",
    "factory_problems",
    "forget_kits",
    "kit_for",
    "load_factory",
    "work_shard_task",
]
