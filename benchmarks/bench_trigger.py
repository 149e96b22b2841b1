"""A durable unitary trigger against the floor of one bare SQLite INSERT + COMMIT.

The trigger path (SQLite file): accept the call (execution + run), deliver it
on the next tick to a null channel, and record the outcome. The floor is one
``INSERT`` and ``COMMIT`` on the same kind of file (WAL, synchronous=NORMAL),
measured in the same run. Target (issue 7): at most 3x the floor. Also prints
triggers per second in memory. Run with ``nox -s bench``.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from pathlib import Path

import pendulum

import campaignkit as ck
from campaignkit.testing import ManualClock, NullChannel

ROUNDS = 300
T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")


def floor(path: Path) -> float:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    started = time.perf_counter()
    for i in range(ROUNDS):
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t (body) VALUES (?)", (f"message {i}",))
        db.execute("COMMIT")
    elapsed = time.perf_counter() - started
    db.close()
    return elapsed / ROUNDS


def triggers(kit: ck.CampaignKit) -> float:
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    ada = kit.as_user("ada")
    surface = ada.create_surface(
        name="Reset",
        channel=ck.ChannelType.EMAIL,
        settings=ck.EmailSettings(sender="no-reply@example.com"),
        category=ck.Category.TRANSACTIONAL,
    )
    campaign = ada.create_campaign(
        name="Password reset",
        type=ck.CampaignType.API_TRIGGERED,
        category=ck.Category.TRANSACTIONAL,
        namespace="email",
        create_profiles=True,
        actions=[
            ck.Action(surface.id, ck.EmailContent(subject="Reset", html="{{ context.link }}"))
        ],
    )
    ada.activate(campaign.id)
    kit.tick()
    started = time.perf_counter()
    for i in range(ROUNDS):
        ada.trigger(
            campaign.id,
            [
                ck.Recipient(
                    user_id=f"user{i}@example.com",
                    namespace="email",
                    context={"link": f"https://example.com/reset/{i}"},
                )
            ],
            request_id=f"req-{i}",
        )
        kit.tick()
    elapsed = time.perf_counter() - started
    assert ada.report(campaign.id).sent == ROUNDS
    kit.close()
    return elapsed / ROUNDS


def main() -> None:
    channels: dict[ck.ChannelType, ck.Channel] = {c: NullChannel() for c in ck.ChannelType}
    with tempfile.TemporaryDirectory() as folder:
        base = floor(Path(folder) / "floor.db")
        durable = triggers(
            ck.CampaignKit.sqlite(Path(folder) / "kit.db", ManualClock(T0), channels)
        )
    memory = triggers(ck.CampaignKit.in_memory(ManualClock(T0), channels=channels))
    print(f"bare INSERT + COMMIT:            {base * 1e6:9.1f} us")
    print(
        f"durable unitary trigger (SQLite): {durable * 1e6:9.1f} us  "
        f"= {durable / base:.1f}x the floor (target <= 3)"
    )
    print(f"in-memory trigger:               {1 / memory:9.0f} triggers/s")


if __name__ == "__main__":
    main()
