"""A checked boundary for profiles, recipients, triggers and delivery verbs (issue 10).

Each known failure of the issue, and each argument of the verbs in this area,
is refused with a ``ValidationError`` naming the argument before anything is
stored; the in-memory kit and a kit on a SQLite file refuse exactly the same
things. The property suite (``tests/unit/boundary_properties/``) throws random
junk at the same verbs; these tests pin the messages and the limits.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, cast

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit import ajo, serialization
from campaignkit.domain import checks
from campaignkit.domain.profile import checked_profile_ids
from campaignkit.domain.triggers import MAX_CONTEXT_BYTES
from campaignkit.testing import ManualClock, SequentialIds
from campaignkit.timeutil import check_timezone

T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
EMAIL = ck.ChannelType.EMAIL
Kind = Literal["memory", "sqlite"]


def _deep(levels: int) -> dict[str, Any]:
    top: dict[str, Any] = {}
    node = top
    for _ in range(levels):
        node["a"] = {}
        node = node["a"]
    return top


DEEP = _deep(100_000)


class Unprintable:
    """A value whose ``repr`` raises."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


@attrs.define
class Env:
    """A kit with two profiles, an audience and two LIVE API-triggered campaigns."""

    kit: ck.CampaignKit
    receipt: str
    mailing: str
    draft: str

    @property
    def admin(self) -> ck.UserSession:
        return self.kit.as_user("ada")

    def state(self) -> object:
        """What a refusal must leave as it was: runs, profiles, audiences, executions."""
        with self.kit.store.unit_of_work() as uow:
            runs = [
                ck_run
                for cid in (self.receipt, self.mailing, self.draft)
                for ck_run in uow.runs.for_campaign(cid)
            ]
        profiles = [p for batch in self.kit.profiles.scan(100) for p in batch]  # type: ignore[attr-defined]
        vip = [
            p.id for b in self.kit.audiences.members("vip", namespace="", batch_size=9) for p in b
        ]
        return runs, profiles, vip


def open_env(kind: Kind, tmp_path: Path) -> Env:
    clock = ManualClock(T0)
    if kind == "memory":
        kit = ck.CampaignKit.in_memory(clock=clock, ids=SequentialIds())
    else:
        kit = ck.CampaignKit.sqlite(tmp_path / "kit.db", clock=clock, ids=SequentialIds())
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    admin = kit.as_user("ada")
    news = admin.create_surface(
        name="News", channel=EMAIL, settings=ck.EmailSettings(sender="news@example.com")
    )
    orders = admin.create_surface(
        name="Orders",
        channel=EMAIL,
        settings=ck.EmailSettings(sender="orders@example.com"),
        category=ck.Category.TRANSACTIONAL,
    )
    for pid in ("p1", "p2"):
        kit.profiles.upsert(
            ck.Profile(
                id=pid,
                identities={"email": f"{pid}@example.com"},
                attributes={"firstName": pid},
                consents={EMAIL: True},
            )
        )
    kit.audiences.define("vip", ["p1", "p2"])
    hello = ck.EmailContent(subject="Hi", html="<p>Hi</p>")
    receipt = admin.create_campaign(
        name="Receipt",
        type=ck.CampaignType.API_TRIGGERED,
        category=ck.Category.TRANSACTIONAL,
        namespace="email",
        actions=[ck.Action(orders.id, hello)],
        create_profiles=True,
    )
    mailing = admin.create_campaign(
        name="Mailing",
        type=ck.CampaignType.API_TRIGGERED,
        audience="vip",
        namespace="email",
        actions=[ck.Action(news.id, hello)],
    )
    draft = admin.create_campaign(
        name="Draft", audience="vip", namespace="email", actions=[ck.Action(news.id, hello)]
    )
    admin.activate(receipt.id)
    admin.activate(mailing.id)
    kit.tick()
    return Env(kit, receipt.id, mailing.id, draft.id)


