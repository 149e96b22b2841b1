"""AJO high-throughput executions against unitary ones on SQLite, in one run (issue 16).

The same ``RECIPIENTS`` transactional recipients (external, each with its own
context) are delivered to a null channel on a SQLite file in two ways, each on
a fresh kit and timed from the first call to the last outcome recorded:

- **unitary**: one ``ajo.execute_unitary`` call per recipient, then ticks until
  every execution is delivered (each call is its own execution and run: accept,
  claim with intent, outcome: three transactions a recipient);
- **high throughput**: AJO high-throughput bodies of 20 recipients, ``PER_CALL``
  bodies per ``ajo.execute_high_throughput_many`` call (one transaction accepts
  them all, the requests share runs of up to 2,000 recipients), then ticks until
  delivered (batches of ``DeliverySettings.batch_size``, 500).

Both rates are recipients a second of wall time (CPU time in brackets); the
ratio is high throughput over unitary. For information it also prints the
rate of single ``ajo.execute_high_throughput`` calls (one body, 20 recipients,
a run each). Target (issue 16): ratio >= 5. Run with ``nox -s bench`` or
``python benchmarks/bench_ajo_throughput.py [recipients] [bodies per call]``.
"""

from __future__ import annotations

import gc
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pendulum

import campaignkit as ck
from campaignkit import ajo
from campaignkit.testing import ManualClock, NullChannel

RECIPIENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
PER_CALL = int(sys.argv[2]) if len(sys.argv) > 2 else 100
PER_BODY = 20
T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
TARGET = 5.0

Seconds = tuple[float, float]
"""CPU and wall seconds."""


def _kit(folder: Path, name: str) -> tuple[ck.CampaignKit, ck.UserSession, str]:
    channels: dict[ck.ChannelType, ck.Channel] = {c: NullChannel() for c in ck.ChannelType}
    kit = ck.CampaignKit.sqlite(folder / f"{name}.db", ManualClock(T0), channels)
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    ada = kit.as_user("ada")
    surface = ada.create_surface(
        name="Receipts",
        channel=ck.ChannelType.EMAIL,
        settings=ck.EmailSettings(sender="orders@example.com"),
        category=ck.Category.TRANSACTIONAL,
    )
    campaign = ada.create_campaign(
        name="Order confirmation",
        type=ck.CampaignType.API_TRIGGERED,
        category=ck.Category.TRANSACTIONAL,
        namespace="email",
        actions=[
            ck.Action(
                surface.id,
                ck.EmailContent(subject="Order {{ context.order }}", html="{{ context.link }}"),
            )
        ],
    )
    ada.activate(campaign.id)
    kit.tick()
    return kit, ada, campaign.id


def _recipient(n: int) -> dict[str, Any]:
    address = f"customer{n}@example.com"
    return {
        "type": "external",
        "userId": address,
        "namespace": "email",
        "channelData": {"emailAddress": address},
        "context": {"order": f"A{n}", "link": f"https://shop.example.com/o/{n}"},
    }


def _bodies(campaign_id: str, kind: str) -> list[dict[str, Any]]:
    return [
        {
            "requestId": f"{kind}-{start}",
            "campaignId": campaign_id,
            "recipients": [_recipient(n) for n in range(start, min(start + PER_BODY, RECIPIENTS))],
        }
        for start in range(0, RECIPIENTS, PER_BODY)
    ]


def _drain(kit: ck.CampaignKit) -> None:
    """Tick until nothing is due at the (fixed) clock's instant."""
    due = kit.tick().next_due_at
    while due is not None and due <= T0:
        due = kit.tick().next_due_at


def _timed(work: Callable[[], None]) -> Seconds:
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    work()
    return time.process_time() - cpu, time.perf_counter() - wall


def _check(kit: ck.CampaignKit, ada: ck.UserSession, campaign_id: str) -> None:
    report = ada.report(campaign_id)
    assert (report.sent, report.failed) == (RECIPIENTS, 0), (report.sent, report.failed)
    kit.close()


def unitary(folder: Path) -> Seconds:
    kit, ada, campaign_id = _kit(folder, "unitary")

    def work() -> None:
        for n in range(RECIPIENTS):
            body = {"requestId": f"u-{n}", "campaignId": campaign_id, "recipients": [_recipient(n)]}
            ajo.execute_unitary(ada, body)
            _drain(kit)

    seconds = _timed(work)
    _check(kit, ada, campaign_id)
    return seconds


def many(folder: Path) -> Seconds:
    kit, ada, campaign_id = _kit(folder, "many")
    bodies = _bodies(campaign_id, "ht")

    def work() -> None:
        for start in range(0, len(bodies), PER_CALL):
            answers = ajo.execute_high_throughput_many(ada, bodies[start : start + PER_CALL])
            assert all(status == ajo.ACCEPTED for status, _ in answers), answers[:1]
        _drain(kit)

    seconds = _timed(work)
    _check(kit, ada, campaign_id)
    return seconds


def single(folder: Path) -> Seconds:
    kit, ada, campaign_id = _kit(folder, "single")
    bodies = _bodies(campaign_id, "one")

    def work() -> None:
        for body in bodies:
            ajo.execute_high_throughput(ada, body)
        _drain(kit)

    seconds = _timed(work)
    _check(kit, ada, campaign_id)
    return seconds


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder)
        slow = unitary(path)
        fast = many(path)
        one = single(path)
    rows = [
        (f"{RECIPIENTS:,} unitary calls (1 recipient)", slow),
        (f"high throughput, {PER_CALL} bodies a call", fast),
        ("high throughput, 1 body a call", one),
    ]
    print(f"{RECIPIENTS:,} transactional recipients, SQLite file, null channel")
    for name, (cpu, wall) in rows:
        print(
            f"{name:>42}: {RECIPIENTS / wall:10,.0f} recipients/s wall  "
            f"[{RECIPIENTS / cpu:10,.0f} /s CPU]  {wall:7.2f} s"
        )
    ratio = slow[1] / fast[1]
    print(f"high throughput / unitary: {ratio:.1f} [{slow[0] / fast[0]:.1f}] (target >= {TARGET})")
    print(f"single high-throughput calls / unitary: {slow[1] / one[1]:.1f} (for information)")
    print(f"all targets met: {'yes' if ratio >= TARGET else 'no'}")


if __name__ == "__main__":
    main()
