"""The child side of the delivery crash tests: a kill switch, the file channels that append one
line per message to a provider record (and reading that record), and the worker process's
entry point ``child_main``."""

from __future__ import annotations

import json
import os
import random
import signal
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Final, Literal, NamedTuple

import pendulum

import campaignkit as ck
from campaignkit.testing import ManualClock, SequentialIds

Moment = Literal["before", "after", "never"]
"""When a child kills itself: before the batch reaches the file, after, or not at all."""
Kind = Literal["plain", "lookup"]
"""Which channel a worker uses: without or with ``lookup``."""
MOMENTS: Final[Mapping[str, Moment]] = {"before": "before", "after": "after", "never": "never"}
KINDS: Final[Mapping[str, Kind]] = {"plain": "plain", "lookup": "lookup"}


EMAIL = ck.ChannelType.EMAIL
SMS = ck.ChannelType.SMS


# ---------------------------------------------------------------- the channel (child side)


class KillSwitch:
    """Counts the sends of a worker over all its channels; SIGKILLs it at the chosen one.

    Just before dying it writes the batch in flight to ``report`` (fsynced),
    so the test knows exactly which messages the crash caught.

    Args:
        kill_at: The send (1-based) to die at, or None to never die.
        moment: Die before the batch reaches the file, or after.
        report: Where to write the batch in flight.
    """

    def __init__(self, kill_at: int | None, moment: Moment, report: Path | None) -> None:
        self.sends = 0
        self._kill_at = kill_at
        self._moment = moment
        self._report = report

    def check(self, moment: Moment, channel: str, messages: Sequence[ck.Message]) -> None:
        """Called before and after each batch is written; dies if this is the moment."""
        if moment == "before":
            self.sends += 1
        if self.sends != self._kill_at or moment != self._moment:
            return
        if self._report is not None:
            crash = {
                "send": self.sends,
                "moment": moment,
                "channel": channel,
                "keys": [m.idempotency_key for m in messages],
            }
            with self._report.open("w", encoding="utf-8") as handle:
                handle.write(json.dumps(crash))
                handle.flush()
                os.fsync(handle.fileno())
        os.kill(os.getpid(), signal.SIGKILL)


class FileChannel:
    """Appends one line per message to an append-only file and accepts it.

    The provider id is ``<name>-<idempotency key>``: the same for a copy.

    Args:
        path: The channel's record (created if missing).
        name: The channel's name (``email``, ``sms``).
        switch: Decides when the worker dies.
    """

    def __init__(self, path: Path, name: str, switch: KillSwitch) -> None:
        self.name = name
        self._switch = switch
        # one write(2) a batch on an O_APPEND descriptor: a worker killed from outside at
        # any instant leaves the batch whole or absent, never a torn line that the next
        # worker's first line would be glued to (a line-buffered file flushed a batch in
        # pieces, and a kill between two of them did exactly that under load)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
        """Write the batch (one write, one fsync), then accept every message."""
        self._switch.check("before", self.name, messages)
        data = "".join(
            f"{m.idempotency_key}\t{m.action_id}\t{m.profile_id}\n" for m in messages
        ).encode()
        written = os.write(self._fd, data)
        assert written == len(data), "a short write to the channel's record"
        os.fsync(self._fd)
        self._switch.check("after", self.name, messages)
        return [self.accepted(m.idempotency_key) for m in messages]

    def accepted(self, key: str) -> ck.Accepted:
        """What the provider answers for the message with this key."""
        return ck.Accepted(f"{self.name}-{key}")

    def close(self) -> None:
        """Close the record."""
        os.close(self._fd)


class LookupFileChannel(FileChannel):
    """A :class:`FileChannel` that answers ``lookup`` from its record.

    It reads what earlier workers wrote when it opens, and remembers what it
    writes itself.
    """

    def __init__(self, path: Path, name: str, switch: KillSwitch) -> None:
        self._seen = {line.key for line in read_lines(path)}
        super().__init__(path, name, switch)

    def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
        """Write and accept the batch, and remember its keys."""
        results = super().send(messages)
        self._seen.update(m.idempotency_key for m in messages)
        return results

    def lookup(self, idempotency_key: str) -> ck.SendResult | None:
        """``Accepted`` if the record has a message with this key, else None."""
        return self.accepted(idempotency_key) if idempotency_key in self._seen else None


def record_path(out: Path, channel: ck.ChannelType) -> Path:
    """The record of one channel in ``out``."""
    return out / f"{channel.value}.tsv"


@contextmanager
def file_channels(
    out: Path, kind: Kind, switch: KillSwitch
) -> Iterator[dict[ck.ChannelType, ck.Channel]]:
    """An email and an SMS :class:`FileChannel` writing to ``out``, closed afterwards."""
    factory = LookupFileChannel if kind == "lookup" else FileChannel
    channels = {c: factory(record_path(out, c), c.value, switch) for c in (EMAIL, SMS)}
    try:
        yield dict(channels)
    finally:
        for channel in channels.values():
            channel.close()


def child_main(argv: Sequence[str]) -> None:
    """A worker: reopen the kit at a given instant and tick; maybe die at a send.

    Arguments: store path, output directory, ISO instant, channel kind,
    moment, seed, largest kill send, batch size.
    """
    store, out, at, kind_name, moment_name, seed, max_send, batch_size = argv
    kind = KINDS[kind_name]
    moment = MOMENTS[moment_name]
    kill_at = None if moment == "never" else random.Random(int(seed)).randint(1, int(max_send))
    switch = KillSwitch(kill_at, moment, Path(out) / "crash.json")
    instant = pendulum.parse(at)
    assert isinstance(instant, pendulum.DateTime)
    with (
        file_channels(Path(out), kind, switch) as channels,
        ck.CampaignKit.sqlite(
            store,
            clock=ManualClock(instant),
            channels=channels,
            delivery=ck.DeliverySettings(batch_size=int(batch_size)),
            ids=SequentialIds(),
        ) as kit,
    ):
        kit.tick()


class Line(NamedTuple):
    """One line of a channel's record."""

    key: str
    action_id: str
    profile_id: str


def read_lines(path: Path, offset: int = 0) -> list[Line]:
    """The lines of a record from byte ``offset``; every line must be whole."""
    if not path.exists():
        return []
    with path.open("rb") as handle:
        handle.seek(offset)
        data = handle.read().decode("utf-8")
    assert data == "" or data.endswith("\n"), f"torn last line in {path}: {data[-80:]!r}"
    lines = []
    for text in data.splitlines():
        fields = text.split("\t")
        assert len(fields) == 3, f"malformed line in {path}: {text!r}"
        lines.append(Line(*fields))
    return lines


def size_of(path: Path) -> int:
    """The size of a record in bytes (0 if it does not exist yet)."""
    return path.stat().st_size if path.exists() else 0