@pytest.fixture(params=["memory", "sqlite"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    world = open_env(cast("Kind", request.param), tmp_path)
    yield world
    world.kit.close()


def refused(env: Env, call: Any, *expected: str) -> list[str]:
    """Call; expect a ValidationError containing each ``expected`` text; nothing stored."""
    before = env.state()
    with pytest.raises(ck.ValidationError) as excinfo:
        call()
    problems = list(excinfo.value.problems)
    text = "\n".join(problems)
    for part in expected:
        assert part in text
    assert env.state() == before
    return problems


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


# ---------------------------------------------------------------- Recipient


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"user_id": 7}, "user_id must be a string, not int 7"),
        ({"user_id": "\ud800"}, "user_id holds characters that cannot be encoded"),
        ({"namespace": None}, "namespace must be a string, not NoneType None"),
        ({"channel_data": {"fax": "x"}}, "channel_data has the key str 'fax'"),
        ({"channel_data": {"email": 5}}, "channel_data[email] must be a string"),
        ({"channel_data": ["a@b.c"]}, "channel_data must be a Mapping"),
        ({"profile": [1]}, "profile must be a JSON object, not list [1]"),
        ({"context": {1: "a", "b": 2}}, "context has a key int 1: keys must be strings"),
        ({"context": DEEP}, "context is nested more than 32 levels deep"),
        ({"context": {"t": T0}}, "context.t must be a JSON value"),
        ({"context": {"n": 10**5000}}, "context.n is an integer beyond 64 bits"),
        ({"profile": {"n": 2**63}}, "profile.n is an integer beyond 64 bits"),
        ({"external": "yes"}, "external must be True or False"),
    ],
)
def test_a_recipient_refuses_what_no_request_could_send(
    changes: dict[str, Any], problem: str
) -> None:
    fields: dict[str, Any] = {"user_id": "ann@example.com", "namespace": "email", **changes}
    with pytest.raises(ck.ValidationError) as excinfo:
        ck.Recipient(**fields)
    assert any(problem in p for p in excinfo.value.problems), excinfo.value.problems
    assert excinfo.value.subject == "recipient"


def test_a_recipient_takes_channel_names_as_keys() -> None:
    recipient = ck.Recipient("ann@example.com", "email", channel_data={"email": "a@example.com"})
    assert recipient.channel_data == {EMAIL: "a@example.com"}
    assert all(type(k) is ck.ChannelType for k in recipient.channel_data or {})


# ---------------------------------------------------------------- trigger


def test_trigger_checks_its_arguments_before_anything_is_stored(env: Env) -> None:
    admin, cid = env.admin, env.receipt
    one = [ck.Recipient("p1@example.com", "email")]
    refused(env, lambda: admin.trigger(cid, cast("Any", "p1"), request_id="r"), "recipients must")
    refused(env, lambda: admin.trigger(cid, cast("Any", one[0]), request_id="r"), "recipients must")
    refused(
        env,
        lambda: admin.trigger(cid, cast("Any", [{"userId": "x"}]), request_id="r"),
        "recipients[0] must be a Recipient",
    )
    refused(
        env,
        lambda: admin.trigger(cast("Any", 5), one, request_id="r"),
        "campaign_id must be a non-empty string, not int 5",
    )
    refused(
        env, lambda: admin.trigger(cid, one, request_id="r\ud800"), "request_id holds characters"
    )
    refused(
        env,
        lambda: admin.trigger(cid, one, request_id=cast("Any", None)),
        "request_id must be a non-empty string, not NoneType",
    )
    refused(
        env, lambda: admin.trigger(cid, one, request_id="r" * 257), "request_id is 257 characters"
    )


