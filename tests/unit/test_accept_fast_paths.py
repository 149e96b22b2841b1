"""The trigger accept's shortcuts give what the generic paths give (issue 12).

JSON made by the C encoder at once (documents, fingerprints, sizes), UTC
instants written from their fields, and the default policy's ``allows``
(asked instead of ``decide`` while a verb is allowed) are each compared with
the reference they replace.
"""

from __future__ import annotations

import json
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pendulum
import pytest

import campaignkit as ck
from campaignkit.domain import triggers
from campaignkit.domain.triggers import fingerprint, serialized_size
from campaignkit.errors import PermissionDenied
from campaignkit.serialization import _unstructure_datetime, compact_json
from campaignkit.testing import ManualClock

T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
P = ck.ProductProfile

VALUES: list[Any] = [
    {},
    {"link": "https://example.com/reset/1", "n": 3, "ok": True, "none": None},
    {"é": "ü ☃ \u2028", "nested": {"b": [1, 2.5, {"z": "a", "a": "z"}]}, "x": -0.0},
    {"big": 10**30, "floats": [float("inf"), float("-inf"), 1e-7]},
    [1, "two", [3], {"four": 4}],
    "just text \x00 \n",
    17,
    None,
]


@pytest.mark.parametrize("value", VALUES)
def test_compact_json_is_the_text_of_json_dumps(value: Any) -> None:
    assert compact_json(value) == json.dumps(value, separators=(",", ":"))


def test_compact_json_refuses_what_json_dumps_refuses() -> None:
    looped: dict[str, Any] = {}
    looped["self"] = looped
    with pytest.raises(ValueError, match="Circular reference detected"):
        compact_json(looped)
    with pytest.raises(TypeError, match="Object of type object is not JSON serializable"):
        compact_json({"x": object()})
    assert compact_json({"ok": 1}) == '{"ok":1}'  # nothing left over from a refusal


def _old_fingerprint(payload: object) -> str:
    import hashlib

    def default(value: object) -> object:
        try:
            return triggers._json_default(value)
        except TypeError:
            return repr(value)

    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=default)
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize("value", VALUES)
def test_fingerprints_are_unchanged(value: Any) -> None:
    payload = {"kind": "unitary", "recipients": [{"context": value, "user_id": "u"}]}
    assert fingerprint(payload) == _old_fingerprint(payload)


def test_fingerprints_of_values_json_cannot_hold_are_unchanged() -> None:
    payload = {
        "view": types.MappingProxyType({"b": 1, "a": T0}),
        "channel": ck.ChannelType.EMAIL,
        "thing": ("tuple", 1),
        "odd": {1, 2},
    }
    assert fingerprint(payload) == _old_fingerprint(payload)


@pytest.mark.parametrize("value", [v for v in VALUES if isinstance(v, dict)])
def test_serialized_sizes_are_unchanged(value: dict[str, Any]) -> None:
    text = json.dumps(
        value, separators=(",", ":"), default=triggers._json_default, ensure_ascii=False
    )
    expected = len(text.encode()) if value else 0
    assert serialized_size(value) == expected
    assert serialized_size(types.MappingProxyType(value)) == expected


@pytest.mark.parametrize(
    "instant",
    [
        T0,
        pendulum.datetime(2026, 12, 1, 9, 30, 15, 123456, tz="UTC"),
        pendulum.datetime(1, 1, 1, tz="UTC"),
        pendulum.datetime(9999, 12, 31, 23, 59, 59, 1, tz="UTC"),
        pendulum.datetime(2026, 12, 1, 10, 0, 0, 5, tz="Europe/Paris"),
        pendulum.instance(T0).in_timezone("America/New_York"),
    ],
)
def test_instants_are_written_as_before(instant: pendulum.DateTime) -> None:
    expected = instant.in_timezone("UTC").isoformat()
    assert _unstructure_datetime(instant) == expected


# ---------------------------------------------------------------- the default policy


def _directory(kit: ck.CampaignKit) -> None:
    access = kit.access
    access.assign("ada", P.ADMINISTRATOR)
    access.assign_group("writers", P.VIEWER)
    access.assign_group("approvers", P.APPROVER)
    access.add_member("writers", "bob")
    access.add_member("approvers", "cy")
    access.add_member("writers", "cy")
    access.add_member("empty", "dee")


@pytest.fixture(params=["memory", "sqlite"])
def kit(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ck.CampaignKit]:
    if request.param == "memory":
        made = ck.CampaignKit.in_memory(ManualClock(T0))
    else:
        made = ck.CampaignKit.sqlite(tmp_path / "kit.db", clock=ManualClock(T0))
    _directory(made)
    yield made
    made.close()


@pytest.mark.parametrize("user", ["ada", "bob", "cy", "dee", "nobody"])
def test_allows_is_what_decide_allows(kit: ck.CampaignKit, user: str) -> None:
    policy = kit.policy
    assert isinstance(policy, ck.ProfilePolicy)
    for permission in ck.Permission:
        assert policy.allows(user, permission) == policy.decide(user, permission, None).allowed


def test_profiles_of_is_every_source(kit: ck.CampaignKit) -> None:
    for user in ("ada", "bob", "cy", "dee", "nobody"):
        assert kit.access.profiles_of(user) == frozenset(kit.access.profile_sources(user))


def test_a_denial_keeps_its_reason_and_an_allowed_verb_skips_decide(
    kit: ck.CampaignKit, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada, bob = kit.as_user("ada"), kit.as_user("bob")
    campaign = ada.create_campaign(name="Sale")
    with pytest.raises(PermissionDenied) as denied:
        bob.update_draft(campaign.id, name="Mine")
    assert "profile VIEWER does not grant campaign.write" in str(denied.value)
    asked: list[str] = []
    original = ck.ProfilePolicy.allows

    def counting(self: ck.ProfilePolicy, user: str, permission: ck.Permission) -> bool:
        asked.append(user)
        return original(self, user, permission)

    monkeypatch.setattr(ck.ProfilePolicy, "allows", counting)
    assert ada.get(campaign.id).name == "Sale"
    assert asked == ["ada"]
