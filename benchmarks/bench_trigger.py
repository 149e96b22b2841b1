"""Durable API-trigger latency against one bare SQLite INSERT + COMMIT, in one run.

One round is what a transactional call costs end to end: ``trigger()`` for one
recipient (accept: idempotency record, execution, run), then the ``tick()``
that delivers it to a null channel and records the outcome. Each round is
timed on its own; after ``WARMUP`` unmeasured rounds, the MEDIAN of
``ROUNDS`` rounds is reported (a median is not moved by the odd WAL
checkpoint or garbage collection). Ratios use wall time, what a caller
waits for: a round is short, so its median is rarely one the scheduler
preempted (on a shared 2-core machine at load 4-5 the in-memory rounds
showed equal CPU and wall medians). CPU-time medians and ratios are printed
beside, in brackets: a wall median well above the CPU one means the trigger
waits (disk, locks), not that the machine was busy.

The floor is one ``INSERT`` + ``COMMIT`` (``BEGIN IMMEDIATE``) of one short row
on a WAL file (``synchronous=NORMAL``, like the kit's connection) in the same
directory, timed the same way (warm-up, then the median of ``ROUNDS``).

In memory, the median round is printed, and whether history slows it:
the median of the first ``ROUNDS`` measured rounds against the median of
``ROUNDS`` rounds measured after ``HISTORY`` more triggers.

Targets (issue 12): SQLite median / floor median <= 15; in memory
median(after history) / median(first) <= 1.5. Run with ``nox -s bench`` or
``python benchmarks/bench_trigger.py [rounds] [history]``.
"""

from __future__ import annotations

import gc
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pendulum

import campaignkit as ck
from campaignkit.testing import ManualClock, NullChannel

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 300
HISTORY = int(sys.argv[2]) if len(sys.argv) > 2 else 5_000
WARMUP = 20
T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
DURABLE_TARGET = 15.0
GROWTH_TARGET = 1.5


Seconds = tuple[float, float]
"""CPU and wall seconds."""


def median_of(rounds: int, one: Callable[[], object]) -> Seconds:
    """The median CPU and wall seconds of ``rounds`` calls of ``one``, each timed on its own."""
    cpu_samples, wall_samples = [], []
    for _ in range(rounds):
        cpu, wall = time.process_time(), time.perf_counter()
        one()
        cpu_samples.append(time.process_time() - cpu)
        wall_samples.append(time.perf_counter() - wall)
    return statistics.median(cpu_samples), statistics.median(wall_samples)


def floor(path: Path) -> Seconds:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    counter = iter(range(10**9))

    def insert() -> None:
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t (body) VALUES (?)", (f"message {next(counter)}",))
        db.execute("COMMIT")

    median_of(WARMUP, insert)
    gc.collect()
    result = median_of(ROUNDS, insert)
    db.close()
    return result


class Triggers:
    """An API-triggered transactional campaign, ready to be triggered round after round."""

    def __init__(self, kit: ck.CampaignKit) -> None:
        self.kit = kit
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        self.ada = kit.as_user("ada")
        surface = self.ada.create_surface(
            name="Reset",
            channel=ck.ChannelType.EMAIL,
            settings=ck.EmailSettings(sender="no-reply@example.com"),
            category=ck.Category.TRANSACTIONAL,
        )
        campaign = self.ada.create_campaign(
            name="Password reset",
            type=ck.CampaignType.API_TRIGGERED,
            category=ck.Category.TRANSACTIONAL,
            namespace="email",
            create_profiles=True,
            actions=[
                ck.Action(surface.id, ck.EmailContent(subject="Reset", html="{{ context.link }}"))
            ],
        )
        self.campaign_id = campaign.id
        self.ada.activate(campaign.id)
        kit.tick()
        self.count = 0

    def one(self) -> None:
        """Trigger one recipient and deliver it (one round)."""
        i = self.count
        self.ada.trigger(
            self.campaign_id,
            [
                ck.Recipient(
                    user_id=f"user{i}@example.com",
                    namespace="email",
                    context={"link": f"https://example.com/reset/{i}"},
                )
            ],
            request_id=f"req-{i}",
        )
        self.kit.tick()
        self.count += 1

    def close(self) -> None:
        """Check every round was sent, then close the kit."""
        sent = self.ada.report(self.campaign_id).sent
        assert sent == self.count, (sent, self.count)
        self.kit.close()


def measured(triggers: Triggers) -> Seconds:
    gc.collect()
    return median_of(ROUNDS, triggers.one)


def main() -> None:
    channels: dict[ck.ChannelType, ck.Channel] = {c: NullChannel() for c in ck.ChannelType}
    with tempfile.TemporaryDirectory() as folder:
        base = floor(Path(folder) / "floor.db")
        durable = Triggers(
            ck.CampaignKit.sqlite(Path(folder) / "kit.db", ManualClock(T0), channels)
        )
        median_of(WARMUP, durable.one)
        durable_median = measured(durable)
        durable.close()
    memory = Triggers(ck.CampaignKit.in_memory(ManualClock(T0), channels=channels))
    median_of(WARMUP, memory.one)
    first = measured(memory)
    for _ in range(HISTORY):
        memory.one()
    last = measured(memory)
    memory.close()
    durable_ratio = durable_median[1] / base[1]
    growth = last[1] / first[1]
    rows = [
        ("bare INSERT + COMMIT (WAL)", base),
        ("durable trigger + tick (SQLite)", durable_median),
        ("in-memory trigger + tick, first", first),
        (f"in-memory, after {HISTORY:,} more triggers", last),
    ]
    print(
        f"medians of {ROUNDS} rounds, each after {WARMUP} warm-up rounds; "
        "ratios of wall time, CPU time in brackets"
    )
    for name, (cpu, wall) in rows:
        print(f"{name:>40}: {wall * 1e6:9.1f} us wall  [{cpu * 1e6:9.1f} us CPU]")
    print(
        f"durable trigger / INSERT + COMMIT: {durable_ratio:.1f} "
        f"[{durable_median[0] / base[0]:.1f}] (target <= {DURABLE_TARGET})"
    )
    print(
        f"in-memory growth with history: {growth:.2f} [{last[0] / first[0]:.2f}] "
        f"(target <= {GROWTH_TARGET})"
    )
    met = durable_ratio <= DURABLE_TARGET and growth <= GROWTH_TARGET
    print(f"all targets met: {'yes' if met else 'no'}")


if __name__ == "__main__":
    main()
