"""``Profile(test=...)``: the test mark is a boolean that round-trips, old profiles load as
real ones, and the pieces of the proof domain (retry instants, problems of a proof)."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest

import campaignkit as ck
from campaignkit import serialization as ser
from campaignkit.adapters.sqlite import SQLiteProfileStore, SQLiteStore
from campaignkit.delivery.proofs import render_proofs
from campaignkit.domain.proofs import (
    cap_problems,
    proof_entry,
)
from tests.factories import T0
from tests.unit.proofs.support import C, Env, inbox

# ---------------------------------------------------------------- Profile(test=...)


@pytest.mark.parametrize("value", [1, "yes", None])
def test_the_test_mark_is_a_boolean(value: object) -> None:
    with pytest.raises(ck.ValidationError, match="test must be True or False"):
        ck.Profile("p1", test=value)  # type: ignore[arg-type]
    assert ck.Profile("p1").test is False


def test_the_test_mark_round_trips_and_old_profiles_load_as_real_ones(env: Env) -> None:
    stored = env.kit.profiles.get("t1")
    assert stored is not None
    assert stored.test is True
    real = env.kit.profiles.get("real")
    assert real is not None
    assert real.test is False
    document = json.loads(ser.dumps(inbox("t9")))
    assert (document["version"], document["data"]["test"]) == (2, True)
    old = {"schema": "profile", "version": 1, "data": {"id": "old", "identities": {}}}
    loaded = ser.from_document(ck.Profile, old)
    assert loaded == ck.Profile("old", test=False)
    newer = {**document, "version": 3}
    with pytest.raises(ck.StorageError, match="newer campaignkit"):
        ser.from_document(ck.Profile, newer)


def test_the_retry_instant_waits_for_as_many_proofs_as_must_age_out(env: Env) -> None:
    campaign = env.admin.get(env.draft())
    history = [
        proof_entry(campaign, now=T0.add(minutes=m), actor="ada", messages=2, recipients=["t1"])
        for m in (0, 20, 40)
    ]
    proofed = attrs.evolve(campaign, history=(*campaign.history, *history))
    [problem] = cap_problems(proofed, T0.add(minutes=50), 4, 6)
    assert problem.endswith("retry after 2026-12-01T10:20:00+00:00")  # two of three must go
    assert cap_problems(proofed, T0.add(minutes=50), 1, 7) == []
    assert cap_problems(proofed, T0.add(minutes=50), 0, 6) != []  # nothing still costs one


def test_an_action_whose_surface_is_gone_is_a_problem_of_the_proof(env: Env) -> None:
    campaign = env.admin.get(env.draft(sms=True))
    email, sms = campaign.newest_version.actions
    rendered = render_proofs(
        campaign,
        {email.id: None, sms.id: env.admin.get_surface(env.sms)},
        [inbox("t1")],
        run_id="proof-1",
        suppressed=lambda channel, addresses: set(),
    )
    assert rendered.problems == (f"action {email.id}: surface {env.email!r} does not exist",)
    assert [m.channel for m in rendered.to_send] == [C.SMS]


def test_a_profile_stored_before_the_test_mark_loads_from_a_sqlite_file(tmp_path: Path) -> None:
    """A version 1 profile row (written before the mark existed) is a real customer."""
    old = {
        "schema": "profile",
        "version": 1,
        "data": {"id": "ann", "identities": {"email": "ann@example.com"}, "language": "fr"},
    }
    with SQLiteStore(tmp_path / "old.db") as store:
        with store.unit_of_work():
            store.database.execute(
                "INSERT INTO profiles (id, document) VALUES (?, ?)", ("ann", json.dumps(old))
            )
        profiles = SQLiteProfileStore(store)
        loaded = profiles.get("ann")
        assert loaded == ck.Profile("ann", identities={"email": "ann@example.com"}, language="fr")
        assert loaded.test is False
        profiles.upsert(attrs.evolve(loaded, test=True))  # written back at version 2
        [(text,)] = store.database.all("SELECT document FROM profiles")
        assert json.loads(text)["version"] == 2
        assert profiles.get("ann") == attrs.evolve(loaded, test=True)
