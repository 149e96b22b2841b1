"""A stand-alone prototype of one durable API trigger on bare ``sqlite3``, against the floor.

Issue 12 asks a durable trigger round (accept, deliver, record the outcome)
to cost at most 15 times one ``INSERT`` + ``COMMIT``. This script times the
same work written directly on ``sqlite3``, with tables and indexes shaped like
the kit's (runs with their due and campaign indexes, executions unique by
request id, profiles and their identities, a ledger row per message with
partial indexes), so what the kit adds on top can be named stage by stage.
Two layouts, each round timed stage by stage (medians over ``ROUNDS`` rounds
after ``WARMUP``):

- ``issue``: the issue's design. Accept (access, campaign, idempotency look-up,
  profile look-up, render, INSERT run, execution, profile, identity and the
  PENDING ledger row) in one transaction; a claim (due scan, lease) in a
  second; the null channel; the outcome (ledger row SENT, run SUCCEEDED) in a
  third.
- ``kit``: the kit's layout since the fused claim. Accept without the ledger
  row; a read-only due scan; claim, render and the PENDING row in one
  transaction; the channel; outcome and end in one; a read-only scan for the
  next due time. Five transactions, three of them writing.

Nothing here is campaignkit: no ports, no attrs values, no permissions
policy, no counts per action, no logging. Run with
``python benchmarks/proto_trigger.py [rounds]``; compare the ratios with
``benchmarks/bench_trigger.py`` run right after it.
"""

from __future__ import annotations

import gc
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 300
WARMUP = 20
T0_US = 1_796_115_600_000_000
LEASE_US = 60_000_000

SCHEMA = """
CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE campaigns (id TEXT PRIMARY KEY, status TEXT, due_us INTEGER, document TEXT);
CREATE INDEX campaigns_by_due ON campaigns (due_us, id) WHERE due_us IS NOT NULL;
CREATE TABLE access_grants (kind TEXT, principal TEXT, profile TEXT, PRIMARY KEY (kind, principal));
CREATE TABLE runs (id TEXT PRIMARY KEY, campaign_id TEXT, created_us INTEGER, document TEXT,
    revision INTEGER, status TEXT, position INTEGER, streamed INTEGER, counts TEXT,
    lease_owner TEXT, lease_expires_us INTEGER, due_us INTEGER, started_us INTEGER,
    finished_us INTEGER);
CREATE INDEX runs_by_campaign ON runs (campaign_id, created_us, id);
CREATE INDEX runs_by_due ON runs (due_us, id) WHERE due_us IS NOT NULL;
CREATE TABLE executions (id TEXT PRIMARY KEY, campaign_id TEXT, request_id TEXT,
    revision INTEGER, document TEXT);
CREATE UNIQUE INDEX executions_by_request ON executions (campaign_id, request_id);
CREATE TABLE profiles (id TEXT PRIMARY KEY, document TEXT);
CREATE TABLE profile_identities (namespace TEXT, value TEXT, profile_id TEXT,
    PRIMARY KEY (namespace, value));
CREATE INDEX profile_identities_by_profile ON profile_identities (profile_id);
CREATE TABLE ledger (run_id TEXT, action_id TEXT, profile_id TEXT, state TEXT,
    attempts INTEGER, provider_message_id TEXT, address TEXT, message TEXT,
    next_attempt_us INTEGER, PRIMARY KEY (run_id, profile_id, action_id)) WITHOUT ROWID;
CREATE INDEX ledger_pending ON ledger (run_id) WHERE state = 'pending';
CREATE INDEX ledger_waiting ON ledger (run_id, next_attempt_us) WHERE state IN ('queued', 'retry');
CREATE UNIQUE INDEX ledger_by_provider_id ON ledger (provider_message_id)
    WHERE provider_message_id IS NOT NULL;
"""

Stages = dict[str, float]


def connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.executescript(SCHEMA)
    db.execute(
        "INSERT INTO campaigns VALUES ('cmp', 'live', NULL, ?)",
        (json.dumps({"subject": "Reset", "html": "{link}"}),),
    )
    db.execute("INSERT INTO access_grants VALUES ('user', 'ada', 'administrator')")
    return db


