"""Engine tick cost with many idle campaigns vs few (in-memory store).

The due index should make a tick independent of idle campaigns: the ratio of
a tick over 100,000 campaigns (10 due) to one over 1,000 (10 due) should stay
near 1 (target <= 2). The 10 due campaigns go SCHEDULED -> LIVE; the others
are scheduled a year ahead. Run with ``nox -s bench``; never part of the test run.
"""

from __future__ import annotations

import time

import attrs

import campaignkit as ck
from campaignkit.domain.lifecycle import LifecycleRules, next_due
from campaignkit.testing import ManualClock
from campaignkit.testing.factories import EPOCH, make_campaign

DUE = 10


def build(total: int) -> ck.CampaignKit:
    clock = ManualClock(EPOCH)
    kit = ck.CampaignKit.in_memory(clock=clock)
    rules = LifecycleRules()
    with kit.store.unit_of_work() as uow:
        for i in range(total):
            start = EPOCH.add(hours=1) if i < DUE else EPOCH.add(days=365)
            campaign = make_campaign(f"c{i:06d}", status=ck.CampaignStatus.SCHEDULED)
            version = campaign.live_version
            assert version is not None
            campaign = attrs.evolve(
                campaign,
                activated_at=EPOCH,
                live_version=attrs.evolve(version, schedule=ck.Schedule(start=start)),
            )
            uow.campaigns.add(attrs.evolve(campaign, due_at=next_due(campaign, rules)))
    clock.set(EPOCH.add(hours=1))
    return kit


def time_tick(total: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        kit = build(total)
        started = time.perf_counter()
        report = kit.tick()
        best = min(best, time.perf_counter() - started)
        assert len(report.events) == DUE, report
    return best


def main() -> None:
    small = time_tick(1_000, repeat=5)
    large = time_tick(100_000, repeat=3)
    print(f"in-memory tick, 1,000 campaigns ({DUE} due):   {small * 1000:8.3f} ms")
    print(f"in-memory tick, 100,000 campaigns ({DUE} due): {large * 1000:8.3f} ms")
    print(f"ratio 100k/1k: {large / small:.2f} (target <= 2)")


if __name__ == "__main__":
    main()
