"""Fault injection: one sharded run delivered by 3 Celery prefork workers, on Redis and RabbitMQ.

Issue 15's acceptance suite for Celery, with the campaign, provider and
checks of :mod:`tests.distributed.test_native_faults`: on PostgreSQL, a
two-action campaign (email, SMS) goes to ``PROFILES`` profiles whose ids
have gaps, one in ``NO_SMS_EVERY`` without SMS consent; the provider process
takes 20 ms per batch and records every message it accepts (run, action,
profile, idempotency key, worker pid, shard, epoch) with an fsync per batch.

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

Then the checks of the native suite: the run SUCCEEDED; exactly one ledger
entry per (action, profile), each with an outcome; every SENT entry's
provider id names a record line with its key; every message sent is in the
record, any repeat with the same key; the zombie's lines under its lost
epoch are not what the ledger kept; the shards' counts = the run's = the
report of a single-process reference run.

Sizes: ``CAMPAIGNKIT_CELERY_FAULT_PROFILES`` (default 20,000) and
``CAMPAIGNKIT_CELERY_FAULT_KILLS`` (default 3); ``nox -s faults`` runs the
issue's 200,000 profiles and 10 kills. The test process never sleeps: it
waits on processes (bounded) and polls the store.
"""

from __future__ import annotations

import collections
import functools
import json
import os
import random
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Final

import pytest

import campaignkit as ck
from campaignkit.domain.delivery import idempotency_key
from campaignkit.domain.shards import Shard, total
from campaignkit.testing import ManualClock
from tests.distributed import celery_harness, harness
from tests.distributed.celery_harness import Broker, Node
from tests.distributed.test_native_faults import by_channel
from tests.integration import scale_celery_app
from tests.integration.test_scale_celery import needs
from tests.postgres_support import drop_schema, unique_schema

needs("celery")

PROFILES: Final = int(os.environ.get("CAMPAIGNKIT_CELERY_FAULT_PROFILES", "20000"))
KILLS: Final = int(os.environ.get("CAMPAIGNKIT_CELERY_FAULT_KILLS", "3"))
SEED: Final = int(os.environ.get("CAMPAIGNKIT_FAULT_SEED", "15"))
NODES: Final = 3
LEASE: Final = 2.5
BATCH: Final = 250
SHARD: Final = 1_000
DEADLINE: Final = 120 + PROFILES / 500
"""Seconds the scheduler ticks before it gives up (the test's bounds follow from it)."""
BROKER_START: Final = 60.0
"""Seconds a broker may take to accept connections (RabbitMQ takes about 4 here)."""


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


def _shards(kit: ck.CampaignKit, campaign_id: str) -> list[Shard]:
    run = harness.find_run(kit, campaign_id)
    return [] if run is None else kit.shards(run.id)


class Pool:
    """The pool processes that built a kit (from ``$CK_FAULT_PIDS``), by pid."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def reported(self) -> dict[int, tuple[int, str]]:
        """pid -> (its node's main pid, its kit's worker id), for every pool process so far."""
        if not self.path.exists():
            return {}
        found = {}
        for text in self.path.read_text(encoding="utf-8").splitlines():
            line = json.loads(text)
            found[int(line["pid"])] = (int(line["parent"]), str(line["worker"]))
        return found

    def running(self) -> dict[int, tuple[int, str]]:
        """The reported pool processes still alive."""
        return {pid: found for pid, found in self.reported().items() if celery_harness.alive(pid)}


@functools.cache
def reference_counts(dsn: str) -> dict[ck.ChannelType, tuple[int, int, int, int]]:
    """The report of one process delivering the same campaign whole (no shards, no faults).

    The same for both brokers (same size, same seed): run once per session.
    """
    schema = unique_schema()
    try:
        seeded = harness.seed_schema(dsn, schema, PROFILES, SEED)
        harness.activate(dsn, schema, seeded.campaign_id)
        channel = _Accepting()
        with ck.CampaignKit.postgres(
            dsn,
            schema=schema,
            clock=ck.SystemClock(),
            channels={harness.EMAIL: channel, harness.SMS: channel},
            delivery=ck.DeliverySettings(batch_size=BATCH),
        ) as kit:
            kit.tick()
            run = harness.find_run(kit, seeded.campaign_id)
            assert run is not None
            assert run.status is ck.RunStatus.SUCCEEDED, run
            return by_channel(kit, seeded.campaign_id)
    finally:
        drop_schema(dsn, schema)


class _Accepting:
    """The reference run's channel: accepts every message at once."""

    def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
        return [ck.Accepted(f"ref-{m.idempotency_key}") for m in messages]