class Prototype:
    """One trigger round after another on one file, in the ``issue`` or ``kit`` layout."""

    def __init__(self, db: sqlite3.Connection, layout: str) -> None:
        self.db = db
        self.layout = layout
        self.count = 0
        self.templates: dict[str, dict[str, str]] = {}

    def _campaign(self) -> dict[str, str]:
        (document,) = self.db.execute("SELECT document FROM campaigns WHERE id = 'cmp'").fetchone()
        found = self.templates.get(document)  # decoded once per document text
        if found is None:
            found = self.templates[document] = json.loads(document)
        return found

    def _render(self, templates: dict[str, str], context: dict[str, str]) -> str:
        return json.dumps({k: v.format_map(context) for k, v in templates.items()})

    def accept(self, i: int) -> tuple[str, str, str]:
        db = self.db
        run_id, user, request = f"run{i}", f"user{i}@example.com", f"req-{i}"
        context = {"link": f"https://example.com/reset/{i}"}
        db.execute("BEGIN IMMEDIATE")
        db.execute("SELECT profile FROM access_grants WHERE kind = 'user' AND principal = 'ada'")
        templates = self._campaign()
        found = db.execute(
            "SELECT document FROM executions WHERE campaign_id = 'cmp' AND request_id = ?",
            (request,),
        ).fetchone()
        assert found is None
        profile = db.execute(
            "SELECT p.id FROM profile_identities i JOIN profiles p ON p.id = i.profile_id "
            "WHERE i.namespace = 'email' AND i.value = ?",
            (user,),
        ).fetchone()
        assert profile is None
        recipients = json.dumps([{"profile": {"id": user}, "context": context}])
        db.execute(
            "INSERT INTO runs VALUES (?, 'cmp', ?, ?, 1, 'pending', 0, 0, '{}', NULL, NULL, ?, "
            "NULL, NULL)",
            (run_id, T0_US, recipients, T0_US),
        )
        db.execute(
            "INSERT INTO executions VALUES (?, 'cmp', ?, 1, ?)",
            (f"exe{i}", request, json.dumps({"run": run_id, "hash": "0" * 64})),
        )
        db.execute(
            "INSERT INTO profiles VALUES (?, ?)",
            (user, json.dumps({"id": user, "identities": {"email": user}})),
        )
        db.execute("INSERT INTO profile_identities VALUES ('email', ?, ?)", (user, user))
        if self.layout == "issue":
            self._intent(run_id, user, templates, context)
        db.execute("COMMIT")
        return run_id, user, json.dumps(context)

    def _intent(
        self, run_id: str, user: str, templates: dict[str, str], context: dict[str, str]
    ) -> None:
        self.db.execute(
            "INSERT INTO ledger (run_id, action_id, profile_id, state, attempts, address, message)"
            " VALUES (?, 'act', ?, 'pending', 0, ?, ?)",
            (run_id, user, user, self._render(templates, context)),
        )

    def scan(self) -> str:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        db.execute(
            "SELECT due_us, id FROM campaigns WHERE due_us IS NOT NULL AND due_us <= ? "
            "ORDER BY due_us, id LIMIT 1",
            (T0_US,),
        ).fetchone()
        (_, run_id) = db.execute(
            "SELECT due_us, id FROM runs WHERE due_us IS NOT NULL AND due_us <= ? "
            "ORDER BY due_us, id LIMIT 1",
            (T0_US,),
        ).fetchone()
        db.execute("COMMIT")
        return str(run_id)

    def claim(self, run_id: str, user: str, context: str) -> list[tuple[str, str]]:
        db = self.db
        begin = self.layout == "issue"
        if begin:  # the claim finds the run in its own transaction
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "SELECT due_us, id FROM runs WHERE due_us IS NOT NULL AND due_us <= ? "
                "ORDER BY due_us, id LIMIT 1",
                (T0_US,),
            ).fetchone()
        else:
            db.execute("BEGIN IMMEDIATE")
        db.execute(
            "SELECT status, lease_owner, document FROM runs WHERE id = ?", (run_id,)
        ).fetchone()
        templates = self._campaign()
        if self.layout == "kit":
            self._intent(run_id, user, templates, json.loads(context))
        db.execute(
            "UPDATE runs SET revision = revision + 1, status = 'running', lease_owner = 'w', "
            "lease_expires_us = ?, due_us = ?, started_us = ?, position = 1, streamed = 1, "
            "counts = ? WHERE id = ?",
            (T0_US + LEASE_US, T0_US + LEASE_US, T0_US, '{"act":{"pending":1}}', run_id),
        )
        rows = db.execute(
            "SELECT profile_id, message FROM ledger INDEXED BY ledger_pending "
            "WHERE run_id = ? AND state = 'pending'",
            (run_id,),
        ).fetchall()
        db.execute("COMMIT")
        return rows

    def outcome(self, run_id: str, sent: list[tuple[str, str]]) -> None:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            "UPDATE ledger SET state = 'sent', attempts = 1, provider_message_id = ?, "
            "message = NULL WHERE run_id = ? AND profile_id = ? AND action_id = 'act'",
            [(f"{run_id}:{profile}", run_id, profile) for profile, _ in sent],
        )
        db.execute(
            "SELECT min(next_attempt_us) FROM ledger INDEXED BY ledger_waiting "
            "WHERE run_id = ? AND state IN ('queued', 'retry')",
            (run_id,),
        ).fetchone()
        db.execute(
            "UPDATE runs SET revision = revision + 1, status = 'succeeded', lease_owner = NULL, "
            "lease_expires_us = NULL, due_us = NULL, finished_us = ?, counts = ? WHERE id = ?",
            (T0_US, '{"act":{"sent":1}}', run_id),
        )
        db.execute("COMMIT")

    def next_due(self) -> None:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        db.execute("SELECT min(due_us) FROM campaigns WHERE due_us IS NOT NULL").fetchone()
        db.execute("SELECT min(due_us) FROM runs WHERE due_us IS NOT NULL").fetchone()
        db.execute("COMMIT")

    def one(self) -> Stages:
        """One round, timed stage by stage (wall seconds)."""
        clock = time.perf_counter
        i = self.count
        self.count += 1
        stages: Stages = {}
        start = clock()
        run_id, user, context = self.accept(i)
        stages["accept"] = clock() - start
        mark = clock()
        if self.layout == "kit":
            run_id = self.scan()
        stages["scan"] = clock() - mark
        mark = clock()
        rows = self.claim(run_id, user, context)
        stages["claim"] = clock() - mark
        mark = clock()
        sent = [(profile, message) for profile, message in rows]  # the null channel
        stages["send"] = clock() - mark
        mark = clock()
        self.outcome(run_id, sent)
        if self.layout == "kit":
            self.next_due()
        stages["outcome"] = clock() - mark
        stages["round"] = clock() - start
        return stages


