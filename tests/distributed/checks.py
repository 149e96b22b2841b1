"""What the three fault suites of one sharded run share: their sizes, their zombie, their checks.

The native, Celery and Dask executor suites (``test_native_faults``,
``test_celery_faults``, ``test_executor_faults``) deliver the same campaign
(:func:`harness.seed_schema`) through different engines with the same
faults; what differs is only how each starts its workers and which process
it kills. This module holds the rest:

- the settings every suite runs with (:data:`SEED`, :data:`LEASE`,
  :data:`BATCH`, :data:`SHARD`, :func:`deadline`), its seeded schema and
  draws (:func:`seed`), its provider (:func:`processes`) and the kit that
  watches the run's shards (:class:`Watch`);
- the zombie (:func:`stop_zombie`, :func:`stop_pool_zombie`,
  :func:`await_takeover`, :func:`wake`): the provider SIGSTOPs a worker
  inside a batch, the test waits until its shard is taken over and a lease
  has passed since the stop, then SIGCONTs it;
- the kills' pacing (:func:`pause`), the victim drawn among the processes a
  Celery or Dask suite reports (:func:`pick_victim`) and the printed list of
  kills (:func:`report_kills`);
- the pass criteria (:func:`check_delivery`): the run SUCCEEDED; exactly one
  ledger entry per (action, profile), each with an outcome; every SENT
  entry's provider id names a record line with its key; every message sent
  is in the record, any repeat with the same key; the zombie's lines under
  its lost epoch are not what the ledger kept; the shards' counts = the
  run's = the report of a single-process reference run
  (:func:`reference_counts`).
"""

from __future__ import annotations

import collections
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, ExitStack, suppress
from pathlib import Path
from typing import Final

import attrs

import campaignkit as ck
from campaignkit.domain.delivery import idempotency_key
from campaignkit.domain.shards import Shard, total
from campaignkit.testing import ManualClock
from tests.distributed import celery_harness, harness
from tests.postgres_support import drop_schema, unique_schema

SEED: Final = int(os.environ.get("CAMPAIGNKIT_FAULT_SEED", "15"))
LEASE: Final = 2.5
BATCH: Final = 250
SHARD: Final = 1_000

Counts = dict[ck.ChannelType, tuple[int, int, int, int]]
"""A campaign's report as (targeted, sent, excluded, failed) per channel."""


def deadline(profiles: int) -> float:
    """Seconds the delivering processes tick before they give up (the test's bounds follow)."""
    return 120 + profiles / 500


def shards(kit: ck.CampaignKit, campaign_id: str) -> list[Shard]:
    """The shards of the campaign's run, as stored now (none before it is planned)."""
    run = harness.find_run(kit, campaign_id)
    return [] if run is None else kit.shards(run.id)


def seed(dsn: str, schema: str, profiles: int) -> tuple[random.Random, harness.Seeded]:
    """A suite's draws of faults and its schema (:func:`harness.seed_schema`), both from SEED."""
    return random.Random(SEED), harness.seed_schema(dsn, schema, profiles, SEED)


def processes(
    directory: Path, dsn: str, schema: str, deadline: float = 0
) -> AbstractContextManager[harness.Processes]:
    """:func:`harness.processes` with the suites' settings (a started provider)."""
    return harness.processes(
        directory, dsn, schema, lease=LEASE, batch_size=BATCH, shard_size=SHARD, deadline=deadline
    )


@attrs.frozen
class Watch:
    """The run under test: its provider's processes and a kit that watches its shards.

    Attributes:
        group: The provider (and a native suite's workers).
        kit: A kit on the schema and the system clock.
        campaign_id: The campaign.
    """

    group: harness.Processes
    kit: ck.CampaignKit
    campaign_id: str

    @classmethod
    def open(cls, stack: ExitStack, group: harness.Processes, campaign_id: str) -> Watch:
        """A watch on ``group``'s schema, its kit closed with ``stack``."""
        kit = ck.CampaignKit.postgres(group.dsn, schema=group.schema, clock=ck.SystemClock())
        return cls(group, stack.enter_context(kit), campaign_id)

    @property
    def provider(self) -> subprocess.Popen[bytes]:
        """The provider process (it must stay alive)."""
        provider = self.group.provider
        assert provider is not None
        return provider

    def shards(self) -> list[Shard]:
        """The run's shards as stored now."""
        return shards(self.kit, self.campaign_id)


