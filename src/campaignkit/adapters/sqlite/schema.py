"""The SQLite schema, as numbered migrations applied in order on open.

Each migration runs once, in its own transaction, and is recorded in
``schema_migrations``; opening a file that is already up to date changes
nothing. Never edit a released migration: add a new one.
"""

from __future__ import annotations

from typing import Final

APPLICATION_ID: Final = 0x434B4954  # "CKIT": marks a file as a campaignkit store
"""Written to ``PRAGMA application_id`` so foreign SQLite files are recognised."""


def _iso_us(value: str) -> str:
    """SQL turning ``value``, an ISO 8601 instant after 1970 (or NULL), into microseconds.

    ``value`` is as campaignkit writes instants: ``YYYY-MM-DDTHH:MM:SS``, then
    six digits of microseconds if any, then the ``+HH:MM`` offset. The seconds
    are read without the fraction (SQLite would round it to milliseconds).
    """
    return (
        f"CASE WHEN {value} IS NULL THEN NULL ELSE "
        f"CAST(strftime('%s', substr({value}, 1, 19) || substr({value}, -6)) AS INTEGER) "
        "* 1000000 + "
        f"CASE WHEN instr({value}, '.') > 0 "
        f"THEN CAST(substr({value}, instr({value}, '.') + 1, 6) AS INTEGER) ELSE 0 END END"
    )


