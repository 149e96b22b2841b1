"""The trigger accept's shortcuts give what the generic paths give (issue 12).

JSON made by the C encoder at once (documents, fingerprints, sizes), UTC
instants written from their fields, and the default policy's ``allows``
(asked instead of ``decide`` while a verb is allowed) are each compared with
the reference they replace.
"""

from __future__ import annotations

import datetime
import json
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit import serialization
from campaignkit.adapters.sqlite.store import SQLiteStore
from campaignkit.domain import checks, triggers
from campaignkit.domain.delivery import ActionCounts, Run, RunKind, RunRecipient, RunStatus
from campaignkit.domain.profile import Profile
from campaignkit.domain.triggers import fingerprint, serialized_size
from campaignkit.errors import PermissionDenied
from campaignkit.permissions import Decision
from campaignkit.serialization import _unstructure_datetime, compact_json, dumps, dumps_run, loads
from campaignkit.testing import ManualClock
from tests.factories import reset_campaign

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


# ---------------------------------------------------------------- a new run's document


class _Text(str):
    """A string of another type: the generic encoder decides what it writes."""


def _run(**changes: Any) -> Run:
    profile = Profile(
        id="u@example.com",
        identities={"email": "u@example.com"},
        attributes={"first": "Zoë", "tags": ["a", {"b": None}]},
        channel_data={ck.ChannelType.SMS: "+33600000000"},
        timezone="Europe/Paris",
        language="fr",
    )
    fields: dict[str, Any] = {
        "id": "run_1",
        "campaign_id": "cmp_1",
        "version": 2,
        "kind": RunKind.TRIGGER,
        "status": RunStatus.PENDING,
        "created_at": T0,
        "due_at": T0,
        "recipients": (RunRecipient(profile, {"link": "https://x/é"}), RunRecipient(profile)),
        "context": {"k": [1, 2]},
        "revision": 1,
    }
    fields.update(changes)
    return Run(**fields)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"recipients": (), "context": {}, "kind": RunKind.AUDIENCE_EXECUTION, "due_at": None},
        {
            "started_at": T0.add(seconds=1),
            "finished_at": pendulum.datetime(2026, 12, 1, 10, 0, 0, 7, tz="Europe/Paris"),
            "lease_owner": "worker-ü",
            "lease_expires_at": T0.add(minutes=1),
            "error": 'a "quoted" error',
            "nominal_at": T0.subtract(days=1),
            "position": 7,
            "streamed": True,
            "status": RunStatus.RUNNING,
        },
        {"wave_filled": (3,)},  # the generic path from here on
        {"rate_sent": {"act": 2}},
        {"rate_origin": {"act": T0}},
        {"counts": {"act": ActionCounts(sent=1)}},
        {"version": True},
        {"id": _Text("run_1")},
        {"created_at": datetime.datetime(2026, 12, 1, 9, tzinfo=datetime.timezone.utc)},
    ],
)
def test_a_run_document_is_the_generic_text(changes: dict[str, Any]) -> None:
    run = _run(**changes)
    assert dumps_run(run) == dumps(run)
    assert loads(Run, dumps_run(run)) == run


def test_a_run_with_a_profile_of_another_type_takes_the_generic_path() -> None:
    class Special(Profile):
        pass

    special = Special(id="s")
    run = _run(recipients=(RunRecipient(special),))
    assert dumps_run(run) == dumps(run)


def test_the_run_encoder_names_every_field() -> None:
    data = json.loads(dumps_run(_run()))["data"]
    assert list(data) == [field.name for field in attrs.fields(Run)]


def test_a_profile_written_in_a_run_is_stored_with_the_same_text() -> None:
    run = _run()
    profile = run.recipients[0].profile
    generic = compact_json(serialization.to_document(profile))
    dumps_run(run)
    assert dumps(profile) == generic  # from the run's text
    assert dumps(profile) == generic  # used once: encoded again
    dumps_run(run)
    assert dumps(attrs.evolve(profile, language="de")) != generic  # another object
    dumps_run(_run(recipients=()))  # the next run forgets the last one's profiles
    assert not serialization._recent_profiles
    assert dumps(profile) == generic


def test_a_trigger_stores_the_profile_it_creates_as_before(tmp_path: Path) -> None:
    kit = ck.CampaignKit.sqlite(tmp_path / "kit.db", clock=ManualClock(T0))
    try:
        kit.access.assign("ada", P.ADMINISTRATOR)
        ada = kit.as_user("ada")
        campaign = reset_campaign(ada, html="{{ context.x }}")
        ada.activate(campaign.id)
        recipient = ck.Recipient(
            user_id="zoë@example.com", namespace="email", profile={"a": [1]}, context={"x": 1}
        )
        ada.trigger(campaign.id, [recipient], request_id="r1")
        store = kit.store
        assert isinstance(store, SQLiteStore)
        (document,) = store.database.one(
            "SELECT document FROM profiles WHERE id = ?", ("zoë@example.com",)
        ) or ("",)
        stored = kit.profiles.get("zoë@example.com")
        assert stored is not None
        assert document == compact_json(serialization.to_document(stored))
        assert stored.attributes == {"a": [1]}
    finally:
        kit.close()