# ---------------------------------------------------------------- the zombie


@attrs.frozen
class Zombie:
    """A worker process the provider stopped inside a batch.

    Attributes:
        pid: Its pid (the record's ``pid``).
        shard: The shard it was delivering.
        epoch: Its epoch of that shard (the one it loses).
        first: The record's line count before its stalled batch.
        lines: The record's line count after its stalled batch.
        at: When it was stopped (``CLOCK_MONOTONIC``: one clock for every process).
        waited: Seconds the test waited for the stop.
    """

    pid: int
    shard: int
    epoch: int
    first: int
    lines: int
    at: float
    waited: float


def stop_pool_zombie(
    rng: random.Random,
    watch: Watch,
    pool: celery_harness.Pool,
    waitable: subprocess.Popen[bytes],
) -> Zombie:
    """Once one of ``pool`` works, stop one drawn from ``rng`` (see :func:`stop_zombie`)."""
    harness.wait_until(lambda: bool(pool.running()), 60, waitable, f"a {pool.name} works")
    pid = rng.choice(sorted(pool.running()))
    _, worker = pool.reported()[pid]
    return stop_zombie(watch, pid, f"{pool.name} {pid} ({worker})", waitable)


def stop_zombie(watch: Watch, pid: int, name: str, waitable: subprocess.Popen[bytes]) -> Zombie:
    """Have the provider stop ``pid`` at its next batch; where it stopped (printed).

    Args:
        watch: The run.
        pid: The worker process to stop.
        name: What to call it in the printed line (``"pid 123 (worker-id)"``).
        waitable: A process that must stay alive meanwhile (:func:`harness.wait_until`).
    """
    group = watch.group
    group.stop_at_next_batch(pid)
    waited = harness.wait_until(
        lambda: group.stopped() is not None, 60, waitable, "the zombie stops"
    )
    stopped = group.stopped()
    assert stopped is not None
    zombie = Zombie(
        pid,
        int(stopped["shard"]),
        int(stopped["epoch"]),
        int(stopped["first"]),
        int(stopped["lines"]),
        float(stopped["at"]),
        waited,
    )
    print(
        f"zombie: {name} stopped in shard {zombie.shard} at epoch {zombie.epoch} "
        f"after {waited:.1f} s"
    )
    return zombie


def await_takeover(
    zombie: Zombie, watch: Watch, bound: float, waitable: subprocess.Popen[bytes]
) -> None:
    """Wait until the zombie's shard is taken over, then until a lease has passed since the stop.

    Its lease lapsed (the takeover says so) counting from its last renewal,
    before the stop; it stays stopped for longer than a lease counted from
    the stop too.
    """

    def taken_over() -> bool:
        return watch.shards()[zombie.shard].epoch > zombie.epoch

    harness.wait_until(taken_over, bound, waitable, "the zombie's shard is taken over")
    harness.wait_until(
        lambda: time.monotonic() - zombie.at > LEASE + 0.1, 2 * LEASE, waitable, "a lease"
    )


def wake(zombie: Zombie) -> None:
    """SIGCONT the zombie; it must have stalled for longer than a lease."""
    stalled_for = time.monotonic() - zombie.at
    os.kill(zombie.pid, signal.SIGCONT)
    print(
        f"zombie woken {stalled_for:.1f} s after its stop (lease {LEASE} s), once its "
        "shard was taken over"
    )
    assert stalled_for > LEASE


# ---------------------------------------------------------------- the kills


