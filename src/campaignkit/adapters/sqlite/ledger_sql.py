"""The delivery ledger's SQL statements, one module constant each.

Every statement reads through an index (see :mod:`campaignkit.adapters.sqlite.ledger`
for the layout); ``tests/integration/test_sqlite_ledger_plans.py`` checks each
with ``EXPLAIN QUERY PLAN``, through :data:`STATEMENTS` and :data:`VARIANTS`.
"""

from __future__ import annotations

from typing import Final

COLUMNS: Final = (
    "run_id, action_id, profile_id, campaign_id, channel, state, reason, attempts, "
    "next_attempt_us, provider_message_id, address, due_us, timezone, slot_us, error, message"
)
"""The ledger's columns, in the order of ``LedgerEntry``'s fields."""

UPSERT: Final = (
    # an upsert, not INSERT OR REPLACE: REPLACE would also delete another entry
    # holding the same provider id (unique index) instead of failing
    f"INSERT INTO ledger ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (run_id, profile_id, action_id) DO UPDATE SET "
    "campaign_id = excluded.campaign_id, channel = excluded.channel, state = excluded.state, "
    "reason = excluded.reason, attempts = excluded.attempts, "
    "next_attempt_us = excluded.next_attempt_us, "
    "provider_message_id = excluded.provider_message_id, address = excluded.address, "
    "due_us = excluded.due_us, timezone = excluded.timezone, slot_us = excluded.slot_us, "
    "error = excluded.error, message = excluded.message"
)
"""``put``: insert an entry or replace every field of the entry with its key."""


def _insert_pending(due: bool, zone: bool) -> str:
    return (
        "INSERT INTO ledger (run_id, action_id, profile_id, campaign_id, channel, state, "
        "address, due_us, timezone, message) VALUES (?, ?, ?, ?, ?, 'pending', ?, "
        + ("?, " if due else "NULL, ")
        + ("?, " if zone else "NULL, ")
        + "?)"
    )


INSERT_PENDING: Final = _insert_pending(due=True, zone=True)
"""``add_pending``: a new PENDING entry with its message (attempts 0, the rest NULL)."""

INSERT_PENDING_BY_SHAPE: Final = tuple(
    _insert_pending(due, zone) for due in (False, True) for zone in (False, True)
)
""":data:`INSERT_PENDING` by ``2 * has_due_time + has_zone``: a missing one is a NULL literal.

The ``sqlite3`` module binds a ``None`` (or a ``bool``) far more slowly than
text or an integer (it looks for an adapter first: about 0.5 us a value), so
the hot path writes what is absent as SQL instead.
"""

ROWS_PER_INSERT: Final = 50
"""Rows of one :data:`INSERT_PENDING_ROWS` statement.

Measured (callgrind, the intents of 5,000 recipients in batches of 500):
26.6k instructions a row by ``executemany`` of :data:`INSERT_PENDING`
(each row a step, a reset and four b-tree cursors opened), 17.4k in
statements of 50 rows, 18.0k of 25, 17.6k of 64, 20.8k of 500 (its
preparation, once a run, outweighs the rest).
"""


def _insert_pending_rows(due: bool, zone: bool) -> str:
    # ?1 run, ?2 action, ?3 campaign, ?4 channel (?5 due time) shared; then each row's own
    first = 6 if due else 5
    width = 4 if zone else 3  # profile, address(, zone), message
    rows = []
    for number in range(first, first + width * ROWS_PER_INSERT, width):
        rows.append(
            f"(?1, ?2, ?{number}, ?3, ?4, 'pending', ?{number + 1}, "
            + ("?5, " if due else "NULL, ")
            + (f"?{number + 2}, ?{number + 3})" if zone else f"NULL, ?{number + 2})")
        )
    return _insert_pending(due, zone).split(" VALUES ")[0] + " VALUES " + ", ".join(rows)


INSERT_PENDING_ROWS: Final = tuple(
    _insert_pending_rows(due, zone) for due in (False, True) for zone in (False, True)
)
""":data:`INSERT_PENDING_BY_SHAPE` for :data:`ROWS_PER_INSERT` rows of one run, action,
campaign, channel and due time (bound once), each row with its profile, address, zone (in
the shapes with one) and message."""

SETTLE: Final = (
    "UPDATE ledger SET state = ?, reason = NULL, attempts = ?, provider_message_id = ?, "
    "error = ?, next_attempt_us = ?, slot_us = NULL, message = CASE WHEN ? THEN message END "
    "WHERE run_id = ? AND profile_id = ? AND action_id = ?"
)
"""``settle``: one entry's outcome; the message is kept (not rewritten) or dropped."""

SETTLE_FINAL: Final = (
    "UPDATE ledger SET state = ?, reason = NULL, attempts = ?, provider_message_id = ?, "
    "error = NULL, next_attempt_us = NULL, slot_us = NULL, message = NULL "
    "WHERE run_id = ? AND profile_id = ? AND action_id = ?"
)
"""``settle`` of an outcome without error, retry time or kept message (an accepted one)."""

