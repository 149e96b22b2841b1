"""Hypothesis strategies for campaignkit's domain values.

Use them to property-test your own adapters and serializers, for example
that a store returns exactly what it was given. This module needs hypothesis.
"""

from __future__ import annotations

import pendulum
from hypothesis import strategies as st

from campaignkit.domain.access import AccessAuditEntry, AccessChange, Principal
from campaignkit.domain.approval import (
    ApprovalAction,
    ApprovalEntry,
    ApprovalPolicy,
    PolicyConditions,
    PolicyStatus,
    Review,
)
from campaignkit.domain.campaign import Action, Campaign, CampaignVersion, HistoryEntry, Verb
from campaignkit.domain.campaign_enums import CampaignStatus, CampaignType, Category
from campaignkit.domain.channels import ChannelType, Content, EmailContent, PushContent, SmsContent
from campaignkit.domain.profile import Profile
from campaignkit.domain.schedule import Recurrence, Schedule
from campaignkit.domain.surface import (
    ChannelSurface,
    EmailSettings,
    PushSettings,
    SmsSettings,
    SurfaceSettings,
    SurfaceStatus,
)
from campaignkit.permissions import ProductProfile

_ZONES = ("UTC", "Europe/Paris", "America/New_York", "Pacific/Kiritimati", "Asia/Kolkata")

