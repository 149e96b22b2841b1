"""Channels and the content an action sends over each of them."""

from __future__ import annotations

from typing import ClassVar, TypeAlias

import attrs

from campaignkit.domain import checks
from campaignkit.domain.text_enum import TextEnum


class ChannelType(TextEnum):
    """A delivery channel."""

    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"

    def __str__(self) -> str:
        return self.value


@attrs.frozen
class EmailContent:
    """The content of an email action. Every field is a template.

    Attributes:
        subject: Subject line template.
        html: HTML body template.
        text: Optional plain-text body template.
    """

    channel: ClassVar[ChannelType] = ChannelType.EMAIL
    subject: str
    html: str
    text: str | None = None

    def __attrs_post_init__(self) -> None:
        """Refuse template fields that are not strings (loaded values too)."""
        _check_templates(self, ("text",))

    def templates(self) -> dict[str, str]:
        """Return the template fields by name (only those that are set)."""
        fields = {"subject": self.subject, "html": self.html}
        if self.text is not None:
            fields["text"] = self.text
        return fields


@attrs.frozen
class SmsContent:
    """The content of an SMS action.

    Attributes:
        text: Message body template.
    """

    channel: ClassVar[ChannelType] = ChannelType.SMS
    text: str

    def __attrs_post_init__(self) -> None:
        """Refuse template fields that are not strings (loaded values too)."""
        _check_templates(self)

    def templates(self) -> dict[str, str]:
        """Return the template fields by name."""
        return {"text": self.text}


@attrs.frozen
class PushContent:
    """The content of a push notification action.

    Attributes:
        title: Title template.
        body: Body template.
    """

    channel: ClassVar[ChannelType] = ChannelType.PUSH
    title: str
    body: str

    def __attrs_post_init__(self) -> None:
        """Refuse template fields that are not strings (loaded values too)."""
        _check_templates(self)

    def templates(self) -> dict[str, str]:
        """Return the template fields by name."""
        return {"title": self.title, "body": self.body}


Content: TypeAlias = EmailContent | SmsContent | PushContent
"""Any action content."""


def _check_templates(content: Content, optional: tuple[str, ...] = ()) -> None:
    """Refuse template fields that are not UTF-8 strings of at most ``MAX_TEMPLATE`` characters.

    Emptiness is left to activation, which reports every missing piece of a draft.
    """
    problems: list[str] = []
    label = type(content).__name__
    for field in attrs.fields(type(content)):
        value = getattr(content, field.name)
        if value is None and field.name in optional:
            continue
        checks.text(
            problems,
            f"{label} {field.name}",
            value,
            max_length=checks.MAX_TEMPLATE,
            allow_empty=True,
        )
    checks.raise_if(problems, label)
