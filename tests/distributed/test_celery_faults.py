"""Fault injection: one sharded run delivered by 3 Celery prefork workers, on Redis and RabbitMQ.

Issue 15's acceptance suite for Celery, with the campaign and provider of
:mod:`tests.distributed.test_native_faults` (``PROFILES`` profiles here) and
the checks of :mod:`tests.distributed.checks`.

The shards go through ``campaignkit.celery.register(app, factory)``: a
scheduler process ticks the kit with the Celery submitter (it plans the run
and sends every free shard to the broker, again each time it looks at the
run, working none itself), and three ``celery worker`` nodes (prefork, one
pool process each, in process groups of their own) deliver them with the
kit :func:`celery_harness.make_kit` builds (system clock, shards of 1,000, a
lease of ``LEASE`` seconds, batches of 250). The broker is a server the test
starts itself on a free port, so restarting it disturbs nothing else.

Faults, drawn from ``SEED`` and printed:

1. A zombie: the provider SIGSTOPs one pool process in the middle of a
   batch; the test waits until its shard is taken over (the lease lapsed,
   the scheduler sent the shard again, another node claimed it) and a lease
   has passed, then SIGCONTs it. None of its writes under the lost epoch may
   be kept.
2. ``KILLS`` SIGKILLs every 0.5-2 s, of a pool process holding a shard when
   one does (else any): either the pool process alone (Celery starts a new
   one and, ``reject_on_worker_lost``, gives the message back to the broker)
   or its whole node (main and pool process; the test starts a new node).
3. One broker restart (SIGKILL, then the same command on the same port)
   after a kill drawn from the seed: Redis (no persistence) loses every
   message; RabbitMQ keeps its durable queue.

Then the checks of :func:`checks.check_delivery` (the run SUCCEEDED, one
ledger entry with an outcome per (action, profile), every send in the
provider's record with its one key, no zombie's write kept, shards = run =
reference run), and every message sent from a shard (none by the scheduler).

Sizes: ``CAMPAIGNKIT_CELERY_FAULT_PROFILES`` (default 20,000) and
``CAMPAIGNKIT_CELERY_FAULT_KILLS`` (default 3); ``nox -s faults`` runs the
issue's 200,000 profiles and 10 kills. The test process never sleeps: it
waits on processes (bounded) and polls the store.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Final

import pytest

from tests.distributed import celery_harness, checks, harness
from tests.distributed.celery_harness import Broker, Node
from tests.distributed.checks import SEED
from tests.integration import scale_celery_app
from tests.integration.test_scale_celery import needs

needs("celery")

PROFILES: Final = int(os.environ.get("CAMPAIGNKIT_CELERY_FAULT_PROFILES", "20000"))
KILLS: Final = int(os.environ.get("CAMPAIGNKIT_CELERY_FAULT_KILLS", "3"))
NODES: Final = 3
DEADLINE: Final = checks.deadline(PROFILES)
"""Seconds the scheduler ticks before it gives up (the test's bounds follow from it)."""
BROKER_START: Final = 60.0
"""Seconds a broker may take to accept connections (RabbitMQ takes about 4 here)."""

reference = functools.cache(checks.reference_counts)
"""The reference run's report: the same for both brokers (same size, same seed), run once."""


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Broker]:
    """A broker server of the test's own (skips without its program, fails under CI=true)."""
    kind: str = request.param
    problem = Broker.missing(kind)
    if problem is not None:
        message = f"{kind} broker: {problem}; the Celery fault suite starts its own server"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    directory = tmp_path / kind
    directory.mkdir()
    made = Broker(kind, directory)
    try:
        yield made
    finally:
        made.stop()


