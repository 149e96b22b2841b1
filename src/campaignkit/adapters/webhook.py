"""A channel that POSTs each message as JSON to an HTTP endpoint (SMS, push, any provider API).

:class:`WebhookChannel` signs every request by the Standard Webhooks scheme
(https://www.standardwebhooks.com) when given a secret, sends a batch's
messages concurrently over one pool of kept-alive connections, and maps each
answer to a result: 2xx accepted, 408/429/5xx/timeouts/connection errors
transient (honouring ``Retry-After``), redirects and other 4xx permanent.

It needs ``httpx``, the optional extra ``campaignkit[http]``. This module
imports without it (so ``import campaignkit`` never needs httpx); building a
channel without it raises :class:`~campaignkit.errors.DeliveryError`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import threading
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import attrs

from campaignkit.clock import Clock, SystemClock
from campaignkit.domain import checks
from campaignkit.domain.delivery import Message, PermanentFailure, SendResult
from campaignkit.errors import DeliveryError

if TYPE_CHECKING:
    from campaignkit.adapters.webhook_transport import Transport

Payload: TypeAlias = Callable[[Message], Mapping[str, Any]]
"""Shapes the JSON body of one message (a provider's API document)."""

SECRET_PREFIX: Final = "whsec_"
"""The prefix of a Standard Webhooks secret (``whsec_`` + base64 of the key)."""
MIN_SECRET_BYTES: Final = 24
"""The shortest key accepted: the Standard Webhooks floor (24 to 64 bytes)."""
MAX_CONCURRENCY: Final = 1000
"""The most requests one channel keeps in flight."""
MAX_TIMEOUT: Final = 3600.0
"""The longest ``timeout`` accepted, in seconds."""
MAX_URL: Final = 8192
"""The longest ``url`` accepted (servers refuse longer request lines)."""
MANAGED_HEADERS: Final = frozenset(
    {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "idempotency-key",
        "content-length",
        "transfer-encoding",
        "host",
    }
)
"""Headers the channel sets itself; ``headers=`` may not name them."""
_HEADER_ID_SAFE: Final = ":/@!$&'()*+,;="
"""Kept as they are in a header id besides letters, digits and ``_.-~`` (RFC 3986)."""
_TOKEN: Final = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


class WebhookChannel:
    """Delivers each message as one JSON ``POST`` to ``url``, signed by Standard Webhooks.

    Every request carries ``Content-Type: application/json``, an
    ``Idempotency-Key`` and, with a ``secret``, the Standard Webhooks headers
    ``webhook-id`` (the same value: unique per message, stable across
    retries and crash re-sends), ``webhook-timestamp`` (unix seconds, read
    from ``clock`` when the request is sent) and ``webhook-signature``
    (``v1,`` + base64 of HMAC-SHA256 over ``"{id}.{timestamp}.{body}"``). An
    idempotency key with characters outside URL-safe ASCII is percent-encoded
    (RFC 3986) in these headers; the body carries it as it is.

    The body is ``payload(message)`` encoded as compact UTF-8 JSON, or by
    default :func:`default_payload`. A payload callable that raises or
    returns something that is not a JSON object fails that message only
    (``PermanentFailure``). It is called in the sending thread, one message
    after another, never concurrently.

    A batch's requests run ``concurrency`` at a time over one pooled
    ``httpx.Client`` (at most ``concurrency`` connections, kept alive between
    batches); results come back in the batch's order. Answers map to results:

    - 2xx: ``Accepted`` with the provider id from a JSON body's ``id``,
      ``message_id`` or ``messageId`` (a printable string of at most 256
      characters), else the idempotency key;
    - 408, 429, 5xx, timeouts and connection errors: ``TransientFailure``,
      with ``retry_after`` from a ``Retry-After`` header (delta-seconds, or an
      HTTP-date taken relative to the response's ``Date`` header, else to
      ``clock``);
    - 3xx (redirects are never followed: a signed body is not re-posted
      elsewhere) and other 4xx: ``PermanentFailure`` with the status and the
      first 200 characters of the body.

    The channel is thread-safe. Close it with :meth:`close` (or ``with``).

    Args:
        url: The endpoint, ``http://`` or ``https://`` with a host, at most
            8192 characters.
        secret: The signing key: a Standard Webhooks secret ``"whsec_<base64>"``
            (the form receivers publish) or the raw key as ``bytes``; at least
            24 bytes of key either way. None sends unsigned requests.
        concurrency: Requests in flight at once, 1 to 1000.
        timeout: Seconds allowed to each network phase of a request (connect,
            each read, each write, waiting for a pooled connection), > 0 and at
            most 3600. A response's body (read up to 64 KiB) is read within
            about ``timeout`` in all, so a server dripping bytes cannot hold a
            request for ever; the status decides the result.
        headers: Extra request headers (``Authorization`` ...); they may not
            name the headers the channel sets itself.
        payload: Shapes the body of each message (see :data:`Payload`).
        clock: Dates ``webhook-timestamp`` and relative ``Retry-After``
            dates; the wall clock (:class:`~campaignkit.clock.SystemClock`) by
            default. Pass the kit's clock for deterministic tests.

    Raises:
        ValidationError: An argument is not acceptable (every problem listed).
        DeliveryError: httpx is not installed (``pip install 'campaignkit[http]'``).
    """

    def __init__(
        self,
        url: str,
        *,
        secret: str | bytes | None = None,
        concurrency: int = 16,
        timeout: float = 10.0,
        headers: Mapping[str, str] | None = None,
        payload: Payload | None = None,
        clock: Clock | None = None,
    ) -> None:
        problems: list[str] = []
        _check_url(problems, url)
        key = _secret_key(problems, secret)
        checks.count_in_range(problems, "concurrency", concurrency, maximum=MAX_CONCURRENCY)
        checks.seconds(problems, "timeout", timeout, maximum=MAX_TIMEOUT)
        extra = _extra_headers(problems, headers)
        _check_callables(problems, payload, clock)
        checks.raise_if(problems, "WebhookChannel")
        try:
            from campaignkit.adapters.webhook_transport import Transport  # noqa: PLC0415 - the extra
        except ImportError as error:
            raise DeliveryError(
                f"WebhookChannel needs httpx ({error}): pip install 'campaignkit[http]'"
            ) from error
        self.url = url
        self.concurrency = concurrency
        self.timeout = float(timeout)
        self._key = key
        self._payload: Payload = payload if payload is not None else default_payload
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._transport: Transport = Transport(
            url, concurrency=concurrency, timeout=self.timeout, headers=extra, clock=self._clock
        )
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False

    def send(self, messages: Sequence[Message]) -> Sequence[SendResult]:
        """POST every message, ``concurrency`` at a time; one result per message, in order.

        Raises:
            DeliveryError: The channel was closed.
        """
        with self._lock:
            if self._closed:
                raise DeliveryError("WebhookChannel is closed: build a new one to send")
            if self._executor is None and len(messages) > 1:
                self._executor = ThreadPoolExecutor(
                    self.concurrency, thread_name_prefix="campaignkit-webhook"
                )
            executor = self._executor
        prepared = [self._prepare(message) for message in messages]
        requests = [item for item in prepared if isinstance(item, _Request)]
        if executor is None or len(requests) <= 1:
            answers = [self._post(request) for request in requests]
        else:
            answers = list(executor.map(self._post, requests))
        replies = iter(answers)
        return [item if isinstance(item, PermanentFailure) else next(replies) for item in prepared]

    def close(self) -> None:
        """Wait for requests in flight, then close the connections and threads."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        self._transport.close()

    def __enter__(self) -> WebhookChannel:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        signed = "signed" if self._key is not None else "unsigned"
        return f"WebhookChannel({_redacted(self.url)!r}, {signed}, concurrency={self.concurrency})"

    def _prepare(self, message: Message) -> _Request | PermanentFailure:
        """Encode the body of one message, or fail that message alone."""
        try:
            document: object = self._payload(message)
        except Exception as exc:  # the host's callable: its failure is this message's
            return PermanentFailure(f"payload callable raised {type(exc).__name__}: {exc}")
        if not isinstance(document, Mapping):
            return PermanentFailure(
                f"payload callable returned {type(document).__name__}, not a JSON object (dict)"
            )
        try:
            body = json.dumps(
                dict(document), ensure_ascii=False, separators=(",", ":"), allow_nan=False
            ).encode("utf-8")
        except (TypeError, ValueError, RecursionError) as exc:
            return PermanentFailure(f"payload is not JSON-serialisable: {exc}")
        except UnicodeEncodeError as exc:  # pragma: no cover - a subclass of ValueError
            return PermanentFailure(f"payload is not UTF-8: {exc}")
        return _Request(header_id(message.idempotency_key), message.idempotency_key, body)

    def _post(self, request: _Request) -> SendResult:
        headers = {"Idempotency-Key": request.header_id}
        if self._key is not None:
            timestamp = str(math.floor(self._clock.now().timestamp()))
            headers["webhook-id"] = request.header_id
            headers["webhook-timestamp"] = timestamp
            headers["webhook-signature"] = sign(
                self._key, request.header_id, timestamp, request.body
            )
        return self._transport.post(request.body, headers, fallback_id=request.key)


@attrs.frozen
class _Request:
    header_id: str
    key: str
    body: bytes


def sign(key: bytes, message_id: str, timestamp: str, body: bytes) -> str:
    """The Standard Webhooks ``webhook-signature`` value of one request.

    Args:
        key: The secret key (decoded from ``whsec_...``).
        message_id: The ``webhook-id``.
        timestamp: The ``webhook-timestamp`` (unix seconds, as sent).
        body: The exact request body.

    Returns:
        ``"v1,"`` + base64 of HMAC-SHA256 over ``"{id}.{timestamp}.{body}"``.
    """
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def header_id(idempotency_key: str) -> str:
    """The idempotency key as a header value: percent-encoded outside URL-safe ASCII.

    The encoding is injective (``%`` itself is encoded), so distinct keys stay
    distinct, and keys of plain ids (``run:action:profile``) are unchanged.
    """
    return urllib.parse.quote(idempotency_key, safe=_HEADER_ID_SAFE)


def default_payload(message: Message) -> dict[str, Any]:
    """The default JSON document of a message.

    Keys: ``type`` (``"campaignkit.message"``), ``id`` and ``idempotency_key``
    (the key, stable across re-sends), ``run_id``, ``campaign_id``,
    ``action_id``, ``profile_id``, ``channel`` (``"email"``, ``"sms"``,
    ``"push"``), ``address``, ``fields`` (the rendered template fields),
    ``settings`` (the surface settings, field by field), ``proof``,
    ``transactional`` and ``unsubscribe_url`` (or null).

    Args:
        message: The rendered message.

    Returns:
        A dict ready for ``json.dumps``.
    """
    return {
        "type": "campaignkit.message",
        "id": message.idempotency_key,
        "idempotency_key": message.idempotency_key,
        "run_id": message.run_id,
        "campaign_id": message.campaign_id,
        "action_id": message.action_id,
        "profile_id": message.profile_id,
        "channel": message.channel.value,
        "address": message.address,
        "fields": dict(message.fields),
        "settings": attrs.asdict(message.settings),
        "proof": message.proof,
        "transactional": message.transactional,
        "unsubscribe_url": message.unsubscribe_url,
    }


def _redacted(url: str) -> str:
    """``url`` with the password of its user info (``https://user:secret@host``) hidden."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    name = user.partition(":")[0]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{name}:<hidden>@{host}"))


# ---------------------------------------------------------------- argument checks


def _check_url(problems: list[str], url: object) -> None:
    if not isinstance(url, str):
        problems.append(f"url must be a string (https://host/path), not {url!r}"[:300])
        return
    if len(url) > MAX_URL:
        problems.append(f"url is {len(url)} characters long; use at most {MAX_URL}")
        return
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        problems.append(f"url {url!r} is not a URL ({exc}): write https://host/path")
        return
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append(f"url {url!r} must be http:// or https:// with a host (https://host/path)")
    elif parts.fragment or any(ord(c) <= 32 or ord(c) == 127 for c in url):
        problems.append(f"url {url!r} must have no fragment, spaces or control characters")


def _secret_key(problems: list[str], secret: object) -> bytes | None:
    if secret is None:
        return None
    hint = "pass 'whsec_' + base64 of the key (the Standard Webhooks form) or the raw key as bytes"
    if isinstance(secret, bytes):
        key = secret
    elif isinstance(secret, str) and secret.startswith(SECRET_PREFIX):
        encoded = secret[len(SECRET_PREFIX) :]
        try:
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            problems.append(
                f"secret 'whsec_...' does not hold valid base64 after the prefix; {hint}"
            )
            return None
    elif isinstance(secret, str):
        problems.append(f"secret is a string without the 'whsec_' prefix; {hint}")
        return None
    else:
        problems.append(f"secret must be a str or bytes, not {type(secret).__name__}; {hint}")
        return None
    if len(key) < MIN_SECRET_BYTES:
        problems.append(
            f"secret holds a {len(key)}-byte key; Standard Webhooks keys have at least "
            f"{MIN_SECRET_BYTES} bytes: generate one with "
            "'whsec_' + base64.b64encode(secrets.token_bytes(32)).decode()"
        )
        return None
    return key


def _check_callables(problems: list[str], payload: object, clock: object) -> None:
    if payload is not None and not callable(payload):
        problems.append(f"payload must be a callable (message -> dict), not {payload!r}")
    if clock is not None and not isinstance(clock, Clock):
        problems.append(f"clock must be a Clock (with now()), not {clock!r}")


def _extra_headers(problems: list[str], headers: object) -> dict[str, str]:
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        problems.append(f"headers must be a mapping of names to values, not {headers!r}")
        return {}
    extra: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not name or not set(name) <= _TOKEN:
            problems.append(f"header name {name!r} is not an HTTP token (letters, digits, -)")
        elif name.lower() in MANAGED_HEADERS:
            problems.append(f"header {name!r} is set by the channel itself: leave it out")
        elif not isinstance(value, str) or not all(32 <= ord(c) < 127 for c in value):
            problems.append(
                f"header {name!r} must have a printable ASCII string value (no line breaks)"
            )
        else:
            extra[name] = value
    return extra
