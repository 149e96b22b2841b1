"""``SQLiteProfileStore.resolve``: one query, the answer of ``find_by_identity`` then ``get``.

A trigger resolves each recipient by identity, then by id; on SQLite both
rows come from one statement (issue 12). Every case is compared with the two
look-ups it replaces, including stored rows that no longer load.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pendulum
import pytest

import campaignkit as ck
from campaignkit import serialization as ser
from campaignkit.session.triggers import _resolve
from campaignkit.testing import ManualClock

T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")


def _store(kit: ck.CampaignKit) -> ck.SQLiteProfileStore:
    return cast("ck.SQLiteProfileStore", kit.profiles)


def _reference(
    store: ck.SQLiteProfileStore, namespace: str, value: str, profile_id: str
) -> tuple[ck.Profile | None, bool]:
    found = store.find_by_identity(namespace, value)
    if found is not None:
        return found, True
    return store.get(profile_id), False


@pytest.fixture
def kit(tmp_path: Path) -> Iterator[ck.CampaignKit]:
    kit = ck.CampaignKit.sqlite(tmp_path / "kit.db", clock=ManualClock(T0))
    _store(kit).upsert_many(
        [
            ck.Profile(id="ann", identities={"email": "ann@example.com"}),
            # bob's id is another profile's e-mail identity: the identity wins
            ck.Profile(id="bob@example.com", identities={"crm": "7"}),
            ck.Profile(id="bob", identities={"email": "bob@example.com"}),
        ]
    )
    kit.close()
    with sqlite3.connect(tmp_path / "kit.db") as db:
        legacy = json.loads(ser.dumps(ck.Profile(id="old", identities={"email": "old@x.y"})))
        legacy["data"]["timezone"] = "X" * 300  # stored before the check existed
        db.execute("INSERT INTO profiles (id, document) VALUES ('old', ?)", (json.dumps(legacy),))
        db.execute(
            "INSERT INTO profile_identities (namespace, value, profile_id) "
            "VALUES ('email', 'old@x.y', 'old')"
        )
        # a row edited by hand to hold another profile's document
        db.execute(
            "INSERT INTO profiles (id, document) VALUES ('swapped', ?)",
            (ser.dumps(ck.Profile(id="p4")),),
        )
        db.execute(
            "INSERT INTO profile_identities (namespace, value, profile_id) "
            "VALUES ('email', 'swapped@x.y', 'swapped')"
        )
    db.close()
    reopened = ck.CampaignKit.sqlite(tmp_path / "kit.db", clock=ManualClock(T0))
    yield reopened
    reopened.close()


@pytest.mark.parametrize(
    ("namespace", "value", "profile_id"),
    [
        ("email", "ann@example.com", "ann@example.com"),  # by identity
        ("email", "ann", "ann"),  # by id only
        ("email", "bob@example.com", "bob@example.com"),  # both: the identity's row
        ("email", "nobody@example.com", "nobody@example.com"),  # neither
        ("crm", "7", "ann"),  # identity and id of two profiles
        ("email", "old@x.y", "ann"),  # the identity's profile no longer loads: the id's
        ("email", "old@x.y", "old"),  # neither loads
        ("email", "swapped@x.y", "swapped"),  # identity of a swapped row: what it holds
        ("sms", "none", "swapped"),  # a swapped row by id: absent
    ],
)
def test_resolve_answers_as_the_two_look_ups(
    kit: ck.CampaignKit, namespace: str, value: str, profile_id: str
) -> None:
    store = _store(kit)
    assert store.resolve(namespace, value, profile_id) == _reference(
        store, namespace, value, profile_id
    )


def test_resolve_warns_of_a_row_that_no_longer_loads(
    kit: ck.CampaignKit, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="campaignkit.profiles"):
        assert _store(kit).resolve("email", "old@x.y", "nobody") == (None, False)
    assert "stored profile 'old' cannot be loaded and is skipped" in caplog.text


@pytest.mark.parametrize(
    ("namespace", "value", "profile_id"), [(1, "a", "a"), ("e", None, "a"), ("e", "a", b"a")]
)
def test_resolve_checks_its_arguments(
    kit: ck.CampaignKit, namespace: object, value: object, profile_id: object
) -> None:
    with pytest.raises(ck.ValidationError):
        _store(kit).resolve(namespace, value, profile_id)  # type: ignore[arg-type]


def test_a_trigger_uses_resolve_where_the_store_has_it(kit: ck.CampaignKit) -> None:
    """SQLite answers in one query; a store without ``resolve`` is asked twice, as before."""
    bob = ck.Recipient(user_id="bob@example.com", namespace="email")
    store = _store(kit)
    assert _resolve(store, bob) == (store.find_by_identity("email", "bob@example.com"), True)
    memory = ck.CampaignKit.in_memory(ManualClock(T0))
    memory.profiles.upsert(ck.Profile(id="bob@example.com"))
    assert not hasattr(memory.profiles, "resolve")
    assert _resolve(memory.profiles, bob) == (memory.profiles.get("bob@example.com"), False)
    memory.close()