ids = st.text("abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=12)
"""Identifier-like strings."""
texts = st.text(max_size=40)
"""Free text, any unicode."""
names = st.text(min_size=1, max_size=30).filter(lambda s: s.strip() == s and bool(s))
"""Non-empty names without surrounding blanks."""


@st.composite
def instants(draw: st.DrawFn) -> pendulum.DateTime:
    """Aware UTC instants between 2000 and 2100, with microseconds."""
    seconds = draw(st.integers(946_684_800, 4_102_444_800))
    micros = draw(st.integers(0, 999_999))
    return pendulum.from_timestamp(seconds, tz="UTC").add(microseconds=micros)


def contents() -> st.SearchStrategy[Content]:
    """Email, SMS or push content."""
    return st.one_of(
        st.builds(EmailContent, subject=texts, html=texts, text=st.none() | texts),
        st.builds(SmsContent, text=texts),
        st.builds(PushContent, title=texts, body=texts),
    )


def recurrences() -> st.SearchStrategy[Recurrence]:
    """Every kind of recurrence."""
    at = st.sampled_from(["00:00", "09:00", "18:30", "23:59"])
    every = st.integers(1, 4)
    return st.one_of(
        st.builds(lambda a, e: Recurrence.daily(at=a, every=e), at, every),
        st.builds(
            lambda d, a, e: Recurrence.weekly(days=d, at=a, every=e),
            st.lists(st.sampled_from(["MO", "TU", "WE", "TH", "FR", "SA", "SU"]), min_size=1),
            at,
            every,
        ),
        st.builds(lambda d, a: Recurrence.monthly(day=d, at=a), st.integers(1, 31), at),
        st.just(Recurrence.rrule("FREQ=WEEKLY;BYDAY=MO,WE")),
    )


def schedules() -> st.SearchStrategy[Schedule]:
    """Schedules, consistent or not (drafts may hold anything)."""
    return st.builds(
        Schedule,
        start=st.none() | instants(),
        end=st.none() | instants(),
        timezone=st.sampled_from(_ZONES),
        recurrence=st.none() | recurrences(),
    )


def versions(number: int = 1) -> st.SearchStrategy[CampaignVersion]:
    """Campaign versions with 0 to 3 actions."""
    return st.builds(
        CampaignVersion,
        number=st.just(number),
        created_at=instants(),
        created_by=ids,
        actions=st.lists(st.builds(Action, ids, contents(), ids), max_size=3).map(tuple),
        audience=st.none() | ids,
        namespace=st.none() | st.sampled_from(["email", "phone", "ecid"]),
        schedule=schedules(),
    )


def reviews() -> st.SearchStrategy[Review]:
    """Open review requests."""
    return st.builds(
        Review,
        requester=ids,
        requested_at=instants(),
        version=st.integers(1, 5),
        policy_id=ids,
        policy_name=names,
        reviewers=st.frozensets(ids, max_size=3),
        reviewer_groups=st.frozensets(ids, max_size=2),
        block_self_approval=st.booleans(),
        message=st.none() | texts,
    )


def campaigns() -> st.SearchStrategy[Campaign]:
    """Campaign values in any status, with history, versions and approval data."""
    history = st.builds(
        HistoryEntry,
        at=instants(),
        actor=ids,
        action=st.sampled_from(Verb),
        from_status=st.none() | st.sampled_from(CampaignStatus),
        to_status=st.sampled_from(CampaignStatus),
        detail=texts,
    )
    trail = st.builds(
        ApprovalEntry,
        at=instants(),
        actor=ids,
        action=st.sampled_from(ApprovalAction),
        version=st.integers(1, 5),
        policy_id=st.none() | ids,
        message=st.none() | texts,
    )
    return st.builds(
        Campaign,
        id=ids,
        name=names,
        type=st.sampled_from(CampaignType),
        category=st.sampled_from(Category),
        status=st.sampled_from(CampaignStatus),
        created_at=instants(),
        created_by=ids,
        updated_at=instants(),
        description=texts,
        tags=st.lists(ids, max_size=3, unique=True).map(tuple),
        live_version=st.none() | versions(1),
        draft_version=st.none() | versions(2),
        superseded_versions=st.lists(versions(1), max_size=2).map(tuple),
        activated_at=st.none() | instants(),
        went_live_at=st.none() | instants(),
        failure_reason=st.none() | texts,
        review=st.none() | reviews(),
        approvals=st.lists(trail, max_size=3).map(tuple),
        due_at=st.none() | instants(),
        history=st.lists(history, max_size=4).map(tuple),
        revision=st.integers(0, 1000),
    )


def surface_settings() -> st.SearchStrategy[SurfaceSettings]:
    """Settings of every channel."""
    return st.one_of(
        st.builds(
            EmailSettings,
            sender=st.just("news@example.com"),
            sender_name=st.none() | texts,
            reply_to=st.none() | st.just("reply@example.com"),
            subdomain=st.none() | ids,
        ),
        st.builds(SmsSettings, sender_id=ids),
        st.builds(PushSettings, app_id=ids, platform=st.sampled_from(["ios", "android", "web"])),
    )


def surfaces() -> st.SearchStrategy[ChannelSurface]:
    """Channel surfaces (settings match the channel)."""
    return surface_settings().flatmap(
        lambda settings: st.builds(
            ChannelSurface,
            id=ids,
            name=names,
            channel=st.just(settings.channel),
            category=st.sampled_from(Category),
            settings=st.just(settings),
            created_at=instants(),
            created_by=ids,
            status=st.sampled_from(SurfaceStatus),
            revision=st.integers(0, 100),
        )
    )


def approval_policies() -> st.SearchStrategy[ApprovalPolicy]:
    """Approval policies with any conditions."""
    conditions = st.builds(
        PolicyConditions,
        types=st.none() | st.frozensets(st.sampled_from(CampaignType), min_size=1),
        channels=st.none() | st.frozensets(st.sampled_from(ChannelType), min_size=1),
        tags=st.none() | st.frozensets(ids, min_size=1, max_size=3),
        name_contains=st.none() | names,
        name_equals=st.none() | names,
        requesters=st.none() | st.frozensets(ids, min_size=1, max_size=3),
        requester_groups=st.none() | st.frozensets(ids, min_size=1, max_size=3),
        match=st.sampled_from(["all", "any"]),
    )
    return st.builds(
        ApprovalPolicy,
        id=ids,
        name=names,
        conditions=conditions,
        reviewers=st.frozensets(ids, max_size=3),
        reviewer_groups=st.frozensets(ids, max_size=3),
        created_at=instants(),
        created_by=ids,
        block_self_approval=st.booleans(),
        status=st.sampled_from(PolicyStatus),
        activated_at=st.none() | instants(),
        revision=st.integers(0, 100),
    )


def access_entries() -> st.SearchStrategy[AccessAuditEntry]:
    """Access audit log entries."""
    return st.builds(
        AccessAuditEntry,
        at=instants(),
        actor=ids,
        change=st.sampled_from(AccessChange),
        principal=st.builds(Principal, st.sampled_from(["user", "group"]), ids),
        profile=st.none() | st.sampled_from(ProductProfile),
        group=st.none() | ids,
    )


_json_leaf = st.none() | st.booleans() | st.integers(-(10**9), 10**9) | texts


def profiles() -> st.SearchStrategy[Profile]:
    """Recipient profiles with nested JSON-like attributes."""
    attributes = st.dictionaries(
        ids,
        st.recursive(
            _json_leaf,
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ids, inner, max_size=3),
            max_leaves=6,
        ),
        max_size=4,
    )
    return st.builds(
        Profile,
        id=ids,
        identities=st.dictionaries(st.sampled_from(["email", "phone", "ecid"]), ids),
        attributes=attributes,
        consents=st.dictionaries(st.sampled_from(ChannelType), st.booleans()),
        channel_data=st.dictionaries(st.sampled_from(ChannelType), ids),
        timezone=st.none() | st.sampled_from(_ZONES),
        language=st.none() | st.sampled_from(["en", "fr", "de"]),
        test=st.booleans(),
    )


