"""What a run needs for every batch, prepared once when a worker claims it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

import attrs

from campaignkit.delivery.gate import GateRules
from campaignkit.delivery.render import CompiledContent, TemplateFailed
from campaignkit.domain.campaign import Action, Campaign, CampaignVersion
from campaignkit.domain.campaign_enums import CampaignStatus, Category
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import MessageBuilder, Run, RunKind, message_builder
from campaignkit.domain.rules import RuleBook
from campaignkit.domain.surface import ChannelSurface, SurfaceSettings
from campaignkit.domain.unsubscribe import (
    UnsubscribeLink,
    UnsubscribeSigner,
    link_for,
    missing_url,
    needs_url,
)
from campaignkit.errors import DeliveryError
from campaignkit.ports import Channel, UnitOfWork


@attrs.frozen
class Plan:
    """What a run needs for every batch, prepared once.

    Attributes:
        campaign: The campaign as it was when the run was claimed.
        version: The version the run delivers (with the run's audience, if it has one).
        actions: The version's actions.
        contents: Compiled templates per action id.
        settings: Surface settings per action id.
        channels: The channel per action id.
        shared_context: The API context every recipient sees.
        contexts: Per-recipient API context of a unitary trigger, by profile id.
        gate_rules: What the send-time gate checks.
        links: How each action's messages get their unsubscribe URL, by action
            id (marketing email on a surface with ``unsubscribe_url``, from a
            kit with a secret).
        unlinked: Why an action whose templates use ``{{ unsubscribe_url }}``
            cannot give one, by action id (its messages fail with this reason).
        builders: Builds each action's messages of this run, by action id.
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
    links: Mapping[str, UnsubscribeLink] = attrs.field(factory=dict)
    unlinked: Mapping[str, str] = attrs.field(factory=dict)
    builders: Mapping[str, MessageBuilder] = attrs.field(factory=dict)

    @property
    def renders_quickly(self) -> bool:
        """True when every template is a pure substitution (rendered without Jinja).

        Such a batch renders in well under a millisecond, so the runner decides
        it inside its intent transaction; a Jinja template may take up to its
        render budget per message, so its batch is decided outside any
        transaction (a store's write lock is never held that long).
        """
        return all(
            template.fast
            for content in self.contents.values()
            for template in content.fields.values()
        )

    def context(self, profile_id: str) -> Mapping[str, Any]:
        """The API context templates see for this recipient."""
        return self.contexts.get(profile_id, self.shared_context)

    def unsubscribe_url(self, run_id: str, action_id: str, profile_id: str) -> str | None:
        """The signed unsubscribe URL of one message, or None when it carries none.

        Raises:
            TemplateFailed: the action's templates use ``{{ unsubscribe_url }}``
                but its messages cannot carry one (the surface or the kit changed
                since activation checked it).
        """
        link = self.links.get(action_id)
        if link is not None:
            return link.url(run_id, action_id, profile_id)
        why = self.unlinked.get(action_id)
        if why is not None:
            raise TemplateFailed(missing_url(why))
        return None


def version_of(campaign: Campaign, number: int) -> CampaignVersion:
    """Version ``number`` of ``campaign`` (live or superseded).

    Raises:
        DeliveryError: the campaign no longer has that version.
    """
    for version in (campaign.live_version, *campaign.superseded_versions):
        if version is not None and version.number == number:
            return version
    raise DeliveryError(f"campaign {campaign.id!r} has no version {number}")


@attrs.frozen(eq=False)
class _Shared:
    """What a plan takes from its campaign, surfaces, rules and channels, not from its run.

    It is reused only while every input is the very object it was made from
    (``is``; the rule book may also be equal, as the default book is made anew
    while none is stored): the SQLite store hands back the same decoded object
    while a document's text is unchanged, so a change any process made is a
    new object and a new entry.
    """

    campaign: Campaign
    version: CampaignVersion
    surfaces: tuple[object, ...]
    book: RuleBook
    channels: Mapping[str, Channel]
    signer: UnsubscribeSigner | None
    contents: Mapping[str, CompiledContent]
    settings: Mapping[str, SurfaceSettings]
    links: Mapping[str, UnsubscribeLink]
    unlinked: Mapping[str, str]
    gate_rules: GateRules


PlanParts: TypeAlias = "dict[tuple[str, int], _Shared]"
"""The last shared part made per (campaign id, version number); see :class:`_Shared`.

Each runner keeps its own (so a closed kit's campaigns, channels and signer
go with it); :data:`_SHARED` serves callers that pass none.
"""

_SHARED: PlanParts = {}
_SHARED_LIMIT = 256


def make_plan(
    uow: UnitOfWork,
    campaign: Campaign,
    run: Run,
    wired: Mapping[ChannelType, Channel],
    signer: UnsubscribeSigner | None = None,
    *,
    parts: PlanParts | None = None,
) -> Plan:
    """Compile templates and gather surfaces, channels and rules for ``run``.

    ``signer`` (the kit's, when it has a secret) signs unsubscribe URLs. The
    surfaces and rules are read every time; what they, the campaign and the
    channels give is reused while each is the same object as last time, from
    ``parts`` (a runner's own; by default one shared by the process).

    The plan's version is the run's, with the run's own audience when it names
    one (an audience execution's ``audience.id``): every reader of
    ``plan.version.audience`` (streaming, counting, waves, shards) takes it.

    Raises:
        DeliveryError: a surface was deleted, or no channel is wired for an action.
    """
    version = version_of(campaign, run.version)
    if run.audience is not None and run.audience != version.audience:
        version = attrs.evolve(version, audience=run.audience)
    surfaces = []
    channels: dict[str, Channel] = {}
    for action in version.actions:
        surface = uow.surfaces.find(action.surface_id)
        if surface is None:
            raise DeliveryError(f"surface {action.surface_id!r} no longer exists")
        channel = wired.get(action.channel)
        if channel is None:
            raise DeliveryError(
                f"no channel is wired for {action.channel}; pass channels= to the kit"
            )
        surfaces.append(surface)
        channels[action.id] = channel
    book = uow.rules.get()
    key = (campaign.id, version.number)
    made = _SHARED if parts is None else parts
    shared = made.get(key)
    if not (
        shared is not None
        and shared.campaign is campaign
        and (shared.book is book or shared.book == book)  # no stored book: a new default
        and shared.signer is signer
        and len(shared.surfaces) == len(surfaces)
        and all(old is new for old, new in zip(shared.surfaces, surfaces, strict=True))
        and all(shared.channels[a] is c for a, c in channels.items())
    ):
        shared = _share(campaign, version, surfaces, book, channels, signer)
        if len(made) >= _SHARED_LIMIT:
            made.clear()
        made[key] = shared
    contexts: dict[str, Mapping[str, Any]] = {}
    for recipient in run.recipients:  # a repeated profile is a duplicate: the first counts
        contexts.setdefault(recipient.profile.id, recipient.context)
    settings = shared.settings
    builders = {
        action.id: message_builder(
            run_id=run.id,
            campaign_id=campaign.id,
            action_id=action.id,
            channel=action.channel,
            settings=settings[action.id],
            transactional=campaign.category is Category.TRANSACTIONAL,
        )
        for action in version.actions
    }
    return Plan(
        campaign,
        version,
        version.actions,
        shared.contents,
        settings,
        shared.channels,
        run.context,
        contexts,
        shared.gate_rules,
        shared.links,
        shared.unlinked,
        builders,
    )


def _share(  # noqa: PLR0917 - private, the inputs of one shared part
    campaign: Campaign,
    version: CampaignVersion,
    surfaces: list[ChannelSurface],
    book: RuleBook,
    channels: dict[str, Channel],
    signer: UnsubscribeSigner | None,
) -> _Shared:
    contents, settings = {}, {}
    links: dict[str, UnsubscribeLink] = {}
    unlinked: dict[str, str] = {}
    for action, surface in zip(version.actions, surfaces, strict=True):
        contents[action.id] = CompiledContent.of(action.content.templates())
        settings[action.id] = surface.settings
        link = link_for(
            signer,
            campaign_id=campaign.id,
            category=campaign.category,
            channel=action.channel,
            settings=surface.settings,
            surface_name=surface.name,
        )
        if isinstance(link, UnsubscribeLink):
            links[action.id] = link
        elif needs_url(contents[action.id].names):
            unlinked[action.id] = link
    gate_rules = GateRules(
        marketing=campaign.category is Category.MARKETING,
        campaign_zone=version.schedule.timezone,
        send_window=version.schedule.send_window,
        channel_rules={a.channel: book.for_channel(a.channel) for a in version.actions},
        campaign_quiet_hours=version.quiet_hours,
        rate_limits={a.id: a.rate_limit for a in version.actions if a.rate_limit},
    )
    return _Shared(
        campaign,
        version,
        tuple(surfaces),
        book,
        channels,
        signer,
        contents,
        settings,
        links,
        unlinked,
        gate_rules,
    )


def decided_at_claim(run: Run, plan: Plan, batch_size: int) -> bool:
    """True for a unitary trigger no worker has started: its batch may be decided at claim.

    Nothing of such a run is recorded yet (no ledger entry, no count), its campaign
    is LIVE and its templates are pure substitutions (deciding takes a moment, so
    the claim's transaction may hold the write lock for it), and it has no waves
    sized by an audience (whose size is asked outside any transaction), and its
    recipients fit in one batch (a high-throughput run shared by many requests
    is delivered batch by batch like any other).

    Args:
        run: The run as stored before this claim.
        plan: Its plan.
        batch_size: The delivery settings' batch size.

    Returns:
        Whether the claim's transaction may decide and record the run's batch.
    """
    version = plan.version
    return (
        run.kind is RunKind.TRIGGER
        and run.started_at is None
        and not run.position
        and not run.streamed
        and not run.counts
        and plan.campaign.status is CampaignStatus.LIVE
        and (version.schedule.waves is None or version.audience is None)
        and plan.renders_quickly
        and len(run.recipients) <= batch_size
    )
