"""Feedback, suppressions, static audiences and contacts in SQLite.

The ledger is in :mod:`.ledger`, runs and executions in :mod:`.runs`, the
rule book in :mod:`.others`.

Writes come in batches (``executemany``) inside the caller's unit of work,
so a batch of intents or outcomes is one transaction.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Mapping, Sequence
from typing import Final

import pendulum

from campaignkit.adapters.sqlite.connection import Database, from_us, to_us
from campaignkit.adapters.sqlite.ledger_codec import text_object
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import FeedbackRecord
from campaignkit.ports import ContactRecord
from campaignkit.serialization import dumps, loads

_CHUNK = 500  # stay well under SQLite's bound-parameter limit


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _marks(count: int) -> str:
    return ", ".join("?" * count)


class SQLiteFeedback:
    """The :class:`~campaignkit.ports.FeedbackRepository` of a SQLite unit of work."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, record: FeedbackRecord) -> None:
        """Append a feedback record."""
        self._db.execute(
            "INSERT INTO feedback (campaign_id, document) VALUES (?, ?)",
            (record.campaign_id, dumps(record)),
        )

    def for_campaign(self, campaign_id: str) -> Sequence[FeedbackRecord]:
        """Every feedback record of a campaign, oldest first."""
        rows = self._db.all(
            "SELECT document FROM feedback WHERE campaign_id = ? ORDER BY seq", (campaign_id,)
        )
        return [loads(FeedbackRecord, row[0]) for row in rows]

    def scan(self, batch_size: int) -> Iterator[Sequence[FeedbackRecord]]:
        """Every feedback record, oldest first, a batch per query."""
        after = 0
        while rows := self._db.all(
            "SELECT seq, document FROM feedback WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, batch_size),
        ):
            after = rows[-1][0]
            yield [loads(FeedbackRecord, document) for _, document in rows]


_ANY_SUPPRESSED = "SELECT 1 FROM suppressions WHERE channel = ? LIMIT 1"
"""Whether a channel has any suppressed address (a search of the primary key)."""


class SQLiteSuppressions:
    """The :class:`~campaignkit.ports.SuppressionRepository` of a SQLite unit of work."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, channel: ChannelType, address: str) -> None:
        """Suppress ``address`` on ``channel``."""
        self._db.execute(
            "INSERT OR IGNORE INTO suppressions (channel, address) VALUES (?, ?)",
            (channel.value, address),
        )

    def suppressed(self, channel: ChannelType, addresses: Sequence[str]) -> set[str]:
        """Which of ``addresses`` are suppressed on ``channel``.

        A channel without any suppression (the common case) costs one index probe,
        whatever the number of addresses.
        """
        found: set[str] = set()
        if not addresses or self._db.one(_ANY_SUPPRESSED, (channel.value,)) is None:
            return found
        for chunk in _chunks(list(dict.fromkeys(addresses))):
            rows = self._db.all(
                f"SELECT address FROM suppressions WHERE channel = ? "
                f"AND address IN ({_marks(len(chunk))})",
                (channel.value, *chunk),
            )
            found.update(row[0] for row in rows)
        return found

    def scan(self, batch_size: int) -> Iterator[Sequence[tuple[ChannelType, str]]]:
        """Every suppressed ``(channel, address)``, in primary key order, a batch per query."""
        rows = self._db.all(
            "SELECT channel, address FROM suppressions ORDER BY channel, address LIMIT ?",
            (batch_size,),
        )
        while rows:
            yield [(ChannelType(channel), address) for channel, address in rows]
            rows = self._db.all(
                "SELECT channel, address FROM suppressions WHERE (channel, address) > (?, ?) "
                "ORDER BY channel, address LIMIT ?",
                (*rows[-1], batch_size),
            )


class SQLiteStaticAudiences:
    """The :class:`~campaignkit.ports.StaticAudienceRepository` of a SQLite unit of work."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def define(self, name: str, profile_ids: Sequence[str]) -> None:
        """Create or replace audience ``name``."""
        self._db.execute("DELETE FROM audience_members WHERE audience = ?", (name,))
        self._db.execute(
            "INSERT OR REPLACE INTO audiences (name, size) VALUES (?, ?)", (name, len(profile_ids))
        )
        self._db.executemany(
            "INSERT INTO audience_members (audience, position, profile_id) VALUES (?, ?, ?)",
            [(name, position, pid) for position, pid in enumerate(profile_ids)],
        )

    def count(self, name: str) -> int | None:
        """How many members ``name`` has, or None."""
        row = self._db.one("SELECT size FROM audiences WHERE name = ?", (name,))
        return None if row is None else int(row[0])

    def members(self, name: str, offset: int, limit: int) -> Sequence[str]:
        """Member ids from ``offset``, in definition order."""
        rows = self._db.all(
            "SELECT profile_id FROM audience_members WHERE audience = ? AND position >= ? "
            "ORDER BY position LIMIT ?",
            (name, offset, limit),
        )
        return [row[0] for row in rows]

    def names(self) -> Sequence[str]:
        """Every static audience's name, in order."""
        return [row[0] for row in self._db.all("SELECT name FROM audiences ORDER BY name")]


