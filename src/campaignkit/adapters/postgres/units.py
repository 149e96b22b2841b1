"""The PostgreSQL unit of work: the SQLite repositories, plus the locks of parallel units.

A unit opened inside :func:`campaignkit.concurrency.shared_units` runs beside
other such units (see :mod:`.connection`); what it reads to decide a write it
locks first, through the two methods here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Final

import attrs

from campaignkit.adapters.postgres.connection import UNKNOWN, PostgresDatabase
from campaignkit.adapters.sqlite.campaigns import SQLiteCampaigns
from campaignkit.adapters.sqlite.delivery import SQLiteSuppressions
from campaignkit.adapters.sqlite.runs import _HOT, _UPDATE, SQLiteRuns
from campaignkit.adapters.sqlite.shards import SQLiteShards
from campaignkit.adapters.sqlite.store import SQLiteUnitOfWork
from campaignkit.concurrency import parking
from campaignkit.domain.campaign_enums import CampaignStatus
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.copying import evolve
from campaignkit.domain.delivery import Run
from campaignkit.errors import NotFound

_SUPPRESSED_CHANNELS: Final = (
    "ARRAY(SELECT v.channel FROM (VALUES "
    + ", ".join(f"('{channel.value}')" for channel in ChannelType)
    + ") AS v (channel) WHERE EXISTS "
    "(SELECT 1 FROM suppressions s WHERE s.channel = v.channel))"
)
_GET: Final = (
    f"SELECT id, document, {_HOT}, "
    "(SELECT c.status FROM campaigns c WHERE c.id = runs.campaign_id), "
    f"{_SUPPRESSED_CHANNELS} FROM runs WHERE id = ?"
)
"""A run, with what a batch's unit reads next: its campaign's status, the suppressed channels.

The two are index probes (primary keys) the server answers in the same round
trip; :class:`PostgresCampaigns` and :class:`PostgresSuppressions` answer
from them until the unit writes.
"""
_GET_LOCKED: Final = f"{_GET} FOR UPDATE"
_SAVE_HELD: Final = f"WITH saved AS ({_UPDATE} RETURNING 1) SELECT 1 / count(*) FROM saved"
"""A run's save that fails on the server (division by zero) when no row matched.

It can be held back and sent with the unit's ``COMMIT``: were the row not at
the revision read, the unit would roll back instead of committing.
"""


class PostgresRuns(SQLiteRuns):
    """The SQLite runs repository, whose rows a parallel unit locks.

    In a unit that runs beside others, reading a run locks its row until the
    unit ends (``SELECT ... FOR UPDATE``, the same round trip): whatever the
    unit decides from it and writes back, no other unit changes meanwhile.

    Saving a run this unit read (or saved) at the revision saved is sent with
    the unit's next read or its ``COMMIT`` instead of on its own: no other
    unit can have changed the row meanwhile (a unit beside this one waits on
    its row lock, and a unit that runs alone cannot run beside it), so its
    revision check cannot fail; should it fail all the same, the statement
    fails on the server and the unit rolls back with ``ConflictError``. One
    round trip less for each batch's two units.

    Args:
        db: The store's connections.
    """

    def __init__(self, db: PostgresDatabase) -> None:
        super().__init__(db)
        self._pg = db
        self._seen: tuple[int, dict[str, int]] = (0, {})

    def _revisions(self) -> dict[str, int]:
        """The revision of each run this unit read or wrote, as it is stored now."""
        unit, seen = self._seen
        if unit != self._pg.unit:
            seen = {}
            self._seen = (self._pg.unit, seen)
        return seen

    def get(self, run_id: str) -> Run:
        """Return the run, its row locked in a parallel unit; ``NotFound`` if there is none."""
        row = self._pg.one(_GET_LOCKED if self._pg.shared else _GET, (run_id,))
        if row is None:
            raise NotFound("run", run_id)
        run = self._decode(row[:-2])
        status, suppressed = row[-2:]
        self._pg.remember(("status", run.campaign_id), status)
        self._pg.remember("suppressed", frozenset(suppressed))
        self._revisions()[run_id] = run.revision
        return run

    def save(self, run: Run) -> Run:
        """Update the run stored at ``run.revision`` (``ConflictError`` if stale).

        A run read in this unit at that revision is saved with the unit's
        next read or its ``COMMIT`` (see the class); so is any run in a unit
        that may be parked (:func:`campaignkit.concurrency.parked_commits`),
        whose ``ConflictError`` is then its ``redo``.
        """
        seen = self._revisions()
        if seen.get(run.id) != run.revision and parking() is None:
            stored = super().save(run)
        else:
            stored = evolve(run, revision=run.revision + 1)
            hot = self._hot(stored)
            self._pg.defer(
                _SAVE_HELD,
                (*hot, run.id, run.revision),
                f"run {run.id!r} changed meanwhile (yours {run.revision}); reload and retry",
            )
            self._hint(stored, hot)
        seen[run.id] = stored.revision
        return stored

    def lock(self, run_id: str, *, wait: bool = True) -> bool:
        """Lock the run's row until the unit ends (``FOR UPDATE``).

        Args:
            run_id: The run.
            wait: False to skip a row another unit holds (``SKIP LOCKED``).

        Returns:
            False only when ``wait`` is False and another unit holds the row.
        """
        return self._pg.lock_row("runs", run_id, wait=wait)


class PostgresCampaigns(SQLiteCampaigns):
    """The SQLite campaigns repository; a status read with the unit's run is not read again."""

    def __init__(self, db: PostgresDatabase) -> None:
        super().__init__(db)
        self._pg = db

    def status(self, campaign_id: str) -> CampaignStatus | None:
        """Return just the campaign's status, or None (as read with a run, if no write since)."""
        known = self._pg.recall(("status", campaign_id))
        if known is UNKNOWN:
            return super().status(campaign_id)
        return None if known is None else CampaignStatus(known)


