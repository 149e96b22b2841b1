"""The kit's own arguments (memory and SQLite constructors, files, stores), and bad stored
documents that must neither hide the others nor be storable."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import campaignkit as ck
from campaignkit.testing import ManualClock, RecordingChannel, SequentialIds
from tests.unit.boundary_authoring.support import SURROGATE, T0, Env, make_env, names, refused

# ---------------------------------------------------------------- the kit's own arguments


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"clock": "now"}, "clock must be a Clock (with now())"),
        ({"channels": [1]}, "channels must be a mapping of ck.ChannelType"),
        ({"channels": {"email": object()}}, "channels key str 'email' must be a ck.ChannelType"),
        ({"channels": {ck.ChannelType.SMS: "console"}}, "channels[sms] must be a Channel"),
        ({"policy": "allow"}, "policy must be a PermissionPolicy"),
        ({"profile_permissions": 5}, "profile_permissions must be a mapping"),
        ({"profile_permissions": {"VIEWER": frozenset()}}, "profile_permissions key str"),
        (
            {"profile_permissions": {ck.ProductProfile.VIEWER: ["campaign.read"]}},
            "profile_permissions[VIEWER] must be a set of ck.Permission",
        ),
        ({"lifecycle": {}}, "lifecycle must be a LifecycleRules"),
        ({"delivery": 100}, "delivery must be a DeliverySettings"),
        ({"ids": "cmp"}, "ids must be a function"),
        ({"progress": 5}, "progress must be a function"),
        ({"audiences": ["vip"]}, "audiences must be an AudienceSource"),
    ],
)
@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_kit_constructors_name_each_bad_argument(
    tmp_path: Path, kind: str, kwargs: dict[str, Any], expected: str
) -> None:
    path = tmp_path / "kit.db"
    with pytest.raises(ck.ValidationError) as caught:
        if kind == "memory":
            ck.CampaignKit.in_memory(**kwargs)
        else:
            ck.CampaignKit.sqlite(path, **kwargs)
    names(caught.value.problems, expected)
    assert not path.exists(), "nothing is created for a refused kit"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"path": 5}, "path must be a file name"),
        ({"path": SURROGATE}, "path holds characters"),
        ({"busy_timeout": "10"}, "busy_timeout must be a number of seconds"),
        ({"busy_timeout": -1}, "busy_timeout must be a number of seconds"),
        ({"busy_timeout": float("nan")}, "busy_timeout must be a number of seconds"),
    ],
)
def test_sqlite_kit_checks_its_file_arguments(kwargs: dict[str, Any], expected: str) -> None:
    arguments = {"path": ":memory:", **kwargs}
    with pytest.raises(ck.ValidationError) as caught:
        ck.CampaignKit.sqlite(**arguments)
    names(caught.value.problems, expected)


def test_the_kit_constructor_checks_its_store() -> None:
    with pytest.raises(ck.ValidationError, match="store must be a Store"):
        ck.CampaignKit(store="memory", clock=ManualClock(T0))  # type: ignore[arg-type]


def test_valid_kit_arguments_are_accepted(tmp_path: Path) -> None:
    kit = ck.CampaignKit.sqlite(
        tmp_path / "ok.db",
        ManualClock(T0),
        channels={ck.ChannelType.EMAIL: RecordingChannel("email")},
        profile_permissions={ck.ProductProfile.VIEWER: frozenset({ck.Permission.CAMPAIGN_READ})},
        busy_timeout=0,
        progress=lambda progress: None,
    )
    kit.close()


# ---------------------------------------------------------------- a bad stored document


def test_an_unloadable_document_does_not_hide_the_others_from_listing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "poisoned.db"
    kit = ck.CampaignKit.sqlite(path, ManualClock(T0), ids=SequentialIds())
    env = make_env(kit)
    bad = env.admin.create_campaign(name="Bad")
    newer = env.admin.create_campaign(name="Newer")
    kit.close()
    with sqlite3.connect(path) as db:
        (text,) = db.execute("SELECT document FROM campaigns WHERE id = ?", (bad.id,)).fetchone()
        document = json.loads(text)
        document["data"]["draft_version"]["schedule"]["timezone"] = 5
        db.execute("UPDATE campaigns SET document = ? WHERE id = ?", (json.dumps(document), bad.id))
    kit = ck.CampaignKit.sqlite(path, ManualClock(T0), ids=SequentialIds())
    admin = kit.as_user("ada")
    with caplog.at_level(logging.WARNING, logger="campaignkit.storage"):
        listed = [c.id for c in admin.list_campaigns()]
    assert listed == [newer.id, env.draft.id]
    assert bad.id in caplog.text
    # a page that ends on the bad document still continues after it
    first = admin.list_campaigns(limit=2)
    assert [c.id for c in first] == [newer.id]
    assert first.next_cursor is not None
    assert [c.id for c in admin.list_campaigns(limit=2, cursor=first.next_cursor)] == [env.draft.id]
    with pytest.raises(ck.StorageError, match="schedule"):
        admin.get(bad.id)
    assert admin.update_draft(env.draft.id, name="Still editable").name == "Still editable"
    kit.close()


def test_a_bad_value_cannot_be_stored_on_either_store(both: tuple[Env, Env]) -> None:
    """Every refusal above happens before the store: both stores end identical."""
    for env in both:
        for call in (
            lambda e: e.admin.create_campaign(name="X", tags="winter"),
            lambda e: e.admin.create_campaign(name="X", schedule=T0),
            lambda e: e.admin.update_draft(e.draft.id, audience=["p1"]),
            lambda e: e.admin.create_surface(name=SURROGATE, channel="sms", settings=None),
        ):
            refused(env, call)
    memory, sqlite = both
    assert memory.state() == sqlite.state()
