"""Signed one-click unsubscribe tokens (pure: no I/O, no clock).

A marketing email carries a link (and a ``List-Unsubscribe`` header) made of
its surface's ``unsubscribe_url`` and a token that names the recipient and
the message: ``https://example.com/u?token=u1.<payload>.<signature>``.

- ``u1`` is the format version, so the format can change later;
- ``<payload>`` is base64url (no padding) of the compact JSON array
  ``[profile_id, channel, campaign_id, run_id, action_id, proof]``: the
  (profile, channel, campaign) whose consent is withdrawn, and the run and
  action the UNSUBSCRIBED feedback is counted under in reports;
- ``<signature>`` is base64url of HMAC-SHA256 over ``u1.<payload>``, truncated
  to 128 bits, keyed with a key derived from the host's secret (so the same
  secret may sign other things without a token ever passing for them).

Verification compares signatures with :func:`hmac.compare_digest` (constant
time) and refuses anything else with a ``ValidationError`` before reading the
payload. Tokens do not expire: an unsubscribe link must keep working for as
long as the mail is kept.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import urllib.parse
from typing import Final

import attrs

from campaignkit.domain import checks
from campaignkit.domain.campaign_enums import Category
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import FeedbackRecord
from campaignkit.domain.surface import EmailSettings, SurfaceSettings
from campaignkit.errors import ValidationError

VERSION: Final = "u1"
"""The token format version (the first dot-separated part of every token)."""
MIN_SECRET_BYTES: Final = 16
"""The shortest secret accepted (UTF-8 bytes of a ``str`` secret)."""
MAX_SECRET_BYTES: Final = 4096
"""The longest secret accepted."""
SIGNATURE_BYTES: Final = 16
"""HMAC-SHA256 bytes kept in a token: 128 bits."""
MAX_TOKEN: Final = 12_000
"""Characters in a token: more than any token made from ids of ``checks.MAX_ID`` characters."""
MAX_INPUT: Final = 32_768
"""Characters accepted by :func:`token_of` (an URL or a bare token); longer input is refused
before it is parsed."""
PARAMETER: Final = "token"
"""The query parameter that carries the token in an unsubscribe URL."""
_KEY_LABEL: Final = b"campaignkit/unsubscribe/v1"
_SIGNED_PREFIX: Final = (VERSION + ".").encode("ascii")
_BASE64URL: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_FIX: Final = "pass the unsubscribe URL or token exactly as the message carried it"


@attrs.frozen
class UnsubscribeToken:
    """What an unsubscribe token names.

    Attributes:
        profile_id: The recipient whose consent is withdrawn.
        channel: The channel whose consent is withdrawn.
        campaign_id: The campaign of the message.
        run_id: The run of the message (the feedback is counted under it).
        action_id: The action of the message.
        proof: True for a proof message's token (verifying it changes nothing).
    """

    profile_id: str
    channel: ChannelType
    campaign_id: str
    run_id: str
    action_id: str
    proof: bool = False


@attrs.frozen
class UnsubscribeResult:
    """What ``kit.unsubscribe`` did.

    Attributes:
        token: What the verified token names.
        recorded: True when this call recorded the UNSUBSCRIBED feedback (and
            withdrew the consent); False when nothing changed: the profile had
            no consent left on the channel (the same link used twice, most
            often), or the token came from a proof.
        feedback: The feedback recorded by this call (None when nothing was).
    """

    token: UnsubscribeToken
    recorded: bool
    feedback: FeedbackRecord | None = None


def secret_problems(secret: object, name: str = "secret") -> list[str]:
    """What is wrong with a host secret (empty when it can sign tokens).

    The secret itself never appears in a problem.

    Args:
        secret: A ``str`` (UTF-8 encoded) or ``bytes`` of 16 to 4096 bytes.
        name: The argument's name in the messages.
    """
    if isinstance(secret, str):
        if not checks.encodable(secret):
            return [f"{name} must be a UTF-8 encodable string or bytes"]
        size = len(secret.encode("utf-8"))
    elif isinstance(secret, bytes):
        size = len(secret)
    else:
        return [
            f"{name} must be a str or bytes of at least {MIN_SECRET_BYTES} bytes "
            f"(for example secrets.token_urlsafe(32)), not {type(secret).__name__}"
        ]
    if size < MIN_SECRET_BYTES:
        return [
            f"{name} is too short ({size} bytes): it signs unsubscribe tokens and must be at "
            f"least {MIN_SECRET_BYTES} bytes; generate one with secrets.token_urlsafe(32) "
            "and keep it in the host's configuration"
        ]
    if size > MAX_SECRET_BYTES:
        return [f"{name} is too long ({size} bytes); use at most {MAX_SECRET_BYTES} bytes"]
    return []


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """Decode unpadded base64url; raise ``ValueError`` on anything else."""
    if not set(text) <= _BASE64URL or len(text) % 4 == 1:
        raise ValueError("not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:  # pragma: no cover - the alphabet and length are checked
        raise ValueError("not base64url") from exc
    if _b64(data) != text:  # unused low bits set: one value, one spelling
        raise ValueError("not canonical base64url")
    return data


def _invalid(why: str) -> ValidationError:
    return ValidationError(
        [f"token is not a valid unsubscribe token: {why}; {_FIX}"], subject="unsubscribe"
    )


class UnsubscribeSigner:
    """Signs and verifies unsubscribe tokens with a host secret.

    Only a key derived from the secret is kept; neither appears in ``repr``.

    Args:
        secret: The host secret (see :func:`secret_problems`).

    Raises:
        ValidationError: the secret is not a str or bytes of 16 to 4096 bytes.
    """

    __slots__ = ("_key",)

    def __init__(self, secret: str | bytes) -> None:
        checks.raise_if(secret_problems(secret), "unsubscribe secret")
        raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        self._key = hmac.new(raw, _KEY_LABEL, hashlib.sha256).digest()

    def __repr__(self) -> str:
        return "UnsubscribeSigner(secret=<hidden>)"

    def _signature(self, payload: str) -> bytes:
        signed = _SIGNED_PREFIX + payload.encode("ascii")
        return hmac.new(self._key, signed, hashlib.sha256).digest()[:SIGNATURE_BYTES]

    def sign(self, token: UnsubscribeToken) -> str:
        """The signed, URL-safe text of ``token``."""
        document = [
            token.profile_id,
            token.channel.value,
            token.campaign_id,
            token.run_id,
            token.action_id,
            1 if token.proof else 0,
        ]
        payload = _b64(json.dumps(document, separators=(",", ":")).encode("utf-8"))
        return f"{VERSION}.{payload}.{_b64(self._signature(payload))}"

    def url(self, base_url: str, token: UnsubscribeToken) -> str:
        """``base_url`` with the signed ``token`` as its ``token`` query parameter."""
        return with_token(base_url, self.sign(token))

    def verify(self, url_or_token: object) -> UnsubscribeToken:
        """The token carried by an unsubscribe URL or given bare, once its signature checks.

        Args:
            url_or_token: The full unsubscribe URL (its ``token`` query
                parameter is read) or the bare token.

        Raises:
            ValidationError: not a string, too long, no token in the URL, or a
                token that is malformed, of an unknown version, tampered with,
                truncated, or signed with another secret.
        """
        token = token_of(url_or_token)
        parts = token.split(".")
        if len(parts) != 3 or not all(parts):
            raise _invalid("it is not of the form u1.<payload>.<signature>")
        version, payload, signature = parts
        if version != VERSION:
            raise _invalid("its format version is unknown")
        try:
            given = _unb64(signature)
        except ValueError:
            given = b""
        # a payload outside the base64url alphabet was never signed: no signature fits it
        signed = set(payload) <= _BASE64URL
        expected = self._signature(payload) if signed else b""
        if not signed or not hmac.compare_digest(given, expected):  # constant time
            raise _invalid(
                "its signature does not match (it was altered or truncated, "
                "or signed with another secret)"
            )
        return _payload(payload)


def _payload(payload: str) -> UnsubscribeToken:
    """Read a payload whose signature checked."""
    try:
        document = json.loads(_unb64(payload).decode("utf-8"))
        profile_id, channel, campaign_id, run_id, action_id, proof = document
        fields = (profile_id, campaign_id, run_id, action_id)
        if not all(isinstance(f, str) and f for f in fields) or proof not in (0, 1):
            raise ValueError("wrong field types")
        return UnsubscribeToken(
            profile_id, ChannelType(channel), campaign_id, run_id, action_id, proof == 1
        )
    except (ValueError, TypeError) as exc:  # signed by this secret, yet not a token
        raise _invalid("its payload cannot be read") from exc


def token_of(url_or_token: object) -> str:
    """The token text of an unsubscribe URL (its ``token`` parameter) or of a bare token.

    Raises:
        ValidationError: not a string, longer than ``MAX_INPUT``, empty, or a
            URL without exactly one ``token`` parameter.
    """
    if not isinstance(url_or_token, str):
        raise ValidationError(
            [
                "url_or_token must be a string (the unsubscribe URL or its token), "
                f"not {checks.describe(url_or_token)}"
            ],
            subject="unsubscribe",
        )
    text = url_or_token.strip()
    if len(text) > MAX_INPUT:
        raise _invalid(f"the input is longer than {MAX_INPUT} characters")
    if not text:
        raise _invalid("it is empty")
    if "?" in text or "/" in text:
        query = urllib.parse.urlsplit(text).query if "?" in text else ""
        try:
            pairs = urllib.parse.parse_qsl(query, max_num_fields=64)
        except ValueError:
            pairs = []
        found = [value for key, value in pairs if key == PARAMETER]
        if len(found) != 1:
            raise _invalid(f"the URL does not carry exactly one {PARAMETER}= parameter")
        text = found[0]
    if len(text) > MAX_TOKEN:
        raise _invalid(f"it is longer than {MAX_TOKEN} characters")
    return text


def with_token(base_url: str, token: str) -> str:
    """``base_url`` with ``token=<token>`` added to its query (``?`` or ``&``)."""
    parts = urllib.parse.urlsplit(base_url)
    query = f"{parts.query}&" if parts.query else ""
    return urllib.parse.urlunsplit(parts._replace(query=f"{query}{PARAMETER}={token}"))


def unavailable(
    *,
    category: Category,
    channel: ChannelType,
    settings: SurfaceSettings | None,
    surface_name: str,
    signing: bool,
) -> str | None:
    """Why a message of this kind cannot carry an unsubscribe URL, or None when it can.

    Only marketing email on a surface with an ``unsubscribe_url``, from a
    kit with a secret, carries one.

    Args:
        category: The campaign category.
        channel: The action's channel.
        settings: The surface's settings (None: the surface does not exist).
        surface_name: The surface's name, for the message.
        signing: True when the kit has a secret to sign tokens with.
    """
    fix = "or remove {{ unsubscribe_url }} from the template"
    if channel is not ChannelType.EMAIL:
        return f"{channel} messages carry no unsubscribe URL (only marketing email does); {fix}"
    if category is not Category.MARKETING:
        return (
            "transactional email never carries an unsubscribe URL; remove "
            "{{ unsubscribe_url }} from the template, or make the campaign MARKETING"
        )
    if not isinstance(settings, EmailSettings) or settings.unsubscribe_url is None:
        return (
            f"surface {surface_name!r} has no unsubscribe_url; set "
            f"EmailSettings(unsubscribe_url='https://...') on it, {fix}"
        )
    if not signing:
        return (
            "the kit has no secret to sign unsubscribe tokens with; pass secret=... to "
            f"CampaignKit.sqlite(), CampaignKit.in_memory() or CampaignKit(), {fix}"
        )
    return None


@attrs.frozen
class UnsubscribeLink:
    """How the messages of one action get their signed unsubscribe URL.

    Attributes:
        signer: Signs the tokens.
        base_url: The surface's ``unsubscribe_url``.
        campaign_id: The campaign of the messages.
        channel: Their channel (email).
    """

    signer: UnsubscribeSigner = attrs.field(eq=False, repr=False)
    base_url: str
    campaign_id: str
    channel: ChannelType
    _prefix: str = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        # the URL up to the token, parsed once per run rather than once per message
        object.__setattr__(self, "_prefix", with_token(self.base_url, ""))

    def url(self, run_id: str, action_id: str, profile_id: str, *, proof: bool = False) -> str:
        """The signed URL of one message (``signer.url(base_url, token)``)."""
        token = UnsubscribeToken(
            profile_id, self.channel, self.campaign_id, run_id, action_id, proof
        )
        return self._prefix + self.signer.sign(token)


def link_for(
    signer: UnsubscribeSigner | None,
    *,
    campaign_id: str,
    category: Category,
    channel: ChannelType,
    settings: SurfaceSettings | None,
    surface_name: str,
) -> UnsubscribeLink | str:
    """The link an action's messages carry, or why they carry none (see :func:`unavailable`)."""
    why = unavailable(
        category=category,
        channel=channel,
        settings=settings,
        surface_name=surface_name,
        signing=signer is not None,
    )
    if why is not None:
        return why
    assert signer is not None
    assert isinstance(settings, EmailSettings)
    assert settings.unsubscribe_url is not None
    return UnsubscribeLink(signer, settings.unsubscribe_url, campaign_id, channel)


def needs_url(names: frozenset[str]) -> bool:
    """True when a template reading ``names`` prints the unsubscribe URL."""
    return "unsubscribe_url" in names


def missing_url(why: str) -> str:
    """The problem of a template that uses ``{{ unsubscribe_url }}`` where none can be given."""
    return f"the template uses {{{{ unsubscribe_url }}}}, which these messages cannot carry: {why}"
