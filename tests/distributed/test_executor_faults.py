"""Fault injection: one sharded run delivered through a Dask executor of 3 worker processes.

Issue 15's acceptance suite for the executor engine
(``CampaignKit(..., executor=client.get_executor(), factory=...)``), with the
campaign, provider and checks of :mod:`tests.distributed.test_native_faults`
and :mod:`tests.distributed.test_celery_faults`: on PostgreSQL, a two-action
campaign (email, SMS) goes to ``PROFILES`` profiles whose ids have gaps, one
in ``NO_SMS_EVERY`` without SMS consent; the provider process takes 20 ms per
batch and records every message it accepts (run, action, profile,
idempotency key, worker pid, shard, epoch) with an fsync per batch.

A head process (:func:`executor_harness.scheduler_main`) starts a Dask
``LocalCluster(n_workers=3, threads_per_worker=1, processes=True)`` and ticks
a kit whose executor is its ``Client(...).get_executor()``: it plans the run
and submits every free shard (never claimed, or its lease lapsed), again
each time it looks at the run, working none itself. The worker processes
build their kit from ``"tests.distributed.celery_harness:make_kit"`` (system
clock, shards of 1,000, a lease of ``LEASE`` seconds, batches of 250).

Faults, drawn from ``SEED`` and printed:

1. A zombie: the provider SIGSTOPs one worker process in the middle of a
   batch; the test waits until its shard is taken over (the lease lapsed, the
   head submitted the shard again, another worker claimed it) and a lease
   has passed, then SIGCONTs it. None of its writes under the lost epoch may
   be kept. Dask itself sees nothing: the stopped worker's nanny is alive and
   its task stays "processing" there, so only the head's new submission
   brings the shard back (each submission is a task of its own: Dask would
   otherwise hand back the pending future of the equal call).
2. ``KILLS`` SIGKILLs every 0.5-2 s of a worker process, one holding a shard
   when one does (else any): its nanny starts a new one, and Dask runs the
   task it had on another worker (which finds the shard leased and does
   nothing: the head submits it again once its lease lapses).

There is no broker restart: a Dask cluster has no broker (the scheduler
holds the tasks in memory; the store holds the shards).

Then the checks of the other suites: the run SUCCEEDED; exactly one ledger
entry per (action, profile), each with an outcome; every SENT entry's
provider id names a record line with its key; every message sent is in the
record, any repeat with the same key; the zombie's lines under its lost
epoch are not what the ledger kept; the shards' counts = the run's = the
report of a single-process reference run.

A ``ProcessPoolExecutor`` is not a second engine here: a worker it loses to
SIGKILL breaks the whole pool (``BrokenProcessPool``: every task out fails,
every later submission is refused), so surviving kills would take the host
replacing its executor, which is not what this suite tests.

Sizes: ``CAMPAIGNKIT_DASK_FAULT_PROFILES`` (default 15,000) and
``CAMPAIGNKIT_DASK_FAULT_KILLS`` (default 3); ``nox -s faults`` runs the
issue's 200,000 profiles and 10 kills. Without Dask (``dask[distributed]``,
in the dev extra) the test skips with one line, and fails under CI=true. The
test process never sleeps: it waits on processes (bounded) and polls the
store.
"""

from __future__ import annotations

import collections
import functools
import importlib.util
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Final

import pytest

import campaignkit as ck
from campaignkit.domain.delivery import idempotency_key
from campaignkit.domain.shards import Shard, total
from campaignkit.testing import ManualClock
from tests.distributed import celery_harness, executor_harness, harness
from tests.distributed.executor_harness import Pool
from tests.distributed.test_native_faults import by_channel
from tests.postgres_support import drop_schema, unique_schema


def needs(module: str) -> None:
    """Skip without an optional test dependency (one line), except under CI=true (fail)."""
    if importlib.util.find_spec(module) is not None:
        return
    message = f"needs {module}: pip install -e '.[dev]' (it pins dask[distributed])"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message, allow_module_level=True)