class PostgresSuppressions(SQLiteSuppressions):
    """The SQLite suppressions repository; a channel read unsuppressed with the run: no probe."""

    def __init__(self, db: PostgresDatabase) -> None:
        super().__init__(db)
        self._pg = db

    def suppressed(self, channel: ChannelType, addresses: Sequence[str]) -> set[str]:
        """Which of ``addresses`` are suppressed on ``channel``.

        Nothing, without a round trip, if the unit read its run (which says
        which channels hold any suppression) and wrote nothing since.
        """
        known = self._pg.recall("suppressed")
        if isinstance(known, frozenset) and channel.value not in known:
            return set()
        return super().suppressed(channel, addresses)


@attrs.define
class PostgresUnitOfWork(SQLiteUnitOfWork):
    """A unit of work of a PostgreSQL store: the SQLite repositories on its connection."""

    db: PostgresDatabase
    shards: PostgresShards

    def lock(self, name: str) -> None:
        """Hold ``name`` until the unit ends, if it runs beside others (an advisory lock).

        Args:
            name: What to serialize on (``"caps"``, ``"campaign:<id>"``).
        """
        self.db.lock(name)


class PostgresShards(SQLiteShards):
    """The SQLite shards repository, locking as PostgreSQL's parallel units need.

    ``hold`` reads the shard ``FOR UPDATE``: a claim that would move its epoch
    waits until the holder's unit ends, so a unit that found its epoch current
    writes under it. ``claim`` skips a shard another unit holds (``FOR UPDATE
    SKIP LOCKED``): claimers never wait on each other. ``freeze`` writes a
    batch in one statement, its ids as one array (a fifth of the time of
    rows of ``VALUES``: the freeze is the part of a run no second worker
    can share).
    """

    HOLD: ClassVar[str] = f"{SQLiteShards.HOLD} FOR UPDATE"
    CLAIM_SUFFIX: ClassVar[str] = f"{SQLiteShards.CLAIM_SUFFIX} FOR UPDATE SKIP LOCKED"
    FREEZE_ARRAY: ClassVar[str | None] = (
        "INSERT INTO run_members (run_id, position, profile_id) "
        "SELECT ?, ? + t.i - 1, t.id FROM unnest(?::text[]) WITH ORDINALITY AS t(id, i)"
    )
