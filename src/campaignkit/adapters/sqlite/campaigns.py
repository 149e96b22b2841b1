"""Campaigns in SQLite: the document plus indexed columns and side tables.

The campaign is stored whole as a versioned JSON envelope; the columns and
the tag, channel and surface tables exist only so listing, search, paging and
the engine's due query are indexed SQL, never a scan in Python.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

import attrs
import pendulum

from campaignkit.adapters.sqlite.caches import caches_for
from campaignkit.adapters.sqlite.connection import Database, from_us, to_us
from campaignkit.domain.campaign import Campaign
from campaignkit.domain.campaign_enums import CampaignStatus
from campaignkit.domain.listing import CampaignQuery, Page, decode_cursor, encode_cursor
from campaignkit.errors import ConflictError, NotFound, StorageError, ValidationError
from campaignkit.serialization import dumps, loads

logger = logging.getLogger("campaignkit.storage")


def _columns(campaign: Campaign) -> dict[str, Any]:
    return {
        "id": campaign.id,
        "revision": campaign.revision,
        "status": campaign.status.value,
        "type": campaign.type.value,
        "name_fold": campaign.name.casefold(),
        "created_us": to_us(campaign.created_at),
        "updated_us": to_us(campaign.updated_at),
        "due_us": None if campaign.due_at is None else to_us(campaign.due_at),
        "document": dumps(campaign),
    }


def _load_campaign(document: str) -> Campaign:
    return loads(Campaign, document)


def _placeholders(count: int) -> str:
    return ", ".join("?" * count)


class SQLiteCampaigns:
    """The :class:`~campaignkit.ports.CampaignRepository` of a SQLite unit of work."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._cache = caches_for(db).campaigns

    def find(self, campaign_id: str) -> Campaign | None:
        """Return the campaign, or None (decoded once per document text, see :mod:`.caches`)."""
        row = self._db.one("SELECT document FROM campaigns WHERE id = ?", (campaign_id,))
        return None if row is None else self._cache.load(campaign_id, row[0], _load_campaign)

    def status(self, campaign_id: str) -> CampaignStatus | None:
        """Return just the campaign's status (one indexed column), or None."""
        row = self._db.one("SELECT status FROM campaigns WHERE id = ?", (campaign_id,))
        return None if row is None else CampaignStatus(row[0])

    def get(self, campaign_id: str) -> Campaign:
        """Return the campaign; raise ``NotFound`` if there is none."""
        found = self.find(campaign_id)
        if found is None:
            raise NotFound("campaign", campaign_id)
        return found

    def add(self, campaign: Campaign) -> Campaign:
        """Insert a new campaign at revision 1 (``ConflictError`` if it exists)."""
        if campaign.revision != 0:
            raise ValidationError([f"a new campaign must have revision 0, not {campaign.revision}"])
        stored = attrs.evolve(campaign, revision=1)
        row = _columns(stored)
        try:
            self._db.execute(
                f"INSERT INTO campaigns ({', '.join(row)}) VALUES ({_placeholders(len(row))})",
                tuple(row.values()),
            )
        except sqlite3.IntegrityError as exc:
            raise ConflictError(f"a campaign with id {campaign.id!r} exists already") from exc
        self._write_side_tables(stored, replace=False)
        return stored

    def save(self, campaign: Campaign) -> Campaign:
        """Update the campaign stored at ``campaign.revision`` (``ConflictError`` if stale)."""
        stored = attrs.evolve(campaign, revision=campaign.revision + 1)
        row = _columns(stored)
        assignments = ", ".join(f"{column} = ?" for column in row if column != "id")
        values = [value for column, value in row.items() if column != "id"]
        cursor = self._db.execute(
            f"UPDATE campaigns SET {assignments} WHERE id = ? AND revision = ?",
            (*values, campaign.id, campaign.revision),
        )
        if cursor.rowcount != 1:
            raise self._conflict(campaign, "save")
        self._write_side_tables(stored, replace=True)
        return stored

    def remove(self, campaign: Campaign) -> None:
        """Delete the campaign stored at ``campaign.revision`` (``ConflictError`` if stale)."""
        cursor = self._db.execute(
            "DELETE FROM campaigns WHERE id = ? AND revision = ?",
            (campaign.id, campaign.revision),
        )
        if cursor.rowcount != 1:
            raise self._conflict(campaign, "remove")

    def _conflict(self, campaign: Campaign, verb: str) -> ConflictError:
        row = self._db.one("SELECT revision FROM campaigns WHERE id = ?", (campaign.id,))
        if row is None:
            return ConflictError(
                f"cannot {verb} campaign {campaign.id!r}: it was removed meanwhile"
            )
        return ConflictError(
            f"cannot {verb} campaign {campaign.id!r}: it changed meanwhile "
            f"(revision {row[0]}, yours {campaign.revision}); reload and retry"
        )

    def scan(self, batch_size: int) -> Iterator[Sequence[Campaign]]:
        """Every campaign in id order, a batch per query (inside the caller's unit of work)."""
        after = ""
        while rows := self._db.all(
            "SELECT id, document FROM campaigns WHERE id > ? ORDER BY id LIMIT ?",
            (after, batch_size),
        ):
            after = rows[-1][0]
            yield [self._cache.load(cid, document, _load_campaign) for cid, document in rows]

    def restore(self, campaign: Campaign) -> None:
        """Store ``campaign`` as given, revision included, replacing one with its id."""
        row = _columns(campaign)
        updates = ", ".join(f"{column} = excluded.{column}" for column in row if column != "id")
        self._db.execute(
            f"INSERT INTO campaigns ({', '.join(row)}) VALUES ({_placeholders(len(row))}) "
            f"ON CONFLICT (id) DO UPDATE SET {updates}",
            tuple(row.values()),
        )
        self._write_side_tables(campaign, replace=True)

    def _write_side_tables(self, campaign: Campaign, *, replace: bool) -> None:
        cid = campaign.id
        if replace:
            for table in ("campaign_tags", "campaign_channels", "campaign_surfaces"):
                self._db.execute(f"DELETE FROM {table} WHERE campaign_id = ?", (cid,))
        created = to_us(campaign.created_at)
        status = campaign.status.value
        self._db.executemany(
            "INSERT INTO campaign_tags (tag, campaign_id, status, created_us) VALUES (?, ?, ?, ?)",
            [(tag, cid, status, created) for tag in campaign.tags],
        )
        self._db.executemany(
            "INSERT INTO campaign_channels (campaign_id, channel) VALUES (?, ?)",
            [(cid, channel.value) for channel in sorted(campaign.channels)],
        )
        self._db.executemany(
            "INSERT INTO campaign_surfaces (surface_id, campaign_id) VALUES (?, ?)",
            [(surface, cid) for surface in sorted(campaign.surface_ids)],
        )

    def query(self, query: CampaignQuery) -> Page[Campaign]:
        """Return one page of campaigns matching ``query``, newest first.

        A stored document that cannot be loaded (edited outside campaignkit,
        written by a bug) is left out with a WARNING log, so it cannot hide
        every other campaign; reading it by id raises ``StorageError``. The
        page is then shorter than ``limit``, and its cursor still continues
        after the last row read.
        """
        sql, params = listing_sql(query)
        rows = self._db.all(sql, params)
        campaigns = []
        for document, _, campaign_id in rows[: query.limit]:
            try:
                campaigns.append(self._cache.load(campaign_id, document, _load_campaign))
            except StorageError as exc:
                logger.warning(
                    "campaign %r cannot be loaded and is left out of the listing: %s",
                    campaign_id,
                    exc,
                )
        if len(rows) <= query.limit:
            return Page(tuple(campaigns), None)
        _, created_us, campaign_id = rows[query.limit - 1]
        return Page(tuple(campaigns), encode_cursor((from_us(created_us), campaign_id)))

    def due(self, until: pendulum.DateTime, limit: int) -> Sequence[tuple[pendulum.DateTime, str]]:
        """Return up to ``limit`` ``(due_at, id)`` pairs due by ``until``, in order."""
        rows = self._db.all(
            "SELECT due_us, id FROM campaigns WHERE due_us IS NOT NULL AND due_us <= ? "
            "ORDER BY due_us, id LIMIT ?",
            (to_us(until), limit),
        )
        return [(from_us(due), cid) for due, cid in rows]

    def next_due_at(self) -> pendulum.DateTime | None:
        """Return the earliest due instant, or None."""
        row = self._db.one("SELECT min(due_us) FROM campaigns WHERE due_us IS NOT NULL")
        return None if row is None or row[0] is None else from_us(row[0])


