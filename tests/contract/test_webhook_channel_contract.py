"""The shipped channel contract, run against WebhookChannel and a real loopback HTTP server.

One class per channel type. The email class's server names a provider id in
each response; the SMS and push servers answer an empty 200 or 202, so their
provider ids are the idempotency keys. Each class also checks that what the
server received matches what was sent.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from typing import Any

import pytest

import campaignkit as ck
from campaignkit.domain.channels import ChannelType
from campaignkit.testing.contracts import ChannelContract, make_message
from tests.integration.http_server import LoopbackServer, Received, Reply, loopback_server


def needs(module: str) -> Any:
    """Import an optional test dependency: skip without it, except under CI=true (fail)."""
    if os.environ.get("CI") == "true":
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"needs {module}: pip install -e '.[dev]'")


needs("httpx")

SECRET = "whsec_" + "A" * 32  # 24 zero bytes: a key of the minimal length


def empty_202(received: Received) -> Reply:
    return Reply(202)


class WebhookServerFixtures:
    """A fresh loopback server and a signed WebhookChannel to it, per test."""

    server: LoopbackServer

    @pytest.fixture
    def channel(self) -> Iterator[ck.WebhookChannel]:
        with (
            loopback_server() as self.server,
            ck.WebhookChannel(self.server.url, secret=SECRET, concurrency=2) as channel,
        ):
            yield channel

    def test_every_message_reaches_the_server_once(self, channel: ck.WebhookChannel) -> None:
        messages = [make_message(f"p{i}", channel=self.channel_type) for i in range(5)]
        channel.send(messages)
        keys = sorted(r.headers["idempotency-key"] for r in self.server.received())
        assert keys == sorted(m.idempotency_key for m in messages)

    channel_type: ChannelType


class TestWebhookEmailChannel(WebhookServerFixtures, ChannelContract):
    channel_type = ChannelType.EMAIL


class TestWebhookSmsChannel(WebhookServerFixtures, ChannelContract):
    channel_type = ChannelType.SMS

    @pytest.fixture
    def channel(self) -> Iterator[ck.WebhookChannel]:
        with (
            loopback_server(empty_202) as self.server,
            ck.WebhookChannel(self.server.url, secret=SECRET) as channel,
        ):
            yield channel


class TestWebhookPushChannel(WebhookServerFixtures, ChannelContract):
    channel_type = ChannelType.PUSH

    @pytest.fixture
    def channel(self) -> Iterator[ck.WebhookChannel]:
        with (
            loopback_server(empty_202) as self.server,
            ck.WebhookChannel(self.server.url, concurrency=1) as channel,
        ):
            yield channel