MIGRATIONS: Final[tuple[tuple[int, str, tuple[str, ...]], ...]] = (
    (
        1,
        "campaigns, surfaces, access and approval policies",
        (
            """CREATE TABLE campaigns (
                id TEXT PRIMARY KEY,
                revision INTEGER NOT NULL,
                status TEXT NOT NULL,
                type TEXT NOT NULL,
                name_fold TEXT NOT NULL,
                created_us INTEGER NOT NULL,
                updated_us INTEGER NOT NULL,
                due_us INTEGER,
                document TEXT NOT NULL
            )""",
            "CREATE INDEX campaigns_by_created ON campaigns (created_us DESC, id DESC)",
            "CREATE INDEX campaigns_by_due ON campaigns (due_us, id) WHERE due_us IS NOT NULL",
            """CREATE TABLE campaign_tags (
                tag TEXT NOT NULL,
                campaign_id TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
                status TEXT NOT NULL,
                created_us INTEGER NOT NULL,
                PRIMARY KEY (tag, campaign_id)
            )""",
            """CREATE INDEX campaign_tags_by_created
                ON campaign_tags (tag, created_us DESC, campaign_id DESC, status)""",
            "CREATE INDEX campaign_tags_by_campaign ON campaign_tags (campaign_id)",
            """CREATE TABLE campaign_channels (
                campaign_id TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
                channel TEXT NOT NULL,
                PRIMARY KEY (campaign_id, channel)
            )""",
            """CREATE TABLE campaign_surfaces (
                surface_id TEXT NOT NULL,
                campaign_id TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
                PRIMARY KEY (surface_id, campaign_id)
            )""",
            "CREATE INDEX campaign_surfaces_by_campaign ON campaign_surfaces (campaign_id)",
            """CREATE TABLE surfaces (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                revision INTEGER NOT NULL,
                document TEXT NOT NULL
            )""",
            """CREATE TABLE access_grants (
                kind TEXT NOT NULL,
                principal TEXT NOT NULL,
                profile TEXT NOT NULL,
                PRIMARY KEY (kind, principal, profile)
            )""",
            """CREATE TABLE group_members (
                group_id TEXT NOT NULL,
                user_id TEXT NOT NULL,
                PRIMARY KEY (group_id, user_id)
            )""",
            "CREATE INDEX group_members_by_user ON group_members (user_id)",
            """CREATE TABLE access_log (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                document TEXT NOT NULL
            )""",
            """CREATE TABLE approval_policies (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                revision INTEGER NOT NULL,
                document TEXT NOT NULL
            )""",
        ),
    ),
    (
        2,
        "delivery: runs, ledger, feedback, suppressions, static audiences, profiles",
        (
            """CREATE TABLE runs (
                id TEXT PRIMARY KEY,
                campaign_id TEXT NOT NULL,
                revision INTEGER NOT NULL,
                created_us INTEGER NOT NULL,
                due_us INTEGER,
                document TEXT NOT NULL
            )""",
            "CREATE INDEX runs_by_campaign ON runs (campaign_id, created_us, id)",
            "CREATE INDEX runs_by_due ON runs (due_us, id) WHERE due_us IS NOT NULL",
            """CREATE TABLE ledger (
                run_id TEXT NOT NULL,
                action_id TEXT NOT NULL,
                profile_id TEXT NOT NULL,
                state TEXT NOT NULL,
                next_attempt_us INTEGER,
                provider_message_id TEXT,
                document TEXT NOT NULL,
                PRIMARY KEY (run_id, profile_id, action_id)
            ) WITHOUT ROWID""",
            """CREATE INDEX ledger_open ON ledger (run_id, state, next_attempt_us)
                WHERE state IN ('pending', 'queued', 'retry')""",
            """CREATE UNIQUE INDEX ledger_by_provider_id ON ledger (provider_message_id)
                WHERE provider_message_id IS NOT NULL""",
            """CREATE TABLE feedback (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                campaign_id TEXT NOT NULL,
                document TEXT NOT NULL
            )""",
            "CREATE INDEX feedback_by_campaign ON feedback (campaign_id, seq)",
            """CREATE TABLE suppressions (
                channel TEXT NOT NULL,
                address TEXT NOT NULL,
                PRIMARY KEY (channel, address)
            ) WITHOUT ROWID""",
            """CREATE TABLE audiences (
                name TEXT PRIMARY KEY,
                size INTEGER NOT NULL
            )""",
            """CREATE TABLE audience_members (
                audience TEXT NOT NULL,
                position INTEGER NOT NULL,
                profile_id TEXT NOT NULL,
                PRIMARY KEY (audience, position)
            ) WITHOUT ROWID""",
            """CREATE TABLE profiles (
                id TEXT PRIMARY KEY,
                document TEXT NOT NULL
            ) WITHOUT ROWID""",
        ),
    ),
    (
        3,
        "API triggers and business rules: executions, profile identities, contacts, rules",
        (
            """CREATE TABLE executions (
                id TEXT PRIMARY KEY,
                campaign_id TEXT NOT NULL,
                request_id TEXT NOT NULL,
                revision INTEGER NOT NULL,
                document TEXT NOT NULL
            )""",
            """CREATE UNIQUE INDEX executions_by_request
                ON executions (campaign_id, request_id)""",
            """CREATE TABLE profile_identities (
                namespace TEXT NOT NULL,
                value TEXT NOT NULL,
                profile_id TEXT NOT NULL,
                PRIMARY KEY (namespace, value)
            ) WITHOUT ROWID""",
            "CREATE INDEX profile_identities_by_profile ON profile_identities (profile_id)",
            """CREATE TABLE contacts (
                channel TEXT NOT NULL,
                profile_id TEXT NOT NULL,
                sent_us INTEGER NOT NULL
            )""",
            "CREATE INDEX contacts_by_profile ON contacts (channel, profile_id, sent_us)",
            """CREATE TABLE rules (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                revision INTEGER NOT NULL,
                document TEXT NOT NULL
            )""",
            # profiles stored before this migration: index their identities too
            """INSERT OR IGNORE INTO profile_identities (namespace, value, profile_id)
                SELECT identity.key, identity.value, profiles.id
                FROM profiles, json_each(profiles.document, '$.data.identities') AS identity""",
        ),
    ),
    (
        4,
        "contacts keyed by message, so a re-sent message is counted once",
        (
            # looked up through contacts_by_profile: (channel, profile_id) narrows it
            "ALTER TABLE contacts ADD COLUMN message_key TEXT",
        ),
    ),
    (
        5,
        "ledger: typed columns, the message as one compact text, an index for every query",
        (
            # see adapters/sqlite/ledger.py for the message text and which query uses what
            """CREATE TABLE ledger_v5 (
                run_id TEXT NOT NULL,
                action_id TEXT NOT NULL,
                profile_id TEXT NOT NULL,
                campaign_id TEXT NOT NULL,
                channel TEXT NOT NULL,
                state TEXT NOT NULL,
                reason TEXT,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_us INTEGER,
                provider_message_id TEXT,
                address TEXT,
                due_us INTEGER,
                timezone TEXT,
                slot_us INTEGER,
                error TEXT,
                message TEXT,
                PRIMARY KEY (run_id, profile_id, action_id)
            ) WITHOUT ROWID""",
            # entries stored before keep every field (an in-flight run resumes): the
            # message becomes "settings JSON\n[fields, flags, unsubscribe_url, key,
            # run, campaign, action, profile, channel, address]", each of the last
            # seven null when it is the row's own (or derived) value
            f"""INSERT INTO ledger_v5 (run_id, action_id, profile_id, campaign_id, channel,
                state, reason, attempts, next_attempt_us, provider_message_id, address, due_us,
                timezone, slot_us, error, message)
            SELECT run_id, action_id, profile_id, campaign_id, channel, state, reason,
                attempts, next_attempt_us, provider_message_id, address,
                {_iso_us("due_at")}, timezone, {_iso_us("slot")}, error,
                CASE WHEN m IS NULL THEN NULL ELSE
                    json(json_extract(m, '$.settings')) || char(10) || json_array(
                        json(json_extract(m, '$.fields')),
                        iif(json_extract(m, '$.proof'), 1, 0)
                            + iif(json_extract(m, '$.transactional'), 2, 0),
                        json_extract(m, '$.unsubscribe_url'),
                        nullif(
                            json_extract(m, '$.idempotency_key'),
                            json_extract(m, '$.run_id') || ':' || json_extract(m, '$.action_id')
                                || ':' || json_extract(m, '$.profile_id')
                        ),
                        nullif(json_extract(m, '$.run_id'), run_id),
                        nullif(json_extract(m, '$.campaign_id'), campaign_id),
                        nullif(json_extract(m, '$.action_id'), action_id),
                        nullif(json_extract(m, '$.profile_id'), profile_id),
                        nullif(json_extract(m, '$.channel'), channel),
                        nullif(json_extract(m, '$.address'), address)
                    )
                END
            FROM (
                SELECT run_id, action_id, profile_id, state, next_attempt_us,
                    provider_message_id,
                    json_extract(document, '$.data.campaign_id') AS campaign_id,
                    json_extract(document, '$.data.channel') AS channel,
                    json_extract(document, '$.data.reason') AS reason,
                    coalesce(json_extract(document, '$.data.attempts'), 0) AS attempts,
                    json_extract(document, '$.data.address') AS address,
                    json_extract(document, '$.data.due_at') AS due_at,
                    json_extract(document, '$.data.timezone') AS timezone,
                    json_extract(document, '$.data.slot') AS slot,
                    json_extract(document, '$.data.error') AS error,
                    json_extract(document, '$.data.message') AS m
                FROM ledger
            )""",
            "DROP TABLE ledger",
            "ALTER TABLE ledger_v5 RENAME TO ledger",
            # pending, open_entries
            "CREATE INDEX ledger_pending ON ledger (run_id) WHERE state = 'pending'",
            # due, next_due_at, open_entries; a PENDING -> SENT entry never touches it
            """CREATE INDEX ledger_waiting ON ledger (run_id, next_attempt_us)
                WHERE state IN ('queued', 'retry')""",
            """CREATE UNIQUE INDEX ledger_by_provider_id ON ledger (provider_message_id)
                WHERE provider_message_id IS NOT NULL""",
        ),
    ),
    (
        6,
        "runs: the state that changes during delivery in columns; the document as added",
        (
            "ALTER TABLE runs ADD COLUMN status TEXT NOT NULL DEFAULT 'pending'",
            "ALTER TABLE runs ADD COLUMN position INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE runs ADD COLUMN streamed INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE runs ADD COLUMN counts TEXT NOT NULL DEFAULT '{}'",
            "ALTER TABLE runs ADD COLUMN lease_owner TEXT",
            "ALTER TABLE runs ADD COLUMN lease_expires_us INTEGER",
            "ALTER TABLE runs ADD COLUMN started_us INTEGER",
            "ALTER TABLE runs ADD COLUMN finished_us INTEGER",
            "ALTER TABLE runs ADD COLUMN error TEXT",
            "ALTER TABLE runs ADD COLUMN wave_filled TEXT NOT NULL DEFAULT '[]'",
            "ALTER TABLE runs ADD COLUMN rate_sent TEXT NOT NULL DEFAULT '{}'",
            "ALTER TABLE runs ADD COLUMN rate_origin TEXT NOT NULL DEFAULT '{}'",
            # runs stored before: their current state moves from the document to the
            # columns (instants are written in UTC as ISO 8601 with 0 or 6 digits of
            # microseconds); the document is then read only for the fixed fields
            f"""UPDATE runs SET
                status = json_extract(document, '$.data.status'),
                position = json_extract(document, '$.data.position'),
                streamed = json_extract(document, '$.data.streamed'),
                counts = coalesce(json_extract(document, '$.data.counts'), '{{}}'),
                lease_owner = json_extract(document, '$.data.lease_owner'),
                lease_expires_us = {_iso_us("json_extract(document, '$.data.lease_expires_at')")},
                started_us = {_iso_us("json_extract(document, '$.data.started_at')")},
                finished_us = {_iso_us("json_extract(document, '$.data.finished_at')")},
                error = json_extract(document, '$.data.error'),
                wave_filled = coalesce(json_extract(document, '$.data.wave_filled'), '[]'),
                rate_sent = coalesce(json_extract(document, '$.data.rate_sent'), '{{}}'),
                rate_origin = (
                    SELECT coalesce(json_group_object(o.key, {_iso_us("o.value")}), '{{}}')
                    FROM json_each(document, '$.data.rate_origin') AS o
                )""",
        ),
    ),
    (
        7,
        "shards: a run's frozen audience and its shards, for delivery by many workers",
        (
            """CREATE TABLE run_members (
                run_id TEXT NOT NULL,
                position INTEGER NOT NULL,
                profile_id TEXT NOT NULL,
                PRIMARY KEY (run_id, position)
            ) WITHOUT ROWID""",
            """CREATE TABLE shards (
                run_id TEXT NOT NULL,
                number INTEGER NOT NULL,
                first_pos INTEGER NOT NULL,
                end_pos INTEGER NOT NULL,
                epoch INTEGER NOT NULL,
                owner TEXT,
                lease_us INTEGER,
                done INTEGER NOT NULL,
                counts TEXT NOT NULL,
                PRIMARY KEY (run_id, number)
            ) WITHOUT ROWID""",
            "CREATE INDEX shards_open ON shards (run_id, number) WHERE done = 0",
        ),
    ),
)
"""``(version, description, statements)``, oldest first."""
