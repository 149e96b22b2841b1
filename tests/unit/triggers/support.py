"""Shared world of the API-triggered campaign tests: users, recipients, the ``Env`` of a kit
in memory or in a SQLite file, and small helpers for problems and contexts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit.domain.triggers import ExecutionRecord
from campaignkit.testing import ManualClock, RecordingChannel, SequentialIds

T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
API = ck.CampaignType.API_TRIGGERED
TXN = ck.Category.TRANSACTIONAL
MKT = ck.Category.MARKETING
EMAIL = ck.ChannelType.EMAIL
SMS = ck.ChannelType.SMS
PUSH = ck.ChannelType.PUSH
S = ck.CampaignStatus

ADMIN, MANAGER, VIEWER, NOBODY = "ada", "max", "vic", "nobody"
ANN = ck.Profile(
    id="p-ann",
    identities={"email": "ann@example.com", "phone": "+33100000001"},
    attributes={"firstName": "Ann", "tier": "gold", "address": {"city": "Lyon"}},
    consents={EMAIL: True, SMS: True, PUSH: True},
    channel_data={PUSH: "push-token-ann"},
)
BOB = ck.Profile(
    id="p-bob",
    identities={"email": "bob@example.com"},
    attributes={"firstName": "Bob", "tier": "silver"},
    consents={EMAIL: True},
)
SUBJECT = "Hello {{ profile.firstName }}"
Kind = Literal["memory", "sqlite"]


# ---------------------------------------------------------------------- the world


@attrs.define
class Env:
    """A kit on a manual clock with users, surfaces, two profiles and an audience."""

    kind: Kind
    kit: ck.CampaignKit
    clock: ManualClock
    path: Path | None
    surfaces: dict[tuple[ck.ChannelType, ck.Category], str]
    names: int = 0

    def session(self, user: str = ADMIN) -> ck.UserSession:
        return self.kit.as_user(user)

    @property
    def admin(self) -> ck.UserSession:
        return self.kit.as_user(ADMIN)

    def channel(self, channel: ck.ChannelType = EMAIL) -> RecordingChannel:
        found = self.kit.channels[channel]
        assert isinstance(found, RecordingChannel)
        return found

    def sent(self) -> list[ck.Message]:
        """Every message any channel received, email first."""
        return [m for channel in ck.ChannelType for m in self.channel(channel).sent]

    def clear(self) -> None:
        for channel in ck.ChannelType:
            self.channel(channel).clear()

    def action(
        self,
        channel: ck.ChannelType = EMAIL,
        category: ck.Category = TXN,
        text: str = SUBJECT,
        html: str = "<p>hello</p>",
    ) -> ck.Action:
        content: ck.Content
        if channel is EMAIL:
            content = ck.EmailContent(subject=text, html=html)
        elif channel is SMS:
            content = ck.SmsContent(text=text)
        else:
            content = ck.PushContent(title=text, body="body")
        return ck.Action(self.surfaces[channel, category], content)

    def campaign(
        self,
        *,
        category: ck.Category = TXN,
        type: ck.CampaignType = API,
        create_profiles: bool = False,
        subject: str = SUBJECT,
        html: str = "<p>hello</p>",
        actions: Sequence[ck.Action] | None = None,
        audience: str | None = None,
        namespace: str = "email",
        start: pendulum.DateTime | None = None,
        end: pendulum.DateTime | None = None,
        activate: bool = True,
    ) -> ck.Campaign:
        """A campaign, activated and ticked (LIVE, or SCHEDULED with a later start)."""
        self.names += 1
        admin = self.admin
        campaign = admin.create_campaign(
            name=f"Campaign {self.names}",
            type=type,
            category=category,
            audience=audience,
            namespace=namespace,
            actions=list(actions)
            if actions is not None
            else [self.action(EMAIL, category, subject, html)],
            schedule=ck.Schedule(start=start, end=end),
            create_profiles=create_profiles,
        )
        if activate:
            admin.activate(campaign.id)
            self.kit.tick()
        return admin.get(campaign.id)

    def runs(self, campaign_id: str) -> list[ck.Run]:
        with self.kit.store.unit_of_work() as uow:
            return list(uow.runs.for_campaign(campaign_id))

    def record(self, campaign_id: str, request_id: str) -> ExecutionRecord | None:
        with self.kit.store.unit_of_work() as uow:
            return uow.executions.by_request(campaign_id, request_id)

    def assert_nothing_happened(
        self,
        campaign_id: str,
        request_id: str,
        *,
        profile_ids: Sequence[str] = (),
        runs: int = 0,
    ) -> None:
        """No execution, no (new) run, no profile, and nothing sent, even after a tick."""
        self.kit.tick()
        assert self.sent() == []
        assert len(self.runs(campaign_id)) == runs
        assert self.record(campaign_id, request_id) is None
        for profile_id in profile_ids:
            assert self.kit.profiles.get(profile_id) is None

    def reopen(self) -> Env:
        """Close the kit and open the same SQLite file again (a process restart)."""
        assert self.path is not None
        self.kit.close()
        return attrs.evolve(self, kit=ck.CampaignKit.sqlite(self.path, clock=self.clock))


def open_env(kind: Kind, tmp_path: Path) -> Env:
    clock = ManualClock(T0)
    path = tmp_path / "kit.db" if kind == "sqlite" else None
    kit = (
        ck.CampaignKit.in_memory(clock=clock, ids=SequentialIds())
        if path is None
        else ck.CampaignKit.sqlite(path, clock=clock)
    )
    kit.access.assign(ADMIN, ck.ProductProfile.ADMINISTRATOR)
    kit.access.assign(MANAGER, ck.ProductProfile.MANAGER)
    kit.access.assign(VIEWER, ck.ProductProfile.VIEWER)
    admin = kit.as_user(ADMIN)
    settings: dict[ck.ChannelType, Any] = {
        EMAIL: ck.EmailSettings(sender="shop@example.com"),
        SMS: ck.SmsSettings(sender_id="SHOP"),
        PUSH: ck.PushSettings(app_id="com.shop"),
    }
    surfaces = {}
    for channel, setting in settings.items():
        for category in ck.Category:
            surface = admin.create_surface(
                name=f"{channel} {category}", channel=channel, settings=setting, category=category
            )
            surfaces[channel, category] = surface.id
    kit.profiles.upsert(ANN)
    kit.profiles.upsert(BOB)
    kit.audiences.define("vip", [ANN.id, BOB.id])
    return Env(kind, kit, clock, path, surfaces)


def ann(**changes: Any) -> ck.Recipient:
    """Ann, addressed by her email identity."""
    return attrs.evolve(ck.Recipient("ann@example.com", "email"), **changes)


def bob(**changes: Any) -> ck.Recipient:
    return attrs.evolve(ck.Recipient("bob@example.com", "email"), **changes)


def problems_of(excinfo: pytest.ExceptionInfo[ck.ValidationError]) -> list[str]:
    return list(excinfo.value.problems)


def context_of_size(size: int, key: str = "blob") -> dict[str, str]:
    """A context whose compact JSON serialization is exactly ``size`` bytes."""
    overhead = len(json.dumps({key: ""}, separators=(",", ":")))
    context = {key: "a" * (size - overhead)}
    assert len(json.dumps(context, separators=(",", ":")).encode()) == size
    return context
