"""Channel surfaces: the reusable delivery configuration of one channel."""

from __future__ import annotations

import urllib.parse
from typing import ClassVar, Literal, TypeAlias

import attrs
import pendulum

from campaignkit.domain import checks, display
from campaignkit.domain.campaign_enums import Category
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.text_enum import TextEnum


class SurfaceStatus(TextEnum):
    """Whether a surface may be used by new activations."""

    ACTIVE = "ACTIVE"
    DEACTIVATED = "DEACTIVATED"

    def __str__(self) -> str:
        return self.value


MAX_UNSUBSCRIBE_URL = 512
"""The longest ``EmailSettings.unsubscribe_url``: with the signed token the link
stays within the 900 characters SMTP lets a ``List-Unsubscribe`` URL have."""


@attrs.frozen
class EmailSettings:
    """Email surface settings.

    Attributes:
        sender: Sender address (``From``).
        sender_name: Display name of the sender.
        reply_to: Reply-to address.
        subdomain: The delegated subdomain the email is sent from.
        unsubscribe_url: The https landing URL of one-click unsubscribe. On a
            marketing surface, when the kit has a ``secret``, each message's
            ``List-Unsubscribe`` header and the templates' ``{{ unsubscribe_url }}``
            carry this URL with the recipient's signed token.
        unsubscribe_mailto: An address that also unsubscribes by email (put in
            ``List-Unsubscribe`` as a ``mailto:`` beside the https URL).
    """

    sender: str
    sender_name: str | None = None
    reply_to: str | None = None
    subdomain: str | None = None
    unsubscribe_url: str | None = None
    unsubscribe_mailto: str | None = None

    channel: ClassVar[ChannelType] = ChannelType.EMAIL

    def __attrs_post_init__(self) -> None:
        """Refuse settings that are not UTF-8 strings (values are checked by ``problems``)."""
        _check_strings(
            self,
            optional=(
                "sender_name",
                "reply_to",
                "subdomain",
                "unsubscribe_url",
                "unsubscribe_mailto",
            ),
        )

    def problems(self) -> list[str]:
        """Return what is wrong with these settings (empty when valid)."""
        found = []
        for label, address in (
            ("sender", self.sender),
            ("reply_to", self.reply_to),
            ("unsubscribe_mailto", self.unsubscribe_mailto),
        ):
            if address is not None and not _looks_like_address(address):
                found.append(f"email {label} {address!r} is not an email address (name@domain)")
        if self.unsubscribe_url is not None and not _looks_like_https_url(self.unsubscribe_url):
            found.append(
                f"email unsubscribe_url {self.unsubscribe_url!r} is not an https URL with a "
                "host and no fragment (https://example.com/unsubscribe); one-click "
                "unsubscribe (RFC 8058) needs https"
            )
        elif self.unsubscribe_url is not None and (
            len(self.unsubscribe_url) > MAX_UNSUBSCRIBE_URL or not self.unsubscribe_url.isascii()
        ):
            found.append(
                f"email unsubscribe_url {checks.shown(self.unsubscribe_url)} must be ASCII "
                f"(percent-encode the rest) and at most {MAX_UNSUBSCRIBE_URL} characters, not "
                f"{len(self.unsubscribe_url)}: the signed token (about 250 characters) is added "
                "to it, and the whole link must fit in one List-Unsubscribe header line"
            )
        elif self.unsubscribe_url is not None and _has_token_parameter(self.unsubscribe_url):
            found.append(
                f"email unsubscribe_url {self.unsubscribe_url!r} already has a token= query "
                "parameter; the kit adds its own signed token=, and a link with two would be "
                "refused by kit.unsubscribe: remove it or rename it"
            )
        return found


@attrs.frozen
class SmsSettings:
    """SMS surface settings.

    Attributes:
        sender_id: The sender id or number shown to recipients.
    """

    sender_id: str

    channel: ClassVar[ChannelType] = ChannelType.SMS

    def __attrs_post_init__(self) -> None:
        """Refuse a sender id that is not a UTF-8 string (emptiness is checked by ``problems``)."""
        _check_strings(self)

    def problems(self) -> list[str]:
        """Return what is wrong with these settings (empty when valid)."""
        return [] if self.sender_id.strip() else ["SMS sender_id must not be empty"]