needs("distributed")

PROFILES: Final = int(os.environ.get("CAMPAIGNKIT_DASK_FAULT_PROFILES", "15000"))
KILLS: Final = int(os.environ.get("CAMPAIGNKIT_DASK_FAULT_KILLS", "3"))
SEED: Final = int(os.environ.get("CAMPAIGNKIT_FAULT_SEED", "15"))
WORKERS: Final = 3
LEASE: Final = 2.5
BATCH: Final = 250
SHARD: Final = 1_000
DEADLINE: Final = 120 + PROFILES / 500
"""Seconds the head ticks before it gives up (the test's bounds follow from it)."""


def _shards(kit: ck.CampaignKit, campaign_id: str) -> list[Shard]:
    run = harness.find_run(kit, campaign_id)
    return [] if run is None else kit.shards(run.id)


def reference_counts(dsn: str) -> dict[ck.ChannelType, tuple[int, int, int, int]]:
    """The report of one process delivering the same campaign whole (no shards, no faults)."""
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


def test_dask_workers_deliver_exactly_once_through_kills_and_a_zombie(
    postgres_dsn: str, postgres_schema: str, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    dsn, schema = postgres_dsn, postgres_schema
    started = time.monotonic()
    seeded = harness.seed_schema(dsn, schema, PROFILES, SEED)
    seeded_at = time.monotonic()
    print(
        f"dask fault suite: {PROFILES} profiles, LocalCluster of {WORKERS} worker processes "
        f"(one thread each, under nannies), {KILLS} kills, no broker to restart, seed {SEED}"
    )
    with (
        harness.processes(
            tmp_path, dsn, schema, lease=LEASE, batch_size=BATCH, shard_size=SHARD, deadline=0
        ) as group,
        ExitStack() as stack,
    ):
        provider = group.provider
        assert provider is not None
        pool = Pool(tmp_path / "pool.jsonl")
        given = {"dsn": dsn, "schema": schema, "port": str(group.port), "pids": str(pool.path)}
        given |= {"lease": str(LEASE), "batch": str(BATCH), "shard": str(SHARD)}
        path = [str(harness.ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}  # for Dask's spawned workers
        env |= {celery_harness.ENV[name]: value for name, value in given.items()}
        out = tmp_path / "head.out"
        with out.open("wb") as sink:
            head = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    executor_harness.BOOT.format(name="scheduler_main"),
                    str(harness.ROOT),
                    seeded.campaign_id,
                    str(DEADLINE),
                    str(WORKERS),
                ],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # the head, its nannies and workers end together
            )
        stack.callback(celery_harness.end_group, head)

        def head_output() -> str:
            return out.read_text(encoding="utf-8", errors="replace")[-4000:]

        cluster_up = harness.wait_until(
            lambda: executor_harness.ready(out) is not None, 60, head, "the Dask cluster starts"
        )
        first = executor_harness.ready(out)
        assert first is not None, head_output()
        assert len(set(first)) == WORKERS, head_output()
        harness.activate(dsn, schema, seeded.campaign_id)
        activated_at = time.monotonic()
        watcher = stack.enter_context(
            ck.CampaignKit.postgres(dsn, schema=schema, clock=ck.SystemClock())
        )

        # 1. the zombie: a worker process stopped inside a batch, early in the run
        harness.wait_until(lambda: bool(pool.running()), 60, head, "a worker process works")
        zombie = rng.choice(sorted(pool.running()))
        _, zombie_worker = pool.reported()[zombie]
        group.stop_at_next_batch(zombie)
        stop_waited = harness.wait_until(
            lambda: group.stopped() is not None, 60, head, "the zombie stops"
        )
        stopped = group.stopped()
        assert stopped is not None
        lost_shard, lost_epoch = int(stopped["shard"]), int(stopped["epoch"])
        print(
            f"zombie: worker process {zombie} ({zombie_worker}) stopped in shard {lost_shard} "
            f"at epoch {lost_epoch} after {stop_waited:.1f} s"
        )

        # 2. while it is stopped: the kills, every 0.5-2 s, of a worker holding a shard (if
        # any); its nanny starts a new worker process
        kills: list[str] = []
        for _ in range(KILLS):
            pause = rng.uniform(0.5, 2.0)
            until = time.monotonic() + pause
            while time.monotonic() < until and head.poll() is None:
                with suppress(subprocess.TimeoutExpired):
                    head.wait(timeout=max(0.001, until - time.monotonic()))
            if head.poll() is not None:
                break

            def others() -> dict[int, tuple[int, str]]:
                return {p: f for p, f in pool.running().items() if p != zombie}

            # a restarted worker process builds its kit at its first task
            harness.wait_until(
                lambda: bool(others()) or head.poll() is not None,
                60,
                provider,
                "a worker process besides the zombie works",
            )
            running = others()
            if not running:
                break
            owners = {s.owner for s in _shards(watcher, seeded.campaign_id) if not s.done}
            holders = sorted(pid for pid, (_, worker) in running.items() if worker in owners)
            victim = rng.choice(holders or sorted(running))
            os.kill(victim, signal.SIGKILL)  # its nanny starts another worker process
            harness.wait_until(
                functools.partial(celery_harness.gone, victim), 30, provider, "the victim dies"
            )
            held = "holding a shard" if holders else "holding no shard"
            kills.append(f"worker process {victim} after {pause:.2f} s ({held})")
        print(f"kills ({len(kills)}): {'; '.join(kills)}")
        assert len(kills) == KILLS, "the run ended before every kill: make it larger"

        # the zombie's shard is taken over (its lease lapsed, the head submitted it again,
        # another worker claimed it) and a lease has passed since the stop: wake it
        def taken_over() -> bool:
            return _shards(watcher, seeded.campaign_id)[lost_shard].epoch > lost_epoch

        harness.wait_until(taken_over, DEADLINE, head, "the zombie's shard is taken over")
        stop_at = float(stopped["at"])  # CLOCK_MONOTONIC: one clock for every process
        harness.wait_until(
            lambda: time.monotonic() - stop_at > LEASE + 0.1, 2 * LEASE, head, "a lease"
        )
        stalled_for = time.monotonic() - stop_at
        os.kill(zombie, signal.SIGCONT)
        print(
            f"zombie woken {stalled_for:.1f} s after its stop (lease {LEASE} s), once its "
            "shard was taken over"
        )
        assert stalled_for > LEASE
        # the head ends once the run is final and every task out has ended (the zombie's too:
        # whatever it sent after waking is in the record)
        code = head.wait(timeout=DEADLINE + executor_harness.DRAIN + 30)
        assert code == 0, f"the head ended with {code}:\n{head_output()}"
        # what it printed last before closing its cluster (which logs on for a while)
        whole = out.read_text(encoding="utf-8", errors="replace").splitlines()
        ended = json.loads(next(t for t in reversed(whole) if t.startswith('{"failed"')))
        assert ended["outstanding"] == 0, ended
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
        assert line.shard >= 0, f"sent outside a shard (by the head?): {line}"
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
        f"result on dask: SUCCEEDED, {len(ledger)} ledger entries ({dict(states)}), "
        f"{len(lines)} provider lines, {len(repeated)} messages handed over twice or more "
        f"(at most {max(repeated.values(), default=1)} times, each with its one key), "
        f"{takeovers} shard takeovers over {len(shards)} shards, {len(pool.reported())} worker "
        f"processes, zombie's late lines {len(late)} + stalled batch {len(in_flight)} "
        f"(none kept), {ended['failed']} shard tasks failed (lost with a worker: handed over "
        f"again); counts per channel {counts} = reference; seconds: seed "
        f"{seeded_at - started:.1f}, cluster start {cluster_up:.1f}, "
        f"delivery {delivered_at - activated_at:.1f}, checks and reference "
        f"{checked_at - delivered_at:.1f}, all {checked_at - started:.1f}"
    )
