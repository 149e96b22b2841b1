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

Then the checks: the run SUCCEEDED; the ledger holds exactly one entry per
(action, profile), every one with an outcome (SENT, or EXCLUDED for SMS
without consent), none PENDING; every SENT entry's provider id names a line of
the record with the entry's key, and every (action, profile) sent is in the
record, any repeat with the same key; none of the zombie's lines after it
lost its shard is what the ledger kept; the shards' counts sum to the run's,
which equal the report of a single-process reference run (no shards, no
faults) of the same seed on a fresh schema.

Sizes: ``CAMPAIGNKIT_FAULT_PROFILES`` (default 50,000) and
``CAMPAIGNKIT_FAULT_KILLS`` (default: 10 per 200,000 profiles, at least 3);
``nox -s faults`` runs the issue's 200,000 profiles and 10 kills. The test
process never sleeps: it waits on processes (bounded) and polls the store.
"""

from __future__ import annotations

import collections
import os
import random
import signal
import subprocess
import time
from collections.abc import Sequence
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Final

import campaignkit as ck
from campaignkit.domain.delivery import idempotency_key
from campaignkit.domain.shards import Shard, total
from campaignkit.testing import ManualClock
from tests.distributed import harness
from tests.postgres_support import drop_schema, unique_schema

PROFILES: Final = int(os.environ.get("CAMPAIGNKIT_FAULT_PROFILES", "50000"))
KILLS: Final = int(os.environ.get("CAMPAIGNKIT_FAULT_KILLS", str(max(3, PROFILES // 20_000))))
SEED: Final = int(os.environ.get("CAMPAIGNKIT_FAULT_SEED", "15"))
WORKERS: Final = 3
LEASE: Final = 2.5
BATCH: Final = 250
SHARD: Final = 1_000
DEADLINE: Final = 120 + PROFILES / 500
"""Seconds a worker ticks before it gives up (the test's bounds follow from it)."""


def _shards(kit: ck.CampaignKit, campaign_id: str) -> list[Shard]:
    """The shards of the campaign's run, as stored now (none before it is planned)."""
    run = harness.find_run(kit, campaign_id)
    return [] if run is None else kit.shards(run.id)


def _holders(group: harness.Processes, shards: list[Shard]) -> list[subprocess.Popen[bytes]]:
    """The running workers that hold a shard (its lease in force, not done)."""
    owners = {s.owner for s in shards if not s.done}
    running = [p for p in group.running() if group.ready(p)]
    return [p for p in running if group.worker_id(p) in owners]


class _Accepting:
    """The reference run's channel: accepts every message at once."""

    def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
        return [ck.Accepted(f"ref-{m.idempotency_key}") for m in messages]


def reference_counts(dsn: str) -> dict[ck.ChannelType, tuple[int, int, int, int]]:
    """The report of one process delivering the same campaign whole, per channel."""
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


def by_channel(
    kit: ck.CampaignKit, campaign_id: str
) -> dict[ck.ChannelType, tuple[int, int, int, int]]:
    """The campaign's report as (targeted, sent, excluded, failed) per channel."""
    report = kit.as_user("ada").report(campaign_id)
    with kit.store.unit_of_work() as uow:
        version = uow.campaigns.get(campaign_id).live_version
        assert version is not None
        surfaces = {a.id: uow.surfaces.find(a.surface_id) for a in version.actions}
    channels = {a: s.channel for a, s in surfaces.items() if s is not None}
    return {
        channels[action_id]: (c.targeted, c.sent, c.excluded_total, c.failed)
        for action_id, c in report.by_action.items()
    }


def test_native_workers_deliver_exactly_once_through_kills_and_a_zombie(
    postgres_dsn: str, postgres_schema: str, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    dsn, schema = postgres_dsn, postgres_schema
    started = time.monotonic()
    seeded = harness.seed_schema(dsn, schema, PROFILES, SEED)
    print(f"fault suite: {PROFILES} profiles, {WORKERS} workers, {KILLS} kills, seed {SEED}")
    with (
        harness.processes(
            tmp_path,
            dsn,
            schema,
            lease=LEASE,
            batch_size=BATCH,
            shard_size=SHARD,
            deadline=DEADLINE,
        ) as group,
        ExitStack() as stack,
    ):
        provider = group.provider
        assert provider is not None
        for _ in range(WORKERS):
            group.start_worker(seeded.campaign_id)
        harness.activate(dsn, schema, seeded.campaign_id)
        watcher = stack.enter_context(
            ck.CampaignKit.postgres(dsn, schema=schema, clock=ck.SystemClock())
        )

        # 1. the zombie: stopped by the provider inside a batch, woken once its shard is taken
        zombie = rng.choice(group.workers)
        zombie_worker = group.worker_id(zombie)
        group.stop_at_next_batch(zombie.pid)
        stop_waited = harness.wait_until(
            lambda: group.stopped() is not None, 60, provider, "the zombie stops"
        )
        stopped = group.stopped()
        assert stopped is not None
        lost_shard, lost_epoch = int(stopped["shard"]), int(stopped["epoch"])

        def taken_over() -> bool:
            return _shards(watcher, seeded.campaign_id)[lost_shard].epoch > lost_epoch

        harness.wait_until(taken_over, 10 * LEASE, provider, "the zombie's shard is taken over")
        # its lease lapsed (the takeover says so) counting from its last renewal, before
        # the stop; it stays stopped for longer than a lease counted from the stop too
        stop_at = float(stopped["at"])  # CLOCK_MONOTONIC: one clock for every process
        harness.wait_until(
            lambda: time.monotonic() - stop_at > LEASE + 0.1, 2 * LEASE, provider, "a lease"
        )
        stalled_for = time.monotonic() - stop_at
        zombie.send_signal(signal.SIGCONT)
        print(
            f"zombie: pid {zombie.pid} ({zombie_worker}) stopped in shard {lost_shard} at "
            f"epoch {lost_epoch} after {stop_waited:.1f} s, woken {stalled_for:.1f} s later "
            f"(lease {LEASE} s), once the shard was taken over"
        )
        assert stalled_for > LEASE

        # 2. the kills, every 0.5-2 s, each of a worker holding a shard (if any), replaced
        kills: list[str] = []
        for _ in range(KILLS):
            pause = rng.uniform(0.5, 2.0)
            until = time.monotonic() + pause
            while time.monotonic() < until and group.running():
                with suppress(subprocess.TimeoutExpired):
                    group.running()[0].wait(timeout=max(0.001, until - time.monotonic()))
            running = group.running()
            if not running:
                break
            holders = _holders(group, _shards(watcher, seeded.campaign_id))
            victim = rng.choice(holders or running)
            victim.send_signal(signal.SIGKILL)
            assert victim.wait(timeout=30) == -signal.SIGKILL
            group.start_worker(seeded.campaign_id)
            held = "holding a shard" if holders else "holding no shard"
            kills.append(f"pid {victim.pid} after {pause:.2f} s ({held})")
        print(f"kills ({len(kills)}): {'; '.join(kills)}")
        assert len(kills) == KILLS, "the run ended before every kill: make it larger"
        group.finish(DEADLINE + 30)
        lines = harness.read_record(group.record)
    delivered = time.monotonic() - started

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
        if line.pid == zombie.pid and (line.shard, line.epoch) == (lost_shard, lost_epoch)
    ]
    in_flight = lines[int(stopped["first"]) : int(stopped["lines"])]
    assert {(line.pid, line.shard, line.epoch) for line in in_flight} == {
        (zombie.pid, lost_shard, lost_epoch)
    }
    assert in_flight, "the provider recorded the zombie's stalled batch"
    assert not {line.provider_id for line in [*late, *in_flight]} & kept
    assert all(
        copies[line.action_id, line.profile_id] >= 2 for line in in_flight
    )  # re-sent by the taker
    assert shards[lost_shard].epoch > lost_epoch
    assert shards[lost_shard].done

    # counts: shards = run = report = one process without shards or faults
    assert all(s.done for s in shards)
    assert run.counts == total(shards)
    assert sum(c.targeted for c in run.counts.values()) == 2 * PROFILES
    reference = reference_counts(dsn)
    assert counts == reference
    takeovers = sum(s.epoch - 1 for s in shards)
    print(
        f"result: SUCCEEDED, {len(ledger)} ledger entries ({dict(states)}), "
        f"{len(lines)} provider lines, {len(repeated)} messages handed over twice or more "
        f"(at most {max(repeated.values(), default=1)} times, each with its one key), "
        f"{takeovers} shard takeovers over {len(shards)} shards, zombie's late lines "
        f"{len(late)} + stalled batch {len(in_flight)} (none kept), "
        f"{delivered:.1f} s seed + delivery; counts per channel {counts} = reference"
    )
