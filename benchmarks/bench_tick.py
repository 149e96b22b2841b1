"""Engine tick cost with many idle campaigns vs few, on the in-memory and SQLite stores.

The due index should make a tick independent of idle campaigns: the ratio of
a tick over 100,000 campaigns (10 due) to one over 1,000 (10 due) should stay
near 1 (target <= 2). The 10 due campaigns go SCHEDULED -> LIVE; the others
are scheduled a year ahead (a tenth of them recurring daily, so the index
holds occurrences too). Run with ``nox -s bench``; never part of the test run.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import attrs

import campaignkit as ck
from campaignkit.domain.lifecycle import LifecycleRules, next_due
from campaignkit.testing import ManualClock
from campaignkit.testing.factories import EPOCH, make_campaign

DUE = 10
DAILY = ck.Recurrence.daily(at="09:00")


def fill(kit: ck.CampaignKit, total: int) -> None:
    """Add ``total`` SCHEDULED campaigns, ``DUE`` of them due an hour after EPOCH."""
    rules = LifecycleRules()
    with kit.store.unit_of_work() as uow:
        for i in range(total):
            start = EPOCH.add(hours=1) if i < DUE else EPOCH.add(days=365)
            recurrence = DAILY if i >= DUE and i % 10 == 0 else None
            campaign = make_campaign(f"c{i:06d}", status=ck.CampaignStatus.SCHEDULED)
            version = campaign.live_version
            assert version is not None
            schedule = ck.Schedule(start=start, recurrence=recurrence)
            campaign = attrs.evolve(
                campaign, activated_at=EPOCH, live_version=attrs.evolve(version, schedule=schedule)
            )
            uow.campaigns.add(attrs.evolve(campaign, due_at=next_due(campaign, rules)))


def time_tick(make: Callable[[ManualClock], ck.CampaignKit], repeat: int) -> float:
    """Best time of one tick that moves the ``DUE`` campaigns live."""
    best = float("inf")
    for _ in range(repeat):
        clock = ManualClock(EPOCH.add(hours=1))
        with make(clock) as kit:
            started = time.perf_counter()
            report = kit.tick()
            best = min(best, time.perf_counter() - started)
            assert len(report.events) == DUE, report
    return best


def in_memory(total: int) -> Callable[[ManualClock], ck.CampaignKit]:
    def make(clock: ManualClock) -> ck.CampaignKit:
        kit = ck.CampaignKit.in_memory(clock=clock)
        fill(kit, total)
        return kit

    return make


def sqlite(total: int, folder: Path) -> Callable[[ManualClock], ck.CampaignKit]:
    """Build the file once; every repeat ticks a fresh copy of it."""
    template = folder / f"template-{total}.db"
    with ck.CampaignKit.sqlite(template, clock=ManualClock(EPOCH)) as kit:
        fill(kit, total)
    copies = iter(range(1_000))

    def make(clock: ManualClock) -> ck.CampaignKit:
        copy = folder / f"copy-{total}-{next(copies)}.db"
        shutil.copyfile(template, copy)
        return ck.CampaignKit.sqlite(copy, clock=clock)

    return make


def report(label: str, small: float, large: float) -> None:
    print(f"{label} tick, 1,000 campaigns ({DUE} due):   {small * 1000:8.3f} ms")
    print(f"{label} tick, 100,000 campaigns ({DUE} due): {large * 1000:8.3f} ms")
    print(f"{label} ratio 100k/1k: {large / small:.2f} (target <= 2)")


def main() -> None:
    report("in-memory", time_tick(in_memory(1_000), 5), time_tick(in_memory(100_000), 3))
    with tempfile.TemporaryDirectory() as folder:
        small = time_tick(sqlite(1_000, Path(folder)), 5)
        large = time_tick(sqlite(100_000, Path(folder)), 3)
    report("SQLite", small, large)


if __name__ == "__main__":
    main()
