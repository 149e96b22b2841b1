"""Peak memory of a run over 100,000 vs 1,000,000 generated recipients (SQLite store).

The audience source generates profiles on the fly (never materialized) and
the ledger lives in the SQLite file, so peak RSS should stay flat: target
1M within 1.2x of 100k. Each size runs in a fresh process (peak RSS is per
process). Run with ``nox -s bench``; takes about a minute.
"""

from __future__ import annotations

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
    started = time.perf_counter()
    kit.tick()
    elapsed = time.perf_counter() - started
    assert ada.report(campaign.id).sent == size
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{size} {peak_mib:.1f} {elapsed:.1f}")


def main() -> None:
    if len(sys.argv) == 3:
        run(int(sys.argv[1]), Path(sys.argv[2]))
        return
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for size in (100_000, 1_000_000):
            done = subprocess.run(
                [sys.executable, __file__, str(size), str(Path(folder) / f"{size}.db")],
                capture_output=True,
                text=True,
                check=True,
            )
            _, peak, seconds = done.stdout.split()
            results[size] = float(peak)
            print(f"{size:>9,} recipients: peak RSS {float(peak):7.1f} MiB, run {seconds} s")
    print(f"ratio 1M / 100k: {results[1_000_000] / results[100_000]:.2f} (target <= 1.2)")


if __name__ == "__main__":
    main()
