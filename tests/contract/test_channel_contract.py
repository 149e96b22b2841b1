from __future__ import annotations

import io

import pytest

from campaignkit import ConsoleChannel
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import Accepted, Message, SendResult
from campaignkit.testing import (
    CallbackChannel,
    NullChannel,
    ReconcilingRecordingChannel,
    RecordingChannel,
)
from campaignkit.testing.contracts import ChannelContract, LookupChannelContract, make_message


class TestRecordingChannel(ChannelContract):
    @pytest.fixture
    def channel(self) -> RecordingChannel:
        return RecordingChannel()


class TestRecordingSmsChannel(ChannelContract):
    channel_type = ChannelType.SMS

    @pytest.fixture
    def channel(self) -> RecordingChannel:
        return RecordingChannel("sms")


class TestReconcilingRecordingChannel(LookupChannelContract):
    @pytest.fixture
    def channel(self) -> ReconcilingRecordingChannel:
        return ReconcilingRecordingChannel()


def _accept(message: Message) -> SendResult:
    return Accepted(f"cb-{message.idempotency_key}")


class TestAcceptingCallbackChannel(ChannelContract):
    channel_type = ChannelType.PUSH

    @pytest.fixture
    def channel(self) -> CallbackChannel:
        return CallbackChannel(_accept)


class TestNullChannel(ChannelContract):
    @pytest.fixture
    def channel(self) -> NullChannel:
        return NullChannel()


class TestConsoleChannel(ChannelContract):
    stream: io.StringIO

    @pytest.fixture
    def channel(self) -> ConsoleChannel:
        self.stream = io.StringIO()
        return ConsoleChannel(self.stream)

    def test_it_prints_each_message(self, channel: ConsoleChannel) -> None:
        channel.send([make_message("p1"), make_message("p2", proof=True)])
        lines = self.stream.getvalue().splitlines()
        assert len(lines) == 2
        assert lines[0].startswith("[email] to p1@example.com: subject='Hello p1'")
        assert lines[1].startswith("[email] [proof] to p2@example.com:")