@attrs.frozen
class PushSettings:
    """Push surface settings.

    Attributes:
        app_id: The mobile or web app identifier.
        platform: ``"ios"``, ``"android"`` or ``"web"``.
    """

    app_id: str
    platform: Literal["ios", "android", "web"] = "ios"

    channel: ClassVar[ChannelType] = ChannelType.PUSH

    def __attrs_post_init__(self) -> None:
        """Refuse settings that are not UTF-8 strings (values are checked by ``problems``)."""
        _check_strings(self)

    def problems(self) -> list[str]:
        """Return what is wrong with these settings (empty when valid)."""
        found = [] if self.app_id.strip() else ["push app_id must not be empty"]
        if self.platform not in ("ios", "android", "web"):
            found.append(f"push platform {self.platform!r} is not one of ios, android, web")
        return found


SurfaceSettings: TypeAlias = EmailSettings | SmsSettings | PushSettings
"""Settings of any channel."""


def _check_strings(settings: SurfaceSettings, optional: tuple[str, ...] = ()) -> None:
    """Refuse fields that are not UTF-8 strings of at most ``MAX_SETTING`` characters."""
    problems: list[str] = []
    label = type(settings).__name__
    for field in attrs.fields(type(settings)):
        value = getattr(settings, field.name)
        if not (value is None and field.name in optional):
            checks.text(
                problems,
                f"{label} {field.name}",
                value,
                max_length=checks.MAX_SETTING,
                allow_empty=True,
            )
    checks.raise_if(problems, label)


def _looks_like_https_url(value: str) -> bool:
    try:
        parts = urllib.parse.urlsplit(value)
        host = parts.hostname
    except ValueError:  # an unbalanced IPv6 bracket, a bad port
        return False
    return (
        parts.scheme == "https"
        and bool(host)
        and not parts.fragment
        and not any(c.isspace() or c in '<>"' for c in value)
    )


def _has_token_parameter(value: str) -> bool:
    """True when an URL's query already names ``token`` (the kit's unsubscribe parameter)."""
    query = urllib.parse.urlsplit(value).query
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True, max_num_fields=None)
    return any(key == "token" for key, _ in pairs)


def _looks_like_address(value: str) -> bool:
    local, at, domain = value.partition("@")
    return bool(local) and bool(at) and "." in domain and " " not in value


@attrs.frozen
class ChannelSurface:
    """A message preset: name, channel, category served and channel settings.

    Attributes:
        id: Identifier.
        name: Unique, human-readable name (export/import resolves surfaces by it).
        channel: The channel it delivers over.
        category: The campaign category it may serve.
        settings: Channel settings; their type matches ``channel``.
        status: ACTIVE or DEACTIVATED.
        created_at: When it was created.
        created_by: Who created it.
        revision: Store revision for optimistic concurrency.
    """

    id: str
    name: str
    channel: ChannelType
    category: Category
    settings: SurfaceSettings
    created_at: pendulum.DateTime
    created_by: str
    status: SurfaceStatus = SurfaceStatus.ACTIVE
    revision: int = 0

    @property
    def is_active(self) -> bool:
        """True when the surface may be used by an activation."""
        return self.status is SurfaceStatus.ACTIVE

    def __repr__(self) -> str:
        """Id, name, channel, category and status in one line (settings left out)."""
        return display.surface_repr(self)


def surface_problems(name: str, channel: ChannelType, settings: SurfaceSettings) -> list[str]:
    """Return every problem with a surface definition (empty when valid)."""
    found = []
    if not name.strip():
        found.append("surface name must not be empty")
    if settings.channel is not channel:
        found.append(
            f"settings {type(settings).__name__} are for channel {settings.channel}, "
            f"not {channel}; pass {_SETTINGS_FOR[channel]}"
        )
    else:
        found.extend(settings.problems())
    return found


_SETTINGS_FOR = {
    ChannelType.EMAIL: "EmailSettings",
    ChannelType.SMS: "SmsSettings",
    ChannelType.PUSH: "PushSettings",
}
