"""Property: value constructors raise only campaignkit errors, a profile that can be built is
stored alike on both kits, and the known failures are refused with validation errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

import attrs
import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

import campaignkit as ck
from campaignkit.serialization import to_document
from campaignkit.testing import ManualClock, SequentialIds
from tests.unit.boundary_properties.support import (
    DEEP,
    EMAIL,
    EXAMPLES,
    JSONISH,
    JUNK,
    T0,
    Call,
    Side,
    _check,
    attempt,
)

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
