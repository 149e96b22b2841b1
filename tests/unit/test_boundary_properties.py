"""The checked boundary as a property (issue 10, SPEC section 18).

For every public verb and value constructor, Hypothesis puts arbitrary
JSON-ish values and wrong types into one argument at a time (and sometimes
into all of them) and checks three things:

- only ``CampaignKitError`` subclasses come out: never a raw ``TypeError``,
  ``AttributeError``, ``RecursionError``, ``UnicodeEncodeError`` or ``OSError``;
- a refused call leaves the store exactly as it was (campaigns, surfaces,
  approval policies, runs, feedback, profiles, audiences, access, rules);
- an in-memory kit and a kit on a SQLite file, seeded identically, give the
  same outcome (accepted, or the same error class with the same problems)
  and hold the same data afterwards.

The two kits live for the whole module: accepted calls change both alike, so
later examples run against a richer store.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import attrs
import pendulum
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import campaignkit as ck
from campaignkit import ajo
from campaignkit.domain.checks import describe
from campaignkit.serialization import SCHEMAS, to_document
from campaignkit.testing import ManualClock, SequentialIds
from campaignkit.testing.strategies import hostile_values, json_values

T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
EMAIL = ck.ChannelType.EMAIL
ADMIN = "ada"
AUDIENCE_NAMES = {"vip"}
"""Audience names whose members the snapshot compares (valid names a test used)."""
GROUPS = {"marketing"}

EXAMPLES = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    # no shrinking: each example snapshots two stores, and the first failing
    # example (one junk argument, named in the report) is already readable
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _deep(levels: int) -> dict[str, Any]:
    top: dict[str, Any] = {}
    node = top
    for _ in range(levels):
        node["a"] = {}
        node = node["a"]
    return top


DEEP = _deep(100_000)
"""A value no recursive code can walk (RecursionError) and no JSON can hold."""


class Unprintable:
    """An object whose repr raises, as a host's buggy value might."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


NASTY: tuple[object, ...] = (
    None,
    True,
    0,
    -1,
    7,
    10**30,
    1.5,
    math.nan,
    math.inf,
    "",
    "   ",
    "\ud800",
    "ok\udfffok",
    "X" * 300,
    "x" * 20_000,
    "Europe/Paris",
    "p1",
    "email",
    b"bytes",
    object(),
    Unprintable(),
    T0,
    T0.naive(),
    pendulum.duration(hours=1),
    pendulum.duration(months=1),
    EMAIL,
    ck.CampaignStatus.LIVE,
    ck.ProductProfile.ADMINISTRATOR,
    ck.FeedbackEvent.HARD_BOUNCE,
    ck.Profile(id="p1"),
    ck.Recipient("ann@example.com", "email"),
    ck.Schedule(),
    ck.SmsContent(text="hi"),
    ck.QuietHours(start="21:00", end="08:00"),
    {1: "a", "b": 2},
    {"system": 1},
    {("t",): 1},
    {"a": {1, 2}},
    DEEP,
    [DEEP],
    frozenset({"a"}),
    (),
    [],
    {},
    ["p1", 5],
    [None],
    print,
)
"""Wrong types and hostile values every argument should survive (besides
``campaignkit.testing.strategies.hostile_values``)."""

JSONISH = json_values()
JUNK = st.one_of(st.sampled_from(NASTY), hostile_values())
"""What goes into an argument instead of its valid value."""


# ---------------------------------------------------------------- the two kits


@attrs.define
class Side:
    """One kit (memory or SQLite) seeded with the same world, and its ids."""

    name: str
    kit: ck.CampaignKit
    clock: ManualClock
    ids: dict[str, str] = attrs.Factory(dict)

    @property
    def admin(self) -> ck.UserSession:
        return self.kit.as_user(ADMIN)


