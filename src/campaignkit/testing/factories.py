"""Builders of domain values for tests (hosts' and our own).

They build plain values without a kit, for example to feed a store adapter
under test. Every argument has a sensible default.
"""

from __future__ import annotations

from collections.abc import Sequence

import pendulum

from campaignkit.domain.campaign import Action, Campaign, CampaignVersion
from campaignkit.domain.campaign_enums import CampaignStatus, CampaignType, Category
from campaignkit.domain.channels import (
    ChannelType,
    Content,
    EmailContent,
    PushContent,
    SmsContent,
)
from campaignkit.domain.schedule import Schedule
from campaignkit.domain.surface import (
    ChannelSurface,
    EmailSettings,
    PushSettings,
    SmsSettings,
    SurfaceSettings,
)

EPOCH = pendulum.datetime(2026, 1, 1, tz="UTC")
"""The default instant of built values."""


def make_action(
    channel: ChannelType = ChannelType.EMAIL, *, surface_id: str = "srf_1", action_id: str = ""
) -> Action:
    """An action with simple content for ``channel``."""
    contents: dict[ChannelType, Content] = {
        ChannelType.EMAIL: EmailContent(subject="Hello {{ profile.firstName }}", html="<p>Hi</p>"),
        ChannelType.SMS: SmsContent(text="Hello"),
        ChannelType.PUSH: PushContent(title="Hello", body="Hi"),
    }
    return Action(surface_id, contents[channel], action_id or f"act_{channel.value}")


def make_campaign(
    campaign_id: str = "cmp_1",
    *,
    name: str = "Campaign",
    status: CampaignStatus = CampaignStatus.DRAFT,
    type: CampaignType = CampaignType.SCHEDULED,
    created_at: pendulum.DateTime = EPOCH,
    tags: Sequence[str] = (),
    channels: Sequence[ChannelType] = (ChannelType.EMAIL,),
    surface_id: str = "srf_1",
    due_at: pendulum.DateTime | None = None,
) -> Campaign:
    """A campaign value in any status; the version is live unless DRAFT/IN_REVIEW."""
    version = CampaignVersion(
        number=1,
        created_at=created_at,
        created_by="builder",
        actions=tuple(make_action(c, surface_id=surface_id) for c in channels),
        audience="everyone",
        namespace="email",
        schedule=Schedule(),
    )
    drafting = status in (CampaignStatus.DRAFT, CampaignStatus.IN_REVIEW)
    return Campaign(
        id=campaign_id,
        name=name,
        type=type,
        category=Category.MARKETING,
        status=status,
        created_at=created_at,
        created_by="builder",
        updated_at=created_at,
        tags=tuple(tags),
        live_version=None if drafting else version,
        draft_version=version if drafting else None,
        due_at=due_at,
    )


def make_surface(
    surface_id: str = "srf_1",
    *,
    name: str = "Surface",
    channel: ChannelType = ChannelType.EMAIL,
    category: Category = Category.MARKETING,
) -> ChannelSurface:
    """An ACTIVE surface with valid settings for ``channel``."""
    settings: dict[ChannelType, SurfaceSettings] = {
        ChannelType.EMAIL: EmailSettings(sender="news@example.com"),
        ChannelType.SMS: SmsSettings(sender_id="SHOP"),
        ChannelType.PUSH: PushSettings(app_id="com.example"),
    }
    return ChannelSurface(
        id=surface_id,
        name=name,
        channel=channel,
        category=category,
        settings=settings[channel],
        created_at=EPOCH,
        created_by="builder",
    )
