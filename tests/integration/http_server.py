"""A scriptable HTTP server on loopback, in a thread: the far end of webhook tests.

:class:`LoopbackServer` answers every ``POST`` as its ``script`` says
(status, headers, body, and optionally holding the answer until an event is
set) and records each request (number, path, headers, body) in arrival order.
It counts requests in flight and the most seen at once, and lets a test wait
(never sleep) until a condition on what it received holds.

It is a ``ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive, one thread
per connection, with a listen backlog large enough for a burst of parallel
connections.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

import attrs

HOLD_LIMIT: Final = 30.0
"""Seconds a held answer waits for its event at most (a safety net, never reached)."""
POLL: Final = 0.01
"""Seconds between the serving loop's checks for shutdown (it stops that fast)."""
WAIT_LIMIT: Final = 15.0
"""Seconds :meth:`LoopbackServer.wait_until` waits at most by default."""


@attrs.frozen
class Reply:
    """How the server answers one request.

    Attributes:
        status: The HTTP status code.
        headers: Response headers (``Content-Length`` is added).
        body: The response body.
        hold: When given, the answer waits until this event is set.
        date: Whether to send a ``Date`` header (and ``Server``).
    """

    status: int = 200
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = b""
    hold: threading.Event | None = None
    date: bool = True


@attrs.frozen
class Received:
    """One request as the server read it.

    Attributes:
        number: Its place in arrival order, from 1.
        method: The HTTP method.
        path: The request target.
        headers: The headers, names in lower case.
        body: The exact body bytes.
        client: The client's (host, port): one port per connection.
    """

    number: int
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    client: tuple[str, int]

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


Script = Callable[[Received], Reply]
"""Decides the answer to each request."""


def accept(received: Received) -> Reply:
    """The default script: 200 with ``{"id": "srv-<number>"}``."""
    return Reply(200, {"Content-Type": "application/json"}, b'{"id":"srv-%d"}' % received.number)


class LoopbackServer:
    """A recording HTTP server on 127.0.0.1 (an ephemeral port), in a background thread.

    Args:
        script: Answers each request (default :func:`accept`); may be replaced
            while the server runs (``server.script = ...``).
    """

    def __init__(self, script: Script = accept) -> None:
        self.script = script
        self.requests: list[Received] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._changed = threading.Condition()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": POLL}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """The server's base URL (``http://127.0.0.1:<port>``)."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def received(self) -> list[Received]:
        """A copy of the requests received so far, in arrival order."""
        with self._changed:
            return list(self.requests)

    def wait_until(
        self, condition: Callable[[LoopbackServer], bool], timeout: float = WAIT_LIMIT
    ) -> bool:
        """Wait until ``condition(server)`` holds (checked at every change); False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: condition(self), timeout)

    def close(self) -> None:
        """Stop serving and close the listening socket (held answers are left to time out)."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def _arrived(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        client: tuple[str, int],
    ) -> Reply:
        with self._changed:
            received = Received(len(self.requests) + 1, method, path, headers, body, client)
            self.requests.append(received)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self._changed.notify_all()
        return self.script(received)

    def _answered(self) -> None:
        with self._changed:
            self.in_flight -= 1
            self._changed.notify_all()


@contextmanager
def loopback_server(script: Script = accept) -> Iterator[LoopbackServer]:
    """A :class:`LoopbackServer`, closed afterwards."""
    server = LoopbackServer(script)
    try:
        yield server
    finally:
        server.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    owner: LoopbackServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when a client vanished (a killed worker); report anything else."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms stall
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if len(body) < length:  # the client died mid-request: nothing was delivered
            self.close_connection = True
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        owner = self.server.owner
        host, port = self.client_address[:2]
        reply = owner._arrived("POST", self.path, headers, body, (str(host), int(port)))
        try:
            if reply.hold is not None:
                reply.hold.wait(HOLD_LIMIT)
            if reply.date:
                self.send_response(reply.status)
            else:
                self.send_response_only(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
            self.wfile.flush()
        except OSError:  # the client gave up (timeout) or died: nothing to answer
            self.close_connection = True
        finally:
            owner._answered()

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""