def seed(name: str, kit: ck.CampaignKit, clock: ManualClock) -> Side:
    """A surface per category, profiles, an audience, campaigns in several states."""
    side = Side(name, kit, clock)
    kit.access.assign(ADMIN, ck.ProductProfile.ADMINISTRATOR)
    kit.access.add_member("marketing", "april")
    kit.access.assign_group("marketing", ck.ProductProfile.APPROVER)
    admin = side.admin
    news = admin.create_surface(
        name="News", channel=EMAIL, settings=ck.EmailSettings(sender="news@example.com")
    )
    receipts = admin.create_surface(
        name="Receipts",
        channel=EMAIL,
        settings=ck.EmailSettings(sender="orders@example.com"),
        category=ck.Category.TRANSACTIONAL,
    )
    for pid in ("p1", "p2"):
        kit.profiles.upsert(
            ck.Profile(
                id=pid,
                identities={"email": f"{pid}@example.com"},
                attributes={"firstName": pid.upper()},
                consents={EMAIL: True},
                timezone="Europe/Paris",
            )
        )
    kit.audiences.define("vip", ["p1", "p2"])
    hello = ck.EmailContent(subject="Hi {{ profile.firstName }}", html="<p>Hello</p>")
    draft = admin.create_campaign(
        name="Winter sale",
        audience="vip",
        namespace="email",
        actions=[ck.Action(news.id, hello)],
        schedule=ck.Schedule(start=T0.add(days=2)),
        tags=("winter",),
    )
    sent = admin.create_campaign(
        name="Flash sale",
        audience="vip",
        namespace="email",
        actions=[ck.Action(news.id, hello)],
        schedule=ck.Schedule(),
    )
    admin.activate(sent.id)
    receipt = admin.create_campaign(
        name="Receipt",
        type=ck.CampaignType.API_TRIGGERED,
        category=ck.Category.TRANSACTIONAL,
        namespace="email",
        actions=[ck.Action(receipts.id, ck.EmailContent(subject="Receipt", html="<p>ok</p>"))],
        create_profiles=True,
    )
    admin.activate(receipt.id)
    mailing = admin.create_campaign(
        name="Mailing",
        type=ck.CampaignType.API_TRIGGERED,
        audience="vip",
        namespace="email",
        actions=[ck.Action(news.id, hello)],
    )
    admin.activate(mailing.id)
    kit.tick()
    triggered = admin.trigger(
        receipt.id, [ck.Recipient("p1@example.com", "email")], request_id="r-1"
    )
    later = admin.execute_audience(mailing.id, request_id="a-1", execute_at=T0.add(days=1))
    policy = admin.create_approval_policy(name="Legal", reviewer_groups=["marketing"])
    side.ids = {
        "surface": news.id,
        "draft": draft.id,
        "sent": sent.id,
        "receipt": receipt.id,
        "mailing": mailing.id,
        "execution": triggered.id,
        "scheduled_execution": later.id,
        "policy": policy.id,
    }
    return side


@pytest.fixture(scope="module")
def sides(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Side, Side]]:
    """The in-memory kit and the SQLite-file kit, seeded alike."""
    memory_clock, file_clock = ManualClock(T0), ManualClock(T0)
    memory = ck.CampaignKit.in_memory(clock=memory_clock, ids=SequentialIds())
    path = Path(tmp_path_factory.mktemp("boundary")) / "kit.db"
    on_file = ck.CampaignKit.sqlite(path, clock=file_clock, ids=SequentialIds())
    pair = (seed("memory", memory, memory_clock), seed("sqlite", on_file, file_clock))
    assert pair[0].ids == pair[1].ids
    assert snapshot(pair[0]) == snapshot(pair[1])
    yield pair
    on_file.close()


# ---------------------------------------------------------------- what the store holds


def _doc(value: object) -> object:
    return to_document(value) if type(value) in SCHEMAS else repr(value)


def snapshot(side: Side) -> dict[str, object]:
    """Everything the kit stores, as plain documents (equal across backends when in step)."""
    kit, admin = side.kit, side.admin
    campaigns: list[ck.Campaign] = []
    cursor: str | None = None
    while True:
        page = admin.list_campaigns(statuses=ck.ALL_STATUSES, limit=100, cursor=cursor)
        campaigns.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    runs: list[object] = []
    feedback: list[object] = []
    with kit.store.unit_of_work() as uow:
        for campaign in campaigns:
            runs.extend(_doc(r) for r in uow.runs.for_campaign(campaign.id))
            feedback.extend(_doc(f) for f in uow.feedback.for_campaign(campaign.id))
    audiences = {}
    for name in sorted(AUDIENCE_NAMES):
        members = list(kit.audiences.members(name, namespace="email", batch_size=1000))
        audiences[name] = [p.id for batch in members for p in batch]
    return {
        "campaigns": [_doc(c) for c in campaigns],
        "surfaces": [_doc(s) for s in admin.list_surfaces()],
        "policies": [_doc(p) for p in admin.list_approval_policies()],
        "runs": runs,
        "feedback": feedback,
        "profiles": [_doc(p) for batch in kit.profiles.scan(1000) for p in batch],  # type: ignore[attr-defined]
        "audiences": audiences,
        "access": sorted(
            (principal.kind, principal.id, sorted(p.value for p in profiles))
            for principal, profiles in kit.access.assignments().items()
        ),
        "members": {group: sorted(kit.access.members_of(group)) for group in sorted(GROUPS)},
        "audit": [_doc(e) for e in kit.access.audit_log()],
        "rules": _doc(kit.rules.book()),
    }


# ---------------------------------------------------------------- calling


Outcome = tuple[str, tuple[str, ...]]