def test_the_200_kb_cap_counts_every_recipients_context_and_profile_overlay(env: Env) -> None:
    admin, cid = env.admin, env.receipt
    overlays = [
        ck.Recipient(f"u{n}@example.com", "email", profile={"blob": "x" * 10_240})
        for n in range(20)
    ]
    problems = refused(env, lambda: admin.trigger(cid, overlays, request_id="r"))
    [problem] = problems
    assert problem.startswith("the recipients' context and profile data are ")
    assert f"at most {MAX_CONTEXT_BYTES} bytes are allowed per request" in problem

    halves = [
        ck.Recipient(f"u{n}@example.com", "email", context={"blob": "x" * 60_000}) for n in range(4)
    ]
    refused(env, lambda: admin.trigger(cid, halves, request_id="r"), "per request")

    huge = [ck.Recipient("u@example.com", "email", profile={"blob": "x" * 300_000})]
    [problem] = refused(env, lambda: admin.trigger(cid, huge, request_id="r"))
    assert problem == (
        f"recipients[0].profile is 300011 bytes serialized; "
        f"at most {MAX_CONTEXT_BYTES} bytes are allowed"
    )

    fits = [
        ck.Recipient(f"u{n}@example.com", "email", profile={"b": "x"}, context={"c": "y" * 9_000})
        for n in range(20)
    ]
    execution = admin.trigger(cid, fits, request_id="ok")
    assert execution.status is ck.ExecutionStatus.IN_PROGRESS


def test_an_overlay_that_makes_the_profile_too_large_is_reported_by_recipient(env: Env) -> None:
    env.kit.profiles.upsert(
        ck.Profile(
            id="big", identities={"email": "big@example.com"}, attributes={"a": "x" * 150_000}
        )
    )
    heavy = [ck.Recipient("big@example.com", "email", profile={"b": "y" * 100_000})]
    [problem] = refused(env, lambda: env.admin.trigger(env.receipt, heavy, request_id="r"))
    assert problem.startswith("recipients[0]: attributes is larger than 204,800 bytes")


def test_an_external_recipient_whose_id_cannot_be_built_is_reported(env: Env) -> None:
    long = ck.Recipient("x" * 250, "email", channel_data={EMAIL: "x@example.com"}, external=True)
    [problem] = refused(env, lambda: env.admin.trigger(env.receipt, [long], request_id="r"))
    assert problem.startswith("recipients[0]: id is 265 characters long")


def test_execute_audience_checks_its_arguments(env: Env) -> None:
    admin, cid = env.admin, env.mailing
    refused(
        env,
        lambda: admin.execute_audience(cid, request_id="a", context=DEEP),
        "context is nested more than 32 levels deep",
    )
    refused(
        env,
        lambda: admin.execute_audience(cid, request_id="a", context=cast("Any", {1: "x"})),
        "context has a key int 1",
    )
    refused(
        env,
        lambda: admin.execute_audience(cid, request_id="a", execute_at=cast("Any", "tomorrow")),
        "execute_at must be an aware datetime",
    )
    refused(
        env,
        lambda: admin.execute_audience(cid, request_id=cast("Any", 5)),
        "request_id must be a non-empty string, not int 5",
    )
    refused(
        env,
        lambda: admin.execute_audience(cast("Any", ["x"]), request_id="a"),
        "campaign_id must be",
    )


def test_execution_verbs_check_their_ids(env: Env) -> None:
    refused(env, lambda: env.admin.cancel_execution(cast("Any", 5)), "execution_id must be")
    refused(env, lambda: env.admin.execution("\ud800"), "execution_id holds characters")
    with pytest.raises(ck.NotFound):
        env.admin.execution("exe-unknown")


# ---------------------------------------------------------------- delivery verbs


def test_report_send_proof_and_feedback_check_their_argument_types(env: Env) -> None:
    admin, kit = env.admin, env.kit
    refused(env, lambda: admin.report(cast("Any", None)), "campaign_id must be a non-empty string")
    refused(
        env, lambda: admin.send_proof(env.draft, cast("Any", "p1")), "profile_ids must be a list"
    )
    refused(env, lambda: admin.send_proof(env.draft, cast("Any", [5])), "profile_ids[0] must be")
    refused(env, lambda: admin.send_proof(cast("Any", 5), ["p1"]), "campaign_id must be")
    refused(
        env,
        lambda: kit.record_feedback(cast("Any", 5), ck.FeedbackEvent.UNSUBSCRIBED),
        "provider_message_id must be a string",
    )
    refused(
        env,
        lambda: kit.record_feedback("m\ud800", ck.FeedbackEvent.UNSUBSCRIBED),
        "provider_message_id holds",
    )
    refused(
        env,
        lambda: kit.record_feedback("m-1", cast("Any", "nope")),
        "event must be a ck.FeedbackEvent",
    )
    refused(
        env,
        lambda: kit.record_feedback("m-1", cast("Any", [1])),
        "event must be a ck.FeedbackEvent",
    )
    with pytest.raises(ck.NotFound):
        kit.record_feedback("m-1", "unsubscribed")  # type: ignore[arg-type]


