"""Hostile schema names on a real PostgreSQL server: taken literally, never run as SQL.

(These held before the attacks were written; they stay as regression tests.
The reserved names, refused before connecting, are in tests/unit/test_attacks_face.py.)
"""

from __future__ import annotations

import pendulum
import psycopg
import pytest

import campaignkit as ck
from campaignkit.testing import ManualClock
from tests.postgres_support import drop_schema

T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")


@pytest.mark.parametrize("tail", ['"; DROP SCHEMA public; --', " With Space", "'; SELECT 1; --"])
def test_a_hostile_schema_name_is_one_literal_schema(
    postgres_dsn: str, postgres_schema: str, tail: str
) -> None:
    schema = postgres_schema + tail
    try:
        with ck.CampaignKit.postgres(postgres_dsn, clock=ManualClock(T0), schema=schema) as kit:
            kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
            draft = kit.as_user("ada").create_campaign(name="Literal")
        with ck.CampaignKit.postgres(postgres_dsn, clock=ManualClock(T0), schema=schema) as kit:
            assert kit.as_user("ada").get(draft.id) == draft
        with psycopg.connect(postgres_dsn, autocommit=True) as connection:
            names = {row[0] for row in connection.execute("SELECT nspname FROM pg_namespace")}
        assert schema in names
        assert "public" in names
    finally:
        drop_schema(postgres_dsn, schema)
