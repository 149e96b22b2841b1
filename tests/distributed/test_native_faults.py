"""Fault injection: one sharded run delivered by 3 native worker processes that die and stall.

Issue 15's acceptance suite for the native worker loop (``kit.tick()`` in a
loop, as ``campaignkit worker`` runs it). On PostgreSQL, a two-action
campaign (email, SMS) goes to ``PROFILES`` profiles whose ids have gaps; one
in ``NO_SMS_EVERY`` has no SMS consent. Three worker processes
(:func:`harness.worker_main`: system clock, shards of 1,000, a lease of
``LEASE`` seconds, batches of 250) send through :class:`harness.ProviderChannel`
to the provider process, which records every message it accepts (run,
action, profile, idempotency key, worker pid, shard, epoch) with an fsync per
batch and takes 20 ms per batch.

Faults, drawn from ``SEED`` and printed:

1. A zombie: the provider SIGSTOPs one worker in the middle of a batch (the
   batch recorded, its answer not yet read: the worker stalls in the channel
   call). The test waits until another worker has taken its shard over (the
   lease lapsed: the epoch moved on), then SIGCONTs it. Its outcomes for that
   batch must not be recorded: the ledger keeps the taker's re-send.
2. ``KILLS`` SIGKILLs of a random running worker, every 0.5-2 s, each
   replaced at once by a new worker.

Then the checks (:func:`checks.check_delivery`): the run SUCCEEDED; the
ledger holds exactly one entry per (action, profile), every one with an
outcome (SENT, or EXCLUDED for SMS without consent), none PENDING; every
SENT entry's provider id names a line of the record with the entry's key,
and every (action, profile) sent is in the record, any repeat with the same
key; none of the zombie's lines after it lost its shard is what the ledger
kept; the shards' counts sum to the run's, which equal the report of a
single-process reference run (no shards, no faults) of the same seed on a
fresh schema.

Sizes: ``CAMPAIGNKIT_FAULT_PROFILES`` (default 50,000) and
``CAMPAIGNKIT_FAULT_KILLS`` (default: 10 per 200,000 profiles, at least 3);
``nox -s faults`` runs the issue's 200,000 profiles and 10 kills. The test
process never sleeps: it waits on processes (bounded) and polls the store.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Final

from campaignkit.domain.shards import Shard
from tests.distributed import checks, harness
from tests.distributed.checks import LEASE, SEED

PROFILES: Final = int(os.environ.get("CAMPAIGNKIT_FAULT_PROFILES", "50000"))
KILLS: Final = int(os.environ.get("CAMPAIGNKIT_FAULT_KILLS", str(max(3, PROFILES // 20_000))))
WORKERS: Final = 3
DEADLINE: Final = checks.deadline(PROFILES)
"""Seconds a worker ticks before it gives up (the test's bounds follow from it)."""


def _holders(group: harness.Processes, shards: list[Shard]) -> list[subprocess.Popen[bytes]]:
    """The running workers that hold a shard (its lease in force, not done)."""
    owners = {s.owner for s in shards if not s.done}
    running = [p for p in group.running() if group.ready(p)]
    return [p for p in running if group.worker_id(p) in owners]


def test_native_workers_deliver_exactly_once_through_kills_and_a_zombie(
    postgres_dsn: str, postgres_schema: str, tmp_path: Path
) -> None:
    dsn, schema = postgres_dsn, postgres_schema
    started = time.monotonic()
    rng, seeded = checks.seed(dsn, schema, PROFILES)
    print(f"fault suite: {PROFILES} profiles, {WORKERS} workers, {KILLS} kills, seed {SEED}")
    with checks.processes(tmp_path, dsn, schema, DEADLINE) as group, ExitStack() as stack:
        for _ in range(WORKERS):
            group.start_worker(seeded.campaign_id)
        harness.activate(dsn, schema, seeded.campaign_id)
        watch = checks.Watch.open(stack, group, seeded.campaign_id)
        provider = watch.provider

        # 1. the zombie: stopped by the provider inside a batch, woken once its shard is taken
        stalled = rng.choice(group.workers)
        name = f"pid {stalled.pid} ({group.worker_id(stalled)})"
        zombie = checks.stop_zombie(watch, stalled.pid, name, provider)
        checks.await_takeover(zombie, watch, 10 * LEASE, provider)
        checks.wake(zombie)

        # 2. the kills, every 0.5-2 s, each of a worker holding a shard (if any), replaced
        kills: list[str] = []
        for _ in range(KILLS):
            pause = checks.pause(rng, lambda: next(iter(group.running()), None))
            running = group.running()
            if not running:
                break
            holders = _holders(group, watch.shards())
            victim = rng.choice(holders or running)
            victim.send_signal(signal.SIGKILL)
            assert victim.wait(timeout=30) == -signal.SIGKILL
            group.start_worker(seeded.campaign_id)
            held = "holding a shard" if holders else "holding no shard"
            kills.append(f"pid {victim.pid} after {pause:.2f} s ({held})")
        checks.report_kills(kills, KILLS)
        group.finish(DEADLINE + 30)
        lines = harness.read_record(group.record)
    delivered = time.monotonic() - started

    result = checks.check_delivery(group, seeded, lines, zombie, profiles=PROFILES)
    print(f"result: {result.summary()}; {delivered:.1f} s seed + delivery")
