"""Contract of the :class:`~campaignkit.ports.Channel` and ``LookupChannel`` ports."""

from __future__ import annotations

from collections.abc import Sequence

from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import (
    Accepted,
    Message,
    PermanentFailure,
    SendResult,
    TransientFailure,
)
from campaignkit.ports import (
    Channel,
    LookupChannel,
)
from campaignkit.testing.contracts._support import (
    make_message,
)

_RESULT_TYPES = (Accepted, TransientFailure, PermanentFailure)


class ChannelContract:
    """Contract of the :class:`~campaignkit.ports.Channel` port (and ``LookupChannel``).

    Provide a ``channel`` fixture returning a channel ready to send. Set
    :attr:`channel_type` to the channel type it delivers. The lookup checks
    run only for channels that implement ``lookup``; they are skipped otherwise.

    Attributes:
        channel_type: The type of the messages the contract sends.
    """

    channel_type: ChannelType = ChannelType.EMAIL

    def _messages(self, *profile_ids: str, run_id: str = "run_1") -> list[Message]:
        return [make_message(pid, channel=self.channel_type, run_id=run_id) for pid in profile_ids]

    def _send(self, channel: Channel, messages: Sequence[Message]) -> list[SendResult]:
        results = list(channel.send(messages))
        assert len(results) == len(messages)
        assert all(isinstance(result, _RESULT_TYPES) for result in results), results
        return results

    def test_it_is_a_channel(self, channel: Channel) -> None:
        """The adapter satisfies the ``Channel`` protocol."""
        assert isinstance(channel, Channel)

    def test_send_answers_one_result_per_message(self, channel: Channel) -> None:
        """One Accepted, TransientFailure or PermanentFailure per message."""
        self._send(channel, self._messages("p1", "p2", "p3"))
        self._send(channel, self._messages("p4"))

    def test_an_empty_batch_answers_nothing(self, channel: Channel) -> None:
        """Sending no message returns an empty list."""
        assert list(channel.send([])) == []

    def test_proofs_and_transactional_messages_are_answered(self, channel: Channel) -> None:
        """Proof and transactional messages get a result like any other."""
        messages = [
            make_message("p1", channel=self.channel_type, proof=True),
            make_message("p2", channel=self.channel_type, transactional=True),
        ]
        self._send(channel, messages)

    def test_accepted_messages_get_distinct_provider_ids(self, channel: Channel) -> None:
        """Feedback finds a message by its provider id: distinct messages never share one."""
        results = self._send(channel, self._messages("p1", "p2", "p3"))
        results += self._send(channel, self._messages("p1", "p2", run_id="run_2"))
        ids = [r.provider_message_id for r in results if isinstance(r, Accepted)]
        assert all(ids), ids  # non-empty ids
        assert len(set(ids)) == len(ids), ids


class LookupChannelContract(ChannelContract):
    """Contract of a :class:`~campaignkit.ports.LookupChannel`.

    The channel contract plus lookups by idempotency key (used to reconcile
    after a crash). Provide a ``channel`` fixture returning a fresh channel.
    """

    def test_it_is_a_lookup_channel(self, channel: Channel) -> None:
        """The channel satisfies the ``LookupChannel`` protocol."""
        assert isinstance(channel, LookupChannel)

    def test_lookup_finds_accepted_messages_by_idempotency_key(self, channel: Channel) -> None:
        """An accepted message's key is answered with the same Accepted."""
        assert isinstance(channel, LookupChannel)
        messages = self._messages("p1", "p2", "p3")
        results = self._send(channel, messages)
        for message, result in zip(messages, results, strict=True):
            if isinstance(result, Accepted):
                assert channel.lookup(message.idempotency_key) == result

    def test_lookup_of_an_unknown_key_is_none(self, channel: Channel) -> None:
        """A key the channel never received is answered with None."""
        assert isinstance(channel, LookupChannel)
        assert channel.lookup("run_x:act_email:nobody") is None
        self._send(channel, self._messages("p1"))
        assert channel.lookup(make_message("p2", channel=self.channel_type).idempotency_key) is None
