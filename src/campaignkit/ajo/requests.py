"""Parsing AJO request bodies: fields, shapes and limits, with JSON-path problems."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Final

import pendulum

from campaignkit.domain import checks
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.checks import shown
from campaignkit.domain.triggers import MAX_RECIPIENTS, Recipient, json_object_problems
from campaignkit.errors import ValidationError

RECIPIENT_TYPES: Final = ("aep", "external")
"""AJO's recipient types: a known profile (``aep``), or someone with no profile
(``external``: addressed by ``channelData`` or its ``userId``, nothing stored)."""

CHANNEL_DATA_KEYS: Final[Mapping[str, ChannelType]] = {
    "emailAddress": ChannelType.EMAIL,
    "mobilePhoneNumber": ChannelType.SMS,
    "phoneNumber": ChannelType.SMS,
    "pushToken": ChannelType.PUSH,
}
"""``channelData`` address keys and the channels they address: AJO's
``emailAddress`` and ``mobilePhoneNumber``, and campaignkit's earlier spellings
``phoneNumber`` and ``pushToken`` (still accepted). Push as AJO documents it is
``pushInfo`` (:data:`PUSH_INFO_KEYS`)."""

PUSH_INFO_KEYS: Final = ("appID", "platform", "token")
"""The fields of ``channelData.pushInfo``, all required strings; ``token`` is the
push address of this message."""

MERGE_POLICY_KEYS: Final = ("mergePolicyName", "mergePolicySchema")
"""AJO's merge-policy fields of a recipient: optional strings. campaignkit has
one view of each profile, so they select nothing."""


def text(
    body: Mapping[str, Any],
    key: str,
    path: str,
    problems: list[str],
    *,
    max_length: int | None = None,
) -> str:
    """The non-empty string at ``key``; a problem naming ``path`` otherwise.

    The string must also encode as UTF-8 and, with ``max_length``, be at most
    that many characters (the limits campaignkit's own arguments have), so
    that the problem names the JSON path, not campaignkit's argument.
    """
    value = body.get(key)
    if value is None:
        problems.append(f"{path} is required")
        return ""
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{path} must be a non-empty string, not {shown(value)}")
        return ""
    found = len(problems)
    checks.text(problems, path, value, max_length=max_length or len(value))
    return value if len(problems) == found else ""


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


def request_ids(body: Mapping[str, Any]) -> dict[str, str]:
    """The body's ``requestId`` and ``campaignId`` that are strings (for ``additionalContext``)."""
    return {
        key: value
        for key in ("requestId", "campaignId")
        if isinstance(value := body.get(key), str) and value and checks.encodable(value)
    }


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
        if key == "pushInfo":
            token = _push_info(value, f"{path}.pushInfo", problems)
            if token:
                data[ChannelType.PUSH] = token
        elif channel is None:
            known = ", ".join([*CHANNEL_DATA_KEYS, "pushInfo"])
            problems.append(f"{path}.{key} is not a known channel data field ({known})")
        elif not isinstance(value, str) or not value:
            problems.append(f"{path}.{key} must be a non-empty string, not {shown(value)}")
        elif address := text(raw, key, f"{path}.{key}", problems, max_length=checks.MAX_ADDRESS):
            data[channel] = address
    return data


def _push_info(value: object, path: str, problems: list[str]) -> str:
    """The token of ``channelData.pushInfo`` (``""`` with problems when it is wrong)."""
    if not isinstance(value, Mapping):
        problems.append(
            f"{path} must be an object with appID, platform and token, not {shown(value)}"
        )
        return ""
    found = len(problems)
    fields = [
        text(value, key, f"{path}.{key}", problems, max_length=checks.MAX_ADDRESS)
        for key in PUSH_INFO_KEYS
    ]
    return fields[2] if len(problems) == found else ""


def push_apps(body: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """``(path, appID, platform)`` of every ``channelData.pushInfo`` of a parsed body.

    Call it once :func:`parse_recipients` found no problem: each ``pushInfo``
    is then an object of non-empty strings. The campaign's push surface is
    compared with them by ``execute_unitary``.
    """
    found = []
    for number, item in enumerate(body.get("recipients") or ()):
        push = (item.get("channelData") or {}).get("pushInfo")
        if push is not None:
            path = f"recipients[{number}].channelData.pushInfo"
            found.append((path, push["appID"], push["platform"]))
    return found


def _merge_policy(item: Mapping[str, Any], path: str, problems: list[str]) -> None:
    for key in MERGE_POLICY_KEYS:
        if item.get(key) is not None:
            text(item, key, f"{path}.{key}", problems)


def parse_recipients(body: Mapping[str, Any], problems: list[str]) -> list[Recipient]:
    """The ``recipients`` of a unitary body; every problem goes to ``problems``.

    Each is ``{"type": "aep" | "external", "userId", "namespace",
    "mergePolicyName"?, "mergePolicySchema"?, "channelData"?: {"emailAddress"?,
    "mobilePhoneNumber"?, "pushInfo"?: {"appID", "platform", "token"}},
    "profile"?, "context"?}``; ``profile`` and ``context`` values may be any
    JSON (AJO documents strings and objects). The count (1 to 20), the
    duplicates, the reserved ``system`` key, the 200 KB of the whole request
    and the campaign's namespace are checked by ``session.trigger``.
    """
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
        found = len(problems)
        user_id = text(item, "userId", f"{path}.userId", problems, max_length=checks.MAX_ID)
        namespace = text(
            item, "namespace", f"{path}.namespace", problems, max_length=checks.MAX_NAME
        )
        channel_data = _channel_data(
            object_field(item, "channelData", f"{path}.channelData", problems),
            f"{path}.channelData",
            problems,
        )
        _merge_policy(item, path, problems)
        profile = object_field(item, "profile", f"{path}.profile", problems)
        context = object_field(item, "context", f"{path}.context", problems)
        if len(problems) > found:  # named by JSON path above; the values' own problems too
            for name, value in (("profile", profile), ("context", context)):
                problems.extend(
                    f"{path}.{problem}"
                    for problem in json_object_problems(value, name, max_bytes=None)
                )
            continue
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
