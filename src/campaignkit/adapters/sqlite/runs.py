"""Runs and API executions in SQLite: a run's changing state in columns, the rest written once.

A run has a cold part fixed when it is added (id, campaign, version, kind,
creation and nominal instants, the API context, a trigger's recipients with
their profiles, an audience execution's audience) and a hot part the runner
changes at every step (status, position, counts, lease, due time, ...).
``add`` writes the run whole as a versioned document once; afterwards the
hot part lives in columns (schema migration 6) and ``save`` is one narrow
``UPDATE`` of them, guarded by the revision. ``get`` is one ``SELECT``; the
document is decoded only the first time a run is read (a per-store cache
keyed on its text, see :mod:`.caches`), and the columns are decoded without
the generic converter. The document's own copy of the hot fields is the
state at ``add`` and is never read back.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final, cast

import pendulum

from campaignkit.adapters.sqlite.caches import StoreCaches, caches_for
from campaignkit.adapters.sqlite.connection import Database, Row, from_us, to_us
from campaignkit.domain.copying import evolve
from campaignkit.domain.delivery import (
    ActionCounts,
    ExclusionReason,
    FeedbackEvent,
    Run,
    RunStatus,
)
from campaignkit.domain.triggers import ExecutionRecord
from campaignkit.errors import ConflictError, NotFound, StorageError
from campaignkit.serialization import dumps_execution, dumps_run, loads

HOT_FIELDS: Final = (
    "status",
    "position",
    "streamed",
    "counts",
    "lease_owner",
    "lease_expires_at",
    "due_at",
    "started_at",
    "finished_at",
    "error",
    "wave_filled",
    "rate_sent",
    "rate_origin",
    "revision",
)
"""``Run`` fields kept in columns: ``save`` writes these and only these."""
COLD_FIELDS: Final = (
    "id",
    "campaign_id",
    "version",
    "kind",
    "created_at",
    "nominal_at",
    "context",
    "recipients",
    "audience",
)
"""``Run`` fields fixed by ``add`` (read from the document). A new ``Run`` field must
join one of the two tuples (a hot one needs a column: a new migration)."""

_HOT: Final = (
    "revision, status, position, streamed, counts, lease_owner, lease_expires_us, due_us, "
    "started_us, finished_us, error, wave_filled, rate_sent, rate_origin"
)
_SELECT: Final = f"SELECT id, document, {_HOT} FROM runs"
_INSERT: Final = (
    f"INSERT INTO runs (id, campaign_id, created_us, document, {_HOT}) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPDATE: Final = (
    "UPDATE runs SET revision = ?, status = ?, position = ?, streamed = ?, counts = ?, "
    "lease_owner = ?, lease_expires_us = ?, due_us = ?, started_us = ?, finished_us = ?, "
    "error = ?, wave_filled = ?, rate_sent = ?, rate_origin = ? WHERE id = ? AND revision = ?"
)
_UPDATE_KEEPING_DUE: Final = (
    # due_us is indexed: leaving it out of SET spares the index update (~20 us a save)
    "UPDATE runs SET revision = ?, status = ?, position = ?, streamed = ?, counts = ?, "
    "lease_owner = ?, lease_expires_us = ?, started_us = ?, finished_us = ?, "
    "error = ?, wave_filled = ?, rate_sent = ?, rate_origin = ? "
    "WHERE id = ? AND revision = ? AND due_us IS ?"
)
DUE_BOTH: Final = (
    "SELECT 0, due_us, id FROM (SELECT due_us, id FROM campaigns "
    "WHERE due_us IS NOT NULL AND due_us <= ? ORDER BY due_us, id LIMIT ?) "
    "UNION ALL "
    "SELECT 1, due_us, id FROM (SELECT due_us, id FROM runs "
    "WHERE due_us IS NOT NULL AND due_us <= ? ORDER BY due_us, id LIMIT ?)"
)
"""The first due campaigns (kind 0) and runs (kind 1), for ``due_with_campaigns``."""
_DUE: Final = 7
"""Where ``due_us`` is in the ``_hot`` tuple."""
_STATUS: Final = {status.value: status for status in RunStatus}
_REASONS: Final = {reason.value: reason for reason in ExclusionReason}
_EVENTS: Final = {event.value: event for event in FeedbackEvent}
_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})
_view: Final = MappingProxyType
_new: Final = object.__new__
_compact: Final = json.JSONEncoder(separators=(",", ":")).encode
"""``json.dumps(value, separators=(",", ":"))`` without building an encoder per call."""
_set: Final = object.__setattr__
_COUNT_FIELDS: Final = (
    "targeted",
    "sent",
    "failed",
    "retries",
    "pending",
    "late",
    "timezone_fallbacks",
)


class SQLiteRuns:
    """The :class:`~campaignkit.ports.RunRepository` of a SQLite unit of work.

    Only the fields that change while a run is delivered are saved: the
    cold fields (``campaign_id``, ``version``, ``kind``, ``created_at``,
    ``nominal_at``, ``context``, ``recipients``, ``audience``) are those given to ``add``.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        caches = caches_for(db)
        self._cold = caches.runs
        self._counts = caches.counts
        self._hints = caches.run_hints

    def add(self, run: Run) -> Run:
        """Insert a new run at revision 1 (``ConflictError`` if it exists)."""
        stored = evolve(run, revision=1)
        document = dumps_run(stored)
        hot = self._hot(stored)
        try:
            self._db.execute(
                _INSERT, (stored.id, stored.campaign_id, _us(stored.created_at), document, *hot)
            )
        except sqlite3.IntegrityError as exc:
            raise ConflictError(f"a run with id {run.id!r} exists already") from exc
        # keyed on the text: if this unit rolls back, the text read later differs or is gone
        self._cold.put(stored.id, document, stored)
        self._hint(stored, hot)
        return stored

    def get(self, run_id: str) -> Run:
        """Return the run; raise ``NotFound`` if there is none."""
        row = self._db.one(f"{_SELECT} WHERE id = ?", (run_id,))
        if row is None:
            raise NotFound("run", run_id)
        return self._decode(row)

    def save(self, run: Run) -> Run:
        """Update the run stored at ``run.revision`` (``ConflictError`` if stale)."""
        stored = evolve(run, revision=run.revision + 1)
        hot = self._hot(stored)
        due = hot[_DUE]
        hint = self._hints.get(run.id)
        cursor = None
        if hint is not None and hint[0] == run.revision and hint[1] == due:
            # the due time stays: a narrower UPDATE, which checks that it does
            keeping = (*hot[:_DUE], *hot[_DUE + 1 :], run.id, run.revision, due)
            cursor = self._db.execute(_UPDATE_KEEPING_DUE, keeping)
        if cursor is None or cursor.rowcount != 1:
            cursor = self._db.execute(_UPDATE, (*hot, run.id, run.revision))
        if cursor.rowcount != 1:
            self._hints.pop(run.id, None)
            row = self._db.one("SELECT revision FROM runs WHERE id = ?", (run.id,))
            if row is None:
                raise NotFound("run", run.id)
            raise ConflictError(
                f"run {run.id!r} changed meanwhile (revision {row[0]}, "
                f"yours {run.revision}); reload and retry"
            )
        self._hint(stored, hot)
        return stored

    def _hot(self, run: Run) -> tuple[object, ...]:
        """``_hot(run)``, reusing the counts text last read or written if they are equal."""
        hint = self._hints.get(run.id)
        counts = hint[3] if hint is not None and hint[2] == run.counts else None
        return _hot(run, counts)

    def _hint(self, run: Run, hot: tuple[object, ...]) -> None:
        """Remember the due time and counts text of ``run`` as stored now."""
        hints = self._hints
        if len(hints) >= StoreCaches.HINTS_LIMIT:
            hints.clear()
        hints[run.id] = (
            run.revision,
            cast("int | None", hot[_DUE]),
            run.counts,
            cast("str", hot[4]),
        )

    def for_campaign(self, campaign_id: str) -> Sequence[Run]:
        """Every run of a campaign, oldest first."""
        rows = self._db.all(
            f"{_SELECT} WHERE campaign_id = ? ORDER BY created_us, id", (campaign_id,)
        )
        return [self._decode(row) for row in rows]

    def due(self, until: pendulum.DateTime, limit: int) -> Sequence[tuple[pendulum.DateTime, str]]:
        """Runs due by ``until``, in ``(due_at, id)`` order."""
        rows = self._db.all(
            "SELECT due_us, id FROM runs WHERE due_us IS NOT NULL AND due_us <= ? "
            "ORDER BY due_us, id LIMIT ?",
            (_us(until), limit),
        )
        return [(_instant(due), run_id) for due, run_id in rows]

    def due_with_campaigns(
        self, until: pendulum.DateTime, limit: int
    ) -> tuple[list[tuple[pendulum.DateTime, str]], list[tuple[pendulum.DateTime, str]]]:
        """``campaigns.due(until, limit)`` and ``due(until, limit)`` in one statement.

        The engine's scan for due work asks both each time; one ``UNION ALL``
        of the same two queries (each a search of its partial due index) spares
        a statement.
        """
        bound = to_us(until)
        campaigns: list[tuple[pendulum.DateTime, str]] = []
        runs: list[tuple[pendulum.DateTime, str]] = []
        for kind, due, item_id in self._db.all(DUE_BOTH, (bound, limit, bound, limit)):
            (runs if kind else campaigns).append((_instant(due), item_id))
        return campaigns, runs

    def next_due_at(self) -> pendulum.DateTime | None:
        """The earliest due instant of any run."""
        row = self._db.one("SELECT min(due_us) FROM runs WHERE due_us IS NOT NULL")
        return None if row is None or row[0] is None else _instant(row[0])

    def scan(self, batch_size: int) -> Iterator[Sequence[Run]]:
        """Every run in id order, a batch per query (inside the caller's unit of work)."""
        after = ""
        while rows := self._db.all(
            f"{_SELECT} WHERE id > ? ORDER BY id LIMIT ?", (after, batch_size)
        ):
            after = rows[-1][0]
            yield [self._decode(row) for row in rows]

    def restore(self, run: Run) -> None:
        """Store ``run`` as given (revision included), replacing one with its id."""
        self._hints.pop(run.id, None)
        self._db.execute("DELETE FROM runs WHERE id = ?", (run.id,))
        self._db.execute(
            _INSERT, (run.id, run.campaign_id, _us(run.created_at), dumps_run(run), *_hot(run))
        )

    def _decode(self, row: Row) -> Run:
        run_id, document = row[0], row[1]
        cold = self._cold.load(run_id, document, _load_run)
        (
            revision,
            status,
            position,
            streamed,
            counts,
            lease_owner,
            lease_expires_us,
            due_us,
            started_us,
            finished_us,
            error,
            wave_filled,
            rate_sent,
            rate_origin,
        ) = row[2:]
        try:
            decoded = self._counts.load(counts, counts, _frozen_counts)
            # the fields as Run(...) would store them (its converters' read-only views;
            # the cold part's were made when it was decoded), set in one step
            run = _new(Run)
            _set(
                run,
                "__dict__",
                {
                    "id": cold.id,
                    "campaign_id": cold.campaign_id,
                    "version": cold.version,
                    "kind": cold.kind,
                    "status": _STATUS[status],
                    "created_at": cold.created_at,
                    "due_at": None if due_us is None else _instant(due_us),
                    "started_at": None if started_us is None else _instant(started_us),
                    "finished_at": None if finished_us is None else _instant(finished_us),
                    "position": position,
                    "streamed": bool(streamed),
                    "counts": decoded,
                    "lease_owner": lease_owner,
                    "lease_expires_at": (
                        None if lease_expires_us is None else _instant(lease_expires_us)
                    ),
                    "error": error,
                    "context": cold.context,
                    "recipients": cold.recipients,
                    "nominal_at": cold.nominal_at,
                    "wave_filled": () if wave_filled == "[]" else tuple(json.loads(wave_filled)),
                    "rate_sent": _EMPTY if rate_sent == "{}" else _view(json.loads(rate_sent)),
                    "rate_origin": _EMPTY if rate_origin == "{}" else _view(_instants(rate_origin)),
                    "audience": cold.audience,
                    "revision": revision,
                },
            )
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise StorageError(f"run {run_id!r} has invalid state columns: {exc!r}") from exc
        hints = self._hints
        if len(hints) >= StoreCaches.HINTS_LIMIT:
            hints.clear()
        hints[run_id] = (revision, due_us, decoded, counts)
        return run


