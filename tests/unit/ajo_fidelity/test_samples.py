"""Every request fixture (one per documented sample) is accepted, delivered and answered as
documented: each answer validates against the stored schemas, and so do the look-ups."""

from __future__ import annotations

import pytest

import campaignkit as ck
from campaignkit import ajo
from campaignkit.ajo import responses
from tests.unit.ajo_fidelity.support import (
    ADMIN,
    EMAIL,
    PUSH,
    SMS,
    T0,
    World,
    assert_valid,
    raw_body,
    request_fixtures,
)

# what each sample delivers, once the next tick (or its execute_at) has come
DELIVERED: dict[str, set[tuple[ck.ChannelType, str, str]]] = {
    "01-unitary-sms-profile.json": {(SMS, "+15550100001", "news ")},
    "02-unitary-sms-context-channel-data.json": {
        (SMS, "+15550109991", "Rain boots SPRING-10"),
        (SMS, "+15550109992", "Rain boots SPRING-10"),
    },
    "03-unitary-push-profile.json": {(PUSH, "device-token-0a1b2c3d", "news ")},
    "04-unitary-email-context-profile.json": {
        (EMAIL, "nora@example.com", "Nora: Rain boots SPRING-10")
    },
    "05-unitary-email-channel-data-override.json": {
        (EMAIL, "nora.work@example.com", "Nora: Rain boots SPRING-10")
    },
    "06-unitary-email-merge-policy.json": {(EMAIL, "nora.work@example.com", "Nora: news ")},
    "07-audience-context.json": {
        (EMAIL, "nora@example.com", "Nora: Rain boots SPRING-10"),
        (EMAIL, "owen@example.com", "Owen: Rain boots SPRING-10"),
    },
    "08-unitary-external-email.json": {(EMAIL, "walk.in@example.com", "Wes: news WELCOME-5")},
    "09-audience-id-scheduled.json": {
        (EMAIL, "nora@example.com", "Nora: news SPRING-10"),
        (EMAIL, "owen@example.com", "Owen: news SPRING-10"),
    },
}


def _delivered(world: World) -> set[tuple[ck.ChannelType, str, str]]:
    return {
        (m.channel, m.address, m.fields.get("subject") or m.fields.get("text") or m.fields["body"])
        for m in world.sent()
    }


def test_every_fixture_is_listed_here() -> None:
    assert set(request_fixtures()) == set(DELIVERED)


def test_every_fixture_is_a_documented_request_shape() -> None:
    for name in request_fixtures():
        body = raw_body(name)
        assert_valid(body, "unitary-request" if "recipients" in body else "audience-request")


@pytest.mark.parametrize("name", [n for n in request_fixtures() if "unitary" in n])
def test_a_unitary_sample_is_answered_as_documented_and_delivered(world: World, name: str) -> None:
    body = world.body(name)
    world.clock.advance(seconds=1.5)

    answer = ajo.execute_unitary(world.admin, body)

    assert_valid(answer, "execution-response")
    assert answer["requestId"] == body["requestId"]
    assert answer["createdAt"] == answer["modifiedAt"] == "2026-12-01T09:00:01.500Z"
    assert answer["createdBy"] == answer["modifiedBy"] == ADMIN
    before = ajo.get_execution(world.admin, answer["executionId"])
    assert_valid(before, "execution-status-response")
    assert (before["status"], before["campaignId"]) == ("InProgress", body["campaignId"])
    assert "audienceId" not in before  # a unitary execution has no audience
    world.kit.tick()
    assert _delivered(world) == DELIVERED[name]
    after = ajo.get_execution(world.admin, answer["executionId"])
    assert_valid(after, "execution-status-response")
    assert (after["status"], after["targetedProfileCount"]) == (
        "Succeeded",
        len(body["recipients"]),
    )
    assert ajo.execute_unitary(world.admin, body) == answer  # idempotent: the same answer


def test_the_audience_sample_runs_now_and_its_status_names_the_audience(world: World) -> None:
    body = world.body("07-audience-context.json")

    answer = ajo.execute_audience(world.admin, body)
    world.kit.tick()

    assert_valid(answer, "execution-response")
    assert answer["requestId"].startswith("generated-")  # the sample sends none
    assert _delivered(world) == DELIVERED["07-audience-context.json"]
    status = ajo.get_execution(world.admin, answer["executionId"])
    assert_valid(status, "execution-status-response")
    assert status == {
        "executionId": answer["executionId"],
        "campaignId": body["campaignId"],
        "audienceId": "ck-waitlist",
        "status": "Succeeded",
        "targetedProfileCount": 2,
        "createdAt": "2026-12-01T09:00:00.000Z",
    }
    assert ajo.execution_status(world.admin, answer["executionId"]) == status  # the alias


