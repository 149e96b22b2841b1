"""Recipients and triggers: what no request could send refused, the 200 kB cap over contexts
and profile overlays, external recipients, and the arguments of audience executions and
execution verbs."""

from __future__ import annotations

from typing import Any, cast

import pytest

import campaignkit as ck
from campaignkit.domain.triggers import MAX_CONTEXT_BYTES
from tests.unit.boundary_recipients.support import DEEP, EMAIL, T0, Env, refused

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
