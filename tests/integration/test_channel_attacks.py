"""Hostile providers against WebhookChannel, over real loopback sockets.

A provider that drips its 2xx body a byte at a time must not hold a request
for ever, and a provider id that could not be stored (control characters,
lone surrogates) is not taken.
"""

from __future__ import annotations

import importlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import campaignkit as ck
from campaignkit.testing.contracts import make_message


def needs(module: str) -> Any:
    """Import an optional test dependency: skip without it, except under CI=true (fail)."""
    if os.environ.get("CI") == "true":
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"needs {module}: pip install -e '.[dev]'")


needs("httpx")

from campaignkit.adapters.webhook_transport import provider_id  # noqa: E402 - after the skip


@pytest.fixture
def dripping() -> Iterator[tuple[int, threading.Event]]:
    """A raw HTTP server answering 200 with a 200-byte body, one byte every 50 ms (10 s in all)."""
    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def serve() -> None:
        with listener:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n")
                for _ in range(200):
                    if done.wait(0.05):  # paced by the server; ends early on teardown
                        return
                    try:
                        conn.sendall(b"x")
                    except OSError:
                        return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], done
    done.set()
    listener.close()
    thread.join(5)


def test_a_dripped_body_is_cut_off_after_the_timeout(
    dripping: tuple[int, threading.Event],
) -> None:
    port, _ = dripping
    with ck.WebhookChannel(f"http://127.0.0.1:{port}/hook", timeout=0.3) as channel:
        started = time.monotonic()
        [result] = channel.send([make_message("p1")])
        elapsed = time.monotonic() - started
    # each byte arrives well within the per-read timeout: only a total bound ends it
    assert elapsed < 3.0, elapsed
    assert result == ck.Accepted("run_1:act_email:p1")  # 2xx decides; no id was read


@pytest.mark.parametrize(
    "body",
    [
        b'{"id": "\\ud800"}',  # a lone surrogate: SQLite cannot store it
        b'{"id": "a\\r\\nb"}',
        b'{"id": "\\u0000"}',
        b'{"id": "\\u001b[31mred"}',
    ],
)
def test_an_unprintable_provider_id_is_not_taken(body: bytes) -> None:
    assert provider_id(body) is None


def test_a_printable_provider_id_is_taken() -> None:
    assert provider_id('{"id": "msg-é_42"}'.encode()) == "msg-é_42"


def test_the_worker_cli_refuses_a_poll_beyond_a_day(tmp_path: Path) -> None:
    """It once reached run_forever and ended in a traceback (an OverflowError)."""
    database = str(tmp_path / "x.db")
    done = subprocess.run(
        [sys.executable, "-m", "campaignkit", "worker", "--db", database, "--poll", "99999999999"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--poll: must be a positive number of seconds, at most 86400" in done.stderr
    assert "Traceback" not in done.stderr
