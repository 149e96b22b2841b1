"""A channel that prints messages: for demos and notebooks."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from campaignkit.domain.delivery import Accepted, Message, SendResult


class ConsoleChannel:
    """Prints each message (address and rendered fields) and accepts it.

    Args:
        stream: Where to print (default: standard output at send time).
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def send(self, messages: Sequence[Message]) -> Sequence[SendResult]:
        """Print and accept every message."""
        stream = self._stream if self._stream is not None else sys.stdout
        results: list[SendResult] = []
        for message in messages:
            fields = "; ".join(f"{k}={v!r}" for k, v in message.fields.items())
            proof = " [proof]" if message.proof else ""
            print(f"[{message.channel}]{proof} to {message.address}: {fields}", file=stream)
            results.append(Accepted(f"console-{message.idempotency_key}"))
        return results