def attempt(call: Callable[[], object], label: str) -> Outcome:
    """Call, and say how it went: ("accepted", ()) or the error class and its problems."""
    try:
        call()
    except ck.CampaignKitError as exc:
        problems = tuple(exc.problems) if isinstance(exc, ck.ValidationError) else ()
        return type(exc).__name__, problems
    except Exception as exc:  # the property: nothing else may escape
        raise AssertionError(
            f"{label} raised {type(exc).__name__} (not a CampaignKitError): {describe(str(exc))}"
        ) from exc
    return "accepted", ()


Call = Callable[[Side, dict[str, Any]], object]


@attrs.frozen
class Verb:
    """A public verb: how to call it, and a valid value for each argument.

    ``valid`` maps an argument to a function of the seeded ids (the same on
    both kits) returning a valid value.
    """

    name: str
    call: Call
    valid: Mapping[str, Callable[[dict[str, str]], object]] = attrs.field(factory=dict)


def _const(value: object) -> Callable[[dict[str, str]], object]:
    return lambda _ids: value


def _id(key: str) -> Callable[[dict[str, str]], object]:
    return lambda ids: ids[key]


def _session(side: Side) -> ck.UserSession:
    return side.admin


def _access(side: Side) -> ck.AccessDirectory:
    return side.kit.access


def _named(target: Callable[[Side], object], name: str, *keys: str) -> Call:
    """Call method ``name`` of ``target(side)`` with the arguments ``keys``, in order."""

    def call(side: Side, args: dict[str, Any]) -> object:
        return getattr(target(side), name)(*(args[key] for key in keys))

    return call


def _rcpt(_ids: dict[str, str]) -> object:
    return [ck.Recipient("p2@example.com", "email", context={"n": 1})]


