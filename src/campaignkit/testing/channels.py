"""Channel test doubles: record, script or discard what would be sent.

Like httpx's ``MockTransport``: plug them in where a real channel would go,
then assert on what arrived.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from itertools import repeat

from campaignkit.domain.delivery import Accepted, Message, SendResult


class RecordingChannel:
    """Accepts every message and keeps it in :attr:`sent`.

    The provider id of a message is ``<prefix>-<idempotency key>``: unique
    across processes, and the same for a re-sent copy. It does not drop a
    repeated idempotency key: a test sees every copy it was handed.

    Attributes:
        sent: Every message handed over, in order.
        batches: The size of each batch handed over.
        provider_ids: Provider id by idempotency key.
    """

    def __init__(self, prefix: str = "rec") -> None:
        self.sent: list[Message] = []
        self.batches: list[int] = []
        self.provider_ids: dict[str, str] = {}
        self._prefix = prefix
        self._lock = threading.Lock()

    def send(self, messages: Sequence[Message]) -> Sequence[SendResult]:
        """Record the batch and accept every message."""
        with self._lock:
            self.batches.append(len(messages))
            results: list[SendResult] = []
            for message in messages:
                provider_id = f"{self._prefix}-{message.idempotency_key}"
                self.sent.append(message)
                self.provider_ids[message.idempotency_key] = provider_id
                results.append(Accepted(provider_id))
            return results

    def clear(self) -> None:
        """Forget what was recorded."""
        with self._lock:
            self.sent.clear()
            self.batches.clear()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self.sent)} sent)"


class ReconcilingRecordingChannel(RecordingChannel):
    """A :class:`RecordingChannel` that can also look messages up by idempotency key.

    After a crash, campaignkit asks it what became of messages handed over
    without a recorded outcome, instead of sending them again.
    """

    def lookup(self, idempotency_key: str) -> SendResult | None:
        """``Accepted`` if a message with this key arrived, else None."""
        with self._lock:
            provider_id = self.provider_ids.get(idempotency_key)
        return None if provider_id is None else Accepted(provider_id)


Respond = Callable[[Message], SendResult]
"""Decides the result of one message."""


class CallbackChannel:
    """Answers each message with what ``respond`` returns, and records them all.

    Use it to script failures: ``CallbackChannel(lambda m: TransientFailure("busy"))``.
    A callback may also act on the kit (for example stop the campaign) to test
    what happens mid-run.

    Attributes:
        calls: Every message handed over, in order.
    """

    def __init__(self, respond: Respond) -> None:
        self.calls: list[Message] = []
        self._respond = respond

    def send(self, messages: Sequence[Message]) -> Sequence[SendResult]:
        """Record each message and return the callback's results."""
        results = []
        for message in messages:
            self.calls.append(message)
            results.append(self._respond(message))
        return results


_new = object.__new__
_set_provider_id = vars(Accepted)["provider_message_id"].__set__
"""Sets a new ``Accepted``'s one slot (what its ``__init__`` does, without the Python call)."""


class NullChannel:
    """Accepts everything and keeps nothing (for benchmarks).

    Each message is answered ``Accepted(message.idempotency_key)``: unique per
    message, and the same for a re-sent copy.
    """

    def send(self, messages: Sequence[Message]) -> Sequence[SendResult]:
        """Accept every message.

        The answers are made in C loops (``object.__new__`` and the slot's setter,
        mapped), not one ``Accepted(...)`` call each: the same values, at a
        fraction of the cost, since a benchmark's null channel should cost as
        little as a hand-written one.
        """
        keys = [m.idempotency_key for m in messages]
        accepted: list[Accepted] = list(map(_new, repeat(Accepted, len(keys))))
        any(map(_set_provider_id, accepted, keys))  # each call returns None: runs them all
        return accepted
