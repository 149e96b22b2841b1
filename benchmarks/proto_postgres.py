"""What a PostgreSQL fan-out costs with bare psycopg: is half of the SQLite kit's rate reachable?

A stand-alone prototype of the work one run does on PostgreSQL, with the
kit's own tables and indexes (``adapters/postgres/schema.py``, in a fresh
schema) and no campaignkit code on the hot path. Per batch of 500
recipients (the kit's default batch size):

1. read the batch's members joined with their profiles (``position`` range,
   like ``PostgresProfileStore.STATIC_MEMBERS``) and ``json.loads`` each;
2. render the subject with ``str.format_map`` and build the message text;
3. one transaction (with the store's advisory lock): ``COPY`` the PENDING
   ledger rows, update the run row (position, counts); COMMIT;
4. a null channel gives one provider id per message;
5. one transaction: ``ck_settle_accepted`` (schema migration 3: one
   set-based ``UPDATE`` probing the primary key), contacts by ``INSERT ...
   SELECT`` from a JSON object, update the run row; COMMIT.

A second prototype, *insert-only outcomes*, measures the layout change the
kit would need next (issue 14, "PostgreSQL fan-out layout"): step 5 copies
each accepted outcome as a new narrow row (run, profile, action, state,
attempts, provider id; primary key and unique provider id) into a
``ledger_outcomes`` table instead of updating the intent's row. Only the
writes are measured: the kit's reads would then have to merge the two
tables.

No decisions, no profile objects, no lease, no reports. Measured in the same
run as the SQLite kit (``bench_delivery.kit_run``) and the PostgreSQL kit,
best of 2 each, wall time. Not run by ``nox -s bench``; run
``python benchmarks/proto_postgres.py [N]``.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bench_delivery
import bench_postgres
import psycopg
from psycopg import sql

import campaignkit as ck
from campaignkit.adapters.postgres.connection import LOCK_CLASS, lock_key
from campaignkit.adapters.postgres.migration import migrate
from campaignkit.serialization import dumps
from campaignkit.testing import ManualClock, NullChannel, SequentialIds

N = bench_postgres.N
BATCH = 500
ROUNDS = 2
SETTINGS = '{"sender":"n@example.com"}\n[{'


OUTCOMES = """CREATE TABLE ledger_outcomes (
    run_id TEXT COLLATE "C" NOT NULL, profile_id TEXT COLLATE "C" NOT NULL,
    action_id TEXT COLLATE "C" NOT NULL, state TEXT COLLATE "C" NOT NULL,
    attempts BIGINT NOT NULL, provider_message_id TEXT COLLATE "C",
    PRIMARY KEY (run_id, profile_id, action_id));
CREATE UNIQUE INDEX ledger_outcomes_by_provider_id ON ledger_outcomes (provider_message_id)
    WHERE provider_message_id IS NOT NULL"""
"""The insert-only layout's outcome table (as narrow as an outcome is)."""