SESSION_VERBS: tuple[Verb, ...] = (
    Verb("get", lambda s, a: _session(s).get(a["campaign_id"]), {"campaign_id": _id("draft")}),
    Verb(
        "list_campaigns",
        lambda s, a: _session(s).list_campaigns(**a),
        {
            "statuses": _const(ck.ALL_STATUSES),
            "types": _const(None),
            "channels": _const(None),
            "tag": _const("winter"),
            "created_from": _const(None),
            "created_to": _const(None),
            "search": _const("sale"),
            "limit": _const(10),
            "cursor": _const(None),
        },
    ),
    Verb(
        "calendar",
        lambda s, a: _session(s).calendar(a["start"], a["end"]),
        {"start": _const(T0), "end": _const(T0.add(days=30))},
    ),
    Verb(
        "create_campaign",
        lambda s, a: _session(s).create_campaign(**a),
        {
            "name": _const("Spring"),
            "type": _const(ck.CampaignType.SCHEDULED),
            "category": _const(ck.Category.MARKETING),
            "audience": _const("vip"),
            "namespace": _const("email"),
            "actions": lambda ids: [
                ck.Action(ids["surface"], ck.EmailContent(subject="S", html="<p>x</p>"))
            ],
            "schedule": _const(ck.Schedule()),
            "quiet_hours": _const(()),
            "tags": _const(("spring",)),
            "description": _const("d"),
            "create_profiles": _const(False),
        },
    ),
    Verb(
        "update_draft",
        lambda s, a: _session(s).update_draft(a.pop("campaign_id"), **a),
        {
            "campaign_id": _id("draft"),
            "name": _const("Winter sale"),
            "description": _const(""),
            "tags": _const(("winter",)),
            "audience": _const("vip"),
            "namespace": _const("email"),
            "schedule": _const(ck.Schedule(start=T0.add(days=2))),
            "quiet_hours": _const(()),
        },
    ),
    Verb(
        "duplicate",
        lambda s, a: _session(s).duplicate(a["campaign_id"], a["name"]),
        {"campaign_id": _id("draft"), "name": _const(None)},
    ),
    *(
        Verb(
            name,
            _named(_session, name, "campaign_id"),
            {"campaign_id": _id("draft")},
        )
        for name in (
            "delete",
            "activate",
            "modify",
            "discard_draft",
            "stop",
            "archive",
            "cancel_approval",
            "approval_history",
            "report",
            *(["check"] if hasattr(ck.UserSession, "check") else []),
        )
    ),
    Verb(
        "request_approval",
        lambda s, a: _session(s).request_approval(a["campaign_id"], a["message"]),
        {"campaign_id": _id("draft"), "message": _const("please")},
    ),
    Verb(
        "approve",
        lambda s, a: _session(s).approve(a["campaign_id"], a["comment"]),
        {"campaign_id": _id("draft"), "comment": _const(None)},
    ),
    Verb(
        "request_changes",
        lambda s, a: _session(s).request_changes(a["campaign_id"], a["message"]),
        {"campaign_id": _id("draft"), "message": _const("fix it")},
    ),
    Verb(
        "send_proof",
        lambda s, a: _session(s).send_proof(a["campaign_id"], a["profile_ids"]),
        {"campaign_id": _id("draft"), "profile_ids": _const(["p1"])},
    ),
    Verb(
        "trigger",
        lambda s, a: _session(s).trigger(
            a["campaign_id"], a["recipients"], request_id=a["request_id"]
        ),
        {"campaign_id": _id("receipt"), "recipients": _rcpt, "request_id": _const("r-2")},
    ),
    Verb(
        "execute_audience",
        lambda s, a: _session(s).execute_audience(a.pop("campaign_id"), **a),
        {
            "campaign_id": _id("mailing"),
            "request_id": _const("a-2"),
            "context": _const({"offer": "WINTER"}),
            "execute_at": _const(T0.add(days=1)),
        },
    ),
    Verb(
        "cancel_execution",
        lambda s, a: _session(s).cancel_execution(a["execution_id"]),
        {"execution_id": _id("scheduled_execution")},
    ),
    Verb(
        "execution",
        lambda s, a: _session(s).execution(a["execution_id"]),
        {"execution_id": _id("execution")},
    ),
    Verb(
        "create_surface",
        lambda s, a: _session(s).create_surface(**a),
        {
            "name": _const("Alerts"),
            "channel": _const(ck.ChannelType.SMS),
            "settings": _const(ck.SmsSettings(sender_id="SHOP")),
            "category": _const(ck.Category.MARKETING),
        },
    ),
    Verb(
        "get_surface",
        lambda s, a: _session(s).get_surface(a["surface_id"]),
        {"surface_id": _id("surface")},
    ),
    Verb(
        "deactivate_surface",
        lambda s, a: _session(s).deactivate_surface(a["surface_id"]),
        {"surface_id": _id("surface")},
    ),
    Verb(
        "create_approval_policy",
        lambda s, a: _session(s).create_approval_policy(**a),
        {
            "name": _const("Brand"),
            "reviewers": _const(["april"]),
            "reviewer_groups": _const(()),
            "block_self_approval": _const(False),
            "types": _const(None),
            "channels": _const(None),
            "tags": _const(None),
            "name_contains": _const(None),
            "name_equals": _const(None),
            "requesters": _const(None),
            "requester_groups": _const(None),
            "match": _const("all"),
        },
    ),
    Verb(
        "update_approval_policy",
        lambda s, a: _session(s).update_approval_policy(a.pop("policy_id"), **a),
        {
            "policy_id": _id("policy"),
            "name": _const("Legal"),
            "reviewers": _const(()),
            "block_self_approval": _const(False),
            "tags": _const(None),
            "match": _const("all"),
        },
    ),
    *(
        Verb(
            name,
            _named(_session, name, "policy_id"),
            {"policy_id": _id("policy")},
        )
        for name in (
            "get_approval_policy",
            "activate_approval_policy",
            "deactivate_approval_policy",
        )
    ),
    Verb(
        "duplicate_approval_policy",
        lambda s, a: _session(s).duplicate_approval_policy(a["policy_id"], a["name"]),
        {"policy_id": _id("policy"), "name": _const("Legal 2")},
    ),
    *(
        Verb(
            name,
            _named(_session, name, "user", "profile"),
            {
                "user": _const("max"),
                "profile": _const(ck.ProductProfile.MANAGER),
            },
        )
        for name in ("assign_profile", "revoke_profile")
    ),
    *(
        Verb(
            name,
            _named(_session, name, "group", "profile"),
            {
                "group": _const("marketing"),
                "profile": _const(ck.ProductProfile.VIEWER),
            },
        )
        for name in ("assign_group_profile", "revoke_group_profile")
    ),
    *(
        Verb(
            name,
            _named(_session, name, "group", "user"),
            {
                "group": _const("marketing"),
                "user": _const("bob"),
            },
        )
        for name in ("add_group_member", "remove_group_member")
    ),
    Verb(
        "export",
        lambda s, a: _session(s).export(a["campaign_ids"]),
        {"campaign_ids": lambda ids: [ids["draft"]]},
    ),
    Verb("import_", lambda s, a: _session(s).import_(a["package"]), {"package": _const({})}),
)
"""The UserSession verbs (ARCHITECTURE.md), each with valid arguments on the seeded kits."""

