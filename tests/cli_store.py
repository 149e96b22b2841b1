"""A SQLite store for the command-line tests, built through the API on a manual clock.

Everything happens in 2025 (before any wall-clock "now" the tests run at) or
in 2100 (after it), so the commands, which read the wall clock, print the
same whatever day they run:

- ``cmp_0001`` "Done sale": ran and COMPLETED in January 2025 (a report to read);
- ``cmp_0002`` "Future launch": SCHEDULED for 2100-01-01 (the calendar shows it);
- ``cmp_0003`` "Spring draft": a DRAFT starting in 2100 (to activate);
- ``cmp_0004`` "Receipts": API-triggered, transactional, LIVE with no end (to trigger).

Users: ``ada`` (ADMINISTRATOR), ``vic`` (VIEWER). Profiles p1..p3, audience ``vip``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import pendulum

import campaignkit as ck
from campaignkit.testing import ManualClock, SequentialIds

START: Final = pendulum.datetime(2025, 1, 6, 9, tz="UTC")
FUTURE: Final = pendulum.datetime(2100, 1, 1, 9, tz="UTC")
DONE, FUTURE_ID, DRAFT, RECEIPTS = "cmp_0001", "cmp_0002", "cmp_0003", "cmp_0004"


def make_store(path: Path) -> Path:
    """Write the store described above to ``path``; return ``path``."""
    clock = ManualClock(START)
    with ck.CampaignKit.sqlite(path, clock=clock, ids=SequentialIds()) as kit:
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        kit.access.assign("vic", ck.ProductProfile.VIEWER)
        ada = kit.as_user("ada")
        email = ada.create_surface(
            name="Newsletter",
            channel=ck.ChannelType.EMAIL,
            settings=ck.EmailSettings(sender="news@example.com"),
        )
        receipts = ada.create_surface(
            name="Receipts",
            channel=ck.ChannelType.EMAIL,
            settings=ck.EmailSettings(sender="shop@example.com"),
            category=ck.Category.TRANSACTIONAL,
        )
        for number in (1, 2, 3):
            kit.profiles.upsert(
                ck.Profile(
                    id=f"p{number}",
                    identities={"email": f"p{number}@example.com"},
                    consents={ck.ChannelType.EMAIL: True},
                )
            )
        kit.audiences.define("vip", ["p1", "p2", "p3"])
        content = ck.EmailContent(subject="Hello", html="<p>hi</p>")

        def scheduled(name: str, start: pendulum.DateTime | None, tags: list[str]) -> str:
            campaign = ada.create_campaign(
                name=name,
                audience="vip",
                namespace="email",
                actions=[ck.Action(email.id, content)],
                schedule=ck.Schedule(start=start),
                tags=tags,
            )
            return campaign.id

        done = scheduled("Done sale", START.add(hours=1), ["sale"])
        ada.activate(done)
        future = scheduled("Future launch", FUTURE, ["launch"])
        ada.activate(future)
        scheduled("Spring draft", FUTURE.add(days=60), ["sale", "spring"])
        trigger = ada.create_campaign(
            name="Receipts",
            type=ck.CampaignType.API_TRIGGERED,
            category=ck.Category.TRANSACTIONAL,
            namespace="email",
            actions=[ck.Action(receipts.id, ck.EmailContent(subject="Receipt", html="<p>ok</p>"))],
        )
        ada.activate(trigger.id)
        kit.run_until(START.add(days=5))
    return path