def medians(rounds: int, one: Callable[[], Stages]) -> Stages:
    samples: dict[str, list[float]] = {}
    for _ in range(rounds):
        for name, seconds in one().items():
            samples.setdefault(name, []).append(seconds)
    return {name: statistics.median(values) for name, values in samples.items()}


def floor(db: sqlite3.Connection) -> float:
    counter = iter(range(10**9))

    def insert() -> Stages:
        start = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t (body) VALUES (?)", (f"message {next(counter)}",))
        db.execute("COMMIT")
        return {"round": time.perf_counter() - start}

    medians(WARMUP, insert)
    gc.collect()
    return medians(ROUNDS, insert)["round"]


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        base = floor(connect(Path(folder) / "floor.db"))
        results = {}
        for layout in ("issue", "kit"):
            prototype = Prototype(connect(Path(folder) / f"{layout}.db"), layout)
            medians(WARMUP, prototype.one)
            gc.collect()
            results[layout] = medians(ROUNDS, prototype.one)
    print(f"medians of {ROUNDS} rounds after {WARMUP} warm-up rounds, wall time")
    print(f"{'bare INSERT + COMMIT (WAL)':>34}: {base * 1e6:8.1f} us")
    for layout, stages in results.items():
        parts = "  ".join(f"{k} {v * 1e6:.1f}" for k, v in stages.items() if k != "round")
        print(
            f"{'prototype, ' + layout + ' layout':>34}: {stages['round'] * 1e6:8.1f} us "
            f"= {stages['round'] / base:.1f}x  ({parts} us)"
        )


if __name__ == "__main__":
    main()
