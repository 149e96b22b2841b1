"""The delivery ledger in SQLite: one row of typed columns per (run, action, profile).

Layout (schema migration 5): the entry's fields are columns; the rendered
message is one compact text (:func:`encode_message`) written once, with the
intent, and dropped (NULL) when the entry becomes SENT, FAILED or EXCLUDED.
Intents on the hot path are plain INSERTs (:meth:`SQLiteLedger.add_pending`),
outcomes narrow UPDATEs that never touch the message
(:meth:`SQLiteLedger.settle`).

Every statement reads through an index, never the run's whole ledger (the
SQL is in module constants, each checked with ``EXPLAIN QUERY PLAN`` by
``tests/integration/test_sqlite_ledger_plans.py``):

- the primary key ``(run_id, profile_id, action_id)``: writes, ``recorded``,
  ``entries``;
- ``ledger_pending (run_id) WHERE state = 'pending'``: ``pending``,
  ``open_entries``;
- ``ledger_waiting (run_id, next_attempt_us) WHERE state IN ('queued', 'retry')``:
  ``due``, ``next_due_at``, ``open_entries``;
- ``ledger_by_provider_id``, unique: ``by_provider_id``, and a provider id
  held by two entries is refused.

Writes come in batches (``executemany``) inside the caller's unit of work.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from json.encoder import encode_basestring_ascii as _escape
from typing import TYPE_CHECKING, Any, ClassVar, Final

import pendulum

from campaignkit.adapters.sqlite.connection import Database, Row, from_us, to_us
from campaignkit.adapters.sqlite.ledger_codec import (
    _encode_own,
    decode_message,
    encode_message,
    settings_text,
    text_object,
)
from campaignkit.adapters.sqlite.ledger_sql import (
    BY_PROVIDER_ID,
    DUE,
    ENTRIES,
    INSERT_PENDING_BY_SHAPE,
    INSERT_PENDING_ROWS,
    NEXT_DUE_AT,
    OPEN_ENTRIES,
    PENDING,
    RECORDED,
    RECORDED_ANY,
    ROWS_PER_INSERT,
    SCAN_FIRST,
    SCAN_NEXT,
    SETTLE,
    SETTLE_FINAL,
    SETTLE_KEYED,
    UPSERT,
)
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import ExclusionReason, LedgerEntry, LedgerState
from campaignkit.domain.ledger_rows import AcceptedRows
from campaignkit.errors import ConflictError

if TYPE_CHECKING:
    from campaignkit.domain.delivery import OutcomeRow, PendingRow

_STATES: Final = {state.value: state for state in LedgerState}
_dumps: Final = json.JSONEncoder(separators=(",", ":")).encode
UPDATE_FROM: Final = sqlite3.sqlite_version_info >= (3, 33, 0)
"""Whether this SQLite has ``UPDATE ... FROM`` (3.33): :data:`SETTLE_KEYED` needs it."""
_CHANNELS: Final = {channel.value: channel for channel in ChannelType}
_REASONS: Final = {reason.value: reason for reason in ExclusionReason}


def _us(instant: pendulum.DateTime | None) -> int | None:
    return None if instant is None else to_us(instant)


_instants: dict[int, pendulum.DateTime] = {}  # read back often: a wave, a retry time


def _instant(value: int | None) -> pendulum.DateTime | None:
    if value is None:
        return None
    found = _instants.get(value)
    if found is None:
        if len(_instants) >= 4096:
            _instants.clear()
        found = _instants[value] = from_us(value)
    return found


def entry_of(row: Row) -> LedgerEntry:
    """The entry a row of :data:`COLUMNS` holds.

    Raises:
        StorageError: the row's message text is invalid.
    """
    (
        run_id,
        action_id,
        profile_id,
        campaign_id,
        channel,
        state,
        reason,
        attempts,
        next_us,
        provider_message_id,
        address,
        due_us,
        timezone,
        slot_us,
        error,
        text,
    ) = row
    return LedgerEntry(
        run_id,
        action_id,
        profile_id,
        campaign_id,
        _CHANNELS[channel],
        _STATES[state],
        None if reason is None else _REASONS[reason],
        attempts,
        _instant(next_us),
        provider_message_id,
        address,
        _instant(due_us),
        timezone,
        _instant(slot_us),
        error,
        None
        if text is None
        else decode_message(text, (run_id, campaign_id, action_id, profile_id, channel, address)),
    )


def row_of(entry: LedgerEntry) -> tuple[Any, ...]:
    """The values of :data:`COLUMNS` for ``entry``."""
    channel = entry.channel.value
    message = entry.message
    return (
        entry.run_id,
        entry.action_id,
        entry.profile_id,
        entry.campaign_id,
        channel,
        entry.state.value,
        None if entry.reason is None else entry.reason.value,
        entry.attempts,
        _us(entry.next_attempt_at),
        entry.provider_message_id,
        entry.address,
        _us(entry.due_at),
        entry.timezone,
        _us(entry.slot),
        entry.error,
        None
        if message is None
        else encode_message(
            message,
            (
                entry.run_id,
                entry.campaign_id,
                entry.action_id,
                entry.profile_id,
                channel,
                entry.address,
            ),
        ),
    )


def _taken(exc: sqlite3.IntegrityError) -> ConflictError:
    return ConflictError(
        f"ledger write refused: a provider message id is already held by another "
        f"message ({exc}); provider ids must be unique"
    )


_SENT: Final = LedgerState.SENT
_TEXT: Final = {str}


def _keyed_outcomes(rows: Sequence[OutcomeRow]) -> list[tuple[str, str, int, str]] | None:
    """``rows`` as :data:`SETTLE_KEYED` groups ``(action, state, attempts, JSON)``, if they can be.

    They can when every row is SENT with a provider id and no error or retry
    time, no provider id comes twice within an (action, attempts) group and no
    (action, profile) comes twice at all (row by row, the last of two would
    win; groups would reorder them); the first hand-overs of an accepted batch
    (``AcceptedRows``, read by its columns) are the common case. Otherwise
    None: row by row. Also None where SQLite is older than 3.33 (no
    ``UPDATE ... FROM``).
    """
    if not UPDATE_FROM:
        return None
    groups: dict[tuple[str, int], dict[Any, Any]] = {}
    if type(rows) is AcceptedRows:  # SENT, attempt 1, no error or retry time
        actions = set(rows.action_ids)
        if len(actions) == 1:
            groups[actions.pop(), 1] = dict(zip(rows.provider_ids, rows.profile_ids, strict=True))
        else:  # a shard's batch: every action's messages in one hand-over, a group each
            for action_id, provider_id, profile_id in zip(
                rows.action_ids, rows.provider_ids, rows.profile_ids, strict=True
            ):
                group = groups.get((action_id, 1))
                if group is None:
                    group = groups[action_id, 1] = {}
                group[provider_id] = profile_id
    else:
        seen: set[tuple[object, object]] = set()
        for action_id, profile_id, state, attempts, provider_id, error, next_attempt_at in rows:
            if state is not _SENT or error is not None or next_attempt_at is not None:
                return None
            pair = (action_id, profile_id)
            if pair in seen:
                return None
            seen.add(pair)
            group = groups.get((action_id, attempts))
            if group is None:
                group = groups[action_id, attempts] = {}
            group[provider_id] = profile_id
    found = []
    count = 0
    for (action_id, attempts), group in groups.items():
        texts = group.values()
        if (
            set(map(type, group)) != _TEXT
            or set(map(type, texts)) != _TEXT
            or len(set(texts)) != len(group)
            or type(action_id) is not str
            or type(attempts) is not int
        ):
            return None
        text = text_object(group)  # as is: a lone surrogate fails to bind, as row by row
        if "\\u0000" in text:  # SQLite's JSON would cut the text at a NUL
            return None
        count += len(group)
        found.append((action_id, _SENT.value, attempts, text))
    return found if count == len(rows) else None


class SQLiteLedger:
    """The :class:`~campaignkit.ports.LedgerRepository` of a SQLite unit of work.

    Args:
        db: The store's connection, inside a unit of work.
    """

    SETTLE_KEYED: ClassVar[str] = SETTLE_KEYED
    """The statement of a keyed ``settle`` (run, action, state, attempts, JSON object)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def put(self, entries: Sequence[LedgerEntry]) -> None:
        """Insert or replace entries by key, in one statement.

        Raises:
            ConflictError: an entry names a provider id another entry holds.
        """
        try:
            self._db.executemany(UPSERT, [row_of(e) for e in entries])
        except sqlite3.IntegrityError as exc:
            raise _taken(exc) from exc

    def add_pending(self, rows: Sequence[PendingRow]) -> None:  # noqa: PLR0915 - one pass
        """Insert new PENDING entries, each with its message.

        Rows are grouped by run, action, campaign, channel, due time and
        whether they have a zone; each group's rows go
        :data:`ROWS_PER_INSERT` at a time as one :data:`INSERT_PENDING_ROWS`
        statement, the rest by ``executemany`` of :data:`INSERT_PENDING_BY_SHAPE`.

        Raises:
            ConflictError: an entry with the same key is in the ledger already.
        """
        # (run, action, campaign, channel, due us, zone given) -> each row's own values
        groups: dict[tuple[Any, ...], list[Any]] = {}
        own: list[Any] = []
        last_due: pendulum.DateTime | None = None
        last_us: int | None = None
        last_channel: ChannelType | None = None
        channel = ""
        run_id: str | None = None
        action_id: str | None = None
        campaign_id: str | None = None
        zoned = False
        derived = head = ""
        names = ("", "")
        last_settings: object = None
        last_name: object = None
        last_other: object = None
        for message, due_at, timezone in rows:
            if due_at is not last_due:  # a batch's recipients mostly share one due time
                last_due, last_us = due_at, None if due_at is None else to_us(due_at)
                run_id = None  # another group
            if message.channel is not last_channel:  # an enum's value is a slow property
                last_channel = message.channel
                channel = last_channel.value
                run_id = None
            if (
                message.run_id is not run_id
                or message.action_id is not action_id
                or message.campaign_id is not campaign_id
                or (timezone is not None) is not zoned
            ):
                run_id, action_id = message.run_id, message.action_id
                campaign_id, zoned = message.campaign_id, timezone is not None
                key = (run_id, action_id, campaign_id, channel, last_us, zoned)
                found = groups.get(key)
                if found is None:
                    found = groups[key] = []
                own = found
                derived = f"{run_id}:{action_id}:"
            profile_id = message.profile_id
            # _encode_own inlined for its common case: two text fields, no flag, no
            # unsubscribe link, the derived key (the same text; anything else calls it)
            text = None
            fields = message.fields
            if (
                len(fields) == 2
                and message.unsubscribe_url is None
                and message.proof is False
                and message.transactional is False
                and type(profile_id) is str
                and message.idempotency_key == derived + profile_id
            ):
                settings = message.settings
                if settings is not last_settings:
                    head = settings_text(settings) + "\n[{"
                    last_settings = settings
                (name, value), (other, other_value) = fields.items()
                try:  # (a key or value that is not text: the encoder converts or refuses it)
                    if name is not last_name or other is not last_other:  # a content's names
                        names = (_escape(name) + ":", "," + _escape(other) + ":")
                        last_name, last_other = name, other
                    text = (  # one string built (adjacent f-strings are one)
                        f"{head}{names[0]}{_escape(value)}"
                        f"{names[1]}{_escape(other_value)}}},0,null]"
                    )
                except TypeError:
                    text = None
            if text is None:
                text = _encode_own(message)
            if zoned:
                own += (profile_id, message.address, timezone, text)
            else:
                own += (profile_id, message.address, text)
        try:
            for key, values in groups.items():
                self._insert_group(key, values)
        except sqlite3.IntegrityError as exc:
            raise ConflictError(
                f"ledger write refused: an entry is recorded already ({exc}); "
                "add_pending writes new entries only"
            ) from exc

    def _insert_group(self, key: tuple[Any, ...], values: list[Any]) -> None:
        """Insert one :meth:`add_pending` group: whole statements of rows, then one by one."""
        run_id, action_id, campaign_id, channel, due_us, zoned = key
        shape = (2 if due_us is not None else 0) + (1 if zoned else 0)
        shared = [run_id, action_id, campaign_id, channel]
        if due_us is not None:
            shared.append(due_us)
        width = 4 if zoned else 3
        step = width * ROWS_PER_INSERT
        whole = len(values) - len(values) % step
        db = self._db
        sql = INSERT_PENDING_ROWS[shape]
        for start in range(0, whole, step):
            db.execute(sql, shared + values[start : start + step])
        if whole < len(values):
            head = (run_id, action_id)
            middle = (campaign_id, channel)
            db.executemany(
                INSERT_PENDING_BY_SHAPE[shape],
                [
                    (
                        *head,
                        values[at],
                        *middle,
                        *values[at + 1 : at + 2],
                        *shared[4:],
                        *values[at + 2 : at + width],
                    )
                    for at in range(whole, len(values), width)
                ],
            )

    def settle(self, run_id: str, rows: Sequence[OutcomeRow]) -> None:
        """Record channel answers for entries of ``run_id``: narrow updates, all or none.

        The message is kept for RETRY (not rewritten) and dropped otherwise.

        Raises:
            ConflictError: a provider id another entry holds; nothing was written.
        """
        keyed = _keyed_outcomes(rows)
        if keyed is not None:
            self._settle_statements(
                [(self.SETTLE_KEYED, [(run_id, *group)]) for group in keyed], many=False
            )
            return
        retry = LedgerState.RETRY
        final: list[tuple[Any, ...]] = []  # no error, retry time or kept message: SETTLE_FINAL
        other: list[tuple[Any, ...]] = []
        last_state: LedgerState | None = None
        state_value = ""
        for (
            action_id,
            profile_id,
            state,
            attempts,
            provider_message_id,
            error,
            next_attempt_at,
        ) in rows:
            if state is not last_state:
                last_state = state
                state_value = state.value
            if error is None and next_attempt_at is None and state is not retry:
                final.append(
                    (state_value, attempts, provider_message_id, run_id, profile_id, action_id)
                )
            else:
                other.append(
                    (
                        state_value,
                        attempts,
                        provider_message_id,
                        error,
                        None if next_attempt_at is None else to_us(next_attempt_at),
                        1 if state is retry else 0,
                        run_id,
                        profile_id,
                        action_id,
                    )
                )
        self._settle_statements([(SETTLE_FINAL, final), (SETTLE, other)], many=True)

    def _settle_statements(
        self, statements: list[tuple[str, list[tuple[Any, ...]]]], *, many: bool
    ) -> None:
        """Run each statement for its rows (skipping none), all or nothing."""
        db = self._db
        db.execute("SAVEPOINT ledger_settle")
        try:
            for sql, values in statements:
                if not values:
                    continue
                if many:
                    db.executemany(sql, values)
                else:
                    for params in values:
                        db.execute(sql, params)
        except BaseException as exc:
            db.execute("ROLLBACK TO ledger_settle")
            db.execute("RELEASE ledger_settle")
            if isinstance(exc, sqlite3.IntegrityError):
                raise _taken(exc) from exc
            raise
        db.execute("RELEASE ledger_settle")

    def recorded(self, run_id: str, profile_ids: Sequence[str]) -> set[tuple[str, str]]:
        """Pairs of ``run_id`` already in the ledger for these profiles."""
        if not profile_ids:
            return set()
        ids = list(profile_ids)
        if self._db.one(RECORDED_ANY, (run_id, min(ids), max(ids))) is None:
            return set()
        rows = self._db.all(RECORDED, (run_id, _dumps(ids)))
        return {(action, profile) for action, profile in rows}

    def _select(self, sql: str, params: Sequence[object]) -> list[LedgerEntry]:
        return [entry_of(row) for row in self._db.all(sql, params)]

    def open_entries(self, run_id: str, limit: int) -> Sequence[LedgerEntry]:
        """PENDING, then QUEUED or RETRY entries of a run."""
        return self._select(OPEN_ENTRIES, (run_id, limit))

    def pending(self, run_id: str, limit: int) -> Sequence[LedgerEntry]:
        """PENDING entries of a run."""
        return self._select(PENDING, (run_id, limit))

    def due(self, run_id: str, until: pendulum.DateTime, limit: int) -> Sequence[LedgerEntry]:
        """QUEUED or RETRY entries due by ``until``, earliest first."""
        return self._select(DUE, (run_id, to_us(until), limit))

    def next_due_at(self, run_id: str) -> pendulum.DateTime | None:
        """When the earliest QUEUED or RETRY entry is due."""
        row = self._db.one(NEXT_DUE_AT, (run_id,))
        return None if row is None else _instant(row[0])

    def by_provider_id(self, provider_message_id: str) -> LedgerEntry | None:
        """The entry with this provider message id."""
        found = self._select(BY_PROVIDER_ID, (provider_message_id,))
        return found[0] if found else None

    def entries(self, run_id: str) -> Iterator[LedgerEntry]:
        """Every entry of a run, by key (each decoded as it is reached)."""
        return (entry_of(row) for row in self._db.all(ENTRIES, (run_id,)))

    def scan(self, run_id: str, batch_size: int) -> Iterator[Sequence[LedgerEntry]]:
        """Every entry of a run by key, a batch per query (keyset on the primary key)."""
        rows = self._db.all(SCAN_FIRST, (run_id, batch_size))
        while rows:
            yield [entry_of(row) for row in rows]
            last = rows[-1]
            rows = self._db.all(SCAN_NEXT, (run_id, last[2], last[1], batch_size))
