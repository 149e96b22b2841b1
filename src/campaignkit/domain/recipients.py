"""Deciding, per (profile, action), whether to send and to which address.

Pure functions. Exclusions are checked in the precedence order of
:class:`~campaignkit.domain.delivery.ExclusionReason`, so a recipient
excluded for several reasons is counted under the first.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import TypeAlias

import attrs

from campaignkit.domain.campaign_enums import Category
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import ExclusionReason
from campaignkit.domain.profile import Profile

_IDENTITY_CHANNELS = {"email": ChannelType.EMAIL, "phone": ChannelType.SMS}
"""Namespaces whose identity is also the address on a channel."""


@attrs.frozen
class Send:
    """Deliver to ``address``.

    Attributes:
        address: Email address, phone number or push token.
    """

    address: str


@attrs.frozen
class Exclude:
    """Do not deliver, for ``reason``.

    Attributes:
        reason: Why.
    """

    reason: ExclusionReason


Verdict: TypeAlias = Send | Exclude
"""The decision for one (profile, action)."""


class _UnknownProfile(Profile):
    """An empty profile standing for an id the profile store does not know."""

    __slots__ = ()


def unknown_profile(profile_id: str) -> Profile:
    """The stand-in for an audience member the profile store does not know.

    Audiences yield it in the member's place (keeping positions stable); a
    run excludes it as ``unknown_profile``.
    """
    return _UnknownProfile(id=profile_id)


UNKNOWN_PROFILE_TYPE: type[Profile] = _UnknownProfile
"""The type of :func:`unknown_profile`'s stand-ins (``type(p) is UNKNOWN_PROFILE_TYPE``)."""


def identity_is_address(namespace: str, channel: ChannelType) -> bool:
    """True when the identity in ``namespace`` is also the address on ``channel``.

    Args:
        namespace: The campaign's identity namespace.
        channel: The channel.
    """
    return _IDENTITY_CHANNELS.get(namespace) is channel


def address_of(profile: Profile, channel: ChannelType, namespace: str) -> str | None:
    """The recipient's address on ``channel``.

    Channel data wins; otherwise the identity in the campaign's namespace is
    the address when that namespace is ``email`` (for email) or ``phone``
    (for SMS). Push needs a token in channel data.
    """
    explicit = profile.channel_data.get(channel)
    if explicit:
        return explicit
    if _IDENTITY_CHANNELS.get(namespace) is channel:
        return profile.identities.get(namespace) or None
    return None


def addresses_of(profiles: Sequence[Profile], channel: ChannelType, namespace: str) -> list[str]:
    """The addresses :func:`address_of` gives for ``profiles`` on ``channel`` (none left out).

    One pass over the batch without a call per profile (the hot path); a profile
    whose data raises is left out, as it fails when it is decided.

    Args:
        profiles: The recipients.
        channel: The channel.
        namespace: The campaign's identity namespace.
    """
    by_identity = _IDENTITY_CHANNELS.get(namespace) is channel
    try:
        if by_identity:
            found = [p.channel_data.get(channel) or p.identities.get(namespace) for p in profiles]
        else:
            found = [p.channel_data.get(channel) for p in profiles]
    except Exception:  # bad profile data somewhere: one by one
        found = []
        for profile in profiles:
            try:
                found.append(address_of(profile, channel, namespace))
            except Exception:
                continue
    return [address for address in found if address]


def decide(
    profile: Profile,
    *,
    channel: ChannelType,
    namespace: str,
    category: Category,
    suppressed: Container[str] = (),
) -> Verdict:
    """Send or exclude ``profile`` for one action.

    Checks, in order: a profile the store does not know, the identity in the
    campaign namespace, an address on
    the channel, suppression (marketing only), and consent (marketing only).
    Duplicates, caps, quiet hours, missing template data and windows are
    decided by the caller, which has the context they need.

    Args:
        profile: The recipient.
        channel: The action's channel.
        namespace: The campaign's identity namespace.
        category: MARKETING needs consent and respects suppressions.
        suppressed: Addresses suppressed on ``channel``.
    """
    found = address_or_reason(
        profile, channel, namespace, category is Category.MARKETING, suppressed
    )
    return Exclude(found) if isinstance(found, ExclusionReason) else Send(found)


def address_or_reason(
    profile: Profile,
    channel: ChannelType,
    namespace: str,
    marketing: bool,
    suppressed: Container[str],
) -> str | ExclusionReason:
    """:func:`decide` without the wrapper values: the address, or why not (the hot path).

    Args:
        profile: The recipient.
        channel: The action's channel.
        namespace: The campaign's identity namespace.
        marketing: True for a MARKETING campaign (consent and suppressions apply).
        suppressed: Addresses suppressed on ``channel``.

    Returns:
        The address to send to, or the exclusion reason.
    """
    if type(profile) is _UnknownProfile:
        return ExclusionReason.UNKNOWN_PROFILE
    identities = profile.identities
    if not identities.get(namespace):
        return ExclusionReason.MISSING_IDENTITY
    address = profile.channel_data.get(channel)
    if not address:
        address = (
            identities.get(namespace) if _IDENTITY_CHANNELS.get(namespace) is channel else None
        )
        if not address:
            return ExclusionReason.MISSING_CHANNEL_DATA
    if marketing:
        if address in suppressed:
            return ExclusionReason.SUPPRESSED
        if not profile.consents.get(channel, False):
            return ExclusionReason.NO_CONSENT
    return address