KIT_VERBS: tuple[Verb, ...] = (
    Verb("as_user", lambda s, a: s.kit.as_user(a["user_id"]), {"user_id": _const("ada")}),
    Verb(
        "profiles.upsert",
        lambda s, a: s.kit.profiles.upsert(a["profile"]),
        {"profile": _const(ck.Profile(id="p3", attributes={"n": 1}))},
    ),
    Verb(
        "profiles.get",
        lambda s, a: s.kit.profiles.get(a["profile_id"]),
        {"profile_id": _const("p1")},
    ),
    Verb(
        "profiles.get_many",
        lambda s, a: s.kit.profiles.get_many(a["profile_ids"]),
        {"profile_ids": _const(["p1", "p2"])},
    ),
    Verb(
        "profiles.find_by_identity",
        lambda s, a: s.kit.profiles.find_by_identity(a["namespace"], a["value"]),
        {"namespace": _const("email"), "value": _const("p1@example.com")},
    ),
    Verb(
        "audiences.define",
        lambda s, a: s.kit.audiences.define(a["name"], a["profile_ids"]),
        {"name": _const("vip"), "profile_ids": _const(["p1", "p2"])},
    ),
    Verb(
        "audiences.status", lambda s, a: s.kit.audiences.status(a["name"]), {"name": _const("vip")}
    ),
    Verb("audiences.count", lambda s, a: s.kit.audiences.count(a["name"]), {"name": _const("vip")}),
    Verb(
        "audiences.members",
        lambda s, a: list(
            s.kit.audiences.members(a["name"], namespace=a["namespace"], batch_size=a["batch_size"])
        ),
        {"name": _const("vip"), "namespace": _const("email"), "batch_size": _const(10)},
    ),
    Verb(
        "profiles.scan",
        lambda s, a: list(s.kit.profiles.scan(a["batch_size"])),  # type: ignore[attr-defined]
        {"batch_size": _const(10)},
    ),
    Verb("run_until", lambda s, a: s.kit.run_until(a["when"]), {"when": _const(T0)}),
    Verb(
        "audiences.define(where=)",
        lambda s, a: s.kit.audiences.define(a["name"], where=a["where"]),
        {"name": _const("everyone"), "where": _const(lambda p: True)},
    ),
    Verb(
        "rules.add_quiet_hours",
        lambda s, a: s.kit.rules.add_quiet_hours(a["channel"], a["rule"]),
        {"channel": _const(EMAIL), "rule": _const(ck.QuietHours(start="21:00", end="08:00"))},
    ),
    Verb(
        "rules.remove_quiet_hours",
        lambda s, a: s.kit.rules.remove_quiet_hours(a["channel"], a["rule"]),
        {"channel": _const(EMAIL), "rule": _const(ck.QuietHours(start="21:00", end="08:00"))},
    ),
    Verb(
        "rules.add_frequency_cap",
        lambda s, a: s.kit.rules.add_frequency_cap(a["channel"], a["cap"]),
        {
            "channel": _const("sms"),
            "cap": _const(ck.FrequencyCap(max=2, per=pendulum.duration(days=7))),
        },
    ),
    Verb(
        "rules.remove_frequency_cap",
        lambda s, a: s.kit.rules.remove_frequency_cap(a["channel"], a["cap"]),
        {
            "channel": _const("sms"),
            "cap": _const(ck.FrequencyCap(max=2, per=pendulum.duration(days=7))),
        },
    ),
    Verb(
        "rules.for_channel",
        lambda s, a: s.kit.rules.for_channel(a["channel"]),
        {"channel": _const("sms")},
    ),
    Verb("rules.clear", lambda s, a: s.kit.rules.clear(a["channel"]), {"channel": _const("push")}),
    Verb(
        "record_feedback",
        lambda s, a: s.kit.record_feedback(a["provider_message_id"], a["event"]),
        {
            "provider_message_id": _const("unknown-message"),
            "event": _const(ck.FeedbackEvent.UNSUBSCRIBED),
        },
    ),
    *(
        Verb(
            f"access.{name}",
            _named(_access, name, "user", "profile"),
            {
                "user": _const("max"),
                "profile": _const(ck.ProductProfile.VIEWER),
            },
        )
        for name in ("assign", "revoke")
    ),
    *(
        Verb(
            f"access.{name}",
            _named(_access, name, "group", "profile"),
            {
                "group": _const("marketing"),
                "profile": _const(ck.ProductProfile.VIEWER),
            },
        )
        for name in ("assign_group", "revoke_group")
    ),
    *(
        Verb(
            f"access.{name}",
            _named(_access, name, "group", "user"),
            {
                "group": _const("marketing"),
                "user": _const("bob"),
            },
        )
        for name in ("add_member", "remove_member")
    ),
    *(
        Verb(
            f"access.{name}",
            _named(_access, name, "user"),
            {"user": _const("ada")},
        )
        for name in ("profiles_of", "profile_sources", "groups_of")
    ),
    Verb(
        "access.members_of",
        lambda s, a: s.kit.access.members_of(a["group"]),
        {"group": _const("marketing")},
    ),
    Verb("subscribe", lambda s, a: s.kit.subscribe(a["listener"])(), {"listener": _const(print)}),
    Verb(
        "ajo.execute_unitary",
        lambda s, a: ajo.execute_unitary(_session(s), a["body"]),
        {
            "body": lambda ids: {
                "requestId": "ajo-1",
                "campaignId": ids["receipt"],
                "recipients": [{"type": "aep", "userId": "p1@example.com", "namespace": "email"}],
            }
        },
    ),
    Verb(
        "ajo.execute_audience",
        lambda s, a: ajo.execute_audience(_session(s), a["body"]),
        {"body": lambda ids: {"campaignId": ids["mailing"], "requestId": "ajo-2"}},
    ),
    Verb(
        "ajo.execution_status",
        lambda s, a: ajo.execution_status(_session(s), a["execution_id"]),
        {"execution_id": _id("execution")},
    ),
    Verb(
        "ajo.cancel_schedule",
        lambda s, a: ajo.cancel_schedule(_session(s), a["schedule_id"]),
        {"schedule_id": _id("scheduled_execution")},
    ),
)
"""Kit-level verbs (profiles, audiences, rules, feedback, access) and the AJO bodies."""