def test_celery_workers_deliver_exactly_once_through_kills_a_zombie_and_a_broker_restart(
    broker: Broker, postgres_dsn: str, postgres_schema: str, tmp_path: Path
) -> None:
    dsn, schema = postgres_dsn, postgres_schema
    started = time.monotonic()
    rng, seeded = checks.seed(dsn, schema, PROFILES)
    seeded_at = time.monotonic()
    restart_after = rng.randrange(KILLS)
    print(
        f"celery fault suite on {broker.kind} (port {broker.port}): {PROFILES} profiles, "
        f"{NODES} prefork nodes, {KILLS} kills, a broker restart after kill "
        f"{restart_after + 1}, seed {SEED}"
    )
    with checks.processes(tmp_path, dsn, schema) as group, ExitStack() as stack:
        provider = group.provider
        assert provider is not None
        broker_up = broker.start(BROKER_START, provider)
        pool = celery_harness.Pool(tmp_path / "pool.jsonl", "pool process")
        env = {
            **os.environ,
            scale_celery_app.BROKER: broker.url,
            scale_celery_app.QUEUE: f"ck-faults-{uuid.uuid4().hex[:12]}",
            scale_celery_app.FACTORY: celery_harness.FACTORY,
            **celery_harness.settings_env(group, pool.path),
        }
        nodes: list[Node] = []

        def start_node() -> Node:
            node = Node(env, tmp_path / f"node-{len(nodes)}.out")
            nodes.append(node)
            return node

        @stack.callback
        def end_nodes() -> None:
            for node in nodes:
                node.kill()

        for _ in range(NODES):
            start_node()
        scheduler = celery_harness.boot(
            "scheduler_main",
            [seeded.campaign_id, str(DEADLINE)],
            env,
            tmp_path / "scheduler.out",
        )
        stack.callback(celery_harness.end, scheduler)
        harness.activate(dsn, schema, seeded.campaign_id)
        activated_at = time.monotonic()
        watch = checks.Watch.open(stack, group, seeded.campaign_id)

        # 1. the zombie: a pool process stopped inside a batch, early in the run
        zombie = checks.stop_pool_zombie(rng, watch, pool, scheduler)
        zombie_parent, _ = pool.reported()[zombie.pid]
        zombie_node = next(n for n in nodes if n.pid == zombie_parent)

        # 2. while it is stopped: the kills, every 0.5-2 s, of a pool process holding a shard
        # (if any) or of its whole node; 3. the broker restart after one of them
        kills: list[str] = []
        restarted = ""
        for number in range(KILLS):
            victim = checks.pick_victim(rng, watch, pool, zombie, scheduler)
            if victim is None:
                break
            whole = rng.random() < 0.5
            node = next(n for n in nodes if n.pid == victim.parent)
            if whole:
                node.kill()
                start_node()
            else:
                os.kill(victim.pid, signal.SIGKILL)  # its node starts another pool process
            harness.wait_until(
                functools.partial(celery_harness.gone, victim.pid), 30, provider, "the victim dies"
            )
            what = f"node {node.pid}" if whole else "pool process"
            kills.append(f"{what} {victim.pid} after {victim.pause:.2f} s ({victim.held})")
            if number == restart_after:
                down = broker.restart(BROKER_START, provider)
                restarted = f"{broker.kind} down {down:.2f} s after kill {number + 1}"
        print(f"broker restart: {restarted or 'none (the run ended first)'}")
        checks.report_kills(kills, KILLS)
        assert restarted

        # the zombie's shard is taken over (its lease lapsed, the scheduler sent it again,
        # another node claimed it) and a lease has passed since the stop: wake it
        checks.await_takeover(zombie, watch, DEADLINE, scheduler)
        ended = zombie_node.tasks_ended()
        checks.wake(zombie)
        code = scheduler.wait(timeout=DEADLINE + 30)
        out = (tmp_path / "scheduler.out").read_text(encoding="utf-8", errors="replace")
        assert code == 0, f"the scheduler ended with {code}:\n{out[-3000:]}"
        refused = json.loads(out.strip().splitlines()[-1])["refused"]
        # the zombie's task has ended (whatever it sent after waking is in the record)
        harness.wait_until(
            lambda: zombie_node.tasks_ended() > ended, 60, provider, "the zombie's task ends"
        )
        lines = harness.read_record(group.record)
    delivered_at = time.monotonic()

    result = checks.check_delivery(
        group, seeded, lines, zombie, profiles=PROFILES, reference=reference, sender="the scheduler"
    )
    checked_at = time.monotonic()
    print(
        f"result on {broker.kind}: {result.summary()}; {len(pool.reported())} pool "
        f"processes, {refused} shard sends refused by the broker; seconds: seed "
        f"{seeded_at - started:.1f}, broker start {broker_up:.1f}, "
        f"delivery {delivered_at - activated_at:.1f}, checks and reference "
        f"{checked_at - delivered_at:.1f}, all {checked_at - started:.1f}"
    )
