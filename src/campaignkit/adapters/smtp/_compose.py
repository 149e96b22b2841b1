"""Building the RFC 5322 message of a campaignkit email with the standard ``email`` package."""

from __future__ import annotations

import email.policy
import email.utils
import functools
import hashlib
from email.errors import MessageError
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage

import attrs

from campaignkit.adapters.smtp._text import html_to_text
from campaignkit.domain.delivery import Message
from campaignkit.domain.surface import EmailSettings


class _HeaderClasses(HeaderRegistry):
    """The email package's header registry, making each header class once.

    ``HeaderRegistry`` builds a new class for every header it parses (a
    ``type()`` call, the largest single cost of composing a message); the
    classes have no state, so one per header name serves every message.
    """

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(name)
        return made


# The SMTP policy (CRLF line ends, 7-bit headers with RFC 2047 encoded words);
# ``refold_source="none"`` emits the headers stored raw as they are: values
# ASCII by construction, and the long List-Unsubscribe URL, which must not be
# folded into encoded words that no client would open.
POLICY = email.policy.SMTP.clone(refold_source="none", header_factory=_HeaderClasses())

# RFC 5322 allows 998 characters a line; keep room for the header name and brackets.
_MAX_URI = 900


class Unsendable(Exception):
    """A message that no SMTP server could take as it is (answered PermanentFailure).

    Attributes:
        reason: Why, for the ledger.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@attrs.frozen
class Envelope:
    """A composed message and its SMTP envelope.

    Attributes:
        sender: ``MAIL FROM`` (the surface's sender, ASCII).
        recipient: ``RCPT TO`` (the message's address, ASCII).
        data: The message, flattened with CRLF line ends.
        message_id: The ``Message-ID`` without angle brackets.
    """

    sender: str
    recipient: str
    data: bytes
    message_id: str


def message_id(idempotency_key: str, sender_domain: str) -> str:
    """The Message-ID (without brackets) of the message with this idempotency key.

    The same key always gives the same id, so a message re-sent after a lost
    reply or a crash carries the id of the first attempt and a receiving
    system can recognise the repeat.

    Args:
        idempotency_key: The message's idempotency key (run, action, profile).
        sender_domain: The domain of the sender address.

    Returns:
        ``<32 hex digits of sha256(key)>@<sender domain>``.
    """
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:32]
    return f"{digest}@{sender_domain}"


def _ascii_address(address: str, label: str) -> str:
    """``address`` as an ASCII addr-spec (IDNA domain), or :class:`Unsendable` saying why."""
    if "\r" in address or "\n" in address:
        raise Unsendable(f"the {label} address {address!r} contains a line break")
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain:
        raise Unsendable(f"the {label} address {address!r} is not an email address (name@domain)")
    if not local.isascii():
        raise Unsendable(
            f"the {label} address {address!r} has a non-ASCII local part, which needs "
            "SMTPUTF8; this channel sends ASCII envelopes only"
        )
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise Unsendable(
            f"the {label} address {address!r} has a domain IDNA refuses: {exc}"
        ) from exc
    spec = f"{local}@{ascii_domain}"
    try:
        parsed = Address(addr_spec=spec)
    except (ValueError, IndexError) as exc:  # the email package's defects are ValueErrors
        raise Unsendable(f"the {label} address {address!r} cannot be encoded: {exc}") from exc
    if parsed.addr_spec != spec:  # parsed into something else (comments, quoting, ...)
        raise Unsendable(f"the {label} address {address!r} is not a plain addr-spec")
    return spec


def _header_uri(uri: str, label: str) -> str:
    """``uri`` checked to sit safely between ``<`` and ``>`` in a header."""
    if (
        not uri
        or len(uri) > _MAX_URI
        or not uri.isascii()
        or any(ch.isspace() or ch in "<>" or ord(ch) < 32 or ord(ch) == 127 for ch in uri)
    ):
        raise Unsendable(
            f"the {label} {uri[:80]!r} cannot be put in List-Unsubscribe: it must be ASCII, "
            f"at most {_MAX_URI} characters, without spaces, control characters, < or >"
        )
    return uri


def _unsubscribe(message: Message, settings: EmailSettings) -> tuple[str, bool] | None:
    """The ``List-Unsubscribe`` value and whether one-click applies, or None.

    Marketing messages only (never transactional ones); proofs of marketing
    carry it too, so a proof looks like the real mail.
    """
    if message.transactional:
        return None
    targets: list[str] = []
    if message.unsubscribe_url is not None:
        targets.append(f"<{_header_uri(message.unsubscribe_url, 'unsubscribe URL')}>")
    if settings.unsubscribe_mailto is not None:
        mailbox = _ascii_address(settings.unsubscribe_mailto, "unsubscribe_mailto")
        targets.append(f"<{_header_uri(f'mailto:{mailbox}?subject=unsubscribe', 'mailto')}>")
    if not targets:
        return None
    # one target a line: each line stays within RFC 5322's 998 characters
    return ",\r\n ".join(targets), message.unsubscribe_url is not None


@functools.lru_cache(maxsize=128)
def _surface_headers(settings: EmailSettings) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The ASCII sender and the surface's ``From`` / ``Reply-To``, encoded once per surface.

    The email package encodes and folds them (RFC 2047 for a non-ASCII name);
    the folded values are then reused raw by every message of the surface.
    """
    sender = _ascii_address(settings.sender, "sender")
    name = settings.sender_name or ""
    if "\r" in name or "\n" in name:
        raise Unsendable(f"the sender_name {name[:80]!r} contains a line break (header injection)")
    values: list[tuple[str, object]] = [("From", Address(display_name=name, addr_spec=sender))]
    if settings.reply_to is not None:
        reply_to = _ascii_address(settings.reply_to, "reply_to")
        values.append(("Reply-To", Address(addr_spec=reply_to)))
    if settings.unsubscribe_mailto is not None:
        _ascii_address(settings.unsubscribe_mailto, "unsubscribe_mailto")
    return sender, tuple((header, _folded(header, value)) for header, value in values)


def _folded(name: str, value: object) -> str:
    """``value`` as the email package encodes and folds it, without the name and line end."""
    _, header = POLICY.header_store_parse(name, value)
    return str(header.fold(policy=POLICY))[len(name) + 2 :].rstrip("\r\n")


def _transfer_encoding(body: str) -> str:
    """7bit for short-lined ASCII, quoted-printable otherwise (readable, never too long)."""
    if body.isascii() and all(len(line) <= 78 for line in body.splitlines()):
        return "7bit"
    return "quoted-printable"


def _plain_subject(subject: str) -> bool:
    """Whether ``subject`` can go as it is: short printable ASCII, not like an encoded word."""
    return (
        subject.isascii() and subject.isprintable() and len(subject) <= 68 and "=?" not in subject
    )


def compose(message: Message) -> Envelope:
    """Build the email of ``message``.

    The email package builds the MIME structure, encodes the non-ASCII
    headers (RFC 2047) and the bodies; the surface's ``From`` and
    ``Reply-To`` are encoded once per surface, and headers that are plain
    ASCII by construction (``To``, ``Date``, ``Message-ID``, the checked
    unsubscribe targets) are stored as they are.

    Args:
        message: A rendered email message (``subject``, ``html``, optional ``text``).

    Returns:
        The flattened message and its envelope.

    Raises:
        Unsendable: the message cannot be sent as it is (not email settings, an
            address that cannot be encoded, a line break in a header, ...).
    """
    settings = message.settings
    if not isinstance(settings, EmailSettings):
        raise Unsendable(
            f"the SMTP channel sends email; this {message.channel.value} message has "
            f"{type(settings).__name__}, not EmailSettings"
        )
    sender, surface_headers = _surface_headers(settings)  # settings hold UTF-8 strings only
    recipient = _ascii_address(message.address, "recipient")
    fields = message.fields
    subject = fields.get("subject", "")
    if "\r" in subject or "\n" in subject:
        raise Unsendable(f"the subject {subject[:80]!r} contains a line break (header injection)")
    html = fields.get("html") or ""
    text = fields.get("text")
    if text is None:
        text = html_to_text(html)
    identifier = message_id(message.idempotency_key, sender.rpartition("@")[2])
    unsubscribe = _unsubscribe(message, settings)
    mail = EmailMessage(policy=POLICY)
    try:
        # raw values are ASCII without line breaks by construction (checked above)
        for name, value in surface_headers:
            mail.set_raw(name, value)
        mail.set_raw("To", recipient)
        if _plain_subject(subject):
            mail.set_raw("Subject", subject)
        else:
            mail["Subject"] = subject  # encoded and folded by the email package
        mail.set_raw("Date", email.utils.formatdate(usegmt=True))  # the wall clock: it leaves now
        mail.set_raw("Message-ID", f"<{identifier}>")
        if unsubscribe is not None:
            value, one_click = unsubscribe
            mail.set_raw("List-Unsubscribe", value)  # must never become encoded words
            if one_click:
                mail.set_raw("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
        mail.set_content(text, cte=_transfer_encoding(text))
        if html:
            # "=_" never occurs in quoted-printable output; a 7bit body is checked
            boundary = f"=_{identifier.partition('@')[0]}"
            clash = boundary in text or boundary in html
            mail.make_alternative(boundary=None if clash else boundary)
            mail.add_alternative(html, subtype="html", cte=_transfer_encoding(html))
        data = mail.as_bytes(policy=POLICY)
    except (ValueError, MessageError) as exc:  # a lone surrogate, a defect the package refuses
        raise Unsendable(f"the message cannot be encoded: {exc}") from exc
    return Envelope(sender=sender, recipient=recipient, data=data, message_id=identifier)