def pause(rng: random.Random, waitable: Callable[[], subprocess.Popen[bytes] | None]) -> float:
    """Draw a pause of 0.5-2 s and wait it out on ``waitable()`` (None: stop waiting)."""
    drawn = rng.uniform(0.5, 2.0)
    until = time.monotonic() + drawn
    process = waitable()
    while time.monotonic() < until and process is not None:
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.001, until - time.monotonic()))
        process = waitable()
    return drawn


def while_running(process: subprocess.Popen[bytes]) -> Callable[[], subprocess.Popen[bytes] | None]:
    """``process`` while it runs, then None (a ``waitable`` for :func:`pause`)."""
    return lambda: process if process.poll() is None else None


@attrs.frozen
class Victim:
    """A process to kill, reported in a :class:`celery_harness.Pool`.

    Attributes:
        pid: Its pid.
        parent: Its parent's pid (a Celery node's main process, a Dask head).
        pause: The seconds waited before it was drawn.
        held: ``"holding a shard"`` or ``"holding no shard"`` (none held one).
    """

    pid: int
    parent: int
    pause: float
    held: str


def pick_victim(
    rng: random.Random,
    watch: Watch,
    pool: celery_harness.Pool,
    zombie: Zombie,
    head: subprocess.Popen[bytes],
) -> Victim | None:
    """After a :func:`pause`, a process of ``pool`` besides the zombie, one holding a shard if any.

    Args:
        rng: The seeded draws (a pause, then the victim).
        watch: The run (who holds which shard).
        pool: The processes that built a kit.
        zombie: The stopped one, never drawn.
        head: The process handing the shards over (the scheduler, the Dask head).

    Returns:
        The victim; None once the head ended.
    """
    waited = pause(rng, while_running(head))
    if head.poll() is not None:
        return None

    def others() -> dict[int, tuple[int, str]]:
        return {p: f for p, f in pool.running().items() if p != zombie.pid}

    # a process started after a kill builds its kit at its first task
    harness.wait_until(
        lambda: bool(others()) or head.poll() is not None,
        60,
        watch.provider,
        f"a {pool.name} besides the zombie works",
    )
    running = others()
    if not running:
        return None
    owners = {s.owner for s in watch.shards() if not s.done}
    holders = sorted(pid for pid, (_, worker) in running.items() if worker in owners)
    victim = rng.choice(holders or sorted(running))
    held = "holding a shard" if holders else "holding no shard"
    return Victim(victim, running[victim][0], waited, held)


def report_kills(kills: Sequence[str], expected: int) -> None:
    """Print the kills done; there must be ``expected`` of them."""
    print(f"kills ({len(kills)}): {'; '.join(kills)}")
    assert len(kills) == expected, "the run ended before every kill: make it larger"


# ---------------------------------------------------------------- the checks


class _Accepting:
    """The reference run's channel: accepts every message at once."""

    def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
        return [ck.Accepted(f"ref-{m.idempotency_key}") for m in messages]


def by_channel(kit: ck.CampaignKit, campaign_id: str) -> Counts:
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


def reference_counts(dsn: str, profiles: int) -> Counts:
    """The report of one process delivering the same campaign whole (no shards, no faults)."""
    schema = unique_schema()
    try:
        seeded = harness.seed_schema(dsn, schema, profiles, SEED)
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


@attrs.frozen
class Delivered:
    """What :func:`check_delivery` found, for the suite's last line."""

    ledger: int
    states: dict[ck.LedgerState, int]
    lines: int
    repeated: dict[tuple[str, str], int]
    takeovers: int
    shards: int
    late: int
    in_flight: int
    counts: Counts

    def summary(self) -> str:
        """The result in one sentence (every check passed)."""
        return (
            f"SUCCEEDED, {self.ledger} ledger entries ({self.states}), "
            f"{self.lines} provider lines, {len(self.repeated)} messages handed over twice or "
            f"more (at most {max(self.repeated.values(), default=1)} times, each with its one "
            f"key), {self.takeovers} shard takeovers over {self.shards} shards, zombie's late "
            f"lines {self.late} + stalled batch {self.in_flight} (none kept); counts per "
            f"channel {self.counts} = reference"
        )