def test_the_scheduled_audience_sample_is_a_schedule_until_it_fires(world: World) -> None:
    body = world.body("09-audience-id-scheduled.json")

    answer = ajo.execute_audience(world.admin, body)

    assert_valid(answer, "scheduled-execution-response")
    scheduled = {
        "scheduleId": answer["scheduleId"],
        "campaignId": body["campaignId"],
        "audience": {"id": "ck-waitlist"},
        "executeAt": "2026-12-01T11:00:00.000Z",
        "scheduleStatus": "Scheduled",
    }
    assert answer == scheduled
    assert ajo.get_schedule(world.admin, answer["scheduleId"]) == scheduled
    world.kit.run_until(T0.add(hours=2))
    assert _delivered(world) == DELIVERED["09-audience-id-scheduled.json"]
    fired = ajo.get_schedule(world.admin, answer["scheduleId"])
    assert_valid(fired, "scheduled-execution-response")
    assert fired == scheduled | {
        "scheduleStatus": "Triggered",
        "executionDetails": ajo.get_execution(world.admin, answer["scheduleId"]),
    }
    assert fired["executionDetails"]["status"] == "Succeeded"
    again = ajo.execute_audience(world.admin, body)  # the same request id: the same schedule
    assert again == fired


def test_a_scheduled_audience_without_audience_id_names_the_campaign_audience(
    world: World,
) -> None:
    body = world.body("09-audience-id-scheduled.json")
    del body["audience"]

    answer = ajo.execute_audience(world.admin, body)

    assert answer["audience"] == {"id": "ck-waitlist"}


def test_cancelling_a_schedule_answers_the_documented_empty_object(world: World) -> None:
    answer = ajo.execute_audience(world.admin, world.body("09-audience-id-scheduled.json"))

    cancelled = ajo.cancel_schedule(world.admin, answer["scheduleId"])
    world.kit.run_until(T0.add(hours=3))

    assert_valid(cancelled, "cancel-schedule-response")
    assert cancelled == {}
    assert world.sent() == []


@pytest.mark.parametrize("value", [3, 2.5, True, None, ["a", 1], {"deep": [{"x": 1}]}])
def test_context_and_profile_values_may_be_any_json(world: World, value: object) -> None:
    body = world.body("04-unitary-email-context-profile.json")
    body["recipients"][0]["context"]["extra"] = value
    body["recipients"][0]["profile"]["extra"] = value

    answer = ajo.execute_unitary(world.admin, body)

    assert_valid(answer, "execution-response")


def test_campaignkit_earlier_channel_data_spellings_are_still_accepted(world: World) -> None:
    sms = world.body("01-unitary-sms-profile.json")
    sms["recipients"][0]["channelData"] = {"phoneNumber": "+15550109993"}
    push = world.body("03-unitary-push-profile.json")
    push["recipients"][0]["channelData"] = {"pushToken": "device-token-legacy"}

    ajo.execute_unitary(world.admin, sms)
    ajo.execute_unitary(world.admin, push)
    world.kit.tick()

    assert {m.address for m in world.sent()} == {"+15550109993", "device-token-legacy"}


def test_an_external_recipient_without_channel_data_is_addressed_by_its_user_id(
    world: World,
) -> None:
    body = world.body("08-unitary-external-email.json")
    del body["recipients"][0]["channelData"]

    ajo.execute_unitary(world.admin, body)
    world.kit.tick()

    assert [m.address for m in world.sent()] == ["walk.in@example.com"]
    assert world.kit.profiles.find_by_identity("email", "walk.in@example.com") is None


def test_a_schedule_whose_audience_is_unknown_leaves_the_audience_out(world: World) -> None:
    campaign = world.campaigns["ck-campaign-audience"]
    execution = world.admin.execute_audience(campaign, request_id="r", execute_at=T0.add(hours=1))

    answer = responses.schedule_response(execution, None)

    assert_valid(answer, "scheduled-execution-response")
    assert "audience" not in answer
