"""Rendering proofs: the newest version of a campaign for a few test profiles.

A proof renders exactly like a run (same templates, same addresses) but it
is no run: no ledger, no report, no frequency-cap contact. Test profiles
need no consent; a suppressed address gets nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import attrs
import jinja2

from campaignkit.delivery.budget import (
    DEFAULT_LIMITS,
)
from campaignkit.delivery.render import (
    CompiledContent,
    MissingAttribute,
    RenderLimits,
    TemplateFailed,
)
from campaignkit.domain.campaign import Campaign
from campaignkit.domain.campaign_enums import Category
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import ExclusionReason, Message, idempotency_key
from campaignkit.domain.profile import Profile
from campaignkit.domain.recipients import address_of
from campaignkit.domain.surface import ChannelSurface
from campaignkit.domain.unsubscribe import (
    UnsubscribeLink,
    UnsubscribeSigner,
    link_for,
    missing_url,
    needs_url,
)

Suppressed = Callable[[ChannelType, Sequence[str]], set[str]]
"""Which of some addresses are suppressed on a channel."""


@attrs.frozen
class Rendered:
    """The proofs of one call, before any is sent.

    Attributes:
        messages: One message per (action, test profile), in action then profile order.
        excluded: Reason per message index that must not be sent (suppressed).
        problems: Why the proof cannot be sent at all (no address, unrenderable).
    """

    messages: tuple[Message, ...]
    excluded: Mapping[int, ExclusionReason]
    problems: tuple[str, ...]

    @property
    def to_send(self) -> list[Message]:
        """The messages that go to a channel."""
        return [m for i, m in enumerate(self.messages) if i not in self.excluded]


def render_proofs(
    campaign: Campaign,
    surfaces: Mapping[str, ChannelSurface | None],
    profiles: Sequence[Profile],
    *,
    run_id: str,
    suppressed: Suppressed,
    limits: RenderLimits = DEFAULT_LIMITS,
    signer: UnsubscribeSigner | None = None,
) -> Rendered:
    """Render the newest version of ``campaign`` for each test profile.

    Args:
        campaign: The campaign; its newest version (the draft if any) is rendered.
        surfaces: The surface of each action, by action id (None: it does not exist).
        profiles: The test profiles, in the caller's order.
        run_id: The ``proof-...`` id the messages carry.
        suppressed: Looks up suppressed addresses (whatever the category: a
            proof is never worth a bounce).
        limits: The kit's render limits (a proof renders like a delivery).
        signer: The kit's unsubscribe signer: a marketing email proof carries
            its unsubscribe URL like the real mail (a proof token, which
            verifies but changes nothing).
    """
    version = campaign.newest_version
    namespace = version.namespace or ""
    problems: list[str] = []
    messages: list[Message] = []
    for action in version.actions:
        surface = surfaces.get(action.id)
        if surface is None:
            problems.append(f"action {action.id}: surface {action.surface_id!r} does not exist")
            continue
        try:
            content = CompiledContent.of(action.content.templates())
        except jinja2.TemplateError as exc:
            problems.append(f"action {action.id}: the template does not compile: {exc}")
            continue
        link = link_for(
            signer,
            campaign_id=campaign.id,
            category=campaign.category,
            channel=action.channel,
            settings=surface.settings,
            surface_name=surface.name,
        )
        if not isinstance(link, UnsubscribeLink) and needs_url(content.names):
            problems.append(f"action {action.id}: {missing_url(link)}")
            continue
        for profile in profiles:
            address = address_of(profile, action.channel, namespace)
            if address is None:
                problems.append(f"profile {profile.id!r} has no {action.channel} address")
                continue
            url = None
            if isinstance(link, UnsubscribeLink):
                url = link.url(run_id, action.id, profile.id, proof=True)
            try:
                variables = {} if url is None else {"unsubscribe_url": url}
                fields = content.render(profile.attributes, {}, limits, variables)
            except (MissingAttribute, TemplateFailed) as exc:
                problems.append(f"action {action.id} for profile {profile.id!r}: {exc}")
                continue
            messages.append(
                Message(
                    run_id=run_id,
                    campaign_id=campaign.id,
                    action_id=action.id,
                    profile_id=profile.id,
                    channel=action.channel,
                    address=address,
                    idempotency_key=idempotency_key(run_id, action.id, profile.id),
                    fields=fields,
                    settings=surface.settings,
                    proof=True,
                    transactional=campaign.category is Category.TRANSACTIONAL,
                    unsubscribe_url=url,
                )
            )
    excluded: dict[int, ExclusionReason] = {}
    for channel in dict.fromkeys(m.channel for m in messages):
        on_channel = [(i, m) for i, m in enumerate(messages) if m.channel is channel]
        blocked = suppressed(channel, [m.address for _, m in on_channel])
        excluded.update(
            (i, ExclusionReason.SUPPRESSED) for i, m in on_channel if m.address in blocked
        )
    return Rendered(tuple(messages), excluded, tuple(problems))
