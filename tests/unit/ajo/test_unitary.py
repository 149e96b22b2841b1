"""Unitary requests in AJO's shape: full and minimal bodies, several recipients, repeated
request ids, SMS addressing and external recipient types."""

from __future__ import annotations

import json

import pytest

import campaignkit as ck
from campaignkit import ajo
from tests.unit.ajo.support import (
    ADMIN,
    EMAIL,
    SMS,
    T0,
    Env,
    parse_instant,
    path_of,
    recipient,
    unitary_body,
)

# ---------------------------------------------------------------------- unitary requests


def test_a_full_unitary_body_is_executed_and_answered_in_ajo_shape(env: Env) -> None:
    env.clock.advance(minutes=3)

    response = ajo.execute_unitary(env.admin, unitary_body(env))

    assert set(response) == {
        "executionId",
        "requestId",
        "createdAt",
        "createdBy",
        "modifiedAt",
        "modifiedBy",
    }
    assert response["requestId"] == "request-12345"
    assert ajo.get_execution(env.admin, response["executionId"])["status"] == "InProgress"
    assert parse_instant(response["createdAt"]) == T0.add(minutes=3)
    assert response["createdAt"] == response["modifiedAt"] == "2026-12-01T09:03:00.000Z"
    assert response["createdBy"] == response["modifiedBy"] == ADMIN
    assert json.loads(json.dumps(response)) == response
    execution = env.admin.execution(response["executionId"])
    assert (execution.request_id, execution.campaign_id) == ("request-12345", env.transactional.id)
    assert env.sent() == []

    env.kit.tick()

    by_channel = {m.channel: m for m in env.sent()}
    assert by_channel[EMAIL].address == "ann.work@example.com"
    assert by_channel[EMAIL].fields["subject"] == "Jane: Gaming Laptop"
    assert by_channel[SMS].address == "+33100000001"
    assert by_channel[SMS].fields["text"] == "Jane: Gaming Laptop"
    assert env.admin.execution(response["executionId"]).status is ck.ExecutionStatus.SUCCEEDED


def test_a_minimal_unitary_body_uses_the_stored_profile(env: Env) -> None:
    body = {
        "requestId": "r",
        "campaignId": env.transactional.id,
        "recipients": [recipient(context={"product": "Mouse"})],
    }

    ajo.execute_unitary(env.admin, body)
    env.kit.tick()

    [email] = [m for m in env.sent() if m.channel is EMAIL]
    assert (email.address, email.fields["subject"]) == ("ann@example.com", "Ann: Mouse")


def test_several_recipients_each_get_their_own_context(env: Env) -> None:
    body = {
        "requestId": "r",
        "campaignId": env.transactional.id,
        "recipients": [
            recipient(context={"product": "Mouse"}),
            recipient(userId="bob@example.com", context={"product": "Desk"}),
        ],
    }

    ajo.execute_unitary(env.admin, body)
    env.kit.tick()

    assert {m.address: m.fields["subject"] for m in env.sent() if m.channel is EMAIL} == {
        "ann@example.com": "Ann: Mouse",
        "bob@example.com": "Bob: Desk",
    }


def test_a_repeated_unitary_body_is_answered_again_and_sent_once(env: Env) -> None:
    first = ajo.execute_unitary(env.admin, unitary_body(env))
    env.kit.tick()
    env.clock.advance(minutes=1)

    again = ajo.execute_unitary(env.admin, unitary_body(env))
    env.kit.tick()

    assert again["executionId"] == first["executionId"]
    assert again["createdAt"] == first["createdAt"]
    assert ajo.get_execution(env.admin, again["executionId"])["status"] == "Succeeded"
    assert len(env.sent()) == 2  # one email and one SMS, once


def test_a_request_id_reused_with_another_body_is_a_400(env: Env) -> None:
    ajo.execute_unitary(env.admin, unitary_body(env))
    changed = unitary_body(env)
    changed["recipients"][0]["context"] = {"product": "Phone"}

    with pytest.raises(ck.ConflictError) as excinfo:
        ajo.execute_unitary(env.admin, changed)

    answer = ajo.error_response(excinfo.value)
    assert (answer["status"], answer["type"]) == (
        400,
        "https://ns.adobe.com/aep/errors/MSG-900104-400",
    )


def test_channel_data_mobile_phone_number_addresses_the_sms(env: Env) -> None:
    body = {
        "requestId": "r",
        "campaignId": env.transactional.id,
        "recipients": [
            recipient(channelData={"mobilePhoneNumber": "+33199999999"}, context={"product": "X"})
        ],
    }

    try:
        ajo.execute_unitary(env.admin, body)
    except ck.ValidationError as exc:
        raise AssertionError(exc.problems) from exc
    env.kit.tick()

    [sms] = [m for m in env.sent() if m.channel is SMS]
    assert (sms.address, sms.fields["text"]) == ("+33199999999", "Ann: X")


def test_an_external_recipient_type_is_understood(env: Env) -> None:
    body = {
        "requestId": "r",
        "campaignId": env.transactional.id,
        "recipients": [
            recipient(
                type="external",
                channelData={"emailAddress": "ann@example.com"},
                context={"product": "X"},
            )
        ],
    }

    problems: list[str] = []
    try:
        ajo.execute_unitary(env.admin, body)
    except ck.ValidationError as exc:
        problems = list(exc.problems)

    assert not [p for p in problems if path_of(p) == "recipients[0].type"]
