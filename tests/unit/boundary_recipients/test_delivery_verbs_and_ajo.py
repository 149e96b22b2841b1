"""Delivery verbs (report, send, proof, feedback) and rules checking their arguments, and AJO
bodies with bad values getting AJO's error shape."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest

import campaignkit as ck
from campaignkit import ajo
from tests.unit.boundary_recipients.support import DEEP, Env, Unprintable, refused

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
        "requestId holds characters that cannot be encoded as UTF-8 (a lone surrogate?)"
    ]
    json.dumps({k: v for k, v in answer.items() if k != "report"})
    refused(env, lambda: ajo.execution_status(env.admin, cast("Any", 5)), "execution_id must be")
    refused(env, lambda: ajo.cancel_schedule(env.admin, cast("Any", None)), "execution_id must be")