def test_rules_name_a_deep_or_unprintable_argument_without_failing(env: Env) -> None:
    rules = env.kit.rules
    night = ck.QuietHours(start="21:00", end="08:00")
    refused(
        env, lambda: rules.add_quiet_hours(cast("Any", DEEP), night), "unknown channel {'a': {'a'"
    )
    refused(
        env,
        lambda: rules.add_quiet_hours("email", cast("Any", Unprintable())),
        "not <Unprintable object>",
    )
    refused(
        env,
        lambda: rules.add_frequency_cap("email", cast("Any", [DEEP])),
        "takes a ck.FrequencyCap, not [{'a'",
    )


# ---------------------------------------------------------------- AJO bodies


def test_an_ajo_body_with_bad_values_gets_the_ajo_error_shape(env: Env) -> None:
    body = {
        "requestId": "ajo-1",
        "campaignId": env.receipt,
        "recipients": [
            {"type": "aep", "userId": "p1@example.com", "namespace": "email", "context": {1: "x"}},
            {"type": "aep", "userId": "p2@example.com", "namespace": "email", "profile": DEEP},
        ],
    }
    problems = refused(env, lambda: ajo.execute_unitary(env.admin, body))
    assert problems == [
        "recipients[0].context has a key int 1: keys must be strings",
        "recipients[1].profile is nested more than 32 levels deep (at profile.a.a.a.a.a.a.a.a.a"
        ".a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a)",
    ]
    surrogate = {**body, "requestId": "r\ud800", "recipients": body["recipients"][:1]}
    surrogate["recipients"] = [{"type": "aep", "userId": "p1@example.com", "namespace": "email"}]
    with pytest.raises(ck.ValidationError) as excinfo:
        ajo.execute_unitary(env.admin, surrogate)
    answer = ajo.error_response(excinfo.value)
    assert answer["status"] == 400
    assert answer["report"]["problems"] == [
        "request_id holds characters that cannot be encoded as UTF-8 (a lone surrogate?)"
    ]
    json.dumps({k: v for k, v in answer.items() if k != "report"})
    refused(env, lambda: ajo.execution_status(env.admin, cast("Any", 5)), "execution_id must be")
    refused(env, lambda: ajo.cancel_schedule(env.admin, cast("Any", None)), "execution_id must be")


# ---------------------------------------------------------------- the shared checks


def test_describe_is_short_and_safe_for_any_value() -> None:
    assert checks.describe(DEEP) == "dict {'a': {'a': {'a': {...}}}}"
    assert checks.describe({"start": "21:00", "end": "08:00"}) == (
        "dict {'start': '21:00', 'end': '08:00'}"
    )
    assert checks.describe({}) == "dict {}"
    assert checks.describe({n: n for n in range(6)}) == "dict {0: 0, 1: 1, 2: 2, 3: 3, ...}"
    assert checks.describe(Unprintable()).startswith("Unprintable <Unprintable instance at")
    assert len(checks.describe("x" * 1000)) < 80


def test_identifiers_and_booleans() -> None:
    problems: list[str] = []
    assert checks.identifiers(problems, "ids", ("a", "b"), max_items=2) == ("a", "b")
    assert checks.identifiers(problems, "ids", [], max_items=2) == ()
    assert problems == []
    assert checks.identifiers(problems, "ids", ["a", "b", "c"], max_items=2) == ()
    assert problems == ["ids has 3 items; the limit is 2"]
    checks.boolean(problems, "flag", 1)
    assert problems[-1] == "flag must be True or False, not int 1"


