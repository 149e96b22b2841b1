"""Gathers what activation validation needs and runs it.

The pure rules live in :mod:`campaignkit.domain.validation`; this module
resolves their inputs (surfaces from the unit of work, audience readiness
from the audience source) so the kit and the engine validate identically.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import pendulum

from campaignkit.delivery.render import template_names
from campaignkit.domain.campaign import Campaign, CampaignVersion
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.surface import ChannelSurface
from campaignkit.domain.unsubscribe import missing_url, needs_url, unavailable
from campaignkit.domain.validation import TemplateCheck, activation_problems
from campaignkit.ports import AudienceSource, UnitOfWork


@attrs.define
class Preflight:
    """Validates a campaign version against the current surfaces and audiences.

    Attributes:
        audiences: Where audience readiness is read.
        check_template: Compiles one template source.
        channels: The channels wired into the kit.
        signing: True when the kit has a secret to sign unsubscribe URLs with.
    """

    audiences: AudienceSource
    check_template: TemplateCheck
    channels: Mapping[ChannelType, object] = attrs.field(factory=dict)
    """Wired channels; an action on a channel without one cannot run."""
    signing: bool = False
    """True when the kit can sign unsubscribe URLs (it has a ``secret``)."""

    def problems(
        self,
        uow: UnitOfWork,
        campaign: Campaign,
        version: CampaignVersion,
        *,
        now: pendulum.DateTime,
        check_start: bool,
    ) -> list[str]:
        """Every problem that keeps ``version`` from running (empty when none)."""
        surfaces = {}
        for action in version.actions:
            surface = uow.surfaces.find(action.surface_id)
            if surface is not None:
                surfaces[surface.id] = surface
        audience = version.audience
        missing = sorted(
            {a.channel.value for a in version.actions} - {c.value for c in self.channels}
        )
        problems = [
            f"no channel is wired for {channel}; pass it in channels= when creating the kit"
            for channel in missing
        ]
        problems.extend(self._unsubscribe_problems(campaign, version, surfaces))
        return problems + activation_problems(
            campaign,
            version,
            now=now,
            surfaces=surfaces,
            audience_status=None if audience is None else self.audiences.status(audience),
            check_template=self.check_template,
            check_start=check_start,
        )

    def _unsubscribe_problems(
        self,
        campaign: Campaign,
        version: CampaignVersion,
        surfaces: Mapping[str, ChannelSurface],
    ) -> list[str]:
        """Templates that use ``{{ unsubscribe_url }}`` where no URL can be given."""
        found = []
        for number, action in enumerate(version.actions, start=1):
            surface = surfaces.get(action.surface_id)
            if surface is None:
                continue  # reported by activation_problems
            for field, source in action.content.templates().items():
                if not needs_url(template_names(source)):
                    continue
                why = unavailable(
                    category=campaign.category,
                    channel=action.channel,
                    settings=surface.settings,
                    surface_name=surface.name,
                    signing=self.signing,
                )
                if why is not None:
                    found.append(f"action {number} ({action.channel}) {field}: {missing_url(why)}")
        return found
