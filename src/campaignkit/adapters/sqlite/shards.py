"""Frozen audiences and shards of runs in SQLite (schema migration 7); PostgreSQL runs it too.

The statements are class attributes so that the PostgreSQL store's
subclass can lock what SQLite's one writer at a time needs no lock for:
``hold`` reads the shard ``FOR UPDATE`` there, and ``claim`` skips shards
another unit is claiming (``FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, ClassVar, Final

import pendulum

from campaignkit.adapters.sqlite.connection import Database, Row, from_us, to_us
from campaignkit.adapters.sqlite.runs import decode_counts, encode_counts
from campaignkit.domain.shards import Shard, ShardLost
from campaignkit.errors import ConflictError

_COLUMNS: Final = "run_id, number, first_pos, end_pos, epoch, owner, lease_us, done, counts"
_FREEZE_CHUNK: Final = 300
"""Members per INSERT (three parameters each: under SQLite's 999 by default)."""


def _shard(row: Row) -> Shard:
    run_id, number, first, end, epoch, owner, lease_us, done, counts = row
    return Shard(
        run_id,
        number,
        first,
        end,
        epoch,
        owner,
        None if lease_us is None else from_us(lease_us),
        bool(done),
        decode_counts(counts),
    )


class SQLiteShards:
    """The ``ShardRepository`` of a SQLite store.

    Args:
        db: The store's connection.
    """

    HOLD: ClassVar[str] = f"SELECT {_COLUMNS} FROM shards WHERE run_id = ? AND number = ?"
    """Read one shard to check its epoch (PostgreSQL: and lock it)."""
    CLAIMABLE: ClassVar[str] = (
        f"SELECT {_COLUMNS} FROM shards WHERE done = 0 AND (lease_us IS NULL OR lease_us <= ?)"
    )
    """The free shards (narrowed, ordered and limited by ``claim``)."""
    CLAIM_SUFFIX: ClassVar[str] = " ORDER BY run_id, number LIMIT 1"
    """What ends the claim's query (PostgreSQL adds ``FOR UPDATE SKIP LOCKED``)."""
    FREEZE_ARRAY: ClassVar[str | None] = None
    """One statement freezing a whole batch, its ids as one array (run id, first
    position, ids); None: rows of ``VALUES`` in chunks (SQLite has no arrays)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def freeze(self, run_id: str, start: int, profile_ids: Sequence[str]) -> None:
        """Append members to the run's frozen audience at positions ``start`` onwards."""
        if self.FREEZE_ARRAY is not None:
            try:
                self._db.execute(self.FREEZE_ARRAY, (run_id, start, list(profile_ids)))
            except sqlite3.IntegrityError as exc:
                raise _frozen_already(run_id, start) from exc
            return
        for at in range(0, len(profile_ids), _FREEZE_CHUNK):
            chunk = profile_ids[at : at + _FREEZE_CHUNK]
            values: list[Any] = []
            for offset, profile_id in enumerate(chunk):
                values += (run_id, start + at + offset, profile_id)
            marks = ", ".join(["(?, ?, ?)"] * len(chunk))
            try:
                self._db.execute(
                    f"INSERT INTO run_members (run_id, position, profile_id) VALUES {marks}",
                    values,
                )
            except sqlite3.IntegrityError as exc:
                raise _frozen_already(run_id, start + at) from exc

    def frozen(self, run_id: str) -> int:
        """How many members of the run are frozen."""
        row = self._db.one("SELECT count(*) FROM run_members WHERE run_id = ?", (run_id,))
        return 0 if row is None else int(row[0])

    def freeze_audience(self, run_id: str, audience: str, start: int) -> int:
        """Freeze a static audience of this store from position ``start`` on, in one statement."""
        self._db.execute(
            "INSERT INTO run_members (run_id, position, profile_id) "
            "SELECT ?, position, profile_id FROM audience_members "
            "WHERE audience = ? AND position >= ?",
            (run_id, audience, start),
        )
        return self.frozen(run_id)

    def members(self, run_id: str, first: int, end: int) -> list[str]:
        """The profile ids at positions ``first .. end - 1``, in order."""
        rows = self._db.all(
            "SELECT profile_id FROM run_members WHERE run_id = ? AND position >= ? "
            "AND position < ? ORDER BY position",
            (run_id, first, end),
        )
        return [row[0] for row in rows]

    def plan(self, shards: Sequence[Shard]) -> None:
        """Store a run's shards (all at once, once)."""
        try:
            self._db.executemany(
                f"INSERT INTO shards ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [_row(shard) for shard in shards],
            )
        except sqlite3.IntegrityError as exc:
            raise ConflictError(
                f"run {shards[0].run_id} is planned into shards already (another worker did it)"
            ) from exc

    def for_run(self, run_id: str) -> list[Shard]:
        """The run's shards in order (none: the run is not sharded)."""
        rows = self._db.all(
            f"SELECT {_COLUMNS} FROM shards WHERE run_id = ? ORDER BY number", (run_id,)
        )
        return [_shard(row) for row in rows]

    def claim(
        self,
        run_id: str | None,
        number: int | None,
        owner: str,
        now: pendulum.DateTime,
        expires: pendulum.DateTime,
    ) -> Shard | None:
        """Claim the first free shard (of ``run_id``, numbered ``number``, if given)."""
        query = self.CLAIMABLE
        params: list[Any] = [to_us(now)]
        if run_id is not None:
            query += " AND run_id = ?"
            params.append(run_id)
        if number is not None:
            query += " AND number = ?"
            params.append(number)
        row = self._db.one(query + self.CLAIM_SUFFIX, params)
        if row is None:
            return None
        found = _shard(row)
        claimed = Shard(
            found.run_id,
            found.number,
            found.first,
            found.end,
            found.epoch + 1,
            owner,
            expires,
            False,
            found.counts,
        )
        cursor = self._db.execute(
            "UPDATE shards SET epoch = ?, owner = ?, lease_us = ? "
            "WHERE run_id = ? AND number = ? AND epoch = ?",
            (claimed.epoch, owner, to_us(expires), found.run_id, found.number, found.epoch),
        )
        return claimed if cursor.rowcount == 1 else None

    def hold(self, shard: Shard) -> Shard:
        """The shard as stored, if still held at ``shard.epoch``; else ``ShardLost``."""
        row = self._db.one(self.HOLD, (shard.run_id, shard.number))
        stored = None if row is None else _shard(row)
        if stored is None or stored.epoch != shard.epoch or stored.done:
            raise ShardLost(shard.run_id, shard.number, shard.epoch)
        return stored

    def save(self, shard: Shard) -> Shard:
        """Store the shard's lease, counts and ``done`` at its epoch; else ``ShardLost``."""
        cursor = self._db.execute(
            "UPDATE shards SET owner = ?, lease_us = ?, done = ?, counts = ? "
            "WHERE run_id = ? AND number = ? AND epoch = ? AND done = 0",
            (
                shard.owner,
                None if shard.lease_expires_at is None else to_us(shard.lease_expires_at),
                1 if shard.done else 0,
                encode_counts(shard.counts),
                shard.run_id,
                shard.number,
                shard.epoch,
            ),
        )
        if cursor.rowcount != 1:
            raise ShardLost(shard.run_id, shard.number, shard.epoch)
        return shard


def _frozen_already(run_id: str, start: int) -> ConflictError:
    return ConflictError(
        f"run {run_id}: members from position {start} are frozen already "
        "(another worker froze them): read frozen() again"
    )


def _row(shard: Shard) -> tuple[object, ...]:
    return (
        shard.run_id,
        shard.number,
        shard.first,
        shard.end,
        shard.epoch,
        shard.owner,
        None if shard.lease_expires_at is None else to_us(shard.lease_expires_at),
        1 if shard.done else 0,
        encode_counts(shard.counts),
    )