def test_kit_level_lookups_and_helpers_check_their_arguments(env: Env) -> None:
    kit = env.kit
    refused(env, lambda: kit.run_until(cast("Any", "tomorrow")), "when must be a date-time")
    refused(env, lambda: kit.run_until(T0.naive()), "when must be timezone-aware")
    refused(env, lambda: kit.subscribe(cast("Any", 5)), "listener must be a function")
    refused(env, lambda: kit.audiences.status(cast("Any", {})), "name must be a string")
    refused(env, lambda: kit.audiences.count(cast("Any", [1])), "name must be a string")
    refused(env, lambda: kit.audiences.status(cast("Any", DEEP)), "name must be a string")
    members = kit.audiences.members
    refused(env, lambda: list(members(cast("Any", None), namespace="", batch_size=5)), "name must")
    refused(env, lambda: list(members("vip", namespace="", batch_size=0)), "batch_size is 0")
    scan = kit.profiles.scan  # type: ignore[attr-defined]
    refused(env, lambda: list(scan("x")), "batch_size must be a whole number")
    refused(env, lambda: list(scan(True)), "batch_size must be a whole number")
    refused(env, lambda: list(scan(10**30)), "it must be at least 1 and at most 1000000")
    assert [len(batch) for batch in scan(1)] == [1, 1]
    assert kit.audiences.status("nobody") is None


def test_an_ajo_body_names_unprintable_values_without_failing(env: Env) -> None:
    body = {
        "requestId": Unprintable(),
        "campaignId": env.receipt,
        "recipients": [{"type": DEEP, "userId": "p1@example.com", "namespace": "email"}],
    }
    problems = refused(env, lambda: ajo.execute_unitary(env.admin, body))
    assert len(problems) == 2
    assert problems[0].startswith("requestId must be a non-empty string, not <Unprintable")
    assert problems[1] == (
        "recipients[0].type must be 'aep' or 'external', not {'a': {'a': {'a': {...}}}}"
    )
    audience = {"campaignId": env.mailing, "schedule": {"executeAt": Unprintable()}}
    [problem] = refused(env, lambda: ajo.execute_audience(env.admin, audience))
    assert problem.startswith("schedule.executeAt must be an ISO 8601 instant")


def test_a_stored_profile_that_no_longer_loads_is_skipped_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A profile written before the checks (a 300-character zone) is treated as absent."""
    env = open_env("sqlite", tmp_path)
    path = tmp_path / "kit.db"
    env.kit.close()
    legacy = json.loads(serialization.dumps(ck.Profile(id="old", identities={"email": "o@x.io"})))
    legacy["data"]["timezone"] = "X" * 300
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO profiles (id, document) VALUES ('old', ?)", (json.dumps(legacy),))
        db.execute(
            "INSERT INTO profile_identities (namespace, value, profile_id) "
            "VALUES ('email', 'o@x.io', 'old')"
        )
    db.close()
    kit = ck.CampaignKit.sqlite(path, clock=ManualClock(T0))  # random ids: no clash
    try:
        with caplog.at_level(logging.WARNING, logger="campaignkit.profiles"):
            assert set(kit.profiles.get_many(["p1", "old"])) == {"p1"}
            assert kit.profiles.get("old") is None
            assert kit.profiles.find_by_identity("email", "o@x.io") is None
            assert [p.id for batch in kit.profiles.scan(10) for p in batch] == ["p1", "p2"]  # type: ignore[attr-defined]
        assert "stored profile 'old' cannot be loaded and is skipped" in caplog.text
        kit.audiences.define("with-old", ["p1", "old", "p2"])
        admin = kit.as_user("ada")
        campaign = admin.create_campaign(
            name="Everyone",
            audience="with-old",
            namespace="email",
            actions=admin.get(env.draft).newest_version.actions,
        )
        admin.activate(campaign.id)
        kit.tick()
        report = admin.report(campaign.id)
        assert report.sent == 2
        assert report.excluded == {ck.ExclusionReason.UNKNOWN_PROFILE: 1}
        kit.profiles.upsert(ck.Profile(id="old", identities={"email": "o@x.io"}))
        assert kit.profiles.get("old") is not None  # a valid upsert repairs it
    finally:
        kit.close()
