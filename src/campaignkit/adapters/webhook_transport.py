"""The HTTP side of :class:`~campaignkit.adapters.webhook.WebhookChannel`, on httpx.

Imported only when a channel is built, so ``import campaignkit`` never needs
httpx (the optional extra ``campaignkit[http]``).
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Final

import httpx

from campaignkit.clock import Clock
from campaignkit.domain.delivery import (
    MAX_RETRY_AFTER,
    Accepted,
    PermanentFailure,
    SendResult,
    TransientFailure,
)

MAX_RESPONSE_BYTES: Final = 64 * 1024
"""The most of a response body read (for the provider id and the error text)."""
MAX_PROVIDER_ID: Final = 256
"""The longest provider id taken from a response body."""
ERROR_BODY_CHARS: Final = 200
"""How much of a response body an error keeps."""
PROVIDER_ID_KEYS: Final = ("id", "message_id", "messageId")
"""Where a JSON response body may name the provider's message id, in order."""
USER_AGENT: Final = "campaignkit-webhook"


class Transport:
    """POSTs bodies to one URL over a pool of kept-alive connections; maps answers to results.

    Args:
        url: The endpoint.
        concurrency: The most connections (and requests in flight).
        timeout: Seconds allowed to each network phase.
        headers: Extra request headers.
        clock: The reference of an HTTP-date ``Retry-After`` without a ``Date``.
    """

    def __init__(
        self,
        url: str,
        *,
        concurrency: int,
        timeout: float,
        headers: Mapping[str, str],
        clock: Clock,
    ) -> None:
        defaults = httpx.Headers({"Content-Type": "application/json", "User-Agent": USER_AGENT})
        defaults.update(headers)
        self._url = url
        self._timeout = timeout
        self._clock = clock
        self._client = httpx.Client(
            headers=defaults,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            follow_redirects=False,
        )

    def post(self, body: bytes, headers: Mapping[str, str], *, fallback_id: str) -> SendResult:
        """POST one body; answer what became of it.

        Args:
            body: The JSON body.
            headers: This request's own headers (idempotency, signature).
            fallback_id: The provider id of an accepted message whose response names none.
        """
        try:
            with self._client.stream("POST", self._url, content=body, headers=headers) as response:
                data = read_capped(response, seconds=self._timeout)
        except httpx.TimeoutException as exc:
            return TransientFailure(f"timeout after {self._timeout:g} s ({type(exc).__name__})")
        except httpx.HTTPError as exc:  # refused, reset, protocol error: maybe never arrived
            return TransientFailure(f"connection error ({type(exc).__name__}): {exc}")
        return self.result(response, data, fallback_id)

    def result(self, response: httpx.Response, data: bytes, fallback_id: str) -> SendResult:
        """Map a response (status, headers, the body read) to a result."""
        code = response.status_code
        if 200 <= code < 300:
            return Accepted(provider_id(data) or fallback_id)
        status = f"{code} {httpx.codes.get_reason_phrase(code)}".strip()
        if code in (408, 429) or 500 <= code < 600:
            delay = retry_after(response.headers, self._clock)
            return TransientFailure(with_body(status, data), retry_after=delay)
        if 300 <= code < 400:
            location = response.headers.get("location", "")
            return PermanentFailure(
                f"{status}: redirects are not followed (Location: {location[:ERROR_BODY_CHARS]}); "
                "configure the final URL"
            )
        return PermanentFailure(with_body(status, data))

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()


def read_capped(
    response: httpx.Response, limit: int = MAX_RESPONSE_BYTES, *, seconds: float | None = None
) -> bytes:
    """Read at most ``limit`` bytes of a streamed response body, for at most about ``seconds``.

    Each read has the client's own timeout; ``seconds`` bounds them all
    together (on the monotonic clock, a network deadline, not the kit's time),
    so a body dripped a byte at a time ends once the time is up with what
    arrived so far.
    """
    deadline = None if seconds is None else time.monotonic() + seconds
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit or (deadline is not None and time.monotonic() >= deadline):
            break
    return b"".join(chunks)[:limit]


def provider_id(data: bytes) -> str | None:
    """The message id a JSON body names (``id``, ``message_id``, ``messageId``), or None.

    Only a printable string of 1 to 256 characters counts: an id with
    control characters or lone surrogates could not be stored or looked up
    by ``record_feedback`` reliably.
    """
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or absurdly nested
        return None
    if not isinstance(document, dict):
        return None
    for name in PROVIDER_ID_KEYS:
        value = document.get(name)
        if (
            isinstance(value, str)
            and value.strip()
            and len(value) <= MAX_PROVIDER_ID
            and value.isprintable()  # no control characters, no lone surrogates
        ):
            return value
    return None


def with_body(status: str, data: bytes) -> str:
    """``status``, then the first characters of the body on one line, if any."""
    text = " ".join(data.decode("utf-8", "replace").split())[:ERROR_BODY_CHARS]
    return f"{status}: {text}" if text else status


def retry_after(headers: Mapping[str, str], clock: Clock) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait, or None (absent or unreadable).

    Delta-seconds are taken as they are; an HTTP-date counts from the
    response's ``Date`` header when it has a readable one, else from
    ``clock`` (so a provider's clock skew does not matter). The wait is at
    least 0 and at most :data:`~campaignkit.domain.delivery.MAX_RETRY_AFTER`.
    """
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return MAX_RETRY_AFTER if len(value) > 9 else min(float(value), MAX_RETRY_AFTER)
    when = http_date(value)
    if when is None:
        return None
    sent = http_date(headers.get("date", ""))
    reference = sent if sent is not None else clock.now().timestamp()
    return min(max(when - reference, 0.0), MAX_RETRY_AFTER)


def http_date(value: str) -> float | None:
    """The unix time of an HTTP-date (RFC 9110, also the obsolete forms), or None."""
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": HTTP-dates are GMT
        when = when.replace(tzinfo=timezone.utc)
    return datetime.timestamp(when)
