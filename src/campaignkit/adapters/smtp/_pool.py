"""A bounded pool of reusable SMTP connections, shared by the sending threads."""

from __future__ import annotations

import contextlib
import smtplib
import threading


def close_quietly(connection: smtplib.SMTP, *, polite: bool = True) -> None:
    """Close ``connection``: ``QUIT`` when ``polite`` and possible, then the socket."""
    if polite and connection.sock is not None:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            connection.quit()
    connection.close()


class ConnectionPool:
    """Up to ``size`` SMTP connections, opened by the caller when none is idle.

    A worker takes a slot with :meth:`acquire` (waiting while ``size`` are taken) and
    gets an idle connection, or None: it then opens one itself, outside the
    lock. It gives the slot back with :meth:`release`, with the connection to
    keep (or None when it was lost). Idle connections plus taken slots never
    exceed ``size``, so neither do open connections.

    Args:
        size: The most connections open at once.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._condition = threading.Condition()
        self._idle: list[smtplib.SMTP] = []
        self._taken = 0
        self._generation = 0

    def acquire(self) -> tuple[smtplib.SMTP | None, int]:
        """Take a slot: an idle connection or None (open one), and the pool's generation."""
        with self._condition:
            while self._taken >= self._size:
                self._condition.wait()
            self._taken += 1
            connection = self._idle.pop() if self._idle else None
            return connection, self._generation

    def release(self, connection: smtplib.SMTP | None, generation: int) -> None:
        """Give the slot back, keeping ``connection`` for reuse unless the pool was closed since."""
        stale = None
        with self._condition:
            self._taken -= 1
            if connection is not None:
                if generation == self._generation:
                    self._idle.append(connection)
                else:
                    stale = connection
            self._condition.notify()
        if stale is not None:
            close_quietly(stale)

    def close(self) -> None:
        """Close the idle connections; those in use close when they are released."""
        with self._condition:
            idle, self._idle = self._idle, []
            self._generation += 1
        for connection in idle:
            close_quietly(connection)

    @property
    def idle(self) -> int:
        """How many open connections wait for reuse."""
        with self._condition:
            return len(self._idle)
