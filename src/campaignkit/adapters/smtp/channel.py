"""``SMTPChannel``: email over SMTP with the standard library, concurrently over a pool."""

from __future__ import annotations

import smtplib
import socket
import ssl
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, get_args

from campaignkit.adapters.smtp._compose import Envelope, Unsendable, compose
from campaignkit.adapters.smtp._pool import ConnectionPool, close_quietly
from campaignkit.domain import checks
from campaignkit.domain.delivery import (
    Accepted,
    Message,
    PermanentFailure,
    SendResult,
    TransientFailure,
)
from campaignkit.errors import ValidationError

Security = Literal["starttls", "tls", "none"]
_SECURITY: tuple[str, ...] = get_args(Security)
_MAX_CONNECTIONS = 256
MAX_TIMEOUT = 3600.0
"""The longest ``timeout`` accepted, in seconds (a socket cannot wait for ever)."""


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _reply(code: int, text: bytes | str) -> SendResult:
    """A server's reply as a result: 5xx permanent, anything else transient (code and text kept)."""
    words = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    error = f"{code} {' '.join(words.split())}".strip()
    if 500 <= code <= 599:
        return PermanentFailure(error)
    return TransientFailure(error)


class _Batch:
    """The messages of one ``send`` call, handed out one at a time to the workers."""

    def __init__(self, messages: Sequence[Message]) -> None:
        self.messages = messages
        self.results: list[SendResult | None] = [None] * len(messages)
        self.unreachable: str | None = None  # set when a connection could not be opened
        self._lock = threading.Lock()
        self._next = 0

    def take(self) -> tuple[int, Message] | None:
        """The next message to send (and its position), or None when all are taken."""
        with self._lock:
            index = self._next
            if index >= len(self.messages):
                return None
            self._next += 1
            return index, self.messages[index]

    def __iter__(self) -> Iterator[tuple[int, Message]]:
        while (item := self.take()) is not None:
            yield item


