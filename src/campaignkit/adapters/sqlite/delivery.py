"""Runs, the delivery ledger, feedback, suppressions and static audiences in SQLite.

Writes come in batches (``executemany``) inside the caller's unit of work,
so a batch of intents or outcomes is one transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence

import attrs
import pendulum

from campaignkit.adapters.sqlite.connection import Database, from_us, to_us
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import FeedbackRecord, LedgerEntry, Run
from campaignkit.domain.rules import RuleBook
from campaignkit.domain.triggers import ExecutionRecord
from campaignkit.errors import ConflictError, NotFound
from campaignkit.serialization import dumps, loads

_CHUNK = 500  # stay well under SQLite's bound-parameter limit


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _marks(count: int) -> str:
    return ", ".join("?" * count)


class SQLiteRuns:
    """The :class:`~campaignkit.ports.RunRepository` of a SQLite unit of work."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, run: Run) -> Run:
        """Insert a new run at revision 1 (``ConflictError`` if it exists)."""
        stored = attrs.evolve(run, revision=1)
        try:
            self._db.execute(
                "INSERT INTO runs (id, campaign_id, revision, created_us, due_us, document) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    stored.id,
                    stored.campaign_id,
                    1,
                    to_us(stored.created_at),
                    _us(stored.due_at),
                    dumps(stored),
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise ConflictError(f"a run with id {run.id!r} exists already") from exc
        return stored

    def get(self, run_id: str) -> Run:
        """Return the run; raise ``NotFound`` if there is none."""
        row = self._db.one("SELECT document FROM runs WHERE id = ?", (run_id,))
        if row is None:
            raise NotFound("run", run_id)
        return loads(Run, row[0])

    def save(self, run: Run) -> Run:
        """Update the run stored at ``run.revision`` (``ConflictError`` if stale)."""
        stored = attrs.evolve(run, revision=run.revision + 1)
        cursor = self._db.execute(
            "UPDATE runs SET revision = ?, due_us = ?, document = ? WHERE id = ? AND revision = ?",
            (stored.revision, _us(stored.due_at), dumps(stored), run.id, run.revision),
        )
        if cursor.rowcount != 1:
            current = self.get(run.id)
            raise ConflictError(
                f"run {run.id!r} changed meanwhile (revision {current.revision}, "
                f"yours {run.revision}); reload and retry"
            )
        return stored

    def for_campaign(self, campaign_id: str) -> Sequence[Run]:
        """Every run of a campaign, oldest first."""
        rows = self._db.all(
            "SELECT document FROM runs WHERE campaign_id = ? ORDER BY created_us, id",
            (campaign_id,),
        )
        return [loads(Run, row[0]) for row in rows]

    def due(self, until: pendulum.DateTime, limit: int) -> Sequence[tuple[pendulum.DateTime, str]]:
        """Runs due by ``until``, in ``(due_at, id)`` order."""
        rows = self._db.all(
            "SELECT due_us, id FROM runs WHERE due_us IS NOT NULL AND due_us <= ? "
            "ORDER BY due_us, id LIMIT ?",
            (to_us(until), limit),
        )
        return [(from_us(due), run_id) for due, run_id in rows]

    def next_due_at(self) -> pendulum.DateTime | None:
        """The earliest due instant of any run."""
        row = self._db.one("SELECT min(due_us) FROM runs WHERE due_us IS NOT NULL")
        return None if row is None or row[0] is None else from_us(row[0])


def _us(instant: pendulum.DateTime | None) -> int | None:
    return None if instant is None else to_us(instant)


class SQLiteLedger:
    """The :class:`~campaignkit.ports.LedgerRepository` of a SQLite unit of work."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def put(self, entries: Sequence[LedgerEntry]) -> None:
        """Insert or replace entries by key, in one statement."""
        try:
            self._db.executemany(
                # an upsert, not INSERT OR REPLACE: REPLACE would also delete another
                # entry holding the same provider id (unique index) instead of failing
                "INSERT INTO ledger (run_id, action_id, profile_id, state, "
                "next_attempt_us, provider_message_id, document) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (run_id, profile_id, action_id) DO UPDATE SET "
                "state = excluded.state, next_attempt_us = excluded.next_attempt_us, "
                "provider_message_id = excluded.provider_message_id, "
                "document = excluded.document",
                [
                    (
                        e.run_id,
                        e.action_id,
                        e.profile_id,
                        e.state.value,
                        _us(e.next_attempt_at),
                        e.provider_message_id,
                        dumps(e),
                    )
                    for e in entries
                ],
            )
        except sqlite3.IntegrityError as exc:
            raise ConflictError(
                f"ledger write refused: a provider message id is already held by another "
                f"message ({exc}); provider ids must be unique"
            ) from exc

    def recorded(self, run_id: str, profile_ids: Sequence[str]) -> set[tuple[str, str]]:
        """Pairs of ``run_id`` already in the ledger for these profiles."""
        found: set[tuple[str, str]] = set()
        for chunk in _chunks(list(dict.fromkeys(profile_ids))):
            rows = self._db.all(
                f"SELECT action_id, profile_id FROM ledger WHERE run_id = ? "
                f"AND profile_id IN ({_marks(len(chunk))})",
                (run_id, *chunk),
            )
            found.update((action, profile) for action, profile in rows)
        return found

    def _select(self, where: str, params: Sequence[object]) -> list[LedgerEntry]:
        rows = self._db.all(f"SELECT document FROM ledger WHERE {where}", params)
        return [loads(LedgerEntry, row[0]) for row in rows]

    def open_entries(self, run_id: str, limit: int) -> Sequence[LedgerEntry]:
        """PENDING, QUEUED or RETRY entries of a run."""
        return self._select(
            "run_id = ? AND state IN ('pending', 'queued', 'retry') "
            "ORDER BY profile_id, action_id LIMIT ?",
            (run_id, limit),
        )

    def pending(self, run_id: str, limit: int) -> Sequence[LedgerEntry]:
        """PENDING entries of a run."""
        return self._select(
            "run_id = ? AND state = 'pending' ORDER BY profile_id, action_id LIMIT ?",
            (run_id, limit),
        )

    def due(self, run_id: str, until: pendulum.DateTime, limit: int) -> Sequence[LedgerEntry]:
        """QUEUED or RETRY entries due by ``until``, earliest first."""
        return self._select(
            "run_id = ? AND state IN ('queued', 'retry') AND next_attempt_us <= ? "
            "ORDER BY next_attempt_us, profile_id, action_id LIMIT ?",
            (run_id, to_us(until), limit),
        )

    def next_due_at(self, run_id: str) -> pendulum.DateTime | None:
        """When the earliest QUEUED or RETRY entry is due."""
        row = self._db.one(
            "SELECT min(next_attempt_us) FROM ledger WHERE run_id = ? "
            "AND state IN ('queued', 'retry')",
            (run_id,),
        )
        return None if row is None or row[0] is None else from_us(row[0])

    def by_provider_id(self, provider_message_id: str) -> LedgerEntry | None:
        """The entry with this provider message id."""
        found = self._select("provider_message_id = ?", (provider_message_id,))
        return found[0] if found else None

    def entries(self, run_id: str) -> Iterator[LedgerEntry]:
        """Every entry of a run."""
        rows = self._db.all(
            "SELECT document FROM ledger WHERE run_id = ? ORDER BY action_id, profile_id",
            (run_id,),
        )
        return (loads(LedgerEntry, row[0]) for row in rows)


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
        """Which of ``addresses`` are suppressed on ``channel``."""
        found: set[str] = set()
        for chunk in _chunks(list(dict.fromkeys(addresses))):
            rows = self._db.all(
                f"SELECT address FROM suppressions WHERE channel = ? "
                f"AND address IN ({_marks(len(chunk))})",
                (channel.value, *chunk),
            )
            found.update(row[0] for row in rows)
        return found


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


class SQLiteExecutions:
    """The :class:`~campaignkit.ports.ExecutionRepository` of a SQLite unit of work."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, execution: ExecutionRecord) -> ExecutionRecord:
        """Insert a new execution at revision 1."""
        stored = attrs.evolve(execution, revision=1)
        try:
            self._db.execute(
                "INSERT INTO executions (id, campaign_id, request_id, revision, document) "
                "VALUES (?, ?, ?, ?, ?)",
                (stored.id, stored.campaign_id, stored.request_id, 1, dumps(stored)),
            )
        except sqlite3.IntegrityError as exc:
            raise ConflictError(
                f"an execution with id {execution.id!r} or request id "
                f"{execution.request_id!r} exists already"
            ) from exc
        return stored

    def get(self, execution_id: str) -> ExecutionRecord:
        """Return the execution; raise ``NotFound`` if there is none."""
        row = self._db.one("SELECT document FROM executions WHERE id = ?", (execution_id,))
        if row is None:
            raise NotFound("execution", execution_id)
        return loads(ExecutionRecord, row[0])

    def by_request(self, campaign_id: str, request_id: str) -> ExecutionRecord | None:
        """The execution of this request id for this campaign, or None."""
        row = self._db.one(
            "SELECT document FROM executions WHERE campaign_id = ? AND request_id = ?",
            (campaign_id, request_id),
        )
        return None if row is None else loads(ExecutionRecord, row[0])

    def save(self, execution: ExecutionRecord) -> ExecutionRecord:
        """Update the execution stored at its revision."""
        stored = attrs.evolve(execution, revision=execution.revision + 1)
        cursor = self._db.execute(
            "UPDATE executions SET revision = ?, document = ? WHERE id = ? AND revision = ?",
            (stored.revision, dumps(stored), execution.id, execution.revision),
        )
        if cursor.rowcount != 1:
            raise ConflictError(f"execution {execution.id!r} changed meanwhile; reload and retry")
        return stored


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
        """Record ``(profile_id, sent_at)`` contacts, each under its key if given."""
        keyed: Sequence[str | None] = [None] * len(contacts) if keys is None else keys
        self._db.executemany(
            "INSERT INTO contacts (channel, profile_id, sent_us, message_key) VALUES (?, ?, ?, ?)",
            [
                (channel.value, profile_id, to_us(at), key)
                for (profile_id, at), key in zip(contacts, keyed, strict=True)
            ],
        )

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


class SQLiteRules:
    """The :class:`~campaignkit.ports.RuleRepository` of a SQLite unit of work."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self) -> RuleBook:
        """The rule book (empty if none was saved)."""
        row = self._db.one("SELECT document FROM rules WHERE id = 1")
        return RuleBook() if row is None else loads(RuleBook, row[0])

    def save(self, rules: RuleBook) -> RuleBook:
        """Replace the rule book loaded at ``rules.revision``."""
        stored = attrs.evolve(rules, revision=rules.revision + 1)
        if rules.revision == 0:
            try:
                self._db.execute(
                    "INSERT INTO rules (id, revision, document) VALUES (1, 1, ?)", (dumps(stored),)
                )
            except sqlite3.IntegrityError as exc:
                raise ConflictError(
                    "the business rules changed meanwhile; reload and retry"
                ) from exc
            return stored
        cursor = self._db.execute(
            "UPDATE rules SET revision = ?, document = ? WHERE id = 1 AND revision = ?",
            (stored.revision, dumps(stored), rules.revision),
        )
        if cursor.rowcount != 1:
            raise ConflictError("the business rules changed meanwhile; reload and retry")
        return stored
