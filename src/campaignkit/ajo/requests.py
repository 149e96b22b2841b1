"""Parsing AJO request bodies: fields, shapes and limits, with JSON-path problems."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Final

import pendulum

from campaignkit.domain.channels import ChannelType
from campaignkit.domain.checks import shown
from campaignkit.domain.triggers import MAX_RECIPIENTS, Recipient
from campaignkit.errors import ValidationError

RECIPIENT_TYPES: Final = ("aep", "external")
"""AJO's recipient types: a known profile (``aep``), or someone with no profile
(``external``: addressed by ``channelData`` only, nothing stored)."""

CHANNEL_DATA_KEYS: Final[Mapping[str, ChannelType]] = {
    "emailAddress": ChannelType.EMAIL,
    "mobilePhoneNumber": ChannelType.SMS,
    "phoneNumber": ChannelType.SMS,
    "pushToken": ChannelType.PUSH,
}
"""``channelData`` keys of AJO payloads and the channels they address."""


def text(body: Mapping[str, Any], key: str, path: str, problems: list[str]) -> str:
    """The non-empty string at ``key``; a problem naming ``path`` otherwise."""
    value = body.get(key)
    if value is None:
        problems.append(f"{path} is required")
        return ""
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{path} must be a non-empty string, not {shown(value)}")
        return ""
    return value


def object_field(
    body: Mapping[str, Any], key: str, path: str, problems: list[str]
) -> Mapping[str, Any] | None:
    """The JSON object at ``key`` (None when absent); a problem naming ``path`` otherwise."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        problems.append(f"{path} must be an object, not {type(value).__name__}")
        return None
    return value


def body_object(body: object) -> Mapping[str, Any]:
    """The request body as a mapping; a ``ValidationError`` when it is not an object."""
    if not isinstance(body, Mapping):
        raise ValidationError(
            [f"the request body must be a JSON object, not {type(body).__name__}"]
        )
    return body


def _channel_data(
    raw: Mapping[str, Any] | None, path: str, problems: list[str]
) -> dict[ChannelType, str] | None:
    if raw is None:
        return None
    data: dict[ChannelType, str] = {}
    for key, value in raw.items():
        channel = CHANNEL_DATA_KEYS.get(key)
        if channel is None:
            known = ", ".join(CHANNEL_DATA_KEYS)
            problems.append(f"{path}.{key} is not a known channel data field ({known})")
        elif not isinstance(value, str) or not value:
            problems.append(f"{path}.{key} must be a non-empty string")
        else:
            data[channel] = value
    return data


def parse_recipients(body: Mapping[str, Any], problems: list[str]) -> list[Recipient]:
    """The ``recipients`` of a unitary body; every problem goes to ``problems``."""
    raw = body.get("recipients")
    if raw is None:
        problems.append("recipients is required")
        return []
    if not isinstance(raw, list):
        problems.append(f"recipients must be an array, not {type(raw).__name__}")
        return []
    if not 1 <= len(raw) <= MAX_RECIPIENTS:
        problems.append(f"recipients must hold 1 to {MAX_RECIPIENTS} recipients, not {len(raw)}")
    recipients = []
    for number, item in enumerate(raw):
        path = f"recipients[{number}]"
        if not isinstance(item, Mapping):
            problems.append(f"{path} must be an object, not {type(item).__name__}")
            continue
        kind = item.get("type")
        if kind not in RECIPIENT_TYPES:
            problems.append(f"{path}.type must be 'aep' or 'external', not {shown(kind)}")
        user_id = text(item, "userId", f"{path}.userId", problems)
        namespace = text(item, "namespace", f"{path}.namespace", problems)
        channel_data = _channel_data(
            object_field(item, "channelData", f"{path}.channelData", problems),
            f"{path}.channelData",
            problems,
        )
        if kind == "external" and not channel_data:
            problems.append(f"{path}.channelData is required for an external recipient")
        profile = object_field(item, "profile", f"{path}.profile", problems)
        context = object_field(item, "context", f"{path}.context", problems)
        try:
            recipients.append(
                Recipient(
                    user_id, namespace, channel_data, profile, context, external=kind == "external"
                )
            )
        except ValidationError as exc:  # keys that are not strings, too deep, not UTF-8 ...
            problems.extend(f"{path}.{problem}" for problem in exc.problems)
    return recipients


def instant(raw: object, path: str, problems: list[str]) -> pendulum.DateTime | None:
    """An ISO 8601 instant with a UTC offset; a problem naming ``path`` otherwise."""
    try:
        if not isinstance(raw, str):
            raise TypeError(raw)
        parsed = datetime.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            raise ValueError(raw)
    except (TypeError, ValueError):
        problems.append(f"{path} must be an ISO 8601 instant with a UTC offset, not {shown(raw)}")
        return None
    return pendulum.instance(parsed)