def _load_run(document: str) -> Run:
    return loads(Run, document)


def _frozen_counts(text: str) -> Mapping[str, ActionCounts]:
    """:func:`decode_counts` as a read-only view (shared by the runs decoded from ``text``)."""
    return MappingProxyType(decode_counts(text))


def _us(instant: pendulum.DateTime | None) -> int | None:
    """``to_us``, or None."""
    return None if instant is None else to_us(instant)


_instant: Final = from_us


def _hot(run: Run, counts: str | None = None) -> tuple[object, ...]:
    """The hot columns of ``run``, in ``_HOT`` order (``counts``: its text, if known)."""
    return (
        run.revision,
        run.status.value,
        run.position,
        1 if run.streamed else 0,
        encode_counts(run.counts) if counts is None else counts,
        run.lease_owner,
        _us(run.lease_expires_at),
        _us(run.due_at),
        _us(run.started_at),
        _us(run.finished_at),
        run.error,
        _compact(list(run.wave_filled)) if run.wave_filled else "[]",
        _compact(dict(run.rate_sent)) if run.rate_sent else "{}",
        (_compact({k: _us(v) for k, v in run.rate_origin.items()}) if run.rate_origin else "{}"),
    )


def _instants(text: str) -> dict[str, pendulum.DateTime]:
    return {key: _instant(value) for key, value in json.loads(text).items()}