class SMTPChannel:
    """Sends email through an SMTP server (a relay or a provider's SMTP endpoint).

    Each batch is sent concurrently over a pool of up to ``connections``
    reused SMTP connections (one thread per connection, each sending a run of
    messages over its connection); the answer has one result per message, in
    order. Connections open lazily, are checked with ``NOOP`` when reused, and
    are replaced when the server dropped them.

    Each message is an ``email.message.EmailMessage``: ``From`` (the surface's
    ``sender`` and ``sender_name``, RFC 2047-encoded when not ASCII),
    ``Reply-To``, ``To``, ``Subject``, ``Date``, a ``Message-ID`` derived from
    the idempotency key, a ``multipart/alternative`` body (the text content, or
    text derived from the HTML, then the HTML) and, on marketing messages,
    ``List-Unsubscribe`` / ``List-Unsubscribe-Post`` (RFC 8058).

    Results: :class:`Accepted` with the ``Message-ID`` (without brackets) as the
    provider id; a 5xx reply is :class:`PermanentFailure` (``"550 5.1.1 ..."``);
    a 4xx reply, a dropped connection, a timeout or a server that cannot be
    reached is :class:`TransientFailure`. A message that cannot be encoded is
    :class:`PermanentFailure` naming why. When the connection drops after the
    message's data was sent, the server may have taken it: it is answered
    transient and re-sent later with the same ``Message-ID``.

    Args:
        host: The SMTP server's host name or address.
        port: Its port (587 for STARTTLS submission, 465 for implicit TLS, 25).
        security: ``"starttls"`` (upgrade a plain connection, required),
            ``"tls"`` (TLS from the first byte) or ``"none"`` (plain text; for
            a relay on the same host or network only).
        username: Log in with this user (needs ``password`` and TLS).
        password: The password of ``username``.
        connections: The most connections (and sending threads) at once.
        timeout: Seconds to wait for the server at each network step.
        ssl_context: The TLS settings (default: the system's trusted CAs with
            host name checks, ``ssl.create_default_context()``).

    Raises:
        ValidationError: an argument is wrong; every problem is listed.
    """

    def __init__(
        self,
        host: str,
        port: int = 587,
        *,
        security: Security = "starttls",
        username: str | None = None,
        password: str | None = None,
        connections: int = 4,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        _check_arguments(
            host=host,
            port=port,
            security=security,
            username=username,
            password=password,
            connections=connections,
            timeout=timeout,
            ssl_context=ssl_context,
        )
        self._host = host
        self._port = port
        self._security: Security = security
        self._username = username
        self._password = password
        self._connections = connections
        self._timeout = float(timeout)
        if security != "none" and ssl_context is None:
            ssl_context = ssl.create_default_context()
        self._ssl_context = ssl_context
        self._pool = ConnectionPool(connections)
        self._local_hostname: str | None = None

    def __repr__(self) -> str:
        return (
            f"SMTPChannel({self._host!r}, {self._port}, security={self._security!r}, "
            f"username={self._username!r}, connections={self._connections})"
        )

    @property
    def idle_connections(self) -> int:
        """How many open connections wait for the next batch."""
        return self._pool.idle

    def send(self, messages: Sequence[Message]) -> Sequence[SendResult]:
        """Send ``messages`` concurrently; answer one result per message, in order.

        Args:
            messages: The batch (rendered email messages).

        Returns:
            One ``Accepted``, ``TransientFailure`` or ``PermanentFailure`` per message.
        """
        batch = _Batch(messages)
        workers = min(self._connections, len(messages))
        if workers == 1:
            self._work(batch)
        elif workers > 1:
            with ThreadPoolExecutor(workers, thread_name_prefix="campaignkit-smtp") as executor:
                for future in [executor.submit(self._work, batch) for _ in range(workers)]:
                    future.result()
        results = batch.results
        assert all(result is not None for result in results)  # every worker ran to the end
        return [result for result in results if result is not None]

    def close(self) -> None:
        """Close the idle connections (``QUIT``); a later ``send`` opens new ones."""
        self._pool.close()

    def __enter__(self) -> SMTPChannel:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------ one worker

    def _work(self, batch: _Batch) -> None:
        """Send messages of ``batch`` over one pooled connection until none is left."""
        connection, generation = self._pool.acquire()
        checked = connection is None  # a reused connection is checked once before use
        try:
            for index, message in batch:
                try:
                    envelope = compose(message)
                except Unsendable as exc:
                    batch.results[index] = PermanentFailure(exc.reason)
                    continue
                except Exception as exc:  # answer it: never lose the other messages' results
                    batch.results[index] = PermanentFailure(
                        f"the message could not be composed: {_describe(exc)}"
                    )
                    continue
                if not checked and connection is not None:
                    connection = self._alive(connection)
                    checked = True
                if connection is None:
                    connection = self._connect(batch)
                if connection is None:
                    assert batch.unreachable is not None
                    batch.results[index] = TransientFailure(batch.unreachable)
                    continue
                batch.results[index], keep = self._deliver(connection, envelope)
                if not keep:
                    close_quietly(connection, polite=False)
                    connection = None
        finally:
            self._pool.release(connection, generation)

    def _alive(self, connection: smtplib.SMTP) -> smtplib.SMTP | None:
        """``connection`` if it still answers ``NOOP``; else close it and answer None."""
        try:
            code, _ = connection.noop()
        except (smtplib.SMTPException, OSError):
            code = -1
        if code == 250:
            return connection
        close_quietly(connection, polite=False)
        return None

    def _connect(self, batch: _Batch) -> smtplib.SMTP | None:
        """A new connection, or None (and ``batch.unreachable`` set) when it cannot be had.

        Once one connection of a batch failed to open, the rest of the batch is
        answered transient at once (the backoff retries it) instead of waiting
        for a timeout per message.
        """
        if batch.unreachable is not None:
            return None
        try:
            return self._open()
        except (smtplib.SMTPException, OSError, ValueError) as exc:  # ValueError: IDNA
            batch.unreachable = (
                f"cannot connect to SMTP server {self._host}:{self._port} "
                f"({self._security}): {_describe(exc)}"
            )
            return None

    def _open(self) -> smtplib.SMTP:
        """Connect, say EHLO, upgrade to TLS and log in, as configured."""
        if self._local_hostname is None:
            self._local_hostname = socket.getfqdn()
        connection: smtplib.SMTP
        if self._security == "tls":
            connection = smtplib.SMTP_SSL(
                self._host,
                self._port,
                local_hostname=self._local_hostname,
                timeout=self._timeout,
                context=self._ssl_context,
            )
        else:
            connection = smtplib.SMTP(
                self._host, self._port, local_hostname=self._local_hostname, timeout=self._timeout
            )
        try:
            connection.ehlo_or_helo_if_needed()
            if self._security == "starttls":
                connection.starttls(context=self._ssl_context)
                connection.ehlo()
            if self._username is not None and self._password is not None:
                connection.login(self._username, self._password)
        except BaseException:
            close_quietly(connection, polite=False)
            raise
        return connection

    def _deliver(self, connection: smtplib.SMTP, envelope: Envelope) -> tuple[SendResult, bool]:
        """Send one message; answer its result and whether ``connection`` can be reused."""
        try:
            connection.sendmail(envelope.sender, [envelope.recipient], envelope.data)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            return _reply(code, text), connection.sock is not None
        except smtplib.SMTPResponseException as exc:  # MAIL FROM or DATA refused, ...
            return _reply(exc.smtp_code, exc.smtp_error), connection.sock is not None
        except (smtplib.SMTPException, OSError) as exc:  # dropped, timed out, TLS failure
            return (
                TransientFailure(
                    f"connection to {self._host}:{self._port} lost while sending "
                    f"({_describe(exc)}); the server may have taken the message: a retry "
                    "carries the same Message-ID"
                ),
                False,
            )
        except Exception as exc:  # a bug: answer it, keep the other messages' results
            return TransientFailure(f"unexpected error while sending: {_describe(exc)}"), False
        return Accepted(envelope.message_id), True


def _check_arguments(
    *,
    host: object,
    port: object,
    security: object,
    username: object,
    password: object,
    connections: object,
    timeout: object,
    ssl_context: object,
) -> None:
    """Raise one ValidationError listing every wrong argument of ``SMTPChannel``."""
    problems: list[str] = []
    if not _valid_host(host):
        shown = repr(host) if not isinstance(host, str) or len(host) <= 80 else repr(host[:80])
        problems.append(
            f"host {shown} must be a host name or address without spaces or control "
            "characters, at most 253 characters in labels of 1 to 63 (smtp.example.com)"
        )
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        problems.append(
            f"port {checks.shown(port)} must be an integer from 1 to 65535 (587, 465 or 25)"
        )
    if security not in _SECURITY:
        problems.append(f"security {security!r} must be one of {', '.join(_SECURITY)}")
    for name, value in (("username", username), ("password", password)):
        if value is not None and not isinstance(value, str):
            problems.append(f"{name} must be a string or None, not {type(value).__name__}")
    if username is not None and password is None:
        problems.append("password is missing: a username needs its password")
    if password is not None and username is None:
        problems.append("username is missing: a password is only used with a username")
    if username is not None and security == "none":
        problems.append(
            "username with security='none' would send the password in clear text; "
            "use security='starttls' or 'tls'"
        )
    checks.count_in_range(problems, "connections", connections, maximum=_MAX_CONNECTIONS)
    checks.seconds(problems, "timeout", timeout, maximum=MAX_TIMEOUT)
    if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
        problems.append(f"ssl_context must be an ssl.SSLContext, not {type(ssl_context).__name__}")
    elif ssl_context is not None and security == "none":
        problems.append("ssl_context is given but security='none' never uses TLS")
    if problems:
        raise ValidationError(problems, subject="SMTPChannel")


def _valid_host(host: object) -> bool:
    """True for a host name (IDNA-encodable, labels of 1 to 63) or an IP address."""
    if not isinstance(host, str) or not host or len(host) > 253:
        return False
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in host):
        return False
    if ":" in host:  # an IPv6 address; the socket layer reads it
        return True
    try:
        host.rstrip(".").encode("idna")  # refuses empty labels and labels over 63
    except UnicodeError:
        return False
    return True
