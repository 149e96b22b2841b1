"""Profiles, profile stores and audiences: bad fields refused by name, what delivery can use
accepted, 64-bit integers, time zones, store arguments and audience definitions checked before
they are stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

import campaignkit as ck
from campaignkit.domain import checks
from campaignkit.domain.profile import checked_profile_ids
from campaignkit.timeutil import check_timezone
from tests.unit.boundary_recipients.support import DEEP, EMAIL, Env, _deep, refused

# ---------------------------------------------------------------- Profile


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"id": 5}, "id must be a string, not int 5"),
        ({"id": DEEP}, "id must be a string, not dict {'a': {'a': {'a': {...}}}}"),
        ({"identities": {("t",) * 9: "a"}}, "identities (a namespace) must be a string"),
        ({"id": ""}, "id must not be empty"),
        ({"id": "\ud800"}, "id holds characters that cannot be encoded as UTF-8"),
        ({"id": "x" * 257}, "id is 257 characters long; the limit is 256"),
        ({"identities": "ann@example.com"}, "identities must be a Mapping"),
        ({"identities": {"email": 5}}, "identities['email'] must be a string"),
        ({"identities": {5: "a"}}, "identities (a namespace) must be a string"),
        ({"identities": {f"n{i}": "v" for i in range(51)}}, "identities has 51 namespaces"),
        ({"attributes": [1]}, "attributes must be a Mapping"),
        ({"attributes": {1: "a", "b": 2}}, "attributes has a key int 1: keys must be strings"),
        ({"attributes": DEEP}, "attributes is nested more than 32 levels deep"),
        ({"attributes": {"x": float("nan")}}, "attributes.x is nan, which JSON cannot hold"),
        ({"attributes": {"x": {1, 2}}}, "attributes.x must be a JSON value"),
        # a 5,000-digit int cannot be written as text: SQLite raised a raw ValueError
        ({"attributes": {"x": 10**5000}}, "attributes.x is an integer beyond 64 bits"),
        ({"attributes": {"x": [-(2**63) - 1]}}, "attributes.x[0] is an integer beyond 64 bits"),
        ({"attributes": {"blob": "a" * 210_000}}, "attributes is larger than 204,800 bytes"),
        ({"consents": {"fax": True}}, "consents has the key str 'fax': keys must be channels"),
        ({"consents": {"email": 1}}, "consents[email] must be True or False, not int 1"),
        ({"consents": ["email"]}, "consents must be a Mapping"),
        ({"consents": dict.fromkeys(range(51), True)}, "consents has 51 entries; the limit is 50"),
        ({"channel_data": {"email": ""}}, "channel_data[email] must not be empty"),
        ({"channel_data": {"sms": "1" * 1025}}, "channel_data[sms] is 1025 characters long"),
        ({"channel_data": {7: "x"}}, "channel_data has the key int 7"),
        ({"timezone": "X" * 300}, "timezone is 300 characters long; the limit is 64"),
        ({"timezone": 5}, "timezone must be a string"),
        ({"language": 3}, "language must be a string, not int 3"),
        ({"language": "x" * 36}, "language is 36 characters long; the limit is 35"),
    ],
)
def test_a_profile_refuses_bad_fields_naming_them(changes: dict[str, Any], problem: str) -> None:
    fields: dict[str, Any] = {"id": "p1", **changes}
    with pytest.raises(ck.ValidationError) as excinfo:
        ck.Profile(**fields)
    assert any(problem in p for p in excinfo.value.problems), excinfo.value.problems
    assert excinfo.value.subject.startswith("profile ")


def test_a_profile_accepts_what_delivery_can_use() -> None:
    lenient = ck.Profile(id="p1", timezone="Mars/Olympus_Mons")  # falls back when delivered
    offset = ck.Profile(id="p2", timezone="+05:30", language="fr-CA")
    rich = ck.Profile(
        id="zoë",
        identities={"email": "zoë@example.com"},
        attributes={"name": "Zoë", "n": 1, "x": 1.5, "ok": True, "none": None, "l": [1, (2,)]},
        consents={"email": True, "sms": False},
        channel_data={"push": "token"},
    )
    assert lenient.timezone == "Mars/Olympus_Mons"
    assert offset.timezone == "+05:30"
    assert rich.consents == {EMAIL: True, ck.ChannelType.SMS: False}
    assert all(type(k) is ck.ChannelType for k in rich.consents)
    assert list(rich.channel_data) == [ck.ChannelType.PUSH]
    assert ck.Profile(id="l", attributes={"l": ["é"]}).attributes == {"l": ["é"]}
    plain = {"tags": ["a", "b"], "pair": (1, 2.5), "flags": {"vip": True, "none": None}}
    assert ck.Profile(id="plain", attributes=plain).attributes == plain
    deepest = _deep(31)  # 32 levels with the top one
    assert ck.Profile(id="d", attributes=deepest).attributes == deepest


def test_both_stores_keep_64_bit_integers_and_the_limit_refuses_the_rest(env: Env) -> None:
    edges = {"max": checks.MAX_JSON_INT, "min": checks.MIN_JSON_INT, "l": [2**53 + 1]}
    env.kit.profiles.upsert(ck.Profile(id="edges", attributes=edges))
    (found,) = [p for b in env.kit.profiles.scan(100) for p in b if p.id == "edges"]  # type: ignore[attr-defined]
    assert found.attributes == edges
    env.admin.trigger(
        env.receipt,
        [ck.Recipient("new@example.com", "email", context=edges, profile=edges)],
        request_id="edges",
    )
    refused(
        env,
        lambda: ck.Recipient("p1@example.com", "email", context={"n": 10**5000}),
        "context.n is an integer beyond 64 bits",
    )


def test_check_timezone_refuses_what_zoneinfo_cannot_open() -> None:
    assert check_timezone("Europe/Paris") is None
    for bad in ("X" * 300, "Europe/Paris\ud800", "../etc/passwd", "a\x00b", ""):
        problem = check_timezone(bad)
        assert problem is not None
        assert problem.startswith("unknown time zone")
    assert check_timezone(5) == (
        "a time zone must be a string naming an IANA zone, not int; "
        "use an IANA name such as 'Europe/Paris' or 'UTC'"
    )


# ---------------------------------------------------------------- profile stores


def test_profile_stores_check_their_arguments(env: Env) -> None:
    profiles = env.kit.profiles
    refused(env, lambda: profiles.upsert(cast("Any", "p1")), "profile must be a ck.Profile")
    refused(env, lambda: profiles.get(cast("Any", 5)), "profile_id must be a string")
    refused(env, lambda: profiles.get("\ud800"), "profile_id holds characters that cannot")
    refused(env, lambda: profiles.get_many(cast("Any", "p1")), "profile_ids must be a list")
    refused(env, lambda: profiles.get_many(cast("Any", ["p1", 5])), "profile_ids[1] must be")
    refused(env, lambda: profiles.find_by_identity(cast("Any", None), "x"), "namespace must be")
    refused(env, lambda: profiles.find_by_identity("email", "\udfff"), "value holds characters")
    assert profiles.get("") is None  # no profile has it: not found, no error
    assert profiles.get("x" * 300) is None
    ids = cast("Any", (p for p in ["p1", "nobody"]))  # any iterable of ids
    assert dict(profiles.get_many(ids)) == {"p1": profiles.get("p1")}


def test_sqlite_upsert_many_takes_only_a_list_of_profiles(tmp_path: Path) -> None:
    store = ck.SQLiteStore(tmp_path / "p.db")
    profiles = ck.SQLiteProfileStore(store)
    with pytest.raises(ck.ValidationError, match=r"profiles must be a list of ck\.Profile"):
        profiles.upsert_many(cast("Any", ck.Profile(id="p1")))
    with pytest.raises(ck.ValidationError, match=r"profiles\[1\] must be a ck.Profile"):
        profiles.upsert_many([ck.Profile(id="p1"), cast("Any", {"id": "p2"})])
    assert len(profiles) == 0
    store.close()


def test_lookup_ids_are_checked_fast_and_named_when_bad() -> None:
    assert checked_profile_ids(iter(["a", "b"])) == ("a", "b")
    with pytest.raises(ck.ValidationError, match=r"profile_ids\[0\] must be a string"):
        checked_profile_ids([b"a"])


# ---------------------------------------------------------------- audiences


def test_an_audience_definition_is_checked_before_it_is_stored(env: Env) -> None:
    define = env.kit.audiences.define
    refused(env, lambda: define(cast("Any", 5), ["p1"]), "name must be a string, not int 5")
    refused(env, lambda: define("v\ud800", ["p1"]), "name holds characters that cannot")
    refused(env, lambda: define("vip", cast("Any", "p1")), "not the string 'p1'")
    refused(env, lambda: define("vip", cast("Any", {"p1": 1})), "profile_ids must be a list")
    refused(env, lambda: define("vip", cast("Any", 5)), "profile_ids must be a list")
    refused(env, lambda: define("vip", cast("Any", ["p1", 7])), "profile_ids[1] must be a string")
    refused(env, lambda: define("vip", ["p1", " "]), "profile_ids[1] must not be empty")
    refused(env, lambda: define("vip", ["x" * 257]), "profile_ids[0] is 257 characters long")
    problems = refused(env, lambda: define("vip", cast("Any", list(range(9)))))
    assert len(problems) == 6
    assert problems[-1] == "profile_ids: further items not checked"
    refused(env, lambda: define("x", where=cast("Any", 5)), "where must be a function")
    env.kit.audiences.define("all", (f"p{n}" for n in range(1, 3)))  # any iterable of ids
    assert env.kit.audiences.count("all") == 2


def test_the_in_memory_audience_source_checks_alike() -> None:
    source = ck.InMemoryAudienceSource()
    with pytest.raises(ck.ValidationError, match="profile_ids must be a list of"):
        source.define("vip", cast("Any", None))
    with pytest.raises(ck.ValidationError, match="where must be a function"):
        source.define("vip", where=cast("Any", "p1"))
