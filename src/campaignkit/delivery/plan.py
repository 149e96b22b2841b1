"""What a run needs for every batch, prepared once when a worker claims it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from campaignkit.delivery.gate import GateRules
from campaignkit.delivery.render import CompiledContent
from campaignkit.domain.campaign import Action, Campaign, CampaignVersion
from campaignkit.domain.campaign_enums import Category
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import Run
from campaignkit.domain.surface import SurfaceSettings
from campaignkit.errors import DeliveryError
from campaignkit.ports import Channel, UnitOfWork


@attrs.frozen
class Plan:
    """What a run needs for every batch, prepared once.

    Attributes:
        campaign: The campaign as it was when the run was claimed.
        version: The version the run delivers.
        actions: The version's actions.
        contents: Compiled templates per action id.
        settings: Surface settings per action id.
        channels: The channel per action id.
        shared_context: The API context every recipient sees.
        contexts: Per-recipient API context of a unitary trigger, by profile id.
        gate_rules: What the send-time gate checks.
    """

    campaign: Campaign
    version: CampaignVersion
    actions: tuple[Action, ...]
    contents: Mapping[str, CompiledContent]
    settings: Mapping[str, SurfaceSettings]
    channels: Mapping[str, Channel]
    shared_context: Mapping[str, Any]
    contexts: Mapping[str, Mapping[str, Any]]
    gate_rules: GateRules

    def context(self, profile_id: str) -> Mapping[str, Any]:
        """The API context templates see for this recipient."""
        return self.contexts.get(profile_id, self.shared_context)


def version_of(campaign: Campaign, number: int) -> CampaignVersion:
    """Version ``number`` of ``campaign`` (live or superseded).

    Raises:
        DeliveryError: the campaign no longer has that version.
    """
    for version in (campaign.live_version, *campaign.superseded_versions):
        if version is not None and version.number == number:
            return version
    raise DeliveryError(f"campaign {campaign.id!r} has no version {number}")


def make_plan(
    uow: UnitOfWork, campaign: Campaign, run: Run, wired: Mapping[ChannelType, Channel]
) -> Plan:
    """Compile templates and gather surfaces, channels and rules for ``run``.

    Raises:
        DeliveryError: a surface was deleted, or no channel is wired for an action.
    """
    version = version_of(campaign, run.version)
    contents, settings, channels = {}, {}, {}
    for action in version.actions:
        surface = uow.surfaces.find(action.surface_id)
        if surface is None:
            raise DeliveryError(f"surface {action.surface_id!r} no longer exists")
        channel = wired.get(action.channel)
        if channel is None:
            raise DeliveryError(
                f"no channel is wired for {action.channel}; pass channels= to the kit"
            )
        contents[action.id] = CompiledContent.of(action.content.templates())
        settings[action.id] = surface.settings
        channels[action.id] = channel
    contexts: dict[str, Mapping[str, Any]] = {}
    for recipient in run.recipients:  # a repeated profile is a duplicate: the first counts
        contexts.setdefault(recipient.profile.id, recipient.context)
    book = uow.rules.get()
    gate_rules = GateRules(
        marketing=campaign.category is Category.MARKETING,
        campaign_zone=version.schedule.timezone,
        send_window=version.schedule.send_window,
        channel_rules={a.channel: book.for_channel(a.channel) for a in version.actions},
        campaign_quiet_hours=version.quiet_hours,
        rate_limits={a.id: a.rate_limit for a in version.actions if a.rate_limit},
    )
    return Plan(
        campaign,
        version,
        version.actions,
        contents,
        settings,
        channels,
        run.context,
        contexts,
        gate_rules,
    )
