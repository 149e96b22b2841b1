"""Factories the scale-out tests name as ``"tests.integration.scale_kits:..."``.

Worker processes (a process pool's, a Celery worker's, ``campaignkit
worker --factory``) import this module and build their kit from it. What
they build is read from environment variables the test sets before it
starts them:

- ``CK_SCALE_LOG``: a file the :class:`Recorder` appends one line to per
  ``work_shard`` call (``run number pid builds``);
- ``CK_SCALE_REPORT``: ``host:port`` of a loopback socket the test listens
  on; each ``work_shard`` call (of a :class:`Recorder` or a
  :class:`ReportingKit`) sends its line there, so a test can wait for it
  without sleeping;
- ``CK_SCALE_DB`` and ``CK_SCALE_NOW``: the SQLite file (or PostgreSQL DSN,
  with ``CK_SCALE_SCHEMA``) and the instant (ISO 8601) of the ManualClock a
  :class:`ReportingKit` runs on.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from typing import Final

import pendulum

import campaignkit as ck
from campaignkit.engine import TickReport
from campaignkit.testing import ManualClock

LOG: Final = "CK_SCALE_LOG"
REPORT: Final = "CK_SCALE_REPORT"
DB: Final = "CK_SCALE_DB"
NOW: Final = "CK_SCALE_NOW"
SCHEMA: Final = "CK_SCALE_SCHEMA"
SETTINGS: Final = ck.DeliverySettings(
    batch_size=4, shard_size=5, lease=pendulum.duration(seconds=30)
)

builds = 0
"""How many kits this process built (a worker should build one)."""

not_a_function = 42
"""A factory string naming this is refused: it is not callable."""


def report(line: str) -> None:
    """Append ``line`` to ``$CK_SCALE_LOG`` and send it to ``$CK_SCALE_REPORT`` (each if set)."""
    path = os.environ.get(LOG)
    if path:
        with open(path, "a", encoding="utf-8") as file:
            file.write(line + "\n")
    address = os.environ.get(REPORT)
    if address:
        host, _, port = address.rpartition(":")
        with socket.create_connection((host, int(port)), timeout=30) as conn:
            conn.sendall((line + "\n").encode())


class Recorder:
    """A stand-in for a kit: records each ``work_shard`` call; even shards "finish" here.

    Run ``"boom"`` raises; the first call for run ``"hang"`` never returns
    (its process is to be killed), the next ones do.
    """

    def __init__(self) -> None:
        global builds  # noqa: PLW0603 - counts builds in this process
        builds += 1

    def work_shard(self, run_id: str, number: int) -> bool:
        hang = False
        if run_id == "hang":  # the first call hangs until its process is killed
            hung = Path(os.environ[LOG]).with_suffix(".hung")
            hang = not hung.exists()
            hung.touch()  # before reporting: the test kills this process once it hears
        report(f"{run_id} {number} {os.getpid()} {builds}")
        if hang:
            threading.Event().wait()
        if run_id == "boom":
            raise RuntimeError(f"shard {number} exploded")
        return number % 2 == 0


def make_recorder() -> Recorder:
    """A :class:`Recorder` (the kit factory of the tests that only observe calls)."""
    return Recorder()


def make_nothing() -> int:
    """A factory returning something that is not a kit."""
    return 7


def make_broken() -> Recorder:
    """A factory that raises."""
    raise RuntimeError("the factory cannot reach its store")


class ReportingKit(ck.CampaignKit):
    """A real kit whose ``work_shard`` reports each call (its result included)."""

    def work_shard(self, run_id: str, number: int) -> bool:
        done = super().work_shard(run_id, number)
        report(f"{run_id} {number} {os.getpid()} {done}")
        return done


def make_kit() -> ck.CampaignKit:
    """A :class:`ReportingKit` on ``$CK_SCALE_DB`` at ``$CK_SCALE_NOW``, shards of 5.

    ``$CK_SCALE_DB`` is a SQLite file, or ``postgresql://...`` with the schema
    in ``$CK_SCALE_SCHEMA``.
    """
    global builds  # noqa: PLW0603 - counts builds in this process
    builds += 1
    now = pendulum.parse(os.environ[NOW])
    assert isinstance(now, pendulum.DateTime)
    database = os.environ[DB]
    if database.startswith("postgresql://"):
        return ReportingKit.postgres(
            database, clock=ManualClock(now), delivery=SETTINGS, schema=os.environ[SCHEMA]
        )
    return ReportingKit.sqlite(database, clock=ManualClock(now), delivery=SETTINGS)


class Interrupted(ck.CampaignKit):
    """A kit whose first tick is interrupted (a second Ctrl-C): its worker returns 130."""

    def tick(self) -> TickReport:
        raise KeyboardInterrupt


def make_interrupted() -> ck.CampaignKit:
    """An in-memory :class:`Interrupted` kit."""
    return Interrupted.in_memory(ManualClock())


given: list[str] = []
"""The databases :func:`make_interrupted_on` was given, in this process."""


def make_interrupted_on(database: str) -> ck.CampaignKit:
    """An :class:`Interrupted` kit on the SQLite file ``--db`` named."""
    given.append(database)
    return Interrupted.sqlite(database, clock=ManualClock())
