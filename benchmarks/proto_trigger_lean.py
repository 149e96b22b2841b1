"""How low can a durable trigger round go? Two more bare-``sqlite3`` layouts, against the floor.

``benchmarks/proto_trigger.py`` times the issue's design with the fewest
statements and no library work at all. This script adds the work SPEC
sections 6, 8 and 9 oblige any implementation to do, in two forms, and times
them in the same run as the floor and that first prototype (medians of
``ROUNDS`` rounds after ``WARMUP``; ``REPS`` repetitions, each with its own
floor):

- ``faithful``: the issue layout plus the obliged work done plainly: the
  request checked (count, ids, duplicates, the reserved key, the 200 KB
  limit), its fingerprint (SHA-256 of canonical JSON) for idempotency, random
  ids (``uuid4``), the caller's grants with group memberships read for the
  permission check, the campaign's state checked at accept and at claim, the
  templates rendered in Jinja2's sandbox, the lease checked before the
  outcome is recorded, and counts per action.
- ``lean``: the same obligations with every shortcut a careful design may
  take: grants and the campaign read once and kept while ``PRAGMA
  data_version`` says no other connection committed; the execution held in
  the run row (one ``INSERT``, idempotency by a unique partial index); the
  templates compiled to ``str.format_map`` (like the kit's generated render);
  ids from a random prefix and a counter; the claim and the lease check
  folded into each ``UPDATE`` (its row count); no query for retries when
  none was scheduled.
- ``lean + values``: ``lean`` plus the values the public API and the ports
  exchange in a round: the caller's ``Recipient``, the created ``Profile``,
  the pending ``Run``, the returned ``Execution``, the ``Message`` handed to
  the channel and the ``TickReport`` (built, not stored differently).

Whatever campaignkit does beyond ``lean + values`` is the price of its
general pipeline. Run with ``python benchmarks/proto_trigger_lean.py
[rounds] [reps]``; ``docs/performance.md`` records what it printed.
"""

from __future__ import annotations

import gc
import hashlib
import itertools
import json
import os
import sqlite3
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pendulum
from jinja2.sandbox import ImmutableSandboxedEnvironment
from proto_trigger import LEASE_US, T0_US, WARMUP, Prototype, Stages, connect, floor, medians

import campaignkit as ck
from campaignkit.domain.delivery import Message, Run, RunKind, RunRecipient, RunStatus
from campaignkit.domain.triggers import Execution, ExecutionKind, ExecutionStatus, ScheduleStatus
from campaignkit.engine import TickReport

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 300
REPS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
GRANTS = (
    "SELECT NULL, profile FROM access_grants WHERE kind = 'user' AND principal = ? "
    "UNION ALL SELECT m.group_id, g.profile FROM group_members m JOIN access_grants g "
    "ON g.kind = 'group' AND g.principal = m.group_id WHERE m.user_id = ?"
)
PROFILE = (
    "SELECT 1, p.id, p.document FROM profile_identities i JOIN profiles p ON p.id = i.profile_id "
    "WHERE i.namespace = 'email' AND i.value = ? UNION ALL SELECT 0, id, document FROM profiles "
    "WHERE id = ?"
)
DUE = (
    "SELECT due_us, id FROM runs WHERE due_us IS NOT NULL AND due_us <= ? "
    "ORDER BY due_us, id LIMIT 1"
)
PENDING = (
    "SELECT profile_id, message FROM ledger INDEXED BY ledger_pending "
    "WHERE run_id = ? AND state = 'pending'"
)
SENT = (
    "UPDATE ledger SET state = 'sent', attempts = 1, provider_message_id = ?, message = NULL "
    "WHERE run_id = ? AND profile_id = ? AND action_id = 'act' AND state = 'pending'"
)
INTENT = (
    "INSERT INTO ledger (run_id, action_id, profile_id, state, attempts, address, message)"
    " VALUES (?, 'act', ?, 'pending', 0, ?, ?)"
)
EXTRA_SCHEMA = """
CREATE TABLE group_members (group_id TEXT, user_id TEXT, PRIMARY KEY (user_id, group_id));
ALTER TABLE runs ADD COLUMN request_id TEXT;
ALTER TABLE runs ADD COLUMN payload_hash TEXT;
CREATE UNIQUE INDEX runs_by_request ON runs (campaign_id, request_id)
    WHERE request_id IS NOT NULL;
"""
CAMPAIGN = {"status": "live", "type": "api_triggered"}
ENV = ImmutableSandboxedEnvironment(autoescape=False)

