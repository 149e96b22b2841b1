"""In-memory fan-out time of 100,000 vs 1,000,000 recipients: is the ledger linear?

A whole run (decide, render, ledger, channel) on the in-memory store with a
null channel, the audience generated on the fly. If every batch costs the
same, 1M takes ten times 100k: target t(1M) / (10 x t(100k)) <= 1.3 (issue
10; before the ledger kept per-state indexes each batch rescanned the run,
and 1M took 149 s). A second scenario sends in four waves an hour apart, so
three quarters of the ledger waits QUEUED and is released by later ticks
(the ``due`` and ``next_due_at`` path). Each size runs in a fresh process so
one size's garbage never slows the other. Times are the process's CPU time
(``time.process_time``), so other work on a shared machine does not skew the
ratio; the wall time is printed too.

Memory is printed for information, with no target: each child reports how
much the run added to its resident set (peak RSS after the run, from
``ru_maxrss``, minus the resident set just before the first delivering
tick, from ``/proc/self/statm``) and that per recipient. The in-memory store
keeps every ledger entry of the run, so this grows with the audience by
design; the flat-memory target (1M within 1.2x of 100k) is about the SQLite
store, whose ledger lives in the file: see ``bench_memory.py``.

Run with ``nox -s bench`` (takes a few minutes),
``python benchmarks/bench_fanout_linear.py --small 10000`` to compare 10,000
with 100,000, or ``python benchmarks/bench_fanout_linear.py 100000 [waves]``
for one size.
"""

from __future__ import annotations

import gc
import resource
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pendulum

import campaignkit as ck
from campaignkit.testing import ManualClock, NullChannel, SequentialIds

T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
SIZES = (100_000, 1_000_000)
TARGET = 1.3
SCENARIOS = ("at once", "waves")
WAVES = 4


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


def resident_mib() -> float:
    """The process's resident set now, in MiB (Linux ``/proc``; else its peak so far)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return peak_mib()
    return pages * resource.getpagesize() / 2**20


def peak_mib() -> float:
    """The process's peak resident set so far, in MiB (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(size: int, waves: bool) -> tuple[float, float, float]:
    """CPU and wall seconds the delivering ticks of ``size`` recipients take, and MiB added."""
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
    every = pendulum.duration(hours=1)
    campaign = ada.create_campaign(
        name="Fan-out",
        audience="generated",
        namespace="email",
        actions=[
            ck.Action(surface.id, ck.EmailContent(subject="Hi {{ profile.firstName }}", html="x"))
        ],
        schedule=ck.Schedule(waves=ck.Waves.equal(count=WAVES, every=every) if waves else None),
    )
    ada.activate(campaign.id)
    gc.collect()
    start = resident_mib()
    cpu, wall = time.process_time(), time.perf_counter()
    kit.tick()
    for _ in range(WAVES - 1 if waves else 0):
        clock.advance(hours=1)
        kit.tick()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    added = peak_mib() - start
    report = ada.report(campaign.id)
    assert report.sent == size, report
    kit.close()
    return cpu, wall, added


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] != "--small":
        cpu, wall, added = run(int(sys.argv[1]), waves="waves" in sys.argv[2:])
        print(f"{wall:.3f} {cpu:.3f} {added:.1f}")
        return
    small = int(sys.argv[2]) if len(sys.argv) > 2 else SIZES[0]
    large = 10 * small
    met = True
    for scenario in SCENARIOS:
        seconds = {}
        for size in (small, large):
            done = subprocess.run(
                [sys.executable, __file__, str(size), *(["waves"] if scenario == "waves" else [])],
                capture_output=True,
                text=True,
                check=True,
            )
            wall, seconds[size], added = (float(x) for x in done.stdout.split()[-3:])
            print(
                f"{scenario:>8} {size:>9,} recipients: {seconds[size]:7.2f} s CPU "
                f"({size / seconds[size]:,.0f}/s), {wall:7.2f} s wall, run added "
                f"{added:7.1f} MiB ({added * 2**20 / size:,.0f} B/recipient, information)"
            )
        ratio = seconds[large] / (10 * seconds[small])
        met = met and ratio <= TARGET
        print(f"{scenario:>8} t({large:,}) / (10 x t({small:,})): {ratio:.2f} (target <= {TARGET})")
    print(f"all targets met: {'yes' if met else 'no'}")


if __name__ == "__main__":
    main()
