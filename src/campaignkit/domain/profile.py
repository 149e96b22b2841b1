"""Profiles: the recipients of campaigns."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from campaignkit.domain.channels import ChannelType


def _frozen_mapping(value: Mapping[Any, Any]) -> Mapping[Any, Any]:
    return MappingProxyType(dict(value))


@attrs.frozen(eq=True, hash=False)
class Profile:
    """A recipient.

    Attributes:
        id: Profile identifier.
        identities: Identity per namespace (``{"email": "ann@example.com"}``).
        attributes: Nested attributes templates read as ``profile.<path>``.
        consents: Opt-in per channel (marketing messages need it).
        channel_data: Address per channel when it differs from the identity.
        timezone: IANA time zone of the recipient, if known.
        language: Preferred language, if known.
    """

    id: str
    identities: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen_mapping)
    attributes: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)
    consents: Mapping[ChannelType, bool] = attrs.field(factory=dict, converter=_frozen_mapping)
    channel_data: Mapping[ChannelType, str] = attrs.field(factory=dict, converter=_frozen_mapping)
    timezone: str | None = None
    language: str | None = None
