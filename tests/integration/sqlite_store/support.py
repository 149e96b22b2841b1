"""Helpers of the SQLiteStore file tests: filling and reading a store, the state of a file
(which a refusal must leave untouched), and a child Python process the test talks to through
blocking pipes."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import attrs
import pytest

import campaignkit as ck
from campaignkit.adapters.sqlite import SQLiteStore
from campaignkit.domain.listing import CampaignQuery
from campaignkit.testing.factories import EPOCH, make_campaign

S = ck.CampaignStatus
CHILD_TIMEOUT: Final = 60.0
"""Seconds a blocking read from a child may take before the test fails (never slept)."""

Migration = tuple[int, str, Sequence[str]]


# ---------------------------------------------------------------- helpers


def fill(path: Path, count: int = 20, *, tags: Sequence[str] = ("seed",)) -> list[ck.Campaign]:
    """Create a store at ``path`` holding ``count`` campaigns; close it; return them."""
    with SQLiteStore(path) as store, store.unit_of_work() as uow:
        return [
            uow.campaigns.add(
                make_campaign(f"c{i:04d}", tags=tags, created_at=EPOCH.add(minutes=i))
            )
            for i in range(count)
        ]


def read_all(path: Path) -> list[ck.Campaign]:
    """Every campaign of the store at ``path``, oldest first."""
    with SQLiteStore(path) as store, store.unit_of_work() as uow:
        page = uow.campaigns.query(CampaignQuery(statuses=ck.ALL_STATUSES, limit=500))
    return sorted(page.items, key=lambda c: (c.created_at, c.id))


def rows(store: SQLiteStore, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run raw SQL on the store's own connection."""
    return list(store._db.connection.execute(sql, params).fetchall())


@attrs.frozen
class FileState:
    """What must not change when campaignkit refuses a file."""

    content: bytes
    size: int
    mtime_ns: int
    siblings: frozenset[str]

    @classmethod
    def of(cls, path: Path) -> FileState:
        stat = path.stat()
        siblings = frozenset(p.name for p in path.parent.iterdir() if p.name != path.name)
        return cls(path.read_bytes(), stat.st_size, stat.st_mtime_ns, siblings)


def assert_refused(path: Path, *fragments: str) -> ck.StorageError:
    """Opening ``path`` raises StorageError naming it, and leaves everything as it was."""
    before = FileState.of(path)
    with pytest.raises(ck.StorageError) as raised:
        SQLiteStore(path)
    message = str(raised.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    assert FileState.of(path) == before, "the refused file (or its -wal/-shm) changed"
    return raised.value


class Child:
    """A second Python process running ``script``; lines in via stdin, out via stdout.

    ``expect`` blocks on the child's stdout (through a reader thread and a
    queue, so a dead child fails the test instead of hanging it).
    """

    _EOF: Final = "\x00EOF"

    def __init__(self, script: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", script, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(self._EOF)

    def expect(self, prefix: str) -> str:
        """Block until the child prints its next line; it must start with ``prefix``."""
        line = self._lines.get(timeout=CHILD_TIMEOUT)
        if line == self._EOF:
            self.proc.wait(timeout=CHILD_TIMEOUT)
            assert self.proc.stderr is not None
            pytest.fail(f"child exited ({self.proc.returncode}) early:\n{self.proc.stderr.read()}")
        assert line.startswith(prefix), line
        return line

    def send(self, line: str) -> None:
        """Write one line to the child's stdin."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def finish(self) -> int:
        """Wait for the child to exit by itself; return its exit code."""
        code = self.proc.wait(timeout=CHILD_TIMEOUT)
        if code != 0:
            assert self.proc.stderr is not None
            pytest.fail(f"child failed ({code}):\n{self.proc.stderr.read()}")
        return code

    def kill(self) -> None:
        """SIGKILL the child (no cleanup of any kind runs in it) and reap it."""
        self.proc.kill()
        self.proc.wait(timeout=CHILD_TIMEOUT)

    def __enter__(self) -> Child:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.proc.poll() is None:
            self.kill()
        self._reader.join(timeout=CHILD_TIMEOUT)
        self.proc.__exit__(exc_type, exc, tb)


def _add(path: Path, *campaigns: ck.Campaign) -> list[ck.Campaign]:
    with SQLiteStore(path) as store, store.unit_of_work() as uow:
        return [uow.campaigns.add(c) for c in campaigns]