def test_celery_workers_deliver_exactly_once_through_kills_a_zombie_and_a_broker_restart(
    broker: Broker, postgres_dsn: str, postgres_schema: str, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    dsn, schema = postgres_dsn, postgres_schema
    started = time.monotonic()
    seeded = harness.seed_schema(dsn, schema, PROFILES, SEED)
    seeded_at = time.monotonic()
    restart_after = rng.randrange(KILLS)
    print(
        f"celery fault suite on {broker.kind} (port {broker.port}): {PROFILES} profiles, "
        f"{NODES} prefork nodes, {KILLS} kills, a broker restart after kill "
        f"{restart_after + 1}, seed {SEED}"
    )
    with (
        harness.processes(
            tmp_path, dsn, schema, lease=LEASE, batch_size=BATCH, shard_size=SHARD, deadline=0
        ) as group,
        ExitStack() as stack,
    ):
        provider = group.provider
        assert provider is not None
        broker_up = broker.start(BROKER_START, provider)
        pool = Pool(tmp_path / "pool.jsonl")
        env = {
            **os.environ,
            scale_celery_app.BROKER: broker.url,
            scale_celery_app.QUEUE: f"ck-faults-{uuid.uuid4().hex[:12]}",
            scale_celery_app.FACTORY: celery_harness.FACTORY,
        }
        given = {"dsn": dsn, "schema": schema, "port": str(group.port), "pids": str(pool.path)}
        given |= {"lease": str(LEASE), "batch": str(BATCH), "shard": str(SHARD)}
        env |= {celery_harness.ENV[name]: value for name, value in given.items()}
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
        watcher = stack.enter_context(
            ck.CampaignKit.postgres(dsn, schema=schema, clock=ck.SystemClock())
        )

        # 1. the zombie: a pool process stopped inside a batch, early in the run
        harness.wait_until(lambda: bool(pool.running()), 60, scheduler, "a pool process works")
        zombie = rng.choice(sorted(pool.running()))
        zombie_parent, zombie_worker = pool.reported()[zombie]
        zombie_node = next(n for n in nodes if n.pid == zombie_parent)
        group.stop_at_next_batch(zombie)
        stop_waited = harness.wait_until(
            lambda: group.stopped() is not None, 60, scheduler, "the zombie stops"
        )
        stopped = group.stopped()
        assert stopped is not None
        lost_shard, lost_epoch = int(stopped["shard"]), int(stopped["epoch"])
        print(
            f"zombie: pool process {zombie} ({zombie_worker}) stopped in shard {lost_shard} "
            f"at epoch {lost_epoch} after {stop_waited:.1f} s"
        )

        # 2. while it is stopped: the kills, every 0.5-2 s, of a pool process holding a shard
        # (if any) or of its whole node; 3. the broker restart after one of them
        kills: list[str] = []
        restarted = ""
        for number in range(KILLS):
            pause = rng.uniform(0.5, 2.0)
            until = time.monotonic() + pause
            while time.monotonic() < until and scheduler.poll() is None:
                with suppress(subprocess.TimeoutExpired):
                    scheduler.wait(timeout=max(0.001, until - time.monotonic()))
            if scheduler.poll() is not None:
                break

            def others() -> dict[int, tuple[int, str]]:
                return {p: f for p, f in pool.running().items() if p != zombie}

            # a node started after a kill builds its pool process's kit at its first task
            harness.wait_until(
                lambda: bool(others()) or scheduler.poll() is not None,
                60,
                provider,
                "a pool process besides the zombie works",
            )
            running = others()
            if not running:
                break
            owners = {s.owner for s in _shards(watcher, seeded.campaign_id) if not s.done}
            holders = sorted(pid for pid, (_, worker) in running.items() if worker in owners)
            victim = rng.choice(holders or sorted(running))
            whole = rng.random() < 0.5
            node = next(n for n in nodes if n.pid == running[victim][0])
            if whole:
                node.kill()
                start_node()
            else:
                os.kill(victim, signal.SIGKILL)  # its node starts another pool process
            harness.wait_until(
                functools.partial(celery_harness.gone, victim), 30, provider, "the victim dies"
            )
            what = f"node {node.pid}" if whole else "pool process"
            held = "holding a shard" if holders else "holding no shard"
            kills.append(f"{what} {victim} after {pause:.2f} s ({held})")
            if number == restart_after:
                down = broker.restart(BROKER_START, provider)
                restarted = f"{broker.kind} down {down:.2f} s after kill {number + 1}"
        print(f"kills ({len(kills)}): {'; '.join(kills)}")
        print(f"broker restart: {restarted or 'none (the run ended first)'}")
        assert len(kills) == KILLS, "the run ended before every kill: make it larger"
        assert restarted

        # the zombie's shard is taken over (its lease lapsed, the scheduler sent it again,
        # another node claimed it) and a lease has passed since the stop: wake it
        def taken_over() -> bool:
            return _shards(watcher, seeded.campaign_id)[lost_shard].epoch > lost_epoch

        harness.wait_until(taken_over, DEADLINE, scheduler, "the zombie's shard is taken over")
        stop_at = float(stopped["at"])  # CLOCK_MONOTONIC: one clock for every process
        harness.wait_until(
            lambda: time.monotonic() - stop_at > LEASE + 0.1, 2 * LEASE, scheduler, "a lease"
        )
        stalled_for = time.monotonic() - stop_at
        ended = zombie_node.tasks_ended()
        os.kill(zombie, signal.SIGCONT)
        print(
            f"zombie woken {stalled_for:.1f} s after its stop (lease {LEASE} s), once its "
            "shard was taken over"
        )
        assert stalled_for > LEASE
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

    # the store: the run, its shards, the ledger
    with ck.CampaignKit.postgres(dsn, schema=schema, clock=ManualClock(harness.T0)) as kit:
        run = harness.find_run(kit, seeded.campaign_id)
        assert run is not None
        shards = _shards(kit, seeded.campaign_id)
        with kit.store.unit_of_work() as uow:
            ledger = list(uow.ledger.entries(run.id))
        counts = by_channel(kit, seeded.campaign_id)
    assert run.status is ck.RunStatus.SUCCEEDED, run.error
    actions = {e.action_id for e in ledger}
    assert len(actions) == 2

    # exactly one entry per (action, profile), each with its outcome
    assert len(ledger) == 2 * PROFILES
    assert {(e.action_id, e.profile_id) for e in ledger} == {
        (a, p) for a in actions for p in seeded.audience
    }
    states = collections.Counter(e.state for e in ledger)
    assert set(states) <= {ck.LedgerState.SENT, ck.LedgerState.EXCLUDED}, states
    assert states[ck.LedgerState.EXCLUDED] == len(seeded.no_sms)

    # the provider's record: every message sent is there, any repeat with its one key
    by_id = {line.provider_id: line for line in lines}
    keys: dict[tuple[str, str], set[str]] = collections.defaultdict(set)
    for line in lines:
        assert line.run_id == run.id
        assert line.key == idempotency_key(run.id, line.action_id, line.profile_id), line
        assert line.shard >= 0, f"sent outside a shard (by the scheduler?): {line}"
        keys[line.action_id, line.profile_id].add(line.key)
    assert all(len(found) == 1 for found in keys.values())
    sent = [e for e in ledger if e.state is ck.LedgerState.SENT]
    assert {(e.action_id, e.profile_id) for e in sent} == set(keys)
    for entry in sent:
        assert entry.provider_message_id is not None
        line = by_id[entry.provider_message_id]
        assert (line.action_id, line.profile_id) == (entry.action_id, entry.profile_id)
        assert line.epoch <= shards[line.shard].epoch
    copies = collections.Counter((line.action_id, line.profile_id) for line in lines)
    repeated = {pair: n for pair, n in copies.items() if n > 1}

    # the zombie: what it handed over at the stop and after, under its lost epoch, was not kept
    kept = {e.provider_message_id for e in sent}
    late = [
        line
        for line in lines[int(stopped["lines"]) :]
        if line.pid == zombie and (line.shard, line.epoch) == (lost_shard, lost_epoch)
    ]
    in_flight = lines[int(stopped["first"]) : int(stopped["lines"])]
    assert in_flight, "the provider recorded the zombie's stalled batch"
    assert {(line.pid, line.shard, line.epoch) for line in in_flight} == {
        (zombie, lost_shard, lost_epoch)
    }
    assert not {line.provider_id for line in [*late, *in_flight]} & kept
    assert all(copies[line.action_id, line.profile_id] >= 2 for line in in_flight)
    assert shards[lost_shard].epoch > lost_epoch
    assert shards[lost_shard].done

    # counts: shards = run = report = one process without shards or faults
    assert all(s.done for s in shards)
    assert run.counts == total(shards)
    assert sum(c.targeted for c in run.counts.values()) == 2 * PROFILES
    reference = reference_counts(dsn)
    assert counts == reference
    checked_at = time.monotonic()
    takeovers = sum(s.epoch - 1 for s in shards)
    print(
        f"result on {broker.kind}: SUCCEEDED, {len(ledger)} ledger entries ({dict(states)}), "
        f"{len(lines)} provider lines, {len(repeated)} messages handed over twice or more "
        f"(at most {max(repeated.values(), default=1)} times, each with its one key), "
        f"{takeovers} shard takeovers over {len(shards)} shards, {len(pool.reported())} pool "
        f"processes, zombie's late lines {len(late)} + stalled batch {len(in_flight)} "
        f"(none kept), {refused} shard sends refused by the broker; counts per channel "
        f"{counts} = reference; seconds: seed {seeded_at - started:.1f}, "
        f"broker start {broker_up:.1f}, "
        f"delivery {delivered_at - activated_at:.1f}, checks and reference "
        f"{checked_at - delivered_at:.1f}, all {checked_at - started:.1f}"
    )