def json_values(max_leaves: int = 10) -> st.SearchStrategy[object]:
    """JSON-ish values, hostile ones included: NaN, huge ints, NUL, lone surrogates.

    Lists and string-keyed objects nest up to ``max_leaves`` leaves. Use them
    in any argument to check that a verb refuses what it cannot store with a
    ``ValidationError`` (and stores exactly what it accepts).
    """
    leaf = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats()
        | st.text(max_size=12)
        | st.text(st.sampled_from("ab \x00é\ud800\udfff/"), max_size=8)
    )
    return st.recursive(
        leaf,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def _nested(levels: int) -> dict[str, object]:
    top: dict[str, object] = {}
    node = top
    for _ in range(levels):
        child: dict[str, object] = {}
        node["a"] = child
        node = child
    return top


def hostile_values() -> st.SearchStrategy[object]:
    """Wrong types and hostile values for argument checks, JSON-ish values among them.

    Besides :func:`json_values`: over-long and blank strings, lone surrogates,
    bytes, naive and aware date-times, durations with months, enums of other
    kinds, campaignkit values in the wrong place, mappings with non-string
    keys, a value nested 100,000 levels deep (no recursive code survives it),
    empty collections, and callables.
    """
    deep = _nested(100_000)
    now = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
    wrong: list[object] = [
        None,
        True,
        0,
        -1,
        10**30,
        1.5,
        float("nan"),
        float("inf"),
        "",
        "   ",
        "\ud800",
        "ok\udfffok",
        "X" * 300,
        "x" * 20_000,
        b"bytes",
        object(),
        now,
        now.naive(),
        pendulum.duration(hours=1),
        pendulum.duration(months=1),
        ChannelType.EMAIL,
        CampaignStatus.LIVE,
        ProductProfile.ADMINISTRATOR,
        Profile(id="p1"),
        Schedule(),
        SmsContent(text="hi"),
        {1: "a", "b": 2},
        {"system": 1},
        {("t",): 1},
        deep,
        [deep],
        frozenset({"a"}),
        (),
        [],
        {},
        [None],
        print,
    ]
    return st.one_of(st.sampled_from(wrong), json_values())