def _arguments(verb: Verb, ids: dict[str, str], data: st.DataObject) -> dict[str, Any]:
    """Valid arguments with junk in one of them, or (sometimes) in all of them."""
    args = {name: make(ids) for name, make in verb.valid.items()}
    if not args:
        return args
    if data.draw(st.integers(0, 4), label="all wrong?") == 0:
        for name in args:
            args[name] = data.draw(JUNK, label=name)
    else:
        name = data.draw(st.sampled_from(sorted(args)), label="wrong argument")
        args[name] = data.draw(JUNK, label=name)
    return args


def _check(sides: tuple[Side, Side], label: str, call: Call, args: dict[str, Any]) -> Outcome:
    """Run the call on both kits; check the three properties; return the outcome."""
    outcomes = []
    for side in sides:
        before = snapshot(side)
        outcome = attempt(functools.partial(call, side, dict(args)), f"{label} on {side.name}")
        if outcome[0] != "accepted":
            assert snapshot(side) == before, (
                f"{label} was refused on {side.name} but changed the store"
            )
        outcomes.append(outcome)
    assert outcomes[0] == outcomes[1], f"{label}: memory {outcomes[0]} but SQLite {outcomes[1]}"
    if outcomes[0][0] == "accepted":
        memory, on_file = snapshot(sides[0]), snapshot(sides[1])
        differ = [key for key in memory if memory[key] != on_file[key]]
        assert not differ, f"{label}: the stores now differ in {differ}"
    return outcomes[0]


@pytest.mark.parametrize("verb", SESSION_VERBS + KIT_VERBS, ids=lambda v: v.name)
@EXAMPLES
@given(data=st.data())
def test_a_verb_raises_only_campaignkit_errors_and_refusals_change_nothing(
    sides: tuple[Side, Side], verb: Verb, data: st.DataObject
) -> None:
    args = _arguments(verb, sides[0].ids, data)
    _check(sides, verb.name, verb.call, args)


# ---------------------------------------------------------------- value constructors


@attrs.frozen
class Constructor:
    """A public value constructor with valid keyword arguments."""

    name: str
    build: Callable[..., object]
    valid: Mapping[str, object]