def prototype(schema: str, *, insert_only: bool = False) -> float:
    """Wall seconds of the prototype's run over N recipients (setup excluded)."""
    dsn = bench_postgres.DSN
    with psycopg.connect(dsn, autocommit=True) as setup:
        migrate(setup, schema, schema)
    conn = psycopg.connect(dsn, autocommit=True)
    conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
    if insert_only:
        conn.execute(OUTCOMES)
    people = bench_delivery.profiles()
    with conn.cursor().copy("COPY profiles (id, document) FROM STDIN") as copy:
        for person in people:
            copy.write_row((person.id, dumps(person)))
    with conn.cursor().copy(
        "COPY audience_members (audience, position, profile_id) FROM STDIN"
    ) as copy:
        for position, person in enumerate(people):
            copy.write_row(("all", position, person.id))
    conn.execute(
        "INSERT INTO runs (id, campaign_id, revision, created_us, document) "
        "VALUES ('run-1', 'c1', 1, 0, '{}')"
    )
    begin = f"BEGIN; SELECT pg_advisory_xact_lock({LOCK_CLASS}, {lock_key(schema)})"
    columns = "run_id, action_id, profile_id, campaign_id, channel, state, address, message"
    started = time.perf_counter()
    for offset in range(0, N, BATCH):
        rows = conn.execute(
            "SELECT m.profile_id, p.document FROM audience_members m "
            "LEFT JOIN profiles p ON p.id = m.profile_id WHERE m.audience = %s "
            "AND m.position >= %s AND m.position < %s ORDER BY m.position",
            ("all", offset, offset + BATCH),
        ).fetchall()
        intents: list[tuple[Any, ...]] = []
        for profile_id, document in rows:
            data = json.loads(document)["data"]
            subject = "Hi {firstName}".format_map(data["attributes"])
            text = f'{SETTINGS}"subject":{json.dumps(subject)},"html":"x"}},0,null]'
            address = data["identities"]["email"]
            intents.append(("run-1", "a0", profile_id, "c1", "email", "pending", address, text))
        conn.execute(begin)
        with conn.cursor().copy(f"COPY ledger ({columns}) FROM STDIN") as copy:
            for row in intents:
                copy.write_row(row)
        conn.execute(
            "UPDATE runs SET position = %s, counts = %s, revision = revision + 1 WHERE id = %s",
            (offset + len(rows), json.dumps({"a0": {"pending": offset + len(rows)}}), "run-1"),
        )
        conn.execute("COMMIT")
        accepted = {f"null-{row[2]}": row[2] for row in intents}  # the null channel
        conn.execute(begin)
        if insert_only:
            with conn.cursor().copy("COPY ledger_outcomes FROM STDIN") as copy:
                for provider_id, profile_id in accepted.items():
                    copy.write_row(("run-1", profile_id, "a0", "sent", 1, provider_id))
        else:
            conn.execute(
                "SELECT ck_settle_accepted(%s, %s, %s, %s, %s)",
                ("run-1", "a0", "sent", 1, json.dumps(accepted)),
            )
        conn.execute(
            "INSERT INTO contacts (channel, profile_id, sent_us, message_key) "
            "SELECT %s, value, %s, key FROM ck_json_each(%s)",
            ("email", 1, json.dumps({f"run-1:a0:{p}": p for p in accepted.values()})),
        )
        conn.execute(
            "UPDATE runs SET counts = %s, revision = revision + 1 WHERE id = %s",
            (json.dumps({"a0": {"sent": offset + len(rows)}}), "run-1"),
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    table = "ledger_outcomes" if insert_only else "ledger"
    sent = conn.execute(f"SELECT count(*) FROM {table} WHERE state = 'sent'").fetchone()
    assert sent == (N,), sent
    conn.close()
    return elapsed


def kit_wall(make: Callable[[ManualClock], ck.CampaignKit]) -> float:
    return bench_delivery.kit_run(make, bench_delivery.profiles())[1]


def main() -> None:
    problem = bench_postgres.server_problem()
    if problem is not None:
        print(f"PostgreSQL prototype skipped: no server at {bench_postgres.DSN} ({problem})")
        return
    channels: dict[ck.ChannelType, ck.Channel] = {c: NullChannel() for c in ck.ChannelType}
    times: dict[str, list[float]] = {
        "sqlite kit": [],
        "postgres kit": [],
        "prototype": [],
        "insert-only": [],
    }
    with tempfile.TemporaryDirectory() as folder, bench_postgres.schemas_dropped() as schemas:
        for round_number in range(ROUNDS):
            path = Path(folder) / f"kit-{round_number}.db"
            times["sqlite kit"].append(kit_wall(bench_delivery.sqlite_kit(path, channels)))
            schema = schemas.new()

            def make(clock: ManualClock, schema: str = schema) -> ck.CampaignKit:
                return ck.CampaignKit.postgres(
                    bench_postgres.DSN, clock, channels, schema=schema, ids=SequentialIds()
                )

            times["postgres kit"].append(kit_wall(make))
            times["prototype"].append(prototype(schemas.new()))
            times["insert-only"].append(prototype(schemas.new(), insert_only=True))
    best = {name: min(values) for name, values in times.items()}
    print(f"fan-out of {N:,} recipients, best of {ROUNDS}, wall time")
    for name, seconds in best.items():
        print(f"{name:>13}: {seconds / N * 1e6:8.2f} us/recipient")
    print(
        f"PostgreSQL kit / SQLite kit: {best['sqlite kit'] / best['postgres kit']:.2f}; "
        f"prototype / SQLite kit: {best['sqlite kit'] / best['prototype']:.2f}; "
        f"insert-only outcomes / SQLite kit: {best['sqlite kit'] / best['insert-only']:.2f} "
        "(information; the kit's target is >= 0.5)"
    )


if __name__ == "__main__":
    main()
