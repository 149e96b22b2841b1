"""What the executor fault suite adds to :mod:`tests.distributed.harness`: a Dask head process.

- The workers' kit factory is :func:`celery_harness.make_kit`
  (``"tests.distributed.celery_harness:make_kit"``, :data:`FACTORY`): the same
  kit as the Celery workers' (system clock, the provider's channel, the
  settings of ``celery_harness.ENV``); each Dask worker process builds one at
  its first task and appends ``{"pid", "parent", "worker"}`` to
  ``$CK_FAULT_PIDS`` (its parent is the head: a ``LocalCluster`` runs its
  nannies in the process that made it).
- :func:`scheduler_main`: the head process. It starts a Dask
  ``LocalCluster(n_workers=3, threads_per_worker=1, processes=True)`` (every
  worker under a nanny, which starts a new worker process when one dies) and
  ticks a kit built with ``executor=client.get_executor()`` and that factory:
  it plans the run and submits every free shard, again each time it looks at
  the run, working none itself. It prints the worker pids first, then, once
  the run is final and every task submitted has ended, what became of them.
- :func:`ready`: the worker pids the head printed at the start. The test reads
  which worker process holds which shard with :class:`celery_harness.Pool`.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from campaignkit.scale import ExecutorSubmitter
from tests.distributed import celery_harness, harness

FACTORY: Final = celery_harness.FACTORY
BOOT: Final = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from tests.distributed.executor_harness import {name}; {name}(sys.argv[2:])"
)
DRAIN: Final = 60.0
"""Seconds the head waits, once the run is final, for the tasks still out to end."""


def scheduler_main(argv: Sequence[str]) -> None:
    """The head: a Dask cluster of ``workers`` processes and a kit ticking until the run is final.

    Arguments: campaign id, deadline seconds, number of workers (the rest
    comes from ``celery_harness.ENV``). Prints ``{"workers": [pids]}`` once the
    cluster is up; exits 0 once the run is final and the tasks still out have
    ended (within :data:`DRAIN`), printing ``{"failed", "outstanding"}``
    last (tasks that failed, those still out); 3 at the deadline.
    """
    from distributed import Client, LocalCluster  # the optional engine: imported here

    campaign_id, deadline, workers = argv
    until = time.monotonic() + float(deadline)
    idle = threading.Event()
    with (
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=int(workers),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
        ) as cluster,
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):
        pids = [int(pid) for pid in client.run(os.getpid).values()]
        print(json.dumps({"workers": pids}), flush=True)
        # celery_harness.make_kit's kit, handing its shards to the cluster
        kit = celery_harness.env_kit(client.get_executor(), FACTORY)
        submitter = kit.shard_submitter
        assert isinstance(submitter, ExecutorSubmitter)
        with kit:
            while time.monotonic() < until:
                kit.tick()
                run = harness.find_run(kit, campaign_id)
                if run is not None and run.status.is_final:
                    submitter.wait(DRAIN)  # the zombie's first task, the no-op repeats
                    failed = len(submitter.failures)
                    found = {"failed": failed, "outstanding": submitter.outstanding}
                    print(json.dumps(found), flush=True)
                    sys.exit(0)
                idle.wait(harness.IDLE)
    sys.exit(3)


def ready(out: Path) -> list[int] | None:
    """The worker pids the head printed at the start (None: its cluster is not up yet)."""
    if not out.exists():
        return None
    for text in out.read_text(encoding="utf-8", errors="replace").splitlines():
        if text.startswith('{"workers"'):
            return [int(pid) for pid in json.loads(text)["workers"]]
    return None