def check_delivery(
    group: harness.Processes,
    seeded: harness.Seeded,
    lines: Sequence[harness.Line],
    zombie: Zombie,
    *,
    profiles: int,
    reference: Callable[[str, int], Counts] | None = None,
    sender: str | None = None,
) -> Delivered:
    """Every pass criterion of a faulted run, on the store and the provider's record.

    Args:
        group: The run's processes (its database and schema).
        seeded: What :func:`harness.seed_schema` put there.
        lines: The provider's whole record.
        zombie: The stopped worker.
        profiles: How many profiles the campaign targets.
        reference: What computes the report of a reference run of the same
            campaign (default :func:`reference_counts`), called with the DSN
            and ``profiles`` once every other check passed.
        sender: A process that may not send (``"the head"``): every record line
            must then come from a shard. None: not checked.

    Returns:
        What was found, for the suite's last line.
    """
    # the store: the run, its shards, the ledger
    dsn, schema = group.dsn, group.schema
    with ck.CampaignKit.postgres(dsn, schema=schema, clock=ManualClock(harness.T0)) as kit:
        run = harness.find_run(kit, seeded.campaign_id)
        assert run is not None
        stored = shards(kit, seeded.campaign_id)
        with kit.store.unit_of_work() as uow:
            ledger = list(uow.ledger.entries(run.id))
        counts = by_channel(kit, seeded.campaign_id)
    assert run.status is ck.RunStatus.SUCCEEDED, run.error
    actions = {e.action_id for e in ledger}
    assert len(actions) == 2

    # exactly one entry per (action, profile), each with its outcome
    assert len(ledger) == 2 * profiles
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
        if sender is not None:
            assert line.shard >= 0, f"sent outside a shard (by {sender}?): {line}"
        keys[line.action_id, line.profile_id].add(line.key)
    assert all(len(found) == 1 for found in keys.values())
    sent = [e for e in ledger if e.state is ck.LedgerState.SENT]
    assert {(e.action_id, e.profile_id) for e in sent} == set(keys)
    for entry in sent:
        assert entry.provider_message_id is not None
        line = by_id[entry.provider_message_id]
        assert (line.action_id, line.profile_id) == (entry.action_id, entry.profile_id)
        assert line.epoch <= stored[line.shard].epoch
    copies = collections.Counter((line.action_id, line.profile_id) for line in lines)
    repeated = {pair: n for pair, n in copies.items() if n > 1}

    # the zombie: what it handed over at the stop and after, under its lost epoch, was not kept
    kept = {e.provider_message_id for e in sent}
    late = [
        line
        for line in lines[zombie.lines :]
        if line.pid == zombie.pid and (line.shard, line.epoch) == (zombie.shard, zombie.epoch)
    ]
    in_flight = lines[zombie.first : zombie.lines]
    assert in_flight, "the provider recorded the zombie's stalled batch"
    assert {(line.pid, line.shard, line.epoch) for line in in_flight} == {
        (zombie.pid, zombie.shard, zombie.epoch)
    }
    assert not {line.provider_id for line in [*late, *in_flight]} & kept
    assert all(copies[line.action_id, line.profile_id] >= 2 for line in in_flight)  # re-sent
    assert stored[zombie.shard].epoch > zombie.epoch
    assert stored[zombie.shard].done

    # counts: shards = run = report = one process without shards or faults
    assert all(s.done for s in stored)
    assert run.counts == total(stored)
    assert sum(c.targeted for c in run.counts.values()) == 2 * profiles
    assert counts == (reference or reference_counts)(dsn, profiles)
    return Delivered(
        ledger=len(ledger),
        states=dict(states),
        lines=len(lines),
        repeated=repeated,
        takeovers=sum(s.epoch - 1 for s in stored),
        shards=len(stored),
        late=len(late),
        in_flight=len(in_flight),
        counts=counts,
    )
