"""Shared parts of the boundary property tests: hostile values, the two identically seeded
kits (in memory and on a SQLite file), snapshots of what the store holds, and calling a verb on
both kits and comparing outcomes and stores."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import pendulum
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

import campaignkit as ck
from campaignkit.domain.checks import describe
from campaignkit.serialization import SCHEMAS, to_document
from campaignkit.testing import ManualClock
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
