"""Export and import: copy campaigns between kits as a versioned JSON package.

Like AJO's packages between sandboxes. A package holds each campaign's
document (all its versions and history) and the names of the surfaces its
actions use; ids of surfaces differ between kits, names do not. Importing
creates a new DRAFT campaign per exported one from its newest version.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import attrs
import pendulum

from campaignkit.domain import checks
from campaignkit.domain.campaign import Campaign, CampaignVersion
from campaignkit.domain.creation import create
from campaignkit.domain.events import DomainEvent
from campaignkit.domain.surface import ChannelSurface
from campaignkit.errors import CampaignKitError, ValidationError
from campaignkit.permissions import Permission as P
from campaignkit.serialization import from_document, to_document
from campaignkit.session.base import SessionBase

PACKAGE_FORMAT: Final = "campaignkit.package"
PACKAGE_VERSION: Final = 1
MAX_PACKAGE_CAMPAIGNS: Final = 1000
"""Campaigns exported or imported in one package."""


class TransferVerbs(SessionBase):
    """Export and import verbs of a user session."""

    def export(self, campaign_ids: Iterable[str]) -> dict[str, Any]:
        """Export campaigns as a JSON-compatible package (needs ``campaign.read``).

        Args:
            campaign_ids: The campaigns to export, in any status.

        Returns:
            ``{"format", "version", "campaigns": [...], "surfaces": {id: name}}``;
            ``json.dumps`` it to store or send it.

        Raises:
            ValidationError: ``campaign_ids`` is not a list of ids (a bare
                string is refused), or holds more than ``MAX_PACKAGE_CAMPAIGNS``.
        """
        problems: list[str] = []
        given = checks.identifiers(
            problems, "campaign_ids", campaign_ids, max_items=MAX_PACKAGE_CAMPAIGNS
        )
        if problems:
            self._require(P.CAMPAIGN_READ)  # the policy first (SPEC 6), then the arguments
            checks.raise_if(problems, "export")
        ids = list(dict.fromkeys(given))
        with self._kit.store.unit_of_work() as uow:
            campaigns = [self._load(uow, cid, P.CAMPAIGN_READ) for cid in ids]
            surfaces: dict[str, dict[str, str]] = {}
            for campaign in campaigns:
                for surface_id in sorted(_surface_ids(campaign)):
                    surface = uow.surfaces.find(surface_id)
                    if surface is not None:
                        surfaces[surface_id] = {
                            "name": surface.name,
                            "channel": surface.channel.value,
                        }
        return {
            "format": PACKAGE_FORMAT,
            "version": PACKAGE_VERSION,
            "campaigns": [to_document(c) for c in campaigns],
            "surfaces": surfaces,
        }

    def import_(self, package: object) -> list[Campaign]:
        """Create a new DRAFT campaign from each campaign of ``package``.

        Needs ``campaign.write``. Surfaces are resolved by name in this kit;
        every unresolved reference is reported in one ``ValidationError`` and
        nothing is imported. All campaigns are created in one unit of work.

        Raises:
            ValidationError: a malformed package, or references that do not resolve.
        """
        self._require(P.CAMPAIGN_WRITE)
        sources, surface_names = _read_package(package)
        kit = self._kit
        now = kit.clock.now()
        created: list[Campaign] = []
        events: list[DomainEvent] = []
        with kit.store.unit_of_work() as uow:
            local = {s.name: s for s in uow.surfaces.list()}
            problems = _unresolved(sources, surface_names, local)
            if problems:
                raise ValidationError(problems, subject="import package")
            for source in sources:
                version = _remap(source.newest_version, surface_names, local, now, self.user)
                outcome = create(
                    campaign_id=self._new_id("cmp"),
                    name=source.name,
                    type=source.type,
                    category=source.category,
                    version=version,
                    now=now,
                    actor=self.user,
                    description=source.description,
                    tags=source.tags,
                    detail=f"imported from {source.id} version {source.newest_version.number}",
                    create_profiles=source.create_profiles,
                )
                created.append(uow.campaigns.add(outcome.campaign))
                events.extend(outcome.events)
        kit.publish(events)
        return created


def _surface_ids(campaign: Campaign) -> set[str]:
    versions = (campaign.live_version, campaign.draft_version, *campaign.superseded_versions)
    return {a.surface_id for v in versions if v is not None for a in v.actions}


def _read_package(package: object) -> tuple[list[Campaign], dict[str, dict[str, str]]]:
    if not isinstance(package, dict):
        raise ValidationError(["a package is the dict returned by export()"])
    problems = []
    if package.get("format") != PACKAGE_FORMAT:
        problems.append(f"format must be {PACKAGE_FORMAT!r}, not {package.get('format')!r}")
    if package.get("version") != PACKAGE_VERSION:
        problems.append(
            f"package version {package.get('version')!r} is not supported "
            f"(this campaignkit reads version {PACKAGE_VERSION})"
        )
    documents, surfaces = package.get("campaigns"), package.get("surfaces")
    if not isinstance(documents, list):
        problems.append("campaigns must be a list")
    elif len(documents) > MAX_PACKAGE_CAMPAIGNS:
        problems.append(
            f"the package holds {len(documents)} campaigns; import at most "
            f"{MAX_PACKAGE_CAMPAIGNS} at a time"
        )
    if not isinstance(surfaces, dict):
        problems.append("surfaces must be a mapping of surface id to name and channel")
    if problems:
        raise ValidationError(problems, subject="import package")
    assert isinstance(documents, list)
    assert isinstance(surfaces, dict)
    for surface_id, entry in surfaces.items():
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("name"), str)
            and isinstance(entry.get("channel"), str)
        ):
            problems.append(
                f"surfaces[{checks.shown(surface_id)}] must be {{'name': ..., 'channel': ...}}"
            )
    campaigns = []
    for number, document in enumerate(documents, start=1):
        if not (isinstance(document, dict) and set(document) == {"schema", "version", "data"}):
            problems.append(
                f"campaign {number}: not a campaignkit document envelope "
                f"({{'schema', 'version', 'data'}} made by export()): {checks.describe(document)}"
            )
            continue
        try:
            campaign = from_document(Campaign, document)
        except CampaignKitError as exc:
            problems.append(f"campaign {number}: {exc}")
            continue
        problems.extend(f"campaign {number}: {p}" for p in _limit_problems(campaign))
        campaigns.append(campaign)
    if problems:
        raise ValidationError(problems, subject="import package")
    return campaigns, surfaces


def _limit_problems(campaign: Campaign) -> list[str]:
    """The documented limits an imported campaign must keep (its types are checked on load)."""
    version = campaign.newest_version
    problems: list[str] = []
    if campaign.name.strip():
        checks.text(problems, "name", campaign.name)
    else:
        problems.append(f"campaign name {checks.shown(campaign.name)} must be a non-empty string")
    checks.text(
        problems,
        "description",
        campaign.description,
        max_length=checks.MAX_DESCRIPTION,
        allow_empty=True,
    )
    checks.strings(
        problems, "tags", campaign.tags, max_items=checks.MAX_TAGS, max_length=checks.MAX_TAG
    )
    checks.optional_text(problems, "audience", version.audience)
    checks.optional_text(problems, "namespace", version.namespace)
    for label, items in (("actions", version.actions), ("quiet_hours", version.quiet_hours)):
        if len(items) > checks.MAX_ACTIONS:
            problems.append(f"{label} has {len(items)} items; the limit is {checks.MAX_ACTIONS}")
    return problems


def _unresolved(
    sources: list[Campaign],
    surface_names: dict[str, dict[str, str]],
    local: dict[str, ChannelSurface],
) -> list[str]:
    problems = []
    for source in sources:
        for number, action in enumerate(source.newest_version.actions, start=1):
            where = f"campaign {source.name!r} action {number}"
            exported = surface_names.get(action.surface_id)
            if exported is None:
                problems.append(f"{where}: the package does not name surface {action.surface_id!r}")
                continue
            name = exported.get("name", "")
            surface = local.get(name)
            if surface is None:
                problems.append(f"{where}: no surface named {name!r} in this kit; create it first")
            elif surface.channel.value != exported.get("channel"):
                problems.append(
                    f"{where}: surface {name!r} here is for {surface.channel}, "
                    f"but the package expects {exported.get('channel')}"
                )
    return problems


def _remap(
    version: CampaignVersion,
    surface_names: dict[str, dict[str, str]],
    local: dict[str, ChannelSurface],
    now: pendulum.DateTime,
    actor: str,
) -> CampaignVersion:
    actions = tuple(
        attrs.evolve(a, surface_id=local[surface_names[a.surface_id]["name"]].id)
        for a in version.actions
    )
    return attrs.evolve(version, number=1, actions=actions, created_at=now, created_by=actor)
