"""The shipped channel contract, run against SMTPChannel and a real SMTP server on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from campaignkit import SMTPChannel
from campaignkit.domain.delivery import Accepted
from campaignkit.testing.contracts import ChannelContract, make_message
from tests.integration.smtp_server import RecordingHandler, smtp_server


class TestSMTPChannel(ChannelContract):
    handler: RecordingHandler

    @pytest.fixture
    def channel(self) -> Iterator[SMTPChannel]:
        self.handler = RecordingHandler()
        with (
            smtp_server(self.handler) as port,
            SMTPChannel("127.0.0.1", port, security="none", timeout=5) as channel,
        ):
            yield channel

    def test_accepted_messages_reach_the_server(self, channel: SMTPChannel) -> None:
        results = list(channel.send([make_message("p1"), make_message("p2", proof=True)]))
        assert all(isinstance(r, Accepted) for r in results)
        ids = sorted(f"<{r.provider_message_id}>" for r in results if isinstance(r, Accepted))
        assert sorted(r.message_id for r in self.handler.received) == ids
