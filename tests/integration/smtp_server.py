"""A real SMTP server on loopback (aiosmtpd) that records what it receives, for the SMTP tests.

Importing it skips the importing test module when aiosmtpd or trustme is
missing (``pip install -e '.[dev]'``), except under ``CI=true`` where it fails.

The handler can answer chosen recipients with a reply code, take its time over
each message, and drop the connection during DATA, before or after keeping the
message. It runs in aiosmtpd's own thread (``Controller``); tests read what it
recorded after ``send`` returned.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import importlib
import os
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any, Literal

import attrs
import pytest


def needs(module: str) -> None:
    """Import an optional test dependency: skip without it, except under CI=true (fail)."""
    if os.environ.get("CI") == "true":
        importlib.import_module(module)
    else:
        pytest.importorskip(module, reason=f"needs {module}: pip install -e '.[dev]'")


needs("aiosmtpd")  # a test module importing this helper is skipped without them
needs("trustme")

import trustme  # noqa: E402 - after the skip above
from aiosmtpd.controller import Controller  # noqa: E402
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session  # noqa: E402

Mode = Literal["none", "starttls", "tls"]
# answers a recipient: (address, times offered before) -> a reply, or None to take it
RcptRule = Callable[[str, int], "str | None"]
# answers MAIL FROM: address -> a reply, or None to take it
MailRule = Callable[[str], "str | None"]
# on the n-th DATA (1-based): a reply instead of 250 (the message is not kept), or None
DataRule = Callable[[int], "str | None"]
# on the n-th DATA (1-based): "lose" drops the connection before keeping the message,
# "keep" drops it after keeping the message, None answers 250
DropRule = Callable[[int], "str | None"]


@attrs.frozen
class Received:
    """One message the server kept."""

    peer: object
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    @property
    def parsed(self) -> EmailMessage:
        # the wire's CRLF line ends become Python's \n, as a mailbox file would have them
        data = self.data.replace(b"\r\n", b"\n")
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def message_id(self) -> str:
        return str(self.parsed["Message-ID"])


class RecordingHandler:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(
        self,
        *,
        delay: float = 0.0,
        rcpt: RcptRule | None = None,
        mail: MailRule | None = None,
        data: DataRule | None = None,
        drop: DropRule | None = None,
    ) -> None:
        self.delay = delay
        self.rcpt = rcpt
        self.mail = mail
        self.data = data
        self.drop = drop
        self.received: list[Received] = []
        self.offered: Counter[str] = Counter()
        self.data_commands = 0
        self.in_flight = 0
        self.peak = 0
        self.sessions: set[object] = set()
        self._lock = threading.Lock()

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        reply = self.mail(address) if self.mail is not None else None
        if reply is not None:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        with self._lock:
            before = self.offered[address]
            self.offered[address] += 1
        reply = self.rcpt(address, before) if self.rcpt is not None else None
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self._lock:
            self.data_commands += 1
            number = self.data_commands
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            self.sessions.add(session.peer)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            reply = self.data(number) if self.data is not None else None
            if reply is not None:
                return reply
            drop = self.drop(number) if self.drop is not None else None
            if drop != "lose":
                self._keep(session, envelope)
            if drop is not None:
                assert isinstance(server.transport, asyncio.Transport)
                server.transport.abort()  # the connection dies before the 250 reply
            return "250 OK"
        finally:
            with self._lock:
                self.in_flight -= 1

    def _keep(self, session: Session, envelope: Envelope) -> None:
        content = envelope.original_content
        assert isinstance(content, bytes)
        assert envelope.mail_from is not None
        with self._lock:
            self.received.append(
                Received(
                    peer=session.peer,
                    mail_from=envelope.mail_from,
                    rcpt_tos=tuple(envelope.rcpt_tos),
                    data=content,
                )
            )

    def to(self, address: str) -> list[Received]:
        """Every message kept for ``address``."""
        with self._lock:
            return [r for r in self.received if address in r.rcpt_tos]


@attrs.frozen
class Certificates:
    """A test CA and a server certificate for 127.0.0.1 / localhost."""

    server: ssl.SSLContext
    client: ssl.SSLContext


def certificates() -> Certificates:
    """A fresh trustme CA: the server's TLS context and a client context that trusts it."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return Certificates(server=server, client=client)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _authenticate(
    user: str, password: str
) -> Callable[[SMTP, Session, Envelope, str, Any], AuthResult]:
    def authenticator(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535

    return authenticator


@contextmanager
def smtp_server(
    handler: RecordingHandler,
    *,
    mode: Mode = "none",
    tls: Certificates | None = None,
    auth: tuple[str, str] | None = None,
    port: int | None = None,
) -> Iterator[int]:
    """Run an aiosmtpd server on 127.0.0.1 (a free port) while the block runs; yield the port.

    Args:
        handler: What the server does with each message.
        mode: ``"none"`` (plain), ``"starttls"`` (STARTTLS offered and required) or
            ``"tls"`` (implicit TLS).
        tls: The certificates (needed for the TLS modes).
        auth: A (user, password) the server requires (over TLS).
        port: Listen on this port (default: a free one).
    """
    kwargs: dict[str, Any] = {}
    if mode == "starttls":
        assert tls is not None
        kwargs.update(tls_context=tls.server, require_starttls=True)
    elif mode == "tls":
        assert tls is not None
        kwargs.update(ssl_context=tls.server)
    if auth is not None:
        kwargs.update(authenticator=_authenticate(*auth), auth_required=True)
    port = free_port() if port is None else port
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()
