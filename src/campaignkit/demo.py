"""The guided demo behind ``python -m campaignkit demo``.

It builds a kit on a manual clock, creates surfaces, an audience and a
campaign, activates it, fast-forwards time and prints the status timeline.

The demo only ever replaces a file it wrote itself: it marks its database
with :data:`DEMO_MARKER` in the SQLite header's ``user_version`` field, and
refuses any other existing file (a real store, another application's data)
unless told to ``force`` it.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Final

import pendulum

from campaignkit.adapters.sqlite.connection import SQLITE_HEADER
from campaignkit.adapters.sqlite.schema import APPLICATION_ID
from campaignkit.domain.campaign import Action
from campaignkit.domain.campaign_enums import ALL_STATUSES, Category
from campaignkit.domain.channels import ChannelType, EmailContent, SmsContent
from campaignkit.domain.profile import Profile
from campaignkit.domain.schedule import Schedule
from campaignkit.domain.surface import EmailSettings, SmsSettings
from campaignkit.errors import StorageError
from campaignkit.kit import CampaignKit
from campaignkit.permissions import ProductProfile
from campaignkit.testing.clock import ManualClock
from campaignkit.testing.ids import SequentialIds

START = pendulum.datetime(2026, 12, 1, 9, tz="UTC")


DEFAULT_DATABASE = "campaignkit-demo.db"

DEMO_MARKER: Final = 0x44454D4F  # "DEMO"
"""Written to ``PRAGMA user_version`` of every database the demo creates.

campaignkit itself never sets ``user_version``, so a file carrying it was
made by the demo and may be replaced by the next demo run.
"""

_USER_VERSION = slice(60, 64)  # offsets of the SQLite file header fields
_APPLICATION_ID = slice(68, 72)


def is_demo_database(path: str | Path) -> bool:
    """Whether ``path`` is a database the demo wrote (read from its header only).

    Reads the first 100 bytes and opens no connection, so nothing is changed.
    """
    try:
        with Path(path).open("rb") as handle:
            header = handle.read(100)
    except OSError:
        return False
    return (
        len(header) == 100
        and header.startswith(SQLITE_HEADER)
        and int.from_bytes(header[_USER_VERSION], "big") == DEMO_MARKER
        and int.from_bytes(header[_APPLICATION_ID], "big") in (0, APPLICATION_ID)
    )


_SIDE_FILES = ("-wal", "-shm", "-journal")


def _fresh(path: Path, *, force: bool) -> None:
    """Make ``path`` a new, empty database marked as the demo's.

    A missing or empty file, or one the demo wrote, is (re)created; anything
    else is refused unless ``force``.

    Raises:
        StorageError: ``path`` holds something the demo did not write (and
            ``force`` is false), or is not a regular file; nothing was changed.
            Or it cannot be created (its folder is missing, say).
    """
    if path.exists() or path.is_symlink():
        if not path.is_file():
            raise StorageError(
                f"{path} is not a regular file; nothing was changed: pass --db with a file name"
            )
        if path.stat().st_size and not is_demo_database(path) and not force:
            raise StorageError(
                f"{path} exists and is not a demo database, so the demo will not replace it; "
                "nothing was changed: pass --db with a new file name, or --force to replace it"
            )
        for leftover in (path, *(path.with_name(path.name + end) for end in _SIDE_FILES)):
            leftover.unlink(missing_ok=True)
    try:
        with contextlib.closing(sqlite3.connect(path)) as raw:
            raw.execute(f"PRAGMA user_version = {DEMO_MARKER}")
    except sqlite3.Error as exc:
        raise StorageError(f"cannot create the demo database {path}: {exc}") from exc


def run_demo(
    database: str | Path = DEFAULT_DATABASE,
    out: Callable[[str], None] = print,
    *,
    force: bool = False,
) -> CampaignKit:
    """Run the demo on a fresh SQLite file, writing lines through ``out``.

    Args:
        database: The file to create. If it exists it must be empty or a
            database an earlier demo wrote (see :func:`is_demo_database`).
        out: Where the demo's lines go.
        force: Replace ``database`` even if the demo did not write it.

    Returns:
        The kit (still open) for inspection; close it when done.

    Raises:
        StorageError: ``database`` exists, holds something else and ``force``
            is false; it is left exactly as it was.
    """
    path = Path(database)
    _fresh(path, force=force)
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