_DAY = pendulum.duration(days=1)
CONSTRUCTORS: tuple[Constructor, ...] = (
    Constructor(
        "Profile",
        ck.Profile,
        {
            "id": "p9",
            "identities": {"email": "p9@example.com"},
            "attributes": {"firstName": "Nina", "tags": ["a"]},
            "consents": {EMAIL: True},
            "channel_data": {},
            "timezone": "Asia/Tokyo",
            "language": "ja",
        },
    ),
    Constructor(
        "Recipient",
        ck.Recipient,
        {
            "user_id": "ann@example.com",
            "namespace": "email",
            "channel_data": None,
            "profile": {"firstName": "Ann"},
            "context": {"link": "https://example.com"},
            "external": False,
        },
    ),
    Constructor(
        "Schedule",
        ck.Schedule,
        {
            "start": T0,
            "end": T0.add(days=10),
            "timezone": "Europe/Paris",
            "recurrence": ck.Recurrence.daily(at="09:00"),
            "use_profile_timezone": False,
            "waves": None,
            "send_window": pendulum.duration(hours=12),
        },
    ),
    Constructor(
        "Action",
        ck.Action,
        {"surface_id": "srf", "content": ck.SmsContent(text="hi"), "id": "", "rate_limit": None},
    ),
    Constructor(
        "EmailContent", ck.EmailContent, {"subject": "Hi", "html": "<p>x</p>", "text": None}
    ),
    Constructor("SmsContent", ck.SmsContent, {"text": "Sale"}),
    Constructor("PushContent", ck.PushContent, {"title": "T", "body": "B"}),
    Constructor(
        "EmailSettings",
        ck.EmailSettings,
        {"sender": "news@example.com", "sender_name": None, "reply_to": None, "subdomain": None},
    ),
    Constructor("SmsSettings", ck.SmsSettings, {"sender_id": "SHOP"}),
    Constructor("PushSettings", ck.PushSettings, {"app_id": "com.shop", "platform": "ios"}),
    Constructor(
        "QuietHours",
        ck.QuietHours,
        {
            "start": "21:00",
            "end": "08:00",
            "timezone": "profile",
            "mode": "queue",
            "days": (),
            "dates": (),
        },
    ),
    Constructor("FrequencyCap", ck.FrequencyCap, {"max": 2, "per": _DAY}),
    Constructor("Recurrence.daily", ck.Recurrence.daily, {"at": "09:00", "every": 1}),
    Constructor(
        "Recurrence.weekly", ck.Recurrence.weekly, {"days": ["MO"], "at": "09:00", "every": 1}
    ),
    Constructor("Recurrence.monthly", ck.Recurrence.monthly, {"day": 1, "at": "09:00", "every": 1}),
    Constructor("Recurrence.rrule", ck.Recurrence.rrule, {"rule": "FREQ=WEEKLY;BYDAY=MO,WE"}),
    Constructor("Waves.equal", ck.Waves.equal, {"count": 3, "every": _DAY}),
    Constructor("Waves.percentages", ck.Waves.percentages, {"parts": [50, 50], "every": _DAY}),
    Constructor("Waves.counts", ck.Waves.counts, {"parts": [10, 20], "every": _DAY}),
    Constructor(
        "PolicyConditions",
        ck.PolicyConditions,
        {
            "types": frozenset({ck.CampaignType.SCHEDULED}),
            "channels": None,
            "tags": frozenset({"winter"}),
            "name_contains": "sale",
            "name_equals": None,
            "requesters": None,
            "requester_groups": None,
            "match": "all",
        },
    ),
    Constructor(
        "LifecycleRules",
        ck.LifecycleRules,
        {
            "completion_after": pendulum.duration(days=3),
            "archive_retention": pendulum.duration(days=30),
            "missed_occurrences": "latest",
        },
    ),
    Constructor(
        "DeliverySettings",
        ck.DeliverySettings,
        {
            "batch_size": 500,
            "max_attempts": 5,
            "retry_base": pendulum.duration(seconds=30),
            "retry_cap": pendulum.duration(hours=1),
            "lease": pendulum.duration(minutes=5),
            "heartbeat": True,
        },
    ),
    Constructor(
        "CampaignKit.in_memory",
        ck.CampaignKit.in_memory,
        {
            "clock": ManualClock(T0),
            "channels": None,
            "policy": None,
            "profile_permissions": None,
            "lifecycle": None,
            "delivery": None,
            "ids": SequentialIds(),
            "progress": None,
            "audiences": None,
        },
    ),
)


@pytest.mark.parametrize("constructor", CONSTRUCTORS, ids=lambda c: c.name)
@EXAMPLES
@given(data=st.data())
def test_a_value_constructor_raises_only_campaignkit_errors(
    constructor: Constructor, data: st.DataObject
) -> None:
    args = dict(constructor.valid)
    if data.draw(st.integers(0, 4), label="all wrong?") == 0:
        for name in args:
            args[name] = data.draw(JUNK, label=name)
    else:
        name = data.draw(st.sampled_from(sorted(args)), label="wrong argument")
        args[name] = data.draw(JUNK, label=name)
    attempt(lambda: constructor.build(**args), constructor.name)


@EXAMPLES
@given(data=st.data())
def test_a_profile_that_can_be_built_can_be_stored_alike_on_both_kits(
    sides: tuple[Side, Side], data: st.DataObject
) -> None:
    args: dict[str, Any] = {
        "id": data.draw(st.sampled_from(["p1", "p7"]) | st.text(max_size=8), label="id"),
        "identities": data.draw(
            st.dictionaries(st.sampled_from(["email", "crm"]), st.text(max_size=8), max_size=2)
            | JUNK,
            label="identities",
        ),
        "attributes": data.draw(st.dictionaries(st.text(max_size=6), JSONISH, max_size=3) | JUNK),
        "consents": data.draw(st.dictionaries(st.sampled_from(["email", "sms"]), st.booleans())),
        "timezone": data.draw(st.none() | st.sampled_from(["UTC", "+05:30", "Mars/Base"]) | JUNK),
    }
    built: list[ck.Profile] = []
    outcome = attempt(lambda: built.append(ck.Profile(**args)), "Profile")
    if outcome[0] != "accepted":
        return
    [profile] = built
    _check(
        sides,
        "profiles.upsert",
        lambda s, a: s.kit.profiles.upsert(a["profile"]),
        {"profile": profile},
    )
    found = [side.kit.profiles.get(profile.id) for side in sides]
    assert found[0] == profile
    assert found[1] is not None
    assert to_document(found[1]) == to_document(profile)


