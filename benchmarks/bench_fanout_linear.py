"""In-memory fan-out time of 100,000 vs 1,000,000 recipients: is the ledger linear?

A whole run (decide, render, ledger, channel) on the in-memory store with a
null channel, the audience generated on the fly. If every batch costs the
same, 1M takes ten times 100k: target t(1M) / (10 x t(100k)) <= 1.3 (issue
10; before the ledger kept per-state indexes each batch rescanned the run,
and 1M took 149 s). Each size runs in a fresh process so one size's garbage
never slows the other. Run with ``nox -s bench`` (takes a minute or two), or
``python benchmarks/bench_fanout_linear.py 100000`` for one size.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator, Sequence

import pendulum

import campaignkit as ck
from campaignkit.testing import ManualClock, NullChannel, SequentialIds

T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
SIZES = (100_000, 1_000_000)
TARGET = 1.3


class GeneratedAudience:
    """An audience source that makes its members as it streams them."""

    def __init__(self, size: int) -> None:
        self.size = size

    def status(self, name: str) -> ck.AudienceStatus | None:
        return ck.AudienceStatus.READY if name == "generated" else None

    def count(self, name: str) -> int | None:
        return self.size

    def members(
        self, name: str, *, namespace: str, batch_size: int
    ) -> Iterator[Sequence[ck.Profile]]:
        for start in range(0, self.size, batch_size):
            yield [
                ck.Profile(
                    id=f"p{i:08d}",
                    identities={"email": f"user{i}@example.com"},
                    attributes={"firstName": f"User{i}"},
                    consents={ck.ChannelType.EMAIL: True},
                )
                for i in range(start, min(start + batch_size, self.size))
            ]


def run(size: int) -> float:
    """Seconds the tick that delivers a whole run of ``size`` recipients takes."""
    clock = ManualClock(T0)
    channels: dict[ck.ChannelType, ck.Channel] = {c: NullChannel() for c in ck.ChannelType}
    kit = ck.CampaignKit.in_memory(
        clock, channels=channels, audiences=GeneratedAudience(size), ids=SequentialIds()
    )
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    ada = kit.as_user("ada")
    surface = ada.create_surface(
        name="News", channel=ck.ChannelType.EMAIL, settings=ck.EmailSettings(sender="n@example.com")
    )
    campaign = ada.create_campaign(
        name="Fan-out",
        audience="generated",
        namespace="email",
        actions=[
            ck.Action(surface.id, ck.EmailContent(subject="Hi {{ profile.firstName }}", html="x"))
        ],
    )
    ada.activate(campaign.id)
    started = time.perf_counter()
    kit.tick()
    elapsed = time.perf_counter() - started
    report = ada.report(campaign.id)
    assert report.sent == size, report
    kit.close()
    return elapsed


def main() -> None:
    if len(sys.argv) == 2:
        print(f"{run(int(sys.argv[1])):.3f}")
        return
    seconds = {}
    for size in SIZES:
        done = subprocess.run(
            [sys.executable, __file__, str(size)], capture_output=True, text=True, check=True
        )
        seconds[size] = float(done.stdout.split()[-1])
        print(f"{size:>9,} recipients: {seconds[size]:7.2f} s ({size / seconds[size]:,.0f}/s)")
    small, large = SIZES
    ratio = seconds[large] / (large // small * seconds[small])
    print(f"t(1M) / (10 x t(100k)): {ratio:.2f} (target <= {TARGET})")


if __name__ == "__main__":
    main()
