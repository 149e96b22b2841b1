"""Channel surface verbs."""

from __future__ import annotations

import attrs

from campaignkit.domain import checks
from campaignkit.domain.campaign_enums import CampaignStatus, Category
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.listing import CampaignQuery
from campaignkit.domain.surface import (
    ChannelSurface,
    EmailSettings,
    PushSettings,
    SmsSettings,
    SurfaceSettings,
    SurfaceStatus,
    surface_problems,
)
from campaignkit.errors import SurfaceInUse, ValidationError
from campaignkit.permissions import Permission as P
from campaignkit.session.base import SessionBase

SURFACE_HOLDING_STATUSES = frozenset(
    {CampaignStatus.ACTIVATING, CampaignStatus.SCHEDULED, CampaignStatus.LIVE}
)
"""A surface used by a campaign in one of these statuses cannot be deactivated."""

_SETTINGS = (EmailSettings, SmsSettings, PushSettings)


class SurfaceVerbs(SessionBase):
    """Channel surface verbs of a user session."""

    # ------------------------------------------------------------ surfaces

    def create_surface(
        self,
        *,
        name: str,
        channel: ChannelType,
        settings: SurfaceSettings,
        category: Category = Category.MARKETING,
    ) -> ChannelSurface:
        """Create an ACTIVE channel surface (needs ``surface.manage``).

        Raises:
            ValidationError: an argument of the wrong type (each named), a name
                longer than ``MAX_NAME``, settings that do not fit the channel,
                or a name in use.
        """
        self._require(P.SURFACE_MANAGE)
        problems: list[str] = []
        checks.text(problems, "name", name, allow_empty=True)  # empty: surface_problems
        kind = checks.member(problems, "channel", channel, ChannelType)
        group = checks.member(problems, "category", category, Category)
        checks.instance(problems, "settings", settings, _SETTINGS)
        checks.raise_if(problems, "create_surface")
        assert kind is not None
        assert group is not None
        channel, category = kind, group
        problems = surface_problems(name, channel, settings)
        kit = self._kit
        with kit.store.unit_of_work() as uow:
            if name.strip() and uow.surfaces.find_by_name(name.strip()) is not None:
                problems.append(f"a surface named {name.strip()!r} exists already")
            if problems:
                raise ValidationError(problems, subject=f"surface {name!r}")
            surface = ChannelSurface(
                id=self._new_id("srf"),
                name=name.strip(),
                channel=channel,
                category=category,
                settings=settings,
                created_at=kit.clock.now(),
                created_by=self.user,
            )
            return uow.surfaces.add(surface)

    def deactivate_surface(self, surface_id: str) -> ChannelSurface:
        """Deactivate a surface (needs ``surface.manage``); idempotent.

        Raises:
            SurfaceInUse: an ACTIVATING, SCHEDULED or LIVE campaign uses it.
            ValidationError: ``surface_id`` is not a non-empty UTF-8 string.
        """
        self._require(P.SURFACE_MANAGE)
        checks.require_ids(surface_id=surface_id)
        with self._kit.store.unit_of_work() as uow:
            surface = uow.surfaces.get(surface_id)
            if surface.status is SurfaceStatus.DEACTIVATED:
                return surface
            holders = uow.campaigns.query(
                CampaignQuery(statuses=SURFACE_HOLDING_STATUSES, surface_id=surface_id, limit=20)
            )
            if holders.items:
                raise SurfaceInUse(surface_id, [c.id for c in holders.items])
            return uow.surfaces.save(attrs.evolve(surface, status=SurfaceStatus.DEACTIVATED))

    def get_surface(self, surface_id: str) -> ChannelSurface:
        """Return one surface (needs ``surface.read``)."""
        self._require(P.SURFACE_READ)
        checks.require_ids(surface_id=surface_id)
        with self._kit.store.unit_of_work() as uow:
            return uow.surfaces.get(surface_id)

    def list_surfaces(self) -> list[ChannelSurface]:
        """Every surface, by name (needs ``surface.read``)."""
        self._require(P.SURFACE_READ)
        with self._kit.store.unit_of_work() as uow:
            return list(uow.surfaces.list())