# ---------------------------------------------------------------- checking a call's recipients

FLAT: list[Any] = [
    {"link": "https://example.com/reset/1"},
    {"a": None, "b": True, "c": False, "d": 2**63 - 1, "e": -(2**63), "é": "☃\n\x00\U0001f600"},
    {"big": 2**63},  # from here on the walk decides
    {"f": 1.5},
    {"nested": {"a": 1}},
    {"list": [1]},
    {"bad\ud800": "x"},
    {"x": "bad\udfff"},
    {1: "x"},
    {"b": b"bytes"},
    {"sub": _Text("text")},
]


@pytest.mark.parametrize("value", FLAT)
def test_a_flat_object_has_the_problems_the_walk_finds(value: dict[Any, Any]) -> None:
    walked: list[str] = []
    checks.json_value(walked, "context", value, max_bytes=None)
    assert triggers.json_object_problems(value, "context", max_bytes=None) == walked


@pytest.mark.parametrize("value", FLAT[:2])
def test_the_size_bound_is_never_under_the_size(value: dict[str, Any]) -> None:
    bound = triggers._size_bound(value)
    assert bound is not None
    assert bound >= serialized_size(value)


@pytest.mark.parametrize(
    "contexts",
    [
        [{"x": "a" * 100}],
        [{"x": "a" * 210_000}],  # one too large
        [{"x": "\x01" * 20_000}, {"y": "b" * 60_000}],  # escapes count: over in all
        [{"x": "a" * 60_000}, {"x": "a" * 60_000}, {"x": "a" * 60_000}, {"x": "a" * 60_000}],
        [{"x": {"nested": "a" * 150_000}}, {"y": "b" * 60_000}],
    ],
)
def test_recipient_sizes_are_reported_as_before(contexts: list[dict[str, Any]]) -> None:
    recipients = [
        ck.Recipient(user_id=f"u{n}", namespace="email", context=c) for n, c in enumerate(contexts)
    ]
    sizes = [serialized_size(c) for c in contexts]
    problems = triggers.recipient_problems(recipients)
    for n, size in enumerate(sizes):
        if size > triggers.MAX_CONTEXT_BYTES:
            assert f"recipients[{n}].context is {size} bytes serialized" in " ".join(problems)
    if (
        all(s <= triggers.MAX_CONTEXT_BYTES for s in sizes)
        and sum(sizes) > triggers.MAX_CONTEXT_BYTES
    ):
        assert f"{sum(sizes)} bytes serialized in all" in problems[-1]
    if sum(sizes) <= triggers.MAX_CONTEXT_BYTES:
        assert problems == []


def _recipients(*specs: tuple[str, str, Any, Any]) -> list[ck.Recipient]:
    return [ck.Recipient(user_id=u, namespace=n, context=c, profile=p) for u, n, c, p in specs]


@pytest.mark.parametrize(
    "recipients",
    [
        _recipients(("a", "email", {"x": 1}, None)),
        _recipients(("a", "email", None, None), ("b", "email", {}, {"first": "Zoë"})),
        _recipients((" ", "email", {"system": 1}, None), ("a", " ", None, None)),
        _recipients(("a", "email", {"x": 1}, None), ("a", "email", {"system": "x"}, {"y": 2})),
        _recipients(("a", "email", {"nested": {"system": 1}}, None), ("a", "", None, None)),
        _recipients(("a", "email", {"system": {"deep": [1]}}, {"p": [1]})),
        _recipients(*[(f"u{n}", "email", {"x": "a" * 20_000}, None) for n in range(11)]),
        _recipients(*[(f"u{n}", "email", None, None) for n in range(21)]),
        [],
    ],
)
def test_flat_recipients_have_the_problems_the_walk_finds(recipients: list[ck.Recipient]) -> None:
    count = len(recipients)
    before = (
        []
        if 1 <= count <= triggers.MAX_RECIPIENTS
        else [f"a unitary trigger takes 1 to {triggers.MAX_RECIPIENTS} recipients, not {count}"]
    )
    walked = triggers._walked_problems(recipients, before)
    assert triggers.recipient_problems(recipients) == walked


def test_a_decide_replaced_on_the_instance_is_asked(kit: ck.CampaignKit) -> None:
    """The allows short cut is taken only while decide is ProfilePolicy's own."""
    asked: list[str] = []

    def deny(user: str, permission: ck.Permission, campaign: object) -> Decision:
        asked.append(user)
        return Decision(False, "denied by an override")

    kit.policy.decide = deny  # type: ignore[method-assign]
    with pytest.raises(PermissionDenied, match="denied by an override"):
        kit.as_user("ada").create_campaign(name="Sale")
    assert asked == ["ada"]