SETTLE_KEYED: Final = (
    "UPDATE ledger SET state = ?3, reason = NULL, attempts = ?4, provider_message_id = j.key, "
    "error = NULL, next_attempt_us = NULL, slot_us = NULL, message = NULL "
    "FROM (SELECT key, value FROM json_each(?5) LIMIT -1) AS j "
    "WHERE run_id = ?1 AND profile_id = j.value AND action_id = ?2"
)
"""``settle`` of accepted outcomes of one action, state and attempt count as one statement.

The rows are one JSON object ``{provider_message_id: profile_id}`` (distinct
provider ids and profiles, all text); ``LIMIT -1`` keeps the subquery a table
of its own, read first, so each of its rows finds its entry by primary key.
"""

RECORDED: Final = (
    "SELECT action_id, profile_id FROM ledger WHERE run_id = ? "
    "AND profile_id IN (SELECT value FROM json_each(?))"
)
"""``recorded``: the profile ids are passed as one JSON array."""

RECORDED_ANY: Final = (
    "SELECT action_id, profile_id FROM ledger WHERE run_id = ? "
    "AND profile_id BETWEEN ? AND ? LIMIT 1"
)
"""``recorded``, first: any entry of the run whose profile id lies in the batch's range.

One probe of the primary key; when it finds nothing (a fresh batch of a run
streamed in id order), no profile of the batch is recorded.
"""

PENDING: Final = (
    f"SELECT {COLUMNS} FROM ledger INDEXED BY ledger_pending "
    "WHERE run_id = ? AND state = 'pending' ORDER BY profile_id, action_id LIMIT ?"
)
"""``pending``: PENDING entries in key order."""

OPEN_ENTRIES: Final = (
    f"SELECT * FROM (SELECT {COLUMNS} FROM ledger INDEXED BY ledger_pending "
    "WHERE run_id = ?1 AND state = 'pending' ORDER BY profile_id, action_id LIMIT ?2) "
    f"UNION ALL SELECT * FROM (SELECT {COLUMNS} FROM ledger INDEXED BY ledger_waiting "
    "WHERE run_id = ?1 AND state IN ('queued', 'retry') "
    "ORDER BY next_attempt_us, profile_id, action_id LIMIT ?2) LIMIT ?2"
)
"""``open_entries``: PENDING entries first, then QUEUED and RETRY ones, earliest first."""

DUE: Final = (
    f"SELECT {COLUMNS} FROM ledger INDEXED BY ledger_waiting "
    "WHERE run_id = ? AND state IN ('queued', 'retry') AND next_attempt_us <= ? "
    "ORDER BY next_attempt_us, profile_id, action_id LIMIT ?"
)
"""``due``: QUEUED or RETRY entries due by an instant, earliest first."""

NEXT_DUE_AT: Final = (
    "SELECT min(next_attempt_us) FROM ledger INDEXED BY ledger_waiting "
    "WHERE run_id = ? AND state IN ('queued', 'retry')"
)
"""``next_due_at``: the earliest QUEUED or RETRY entry's time."""

BY_PROVIDER_ID: Final = (
    f"SELECT {COLUMNS} FROM ledger INDEXED BY ledger_by_provider_id WHERE provider_message_id = ?"
)
"""``by_provider_id``."""

ENTRIES: Final = f"SELECT {COLUMNS} FROM ledger WHERE run_id = ? ORDER BY action_id, profile_id"
"""``entries``: every entry of a run, by key."""

SCAN_FIRST: Final = (
    f"SELECT {COLUMNS} FROM ledger WHERE run_id = ? ORDER BY profile_id, action_id LIMIT ?"
)
"""``scan``: the first batch of a run's entries, in primary key order."""

SCAN_NEXT: Final = (
    f"SELECT {COLUMNS} FROM ledger WHERE run_id = ? AND (profile_id, action_id) > (?, ?) "
    "ORDER BY profile_id, action_id LIMIT ?"
)
"""``scan``: the next batch, after the last ``(profile_id, action_id)`` read."""

STATEMENTS: Final = {
    "put": UPSERT,
    "add_pending": INSERT_PENDING,
    "settle": SETTLE,
    "recorded": RECORDED,
    "pending": PENDING,
    "open_entries": OPEN_ENTRIES,
    "due": DUE,
    "next_due_at": NEXT_DUE_AT,
    "by_provider_id": BY_PROVIDER_ID,
    "entries": ENTRIES,
    "scan": SCAN_FIRST,
}
"""Every ledger statement by the method that runs it."""

VARIANTS: Final = {
    "add_pending": INSERT_PENDING_BY_SHAPE + INSERT_PENDING_ROWS,
    "settle": (SETTLE, SETTLE_FINAL, SETTLE_KEYED),
    "recorded": (RECORDED_ANY,),
    "scan": (SCAN_NEXT,),
}
"""The statements a method may run besides (or instead of) its :data:`STATEMENTS` entry."""