def test_the_known_failures_are_refused_with_validation_errors(sides: tuple[Side, Side]) -> None:
    """The issue's examples, one by one, on both kits."""
    known: list[tuple[str, Call, dict[str, Any]]] = [
        ("Recipient(user_id=7)", lambda s, a: ck.Recipient(7, "email"), {}),  # type: ignore[arg-type]
        (
            "context keys of mixed types",
            lambda s, a: s.admin.trigger(
                s.ids["receipt"],
                [ck.Recipient("p1@example.com", "email", context=cast("Any", {1: "a", "b": 2}))],
                request_id="k-1",
            ),
            {},
        ),
        (
            "100,000-deep context",
            lambda s, a: s.admin.execute_audience(s.ids["mailing"], request_id="k-2", context=DEEP),
            {},
        ),
        (
            "lone surrogate",
            lambda s, a: s.kit.profiles.upsert(ck.Profile(id="\ud800")),
            {},
        ),
        (
            "over-long profile time zone",
            lambda s, a: s.kit.profiles.upsert(ck.Profile(id="tz", timezone="X" * 300)),
            {},
        ),
        (
            "20 recipients with 10 KB overlays each, 200 KB in all",
            lambda s, a: s.admin.trigger(
                s.ids["receipt"],
                [
                    ck.Recipient(f"u{n}@example.com", "email", profile={"blob": "x" * 10_240})
                    for n in range(20)
                ],
                request_id="k-3",
            ),
            {},
        ),
    ]
    for label, call, args in known:
        name, problems = _check(sides, label, call, args)
        assert name == "ValidationError", f"{label}: {name}"
        assert problems


def _maybe(valid: object) -> st.SearchStrategy[object]:
    """The valid value most of the time, else junk."""
    return st.one_of(st.just(valid), st.just(valid), JUNK)


@st.composite
def unitary_bodies(draw: st.DrawFn, campaign_id: str) -> object:
    """An AJO unitary body whose every field may be junk."""
    recipient = st.fixed_dictionaries(
        {
            "type": _maybe("aep"),
            "userId": _maybe("p1@example.com"),
            "namespace": _maybe("email"),
        },
        optional={
            "channelData": _maybe({"emailAddress": "p1@example.com"}),
            "profile": _maybe({"firstName": "Ann"}),
            "context": _maybe({"link": "https://example.com"}),
        },
    )
    return draw(
        st.fixed_dictionaries(
            {
                "requestId": _maybe("ajo-body"),
                "campaignId": _maybe(campaign_id),
                "recipients": st.lists(recipient, min_size=0, max_size=3) | JUNK,
            }
        )
    )


@EXAMPLES
@given(data=st.data())
def test_an_ajo_body_gets_an_answer_or_the_ajo_error_shape(
    sides: tuple[Side, Side], data: st.DataObject
) -> None:
    body = data.draw(unitary_bodies(sides[0].ids["receipt"]), label="body")
    errors: list[ck.CampaignKitError] = []

    def call(side: Side, args: dict[str, Any]) -> object:
        try:
            return ajo.execute_unitary(side.admin, args["body"])
        except ck.CampaignKitError as exc:
            errors.append(exc)
            raise

    name, _ = _check(sides, "ajo.execute_unitary", call, {"body": body})
    if name != "accepted":
        answers = [ajo.error_response(exc) for exc in errors]
        assert answers[0] == answers[1]
        assert answers[0]["status"] in {400, 403, 404, 409, 422}
        json.dumps(answers[0])


@EXAMPLES
@given(data=st.data())
def test_an_ajo_audience_body_gets_an_answer_or_an_error(
    sides: tuple[Side, Side], data: st.DataObject
) -> None:
    body = data.draw(
        st.fixed_dictionaries(
            {"campaignId": _maybe(sides[0].ids["mailing"])},
            optional={
                "requestId": _maybe("ajo-audience"),
                "context": _maybe({"offer": "WINTER"}),
                "schedule": _maybe({"executeAt": "2026-12-02T09:00:00Z"})
                | st.fixed_dictionaries({"executeAt": JUNK}),
            },
        ),
        label="body",
    )
    _check(
        sides,
        "ajo.execute_audience",
        lambda s, a: ajo.execute_audience(s.admin, a["body"]),
        {"body": body},
    )