def listing_sql(query: CampaignQuery) -> tuple[str, list[Any]]:
    """The SQL and parameters of one page of ``query`` (one row more than the page).

    Without a tag filter the scan walks ``campaigns_by_created`` newest first;
    with one it walks ``campaign_tags_by_created`` for that tag. Either way it
    stops after ``limit + 1`` matching rows.
    """
    problems = query.problems()
    if problems:
        raise ValidationError(problems, subject="campaign query")
    where: list[str] = []
    params: list[Any] = []
    if query.tag is not None:
        source = "campaign_tags t JOIN campaigns c ON c.id = t.campaign_id"
        created, ident = "t.created_us", "t.campaign_id"
        where.append("t.tag = ?")
        params.append(query.tag)
        status_column = "t.status"
    else:
        source = "campaigns c"
        created, ident = "c.created_us", "c.id"
        status_column = "c.status"
    statuses = sorted(s.value for s in query.statuses)
    where.append(f"{status_column} IN ({_placeholders(len(statuses))})")
    params.extend(statuses)
    if query.types is not None:
        types = sorted(t.value for t in query.types)
        where.append(f"c.type IN ({_placeholders(len(types))})")
        params.extend(types)
    if query.channels is not None:
        channels = sorted(ch.value for ch in query.channels)
        where.append(
            "EXISTS (SELECT 1 FROM campaign_channels ch WHERE ch.campaign_id = c.id "
            f"AND ch.channel IN ({_placeholders(len(channels))}))"
        )
        params.extend(channels)
    if query.surface_id is not None:
        where.append(
            "EXISTS (SELECT 1 FROM campaign_surfaces s WHERE s.campaign_id = c.id "
            "AND s.surface_id = ?)"
        )
        params.append(query.surface_id)
    if query.created_from is not None:
        where.append(f"{created} >= ?")
        params.append(to_us(query.created_from))
    if query.created_to is not None:
        where.append(f"{created} < ?")
        params.append(to_us(query.created_to))
    if query.search is not None:
        where.append("instr(c.name_fold, ?) > 0")
        params.append(query.search.casefold())
    if query.cursor is not None:
        after_created, after_id = decode_cursor(query.cursor)
        where.append(f"({created}, {ident}) < (?, ?)")
        params.extend([to_us(after_created), after_id])
    sql = (
        f"SELECT c.document, {created}, {ident} FROM {source} WHERE {' AND '.join(where)} "
        f"ORDER BY {created} DESC, {ident} DESC LIMIT ?"
    )
    params.append(query.limit + 1)
    return sql, params
