"""The PostgreSQL schema, as numbered migrations applied in order on open.

The tables are those of the SQLite store (``campaignkit.adapters.sqlite.schema``
after all its migrations), with the same names and columns, so the SQLite
repositories' statements run here once translated
(:mod:`campaignkit.adapters.postgres.dialect`). Every table lives in the
store's own schema (default ``campaignkit``); statements name no schema, the
connection's ``search_path`` does.

Types: text is ``TEXT COLLATE "C"`` (byte order, as SQLite compares text, so
keyset pagination and the ledger's id ranges agree with Python's ``<``),
integers and instants (microseconds since the epoch) ``BIGINT``.

Never edit a released migration: add a new one.
"""

from __future__ import annotations

from typing import Final

_T = 'TEXT COLLATE "C"'

SEARCH_INDEX: Final = """DO $$
DECLARE
    home TEXT;
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
    EXCEPTION WHEN OTHERS THEN
        RAISE NOTICE 'campaignkit: pg_trgm unavailable (%), search scans instead', SQLERRM;
    END;
    SELECT n.nspname INTO home FROM pg_extension e
        JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm';
    IF home IS NOT NULL AND to_regclass('campaigns_by_name_trgm') IS NULL THEN
        EXECUTE format(
            'CREATE INDEX campaigns_by_name_trgm ON campaigns '
            'USING gin (name_fold %I.gin_trgm_ops) WITH (fastupdate = off)', home);
    END IF;
END $$"""
"""Create ``campaigns_by_name_trgm`` if ``pg_trgm`` is installed or may be (run on every open).

The extension goes in ``public`` (shared by the stores of the database, so
dropping one store's schema cannot drop it); a server without it, or a role
that may not create it, leaves search to walk the listing's index (a
NOTICE says so). Once a DBA installs ``pg_trgm``, the next open creates the
index. ``fastupdate = off``: campaigns are written seldom, and rows waiting in
a GIN pending list made the planner prefer a scan (measured at 20,000 rows).
"""

SETTLE_ACCEPTED_UPDATE: Final = """UPDATE ledger AS l SET state = p_state, reason = NULL,
            attempts = p_attempts, provider_message_id = m.provider, error = NULL,
            next_attempt_us = NULL, slot_us = NULL, message = NULL
        FROM (SELECT p_run AS run_id, e.value AS profile_id, p_action AS action_id,
                e.key AS provider
            FROM json_each_text(doc::json) AS e OFFSET 0) AS m
        WHERE l.run_id = m.run_id COLLATE "C" AND l.profile_id = m.profile_id COLLATE "C"
            AND l.action_id = m.action_id COLLATE "C"
"""
"""The one ``UPDATE`` of ``ck_settle_accepted`` (``p_*`` and ``doc`` are its arguments).

Run, action and profile all come from the JSON side (``OFFSET 0`` keeps that
subquery whole, so the planner cannot turn ``run_id = p_run`` into a
restriction of the ledger and guess, before the table has statistics, that
the run holds a row or two): the ledger's estimate is then its real size, and
with hash and merge joins off (the function's own settings) the only plan is
a nested loop probing the primary key once per member. ``COLLATE "C"``: the
JSON text has the database's collation, and a probe of the key needs the
key's.
"""