_INSERT_KEYED: Final = (
    "INSERT INTO contacts (channel, profile_id, sent_us, message_key) "
    "SELECT ?1, value, ?2, key FROM json_each(?3)"
)
"""Contacts of one channel and instant, passed as one JSON object ``{key: profile_id}``.

``json_each`` yields an object's members in document order, each key and
value unescaped (any text but a NUL, which SQLite's JSON functions cut at).
"""
_first, _second = operator.itemgetter(0), operator.itemgetter(1)
_TEXT: Final = {str}


class SQLiteContacts:
    """The :class:`~campaignkit.ports.ContactRepository` of a SQLite unit of work."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record(
        self,
        channel: ChannelType,
        contacts: Sequence[tuple[str, pendulum.DateTime]],
        keys: Sequence[str] | None = None,
    ) -> None:
        """Record ``(profile_id, sent_at)`` contacts, each under its key if given.

        A batch sent at one instant under distinct keys (the hot path) is one
        ``INSERT ... SELECT`` from a JSON object ``{key: profile_id}``
        (:data:`_INSERT_KEYED`): the same rows, in the same order, without
        binding four values per row.
        """
        if keys is not None and contacts and self._keyed(channel.value, contacts, keys):
            return
        keyed: Sequence[str | None] = [None] * len(contacts) if keys is None else keys
        micros: dict[pendulum.DateTime, int] = {}  # a batch's contacts share one instant
        name = channel.value
        rows = []
        for (profile_id, at), key in zip(contacts, keyed, strict=True):
            us = micros.get(at)
            if us is None:
                us = micros[at] = to_us(at)
            rows.append((name, profile_id, us, key))
        self._db.executemany(
            "INSERT INTO contacts (channel, profile_id, sent_us, message_key) VALUES (?, ?, ?, ?)",
            rows,
        )

    def _keyed(
        self, name: str, contacts: Sequence[tuple[str, pendulum.DateTime]], keys: Sequence[str]
    ) -> bool:
        """Record contacts of one instant under distinct keys in one statement; False if not so."""
        instants = set(map(_second, contacts))
        if len(instants) != 1 or len(keys) != len(contacts):
            return False
        by_key = dict(zip(keys, map(_first, contacts), strict=True))
        if len(by_key) != len(contacts):  # a key twice: a JSON object cannot hold both
            return False
        if set(map(type, by_key)) != _TEXT or set(map(type, by_key.values())) != _TEXT:
            return False  # JSON would turn another key into text, another value into a number
        text = text_object(by_key)  # as is: a lone surrogate fails to bind, as row by row
        if "\\u0000" in text:  # SQLite's JSON would cut the text at a NUL
            return False
        self._db.execute(_INSERT_KEYED, (name, to_us(instants.pop()), text))
        return True

    def forget(self, channel: ChannelType, contacts: Sequence[tuple[str, str]]) -> None:
        """Remove the ``(profile_id, key)`` contacts recorded on ``channel``."""
        self._db.executemany(
            "DELETE FROM contacts WHERE channel = ? AND profile_id = ? AND message_key = ?",
            [(channel.value, profile_id, key) for profile_id, key in contacts],
        )

    def counts(
        self, channel: ChannelType, profile_ids: Sequence[str], since: pendulum.DateTime
    ) -> Mapping[str, int]:
        """Contacts per profile on ``channel`` at or after ``since``."""
        found: dict[str, int] = {}
        for chunk in _chunks(list(dict.fromkeys(profile_ids))):
            rows = self._db.all(
                f"SELECT profile_id, count(*) FROM contacts WHERE channel = ? AND sent_us >= ? "
                f"AND profile_id IN ({_marks(len(chunk))}) GROUP BY profile_id",
                (channel.value, to_us(since), *chunk),
            )
            found.update((profile_id, int(count)) for profile_id, count in rows)
        return found

    def scan(self, batch_size: int) -> Iterator[Sequence[ContactRecord]]:
        """Every contact in the order recorded (by rowid), a batch per query."""
        after = 0
        while rows := self._db.all(
            "SELECT rowid, channel, profile_id, sent_us, message_key FROM contacts "
            "WHERE rowid > ? ORDER BY rowid LIMIT ?",
            (after, batch_size),
        ):
            after = rows[-1][0]
            yield [
                (ChannelType(channel), profile_id, from_us(sent_us), key)
                for _, channel, profile_id, sent_us, key in rows
            ]