def encode_counts(counts: Mapping[str, ActionCounts]) -> str:
    """Per-action counts as compact JSON: only the non-zero fields of each action.

    The inverse is :func:`decode_counts`, which also reads the full form the
    run documents used (every field, zeros included), so migration 6 copies
    that form as it is.
    """
    if not counts:
        return "{}"
    encoded: dict[str, dict[str, object]] = {}
    for action, c in counts.items():
        fields: dict[str, object] = {}
        for name in _COUNT_FIELDS:
            value = getattr(c, name)
            if value:
                fields[name] = value
        if c.excluded:
            fields["excluded"] = {reason.value: n for reason, n in c.excluded.items()}
        if c.feedback:
            fields["feedback"] = {event.value: n for event, n in c.feedback.items()}
        encoded[action] = fields
    return _compact(encoded)


def decode_counts(text: str) -> Mapping[str, ActionCounts]:
    """Per-action counts from :func:`encode_counts` (or the document form).

    Raises:
        ValueError: not JSON, or an unknown field, reason or event.
        TypeError: a field of the wrong shape.
    """
    decoded = json.loads(text)
    counts: dict[str, ActionCounts] = {}
    for action, fields in decoded.items():
        excluded = fields.pop("excluded", None) or {}
        feedback = fields.pop("feedback", None) or {}
        counts[action] = ActionCounts(
            **fields,
            excluded={_REASONS[reason]: n for reason, n in excluded.items()},
            feedback={_EVENTS[event]: n for event, n in feedback.items()},
        )
    return counts