MIGRATIONS: Final[tuple[tuple[int, str, tuple[str, ...]], ...]] = (
    (
        1,
        "every table of the SQLite store (its migrations 1 to 6), in this schema",
        (
            f"""CREATE TABLE campaigns (
                id {_T} PRIMARY KEY,
                revision BIGINT NOT NULL,
                status {_T} NOT NULL,
                type {_T} NOT NULL,
                name_fold {_T} NOT NULL,
                created_us BIGINT NOT NULL,
                updated_us BIGINT NOT NULL,
                due_us BIGINT,
                document TEXT NOT NULL
            )""",
            "CREATE INDEX campaigns_by_created ON campaigns (created_us DESC, id DESC)",
            "CREATE INDEX campaigns_by_due ON campaigns (due_us, id) WHERE due_us IS NOT NULL",
            f"""CREATE TABLE campaign_tags (
                tag {_T} NOT NULL,
                campaign_id {_T} NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
                status {_T} NOT NULL,
                created_us BIGINT NOT NULL,
                PRIMARY KEY (tag, campaign_id)
            )""",
            """CREATE INDEX campaign_tags_by_created
                ON campaign_tags (tag, created_us DESC, campaign_id DESC, status)""",
            "CREATE INDEX campaign_tags_by_campaign ON campaign_tags (campaign_id)",
            f"""CREATE TABLE campaign_channels (
                campaign_id {_T} NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
                channel {_T} NOT NULL,
                PRIMARY KEY (campaign_id, channel)
            )""",
            f"""CREATE TABLE campaign_surfaces (
                surface_id {_T} NOT NULL,
                campaign_id {_T} NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
                PRIMARY KEY (surface_id, campaign_id)
            )""",
            "CREATE INDEX campaign_surfaces_by_campaign ON campaign_surfaces (campaign_id)",
            f"""CREATE TABLE surfaces (
                id {_T} PRIMARY KEY,
                name {_T} NOT NULL UNIQUE,
                revision BIGINT NOT NULL,
                document TEXT NOT NULL
            )""",
            f"""CREATE TABLE access_grants (
                kind {_T} NOT NULL,
                principal {_T} NOT NULL,
                profile {_T} NOT NULL,
                PRIMARY KEY (kind, principal, profile)
            )""",
            f"""CREATE TABLE group_members (
                group_id {_T} NOT NULL,
                user_id {_T} NOT NULL,
                PRIMARY KEY (group_id, user_id)
            )""",
            "CREATE INDEX group_members_by_user ON group_members (user_id)",
            """CREATE TABLE access_log (
                seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                document TEXT NOT NULL
            )""",
            f"""CREATE TABLE approval_policies (
                id {_T} PRIMARY KEY,
                name {_T} NOT NULL,
                revision BIGINT NOT NULL,
                document TEXT NOT NULL
            )""",
            f"""CREATE TABLE runs (
                id {_T} PRIMARY KEY,
                campaign_id {_T} NOT NULL,
                revision BIGINT NOT NULL,
                created_us BIGINT NOT NULL,
                due_us BIGINT,
                document TEXT NOT NULL,
                status {_T} NOT NULL DEFAULT 'pending',
                position BIGINT NOT NULL DEFAULT 0,
                streamed BIGINT NOT NULL DEFAULT 0,
                counts TEXT NOT NULL DEFAULT '{{}}',
                lease_owner {_T},
                lease_expires_us BIGINT,
                started_us BIGINT,
                finished_us BIGINT,
                error TEXT,
                wave_filled TEXT NOT NULL DEFAULT '[]',
                rate_sent TEXT NOT NULL DEFAULT '{{}}',
                rate_origin TEXT NOT NULL DEFAULT '{{}}'
            )""",
            "CREATE INDEX runs_by_campaign ON runs (campaign_id, created_us, id)",
            "CREATE INDEX runs_by_due ON runs (due_us, id) WHERE due_us IS NOT NULL",
            f"""CREATE TABLE ledger (
                run_id {_T} NOT NULL,
                action_id {_T} NOT NULL,
                profile_id {_T} NOT NULL,
                campaign_id {_T} NOT NULL,
                channel {_T} NOT NULL,
                state {_T} NOT NULL,
                reason {_T},
                attempts BIGINT NOT NULL DEFAULT 0,
                next_attempt_us BIGINT,
                provider_message_id {_T},
                address {_T},
                due_us BIGINT,
                timezone {_T},
                slot_us BIGINT,
                error TEXT,
                message TEXT,
                PRIMARY KEY (run_id, profile_id, action_id)
            )""",
            "CREATE INDEX ledger_pending ON ledger (run_id) WHERE state = 'pending'",
            """CREATE INDEX ledger_waiting ON ledger (run_id, next_attempt_us)
                WHERE state IN ('queued', 'retry')""",
            """CREATE UNIQUE INDEX ledger_by_provider_id ON ledger (provider_message_id)
                WHERE provider_message_id IS NOT NULL""",
            f"""CREATE TABLE feedback (
                seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                campaign_id {_T} NOT NULL,
                document TEXT NOT NULL
            )""",
            "CREATE INDEX feedback_by_campaign ON feedback (campaign_id, seq)",
            f"""CREATE TABLE suppressions (
                channel {_T} NOT NULL,
                address {_T} NOT NULL,
                PRIMARY KEY (channel, address)
            )""",
            f"""CREATE TABLE audiences (
                name {_T} PRIMARY KEY,
                size BIGINT NOT NULL
            )""",
            f"""CREATE TABLE audience_members (
                audience {_T} NOT NULL,
                position BIGINT NOT NULL,
                profile_id {_T} NOT NULL,
                PRIMARY KEY (audience, position)
            )""",
            f"""CREATE TABLE profiles (
                id {_T} PRIMARY KEY,
                document TEXT NOT NULL
            )""",
            f"""CREATE TABLE executions (
                id {_T} PRIMARY KEY,
                campaign_id {_T} NOT NULL,
                request_id {_T} NOT NULL,
                revision BIGINT NOT NULL,
                document TEXT NOT NULL
            )""",
            "CREATE UNIQUE INDEX executions_by_request ON executions (campaign_id, request_id)",
            f"""CREATE TABLE profile_identities (
                namespace {_T} NOT NULL,
                value {_T} NOT NULL,
                profile_id {_T} NOT NULL,
                PRIMARY KEY (namespace, value)
            )""",
            "CREATE INDEX profile_identities_by_profile ON profile_identities (profile_id)",
            # rowid: the order contacts were recorded in, as SQLite's implicit rowid
            f"""CREATE TABLE contacts (
                rowid BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                channel {_T} NOT NULL,
                profile_id {_T} NOT NULL,
                sent_us BIGINT NOT NULL,
                message_key {_T}
            )""",
            "CREATE INDEX contacts_by_profile ON contacts (channel, profile_id, sent_us)",
            """CREATE TABLE rules (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                revision BIGINT NOT NULL,
                document TEXT NOT NULL
            )""",
            # SQLite's json_each over a JSON object or array, as text (the dialect's
            # translation of json_each); members in document order
            """CREATE FUNCTION ck_json_each(doc TEXT)
                RETURNS TABLE (key TEXT, value TEXT)
                LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
                    SELECT e.key, e.value FROM json_each_text(
                        CASE WHEN json_typeof(doc::json) = 'object' THEN doc::json
                        ELSE '{}'::json END) AS e
                    UNION ALL
                    SELECT (a.n - 1)::text, a.v FROM json_array_elements_text(
                        CASE WHEN json_typeof(doc::json) = 'array' THEN doc::json
                        ELSE '[]'::json END) WITH ORDINALITY AS a (v, n)
                $$""",
        ),
    ),
    (
        2,
        "a trigram index for case-insensitive search when pg_trgm can be had; "
        "keyed settles as one server-side loop",
        (
            # ledger.settle of accepted outcomes: one UPDATE by full primary key per
            # (provider id, profile) member, whatever the ledger's statistics say (a
            # join planned before the table was analyzed scanned the run's ledger)
            """CREATE FUNCTION ck_settle_keyed(
                    p_run TEXT, p_action TEXT, p_state TEXT, p_attempts BIGINT, doc TEXT)
                RETURNS BIGINT LANGUAGE plpgsql AS $$
                DECLARE
                    member RECORD;
                    done BIGINT := 0;
                BEGIN
                    FOR member IN SELECT key, value FROM json_each_text(doc::json) LOOP
                        UPDATE ledger SET state = p_state, reason = NULL, attempts = p_attempts,
                            provider_message_id = member.key, error = NULL,
                            next_attempt_us = NULL, slot_us = NULL, message = NULL
                        WHERE run_id = p_run AND profile_id = member.value
                            AND action_id = p_action;
                        done := done + 1;
                    END LOOP;
                    RETURN done;
                END $$""",
            SEARCH_INDEX,
        ),
    ),
    (
        3,
        "keyed settles as one set-based UPDATE, a unique violation answered as -1",
        (
            # ledger.settle of accepted outcomes: one statement for the batch instead of
            # ck_settle_keyed's loop of UPDATEs (about half the server time), and the
            # unique violation of a provider id caught here (its own subtransaction), so
            # the client needs no savepoints around the call: one round trip
            f"""CREATE FUNCTION ck_settle_accepted(
                    p_run TEXT, p_action TEXT, p_state TEXT, p_attempts BIGINT, doc TEXT)
                RETURNS BIGINT LANGUAGE plpgsql
                SET enable_hashjoin = off SET enable_mergejoin = off AS $$
                DECLARE
                    done BIGINT;
                BEGIN
                    {SETTLE_ACCEPTED_UPDATE};
                    GET DIAGNOSTICS done = ROW_COUNT;
                    RETURN done;
                EXCEPTION WHEN unique_violation THEN
                    RETURN -1;
                END $$""",
        ),
    ),
    (
        4,
        "shards: a run's frozen audience and its shards, for delivery by many workers",
        (
            f"""CREATE TABLE run_members (
                run_id {_T} NOT NULL,
                position BIGINT NOT NULL,
                profile_id {_T} NOT NULL,
                PRIMARY KEY (run_id, position)
            )""",
            f"""CREATE TABLE shards (
                run_id {_T} NOT NULL,
                number BIGINT NOT NULL,
                first_pos BIGINT NOT NULL,
                end_pos BIGINT NOT NULL,
                epoch BIGINT NOT NULL,
                owner {_T},
                lease_us BIGINT,
                done INTEGER NOT NULL,
                counts TEXT NOT NULL,
                PRIMARY KEY (run_id, number)
            )""",
            "CREATE INDEX shards_open ON shards (run_id, number) WHERE done = 0",
        ),
    ),
)
"""``(version, description, statements)``, oldest first."""