Request = tuple[str, str, dict[str, Any]]
"""User id, request id and context of one round's call."""


def lean_connect(path: Path) -> sqlite3.Connection:
    """The prototype's file with group memberships and the execution columns on runs."""
    db = connect(path)
    db.executescript(EXTRA_SCHEMA)
    return db


def checked(user: str, request: str, context: dict[str, Any]) -> str:
    """Check one call as SPEC section 9 asks and return its payload fingerprint."""
    recipients = [{"userId": user, "namespace": "email", "context": context}]
    if not 1 <= len(recipients) <= 20 or not request.strip():
        raise ValueError("1 to 20 recipients and a request id")
    seen: set[str] = set()
    for r in recipients:
        if not (isinstance(r["userId"], str) and r["userId"].strip()) or r["userId"] in seen:
            raise ValueError("a blank or repeated user id")
        seen.add(str(r["userId"]))
        if "system" in context:
            raise ValueError("the reserved context key")
    text = json.dumps(
        {"kind": "unitary", "recipients": recipients}, sort_keys=True, separators=(",", ":")
    )
    if len(text) > 200 * 1024:
        raise ValueError("over 200 KB")
    return hashlib.sha256(text.encode()).hexdigest()


class Faithful(Prototype):
    """The issue layout plus the obliged work, done plainly (see the module docstring)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        super().__init__(db, "issue")
        self.jinja = [
            (k, ENV.from_string(v)) for k, v in (("subject", "Reset"), ("html", "{link}"))
        ]

    def _state(self) -> None:
        grants = self.db.execute(GRANTS, ("ada", "ada")).fetchall()
        if not any(profile == "administrator" for _, profile in grants):
            raise PermissionError("ada")
        self._campaign()
        if CAMPAIGN["status"] != "live":
            raise RuntimeError("not live")

    def accept(self, i: int) -> tuple[str, str, str]:
        db = self.db
        user, request = f"user{i}@example.com", f"req-{i}"
        context = {"link": f"https://example.com/reset/{i}"}
        digest = checked(user, request, context)
        run_id, execution_id = f"run_{uuid.uuid4().hex}", f"exe_{uuid.uuid4().hex}"
        db.execute("BEGIN IMMEDIATE")
        self._state()
        found = db.execute(
            "SELECT document FROM executions WHERE campaign_id = 'cmp' AND request_id = ?",
            (request,),
        ).fetchone()
        if found is not None or db.execute(PROFILE, (user, user)).fetchone() is not None:
            raise RuntimeError("every round is a new request to a new profile")
        document = {"id": user, "identities": {"email": user}, "attributes": {}}
        recipients = [{"profile": document, "context": context}]
        db.execute(
            "INSERT INTO runs (id, campaign_id, created_us, document, revision, status, position, "
            "streamed, counts, due_us) VALUES (?, 'cmp', ?, ?, 1, 'pending', 0, 0, '{}', ?)",
            (run_id, T0_US, json.dumps({"kind": "trigger", "recipients": recipients}), T0_US),
        )
        db.execute(
            "INSERT INTO executions VALUES (?, 'cmp', ?, 1, ?)",
            (execution_id, request, json.dumps({"run": run_id, "hash": digest, "by": "ada"})),
        )
        db.execute("INSERT INTO profiles VALUES (?, ?)", (user, json.dumps(document)))
        db.execute("INSERT INTO profile_identities VALUES ('email', ?, ?)", (user, user))
        fields = {k: t.render(context=context, profile=document) for k, t in self.jinja}
        db.execute(INTENT, (run_id, user, user, json.dumps(fields)))
        db.execute("COMMIT")
        return run_id, user, ""

    def claim(self, run_id: str, user: str, context: str) -> list[tuple[str, str]]:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        db.execute(DUE, (T0_US,)).fetchone()
        status, owner, _ = db.execute(
            "SELECT status, lease_owner, document FROM runs WHERE id = ?", (run_id,)
        ).fetchone()
        if status != "pending" or owner is not None:
            raise RuntimeError("claimed already")
        self._campaign()
        counts = json.dumps({"act": {"targeted": 1, "pending": 1}})
        db.execute(
            "UPDATE runs SET revision = revision + 1, status = 'running', lease_owner = 'w', "
            "lease_expires_us = ?, due_us = ?, started_us = ?, position = 1, streamed = 1, "
            "counts = ? WHERE id = ?",
            (T0_US + LEASE_US, T0_US + LEASE_US, T0_US, counts, run_id),
        )
        rows: list[tuple[str, str]] = db.execute(PENDING, (run_id,)).fetchall()
        db.execute("COMMIT")
        return rows

    def outcome(self, run_id: str, sent: list[tuple[str, str]]) -> None:
        db = self.db
        counts = {"act": {"targeted": len(sent), "sent": len(sent)}}
        db.execute("BEGIN IMMEDIATE")
        (owner,) = db.execute("SELECT lease_owner FROM runs WHERE id = ?", (run_id,)).fetchone()
        if owner != "w":
            raise RuntimeError("lease lost")
        db.executemany(SENT, [(f"{run_id}:{profile}", run_id, profile) for profile, _ in sent])
        db.execute(
            "SELECT min(next_attempt_us) FROM ledger INDEXED BY ledger_waiting "
            "WHERE run_id = ? AND state IN ('queued', 'retry')",
            (run_id,),
        ).fetchone()
        db.execute(
            "UPDATE runs SET revision = revision + 1, status = 'succeeded', lease_owner = NULL, "
            "lease_expires_us = NULL, due_us = NULL, finished_us = ?, counts = ? WHERE id = ?",
            (T0_US, json.dumps(counts), run_id),
        )
        db.execute("COMMIT")


class Lean(Prototype):
    """The obliged work with every shortcut a careful design may take (module docstring)."""

    def __init__(self, db: sqlite3.Connection, *, values: bool = False) -> None:
        super().__init__(db, "issue")
        self.values = values
        self.seen_version: object = None
        self.grants: list[tuple[str | None, str]] = []
        self.counter = itertools.count()
        self.prefix = os.urandom(6).hex()
        self.made: list[object] = []

    def _state(self) -> None:
        """Grants and campaign, read again only when another connection committed."""
        (version,) = self.db.execute("PRAGMA data_version").fetchone()
        if version != self.seen_version:
            self.seen_version = version
            self.grants = self.db.execute(GRANTS, ("ada", "ada")).fetchall()
            self._campaign()
        if not any(profile == "administrator" for _, profile in self.grants):
            raise PermissionError("ada")
        if CAMPAIGN["status"] != "live":
            raise RuntimeError("not live")

    def accept(self, i: int) -> tuple[str, str, str]:
        db = self.db
        user, request = f"user{i}@example.com", f"req-{i}"
        context = {"link": f"https://example.com/reset/{i}"}
        if self.values:
            self.made.append(ck.Recipient(user_id=user, namespace="email", context=context))
        digest = checked(user, request, context)
        run_id = f"run_{self.prefix}{next(self.counter):x}"
        db.execute("BEGIN IMMEDIATE")
        self._state()
        found = db.execute(
            "SELECT id FROM runs WHERE campaign_id = 'cmp' AND request_id = ?", (request,)
        ).fetchone()
        if found is not None or db.execute(PROFILE, (user, user)).fetchone() is not None:
            raise RuntimeError("every round is a new request to a new profile")
        if self.values:
            self._values(run_id, user, context)
        db.execute(
            "INSERT INTO runs (id, campaign_id, created_us, revision, status, position, "
            "streamed, counts, due_us, request_id, payload_hash) "
            "VALUES (?, 'cmp', ?, 1, 'pending', 0, 0, '{}', ?, ?, ?)",
            (run_id, T0_US, T0_US, request, digest),
        )
        document = json.dumps({"id": user, "identities": {"email": user}})
        db.execute("INSERT INTO profiles VALUES (?, ?)", (user, document))
        db.execute("INSERT INTO profile_identities VALUES ('email', ?, ?)", (user, user))
        templates = self._campaign()
        message = json.dumps({k: v.format_map(context) for k, v in templates.items()})
        db.execute(INTENT, (run_id, user, user, message))
        db.execute("COMMIT")
        return run_id, user, ""

    def _values(self, run_id: str, user: str, context: dict[str, Any]) -> None:
        """The public values of an accept: the new Profile, the pending Run, the Execution."""
        profile = ck.Profile(id=user, identities={"email": user})
        self.made.append(
            Run(
                id=run_id,
                campaign_id="cmp",
                version=1,
                kind=RunKind.TRIGGER,
                status=RunStatus.PENDING,
                created_at=T0,
                due_at=T0,
                recipients=(RunRecipient(profile, context),),
            )
        )
        self.made.append(
            Execution(
                id=run_id,
                campaign_id="cmp",
                request_id="req",
                kind=ExecutionKind.UNITARY,
                created_at=T0,
                created_by="ada",
                execute_at=None,
                schedule_status=next(iter(ScheduleStatus)),
                status=next(iter(ExecutionStatus)),
                targeted=1,
                run_id=run_id,
            )
        )

    def claim(self, run_id: str, user: str, context: str) -> list[tuple[str, str]]:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        (_, found) = db.execute(DUE, (T0_US,)).fetchone()
        self._state()
        claimed = db.execute(
            "UPDATE runs SET revision = revision + 1, status = 'running', lease_owner = 'w', "
            "lease_expires_us = ?, due_us = ?, started_us = ? "
            "WHERE id = ? AND status = 'pending' AND lease_owner IS NULL",
            (T0_US + LEASE_US, T0_US + LEASE_US, T0_US, found),
        )
        if claimed.rowcount != 1:
            raise RuntimeError("claimed already")
        rows: list[tuple[str, str]] = db.execute(PENDING, (found,)).fetchall()
        db.execute("COMMIT")
        if self.values:
            for profile, text in rows:
                self.made.append(_message(found, profile, json.loads(text)))
        return rows

    def outcome(self, run_id: str, sent: list[tuple[str, str]]) -> None:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        ended = db.execute(
            "UPDATE runs SET revision = revision + 1, status = 'succeeded', lease_owner = NULL, "
            "lease_expires_us = NULL, due_us = NULL, finished_us = ?, position = 1, "
            "streamed = 1, counts = ? WHERE id = ? AND lease_owner = 'w'",
            (T0_US, json.dumps({"act": {"targeted": len(sent), "sent": len(sent)}}), run_id),
        )
        if ended.rowcount != 1:
            raise RuntimeError("lease lost")
        db.executemany(SENT, [(f"{run_id}:{profile}", run_id, profile) for profile, _ in sent])
        db.execute("COMMIT")
        if self.values:
            self.made.append(TickReport(T0, (), None))
        self.made.clear()


def _message(run_id: str, profile: str, fields: dict[str, str]) -> Message:
    return Message(
        run_id=run_id,
        campaign_id="cmp",
        action_id="act",
        profile_id=profile,
        channel=ck.ChannelType.EMAIL,
        address=profile,
        idempotency_key=f"{run_id}:act:{profile}",
        fields=fields,
        settings=ck.EmailSettings(sender="no-reply@example.com"),
    )


def main() -> None:
    contestants: list[tuple[str, Callable[[Path], Prototype]]] = [
        ("issue", lambda path: Prototype(connect(path), "issue")),
        ("faithful", lambda path: Faithful(lean_connect(path))),
        ("lean", lambda path: Lean(lean_connect(path))),
        ("lean + values", lambda path: Lean(lean_connect(path), values=True)),
    ]
    print(f"medians of {ROUNDS} rounds after {WARMUP} warm-up rounds, wall time")
    for rep in range(REPS):
        with tempfile.TemporaryDirectory() as folder:
            base = floor(connect(Path(folder) / "floor.db"))
            print(f"repetition {rep + 1}: bare INSERT + COMMIT (WAL) {base * 1e6:.1f} us")
            for name, make in contestants:
                prototype = make(Path(folder) / f"{name.replace(' + ', '_')}.db")
                medians(WARMUP, prototype.one)
                gc.collect()
                stages: Stages = medians(ROUNDS, prototype.one)
                print(
                    f"{name:>16}: {stages['round'] * 1e6:7.1f} us = "
                    f"{stages['round'] / base:5.1f}x  (accept {stages['accept'] * 1e6:.0f}, "
                    f"claim {stages['claim'] * 1e6:.0f}, outcome {stages['outcome'] * 1e6:.0f} us)"
                )


if __name__ == "__main__":
    main()