class SQLiteExecutions:
    """The :class:`~campaignkit.ports.ExecutionRepository` of a SQLite unit of work."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, execution: ExecutionRecord) -> ExecutionRecord:
        """Insert a new execution at revision 1."""
        stored = evolve(execution, revision=1)
        try:
            self._db.execute(
                "INSERT INTO executions (id, campaign_id, request_id, revision, document) "
                "VALUES (?, ?, ?, ?, ?)",
                (stored.id, stored.campaign_id, stored.request_id, 1, dumps_execution(stored)),
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
        stored = evolve(execution, revision=execution.revision + 1)
        cursor = self._db.execute(
            "UPDATE executions SET revision = ?, document = ? WHERE id = ? AND revision = ?",
            (stored.revision, dumps_execution(stored), execution.id, execution.revision),
        )
        if cursor.rowcount != 1:
            raise ConflictError(f"execution {execution.id!r} changed meanwhile; reload and retry")
        return stored

    def scan(self, batch_size: int) -> Iterator[Sequence[ExecutionRecord]]:
        """Every execution in id order, a batch per query."""
        after = ""
        while rows := self._db.all(
            "SELECT id, document FROM executions WHERE id > ? ORDER BY id LIMIT ?",
            (after, batch_size),
        ):
            after = rows[-1][0]
            yield [loads(ExecutionRecord, document) for _, document in rows]

    def restore(self, execution: ExecutionRecord) -> None:
        """Store ``execution`` as given (revision included), replacing one with its id.

        Raises:
            ConflictError: another execution holds its request id for its campaign.
        """
        try:
            self._db.execute(
                "INSERT INTO executions (id, campaign_id, request_id, revision, document) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "campaign_id = excluded.campaign_id, request_id = excluded.request_id, "
                "revision = excluded.revision, document = excluded.document",
                (
                    execution.id,
                    execution.campaign_id,
                    execution.request_id,
                    execution.revision,
                    dumps_execution(execution),
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise ConflictError(
                f"another execution holds request id {execution.request_id!r} of campaign "
                f"{execution.campaign_id!r} already"
            ) from exc
