"""The SQLite schema, as numbered migrations applied in order on open.

Each migration runs once, in its own transaction, and is recorded in
``schema_migrations``; opening a file that is already up to date changes
nothing. Never edit a released migration: add a new one.
"""

from __future__ import annotations

from typing import Final

APPLICATION_ID: Final = 0x434B4954  # "CKIT": marks a file as a campaignkit store
"""Written to ``PRAGMA application_id`` so foreign SQLite files are recognised."""

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
)
"""``(version, description, statements)``, oldest first."""
