"""Shared helpers of the proof tests: the environment (a kit with a campaign, test profiles and
a recording channel), reading a profile's inbox, and environments per store backend."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import attrs
import pendulum

import campaignkit as ck
from campaignkit.adapters.sqlite import SQLiteProfileStore, SQLiteStore
from campaignkit.domain.campaign import HistoryEntry
from campaignkit.testing import ManualClock, RecordingChannel
from tests.factories import T0

C = ck.ChannelType
S = ck.CampaignStatus
HOUR = pendulum.duration(hours=1)


# ---------------------------------------------------------------- the world


@attrs.define
class Env:
    """A kit with ada (administrator), max (manager), an email and an SMS surface."""

    kit: ck.CampaignKit
    clock: ManualClock
    admin: ck.UserSession
    email: str
    sms: str

    def channel(self, channel: C = C.EMAIL) -> RecordingChannel:
        found = self.kit.channels[channel]
        assert isinstance(found, RecordingChannel)
        return found

    def draft(self, *, sms: bool = False, subject: str = "Hi {{ profile.firstName }}") -> str:
        actions = [ck.Action(self.email, ck.EmailContent(subject=subject, html="<p>x</p>"))]
        if sms:
            actions.append(ck.Action(self.sms, ck.SmsContent("Yo {{ profile.firstName }}")))
        return self.admin.create_campaign(
            name="Winter", audience="vip", namespace="email", actions=actions
        ).id

    def history(self, campaign_id: str) -> tuple[HistoryEntry, ...]:
        return self.admin.get(campaign_id).history

    def proofs(self, campaign_id: str) -> list[HistoryEntry]:
        return [e for e in self.history(campaign_id) if e.action is ck.Verb.PROOF]

    def sent(self) -> int:
        return len(self.channel(C.EMAIL).sent) + len(self.channel(C.SMS).sent)

    def suppress(self, channel: C, address: str) -> None:
        with self.kit.store.unit_of_work() as uow:
            uow.suppressions.add(channel, address)


def inbox(pid: str, *, test: bool = True, name: str | None = "Tess") -> ck.Profile:
    return ck.Profile(
        pid,
        identities={"email": f"{pid}@example.com"},
        attributes={} if name is None else {"firstName": name},
        channel_data={C.SMS: f"+336000000{len(pid):02d}"},
        test=test,
    )


Wrap = Callable[[ck.ProfileStore], ck.ProfileStore]


class Envs:
    """Builds Envs on one backend; a kit built with ``share=`` uses the same store."""

    def __init__(self, backend: str, tmp_path: Path) -> None:
        self.backend = backend
        self.path = tmp_path / "kit.db"
        self.kits: list[ck.CampaignKit] = []

    def kit(
        self,
        clock: ManualClock,
        *,
        delivery: ck.DeliverySettings | None = None,
        share: ck.CampaignKit | None = None,
        wrap: Wrap | None = None,
        channels: Mapping[C, ck.Channel] | None = None,
    ) -> ck.CampaignKit:
        """A kit on this backend (another process on the same store with ``share=``)."""
        if channels is None:
            channels = {C.EMAIL: RecordingChannel("email"), C.SMS: RecordingChannel("sms")}
        store: ck.Store
        profiles: ck.ProfileStore
        if self.backend == "memory":
            store = share.store if share is not None else ck.InMemoryStore()
            profiles = share.profiles if share is not None else ck.InMemoryProfileStore()
        else:
            sqlite = SQLiteStore(self.path)
            store, profiles = sqlite, SQLiteProfileStore(sqlite)
        kit = ck.CampaignKit(
            store=store,
            clock=clock,
            channels=channels,
            profiles=wrap(profiles) if wrap is not None else profiles,
            delivery=delivery,
        )
        self.kits.append(kit)
        return kit

    def __call__(
        self,
        *,
        delivery: ck.DeliverySettings | None = None,
        wrap: Wrap | None = None,
        channels: Mapping[C, ck.Channel] | None = None,
    ) -> Env:
        clock = ManualClock(T0)
        kit = self.kit(clock, delivery=delivery, wrap=wrap, channels=channels)
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        kit.access.assign("max", ck.ProductProfile.MANAGER)
        kit.access.assign("vera", ck.ProductProfile.VIEWER)
        admin = kit.as_user("ada")
        email = admin.create_surface(
            name="News", channel=C.EMAIL, settings=ck.EmailSettings(sender="news@example.com")
        )
        sms = admin.create_surface(
            name="Alerts", channel=C.SMS, settings=ck.SmsSettings(sender_id="SHOP")
        )
        for profile in (
            inbox("t1", name="Tia"),
            inbox("t2", name="Tom"),
            inbox("real", test=False),
        ):
            kit.profiles.upsert(profile)
        kit.audiences.define("vip", ["t1", "t2", "real"])
        return Env(kit, clock, admin, email.id, sms.id)

    def close(self) -> None:
        for kit in self.kits:
            kit.close()
