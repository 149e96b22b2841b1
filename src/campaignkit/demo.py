"""The guided demo behind ``python -m campaignkit demo``.

It builds a kit on a manual clock, creates surfaces, an audience and a
campaign, activates it, fast-forwards time and prints the status timeline.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pendulum

from campaignkit.adapters.sqlite import SQLiteStore
from campaignkit.domain.campaign import Action
from campaignkit.domain.campaign_enums import ALL_STATUSES, Category
from campaignkit.domain.channels import ChannelType, EmailContent, SmsContent
from campaignkit.domain.profile import Profile
from campaignkit.domain.schedule import Schedule
from campaignkit.domain.surface import EmailSettings, SmsSettings
from campaignkit.kit import CampaignKit
from campaignkit.permissions import ProductProfile
from campaignkit.testing.clock import ManualClock
from campaignkit.testing.ids import SequentialIds

START = pendulum.datetime(2026, 12, 1, 9, tz="UTC")


DEFAULT_DATABASE = "campaignkit-demo.db"


def _fresh(path: Path) -> None:
    """Remove a previous demo database (only if it is a campaignkit store)."""
    if path.exists():
        SQLiteStore(path).close()  # raises StorageError for anything else
        for leftover in (
            path,
            path.with_name(path.name + "-wal"),
            path.with_name(path.name + "-shm"),
        ):
            leftover.unlink(missing_ok=True)


def run_demo(
    database: str | Path = DEFAULT_DATABASE, out: Callable[[str], None] = print
) -> CampaignKit:
    """Run the demo on a fresh SQLite file, writing lines through ``out``.

    Returns the kit (still open) for inspection; close it when done.
    """
    path = Path(database)
    _fresh(path)
    clock = ManualClock(START)
    kit = CampaignKit.sqlite(path, clock=clock, ids=SequentialIds())
    out(f"database: {path} (SQLite, created now)")
    kit.access.assign("ada", ProductProfile.ADMINISTRATOR)
    ada = kit.as_user("ada")
    out(f"clock starts at {clock.now().to_iso8601_string()}")

    email = ada.create_surface(
        name="Newsletter",
        channel=ChannelType.EMAIL,
        settings=EmailSettings(sender="news@example.com", sender_name="Example Shop"),
    )
    sms = ada.create_surface(
        name="Alerts", channel=ChannelType.SMS, settings=SmsSettings(sender_id="EXSHOP")
    )
    out(f"surfaces: {email.name} ({email.channel}), {sms.name} ({sms.channel})")

    for number, name in enumerate(["Ann", "Bob", "Chloe"], start=1):
        kit.profiles.upsert(
            Profile(
                id=f"p{number}",
                identities={"email": f"{name.lower()}@example.com"},
                attributes={"firstName": name},
                consents={ChannelType.EMAIL: True, ChannelType.SMS: number != 2},
            )
        )
    kit.audiences.define("vip", ["p1", "p2", "p3"])
    out("audience 'vip': 3 profiles")

    campaign = ada.create_campaign(
        name="Winter sale",
        category=Category.MARKETING,
        audience="vip",
        namespace="email",
        actions=[
            Action(
                email.id, EmailContent(subject="Hi {{ profile.firstName }}", html="<p>-30%</p>")
            ),
            Action(sms.id, SmsContent(text="Winter sale starts now, {{ profile.firstName }}!")),
        ],
        schedule=Schedule(start=START.add(days=1), timezone="Europe/Paris"),
        tags=["winter", "promo"],
    )
    out(f"created {campaign.name!r} ({campaign.id}) as {campaign.status}")
    ada.activate(campaign.id)
    out("activated; fast-forwarding 5 days ...")
    kit.run_until(START.add(days=5))

    campaign = ada.get(campaign.id)
    out("")
    out(f"status timeline of {campaign.name!r}:")
    for entry in campaign.history:
        before = entry.from_status.value if entry.from_status else "-"
        out(
            f"  {entry.at.to_iso8601_string()}  {entry.action.value:<10} "
            f"{before:>10} -> {entry.to_status.value:<10} by {entry.actor}"
        )
    listed = ada.list_campaigns(statuses=ALL_STATUSES)
    out("")
    out(f"{len(listed)} campaign(s) in {path}; now {clock.now().to_iso8601_string()}")
    return kit
