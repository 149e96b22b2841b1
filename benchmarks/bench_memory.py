"""Peak memory of a run over 100,000 vs 1,000,000 generated recipients (SQLite store).

The audience source generates profiles on the fly (never materialized) and
the ledger lives in the SQLite file, so memory should stay flat. Each size
runs in a fresh process (peak RSS is per process), which reports three
numbers: ``start``, its resident set just before the delivering tick (from
``/proc/self/statm``; setup done: kit open, campaign activated); ``before``,
its peak RSS so far (``getrusage`` ``ru_maxrss``); ``peak``, its peak RSS after
the run. Two ratios are printed, 1M over 100k:

- peak RSS of the process (what the issue measured before: "as today"),
  target <= 1.2; it includes the interpreter and imports (~50 MiB), which
  dilute a leak;
- the run's own memory, ``peak - start`` (what the run added on top of the
  process it found), target <= 1.2. Valid when ``peak > before``: the run set
  the process's high-water mark. Otherwise the run stayed under a setup
  peak and only ``<= before - start`` is known (printed as such); the setup
  here is small, so this does not happen in practice.

Run with ``nox -s bench``; takes a few minutes. ``python
benchmarks/bench_memory.py --small 10000`` compares 10,000 with 100,000.
"""

from __future__ import annotations

import gc
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pendulum

import campaignkit as ck
from campaignkit.testing import ManualClock, NullChannel, SequentialIds

T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
TARGET = 1.2


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


def run(size: int, database: Path) -> None:
    clock = ManualClock(T0)
    channels: dict[ck.ChannelType, ck.Channel] = {c: NullChannel() for c in ck.ChannelType}
    kit = ck.CampaignKit.sqlite(
        database, clock, channels, audiences=GeneratedAudience(size), ids=SequentialIds()
    )
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    ada = kit.as_user("ada")
    surface = ada.create_surface(
        name="News", channel=ck.ChannelType.EMAIL, settings=ck.EmailSettings(sender="n@example.com")
    )
    campaign = ada.create_campaign(
        name="Memory",
        audience="generated",
        namespace="email",
        actions=[
            ck.Action(surface.id, ck.EmailContent(subject="Hi {{ profile.firstName }}", html="x"))
        ],
    )
    ada.activate(campaign.id)
    gc.collect()
    start, before = resident_mib(), peak_mib()
    started = time.perf_counter()
    kit.tick()
    elapsed = time.perf_counter() - started
    peak = peak_mib()
    assert ada.report(campaign.id).sent == size
    print(f"{start:.1f} {before:.1f} {peak:.1f} {elapsed:.1f}")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] != "--small":
        run(int(sys.argv[1]), Path(sys.argv[2]))
        return
    small = int(sys.argv[2]) if len(sys.argv) == 3 else 100_000
    sizes = (small, 10 * small)
    results: dict[int, tuple[float, float, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            done = subprocess.run(
                [sys.executable, __file__, str(size), str(Path(folder) / f"{size}.db")],
                capture_output=True,
                text=True,
                check=True,
            )
            start, before, peak, seconds = (float(x) for x in done.stdout.split()[-4:])
            results[size] = start, before, peak
            growth = f"{peak - start:6.1f} MiB" if peak > before else f"<= {before - start:.1f} MiB"
            print(
                f"{size:>9,} recipients: peak RSS {peak:7.1f} MiB, at start {start:6.1f} MiB, "
                f"run added {growth}, run {seconds:.1f} s"
            )
    large = sizes[1]
    print(
        f"peak RSS {large:,} / {small:,}: "
        f"{results[large][2] / results[small][2]:.2f} (target <= {TARGET})"
    )
    (start_s, before_s, peak_s), (start_l, before_l, peak_l) = results[small], results[large]
    if peak_s > before_s and peak_l > before_l:
        ratio = (peak_l - start_l) / (peak_s - start_s)
        print(f"run memory {large:,} / {small:,}: {ratio:.2f} (target <= {TARGET})")
        met = ratio <= TARGET and peak_l / peak_s <= TARGET
    else:
        print("run memory: a run stayed under its setup's peak (see above); not compared")
        met = peak_l / peak_s <= TARGET
    print(f"all targets met: {'yes' if met else 'no'}")


if __name__ == "__main__":
    main()
