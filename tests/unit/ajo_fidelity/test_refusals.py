"""Every limit and refusal answers the exact documented error document: the MSG code form,
the operation's documented status (400/401 for executions, 404/401 for look-ups), and the
request's ids in additionalContext. Nothing is sent."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest

import campaignkit as ck
from campaignkit import ajo
from campaignkit.domain.checks import MAX_ADDRESS
from tests.unit.ajo_fidelity.support import T0, VIEWER, World, assert_valid

ERRORS = "https://ns.adobe.com/aep/errors/MSG-"
NO_PROFILE = "create it first, or let this transactional campaign create profiles"


def refusal(world: World, call: Callable[[], object]) -> dict[str, Any]:
    """The error document of what ``call`` raises, checked against the stored schema."""
    with pytest.raises(ck.CampaignKitError) as excinfo:
        call()
    answer = ajo.error_response(excinfo.value)
    assert_valid(answer, "error-response")
    world.kit.tick()
    return answer


def invalid(
    status: int, context: dict[str, str], subject: str, problems: list[str]
) -> dict[str, Any]:
    """The exact document of a ValidationError."""
    lines = "\n".join(f"  - {p}" for p in problems)
    noun = "problem" if len(problems) == 1 else "problems"
    return {
        "type": f"{ERRORS}900101-{status}",
        "title": "The request is not valid",
        "status": status,
        "report": {
            "additionalContext": context,
            "message": f"{subject} has {len(problems)} {noun}:\n{lines}",
            "problems": problems,
        },
    }


def ids(body: dict[str, Any]) -> dict[str, str]:
    return {"requestId": body["requestId"], "campaignId": body["campaignId"]}


# ---------------------------------------------------------------------- limits


@pytest.mark.parametrize("count", [0, 21])
def test_a_unitary_request_takes_1_to_20_recipients(world: World, count: int) -> None:
    body = world.body("01-unitary-sms-profile.json")
    body["recipients"] = body["recipients"] * count

    answer = refusal(world, lambda: ajo.execute_unitary(world.admin, body))

    problem = f"recipients must hold 1 to 20 recipients, not {count}"
    assert answer == invalid(400, ids(body), "unitary execution request", [problem])
    assert world.sent() == []


def test_the_whole_request_carries_at_most_200_kb_of_contextual_data(world: World) -> None:
    body = world.body("08-unitary-external-email.json")
    template = body["recipients"][0]
    body[
        "recipients"
    ] = [  # 10,550 bytes each (context and profile): under the limit alone, over it together
        template | {"userId": f"u{n:02}@example.com", "context": {"blob": "x" * 10_500}}
        for n in range(20)
    ]

    answer = refusal(world, lambda: ajo.execute_unitary(world.admin, body))

    problem = (
        "the recipients' context and profile data are 211000 bytes serialized in all; "
        "at most 204800 bytes are allowed per request: send less data, "
        "or split the recipients over several requests"
    )
    subject = f"trigger of campaign {body['campaignId']!r}"
    assert answer == invalid(400, ids(body), subject, [problem])
    assert world.sent() == []


def _blob(size: int) -> dict[str, str]:
    """A context of exactly ``size`` bytes serialized compactly (``{"k":"xx..."}``)."""
    return {"k": "x" * (size - 8)}


LIMIT = 200 * 1024


def test_200_kb_of_contextual_data_pass_and_one_byte_more_is_the_documented_400(
    world: World,
) -> None:
    body = world.body("08-unitary-external-email.json")
    template = body["recipients"][0]
    half = LIMIT // 2

    def split(total: int, request_id: str) -> dict[str, Any]:
        return body | {
            "requestId": request_id,
            "recipients": [
                template | {"userId": "u1@example.com", "context": _blob(half), "profile": None},
                template
                | {"userId": "u2@example.com", "context": None, "profile": _blob(total - half)},
            ],
        }

    assert ajo.execute_unitary(world.admin, split(LIMIT, "at-limit"))["requestId"] == "at-limit"
    over = split(LIMIT + 1, "over")
    answer = refusal(world, lambda: ajo.execute_unitary(world.admin, over))

    problem = (
        f"the recipients' context and profile data are {LIMIT + 1} bytes serialized in all; "
        f"at most {LIMIT} bytes are allowed per request: send less data, "
        "or split the recipients over several requests"
    )
    subject = f"trigger of campaign {body['campaignId']!r}"
    assert answer == invalid(400, ids(over), subject, [problem])


def test_one_byte_over_200_kb_is_the_documented_400_on_every_execution(world: World) -> None:
    unitary = world.body("08-unitary-external-email.json")
    unitary["recipients"][0] |= {"context": _blob(LIMIT + 1), "profile": None}
    audience = world.body("07-audience-context.json") | {"requestId": "audience-over"}
    audience["context"] = _blob(LIMIT + 1)
    campaign = unitary["campaignId"]

    for call, body, subject, path in (
        (
            ajo.execute_unitary,
            unitary,
            f"trigger of campaign {campaign!r}",
            "recipients[0].context",
        ),
        (
            ajo.execute_high_throughput,
            unitary,
            f"trigger of campaign {campaign!r}",
            "recipients[0].context",
        ),
        (
            ajo.execute_audience,
            audience,
            f"audience execution of campaign {audience['campaignId']!r}",
            "context",
        ),
    ):
        answer = refusal(world, functools.partial(call, world.admin, body))
        problem = f"{path} is {LIMIT + 1} bytes serialized; at most {LIMIT} bytes are allowed"
        assert answer == invalid(400, ids(body), subject, [problem])
    assert world.sent() == []
    assert ajo.execute_audience(world.admin, audience | {"context": _blob(LIMIT)})


def test_system_is_reserved_in_a_recipient_context(world: World) -> None:
    body = world.body("04-unitary-email-context-profile.json")
    body["recipients"][0]["context"]["system"] = {"now": "x"}

    answer = refusal(world, lambda: ajo.execute_unitary(world.admin, body))

    problem = "recipients[0].context uses the reserved top-level key 'system'"
    subject = f"trigger of campaign {body['campaignId']!r}"
    assert answer == invalid(400, ids(body), subject, [problem])


def test_system_is_reserved_in_an_audience_context(world: World) -> None:
    body = world.body("09-audience-id-scheduled.json")
    body["context"]["system"] = "x"

    answer = refusal(world, lambda: ajo.execute_audience(world.admin, body))

    problem = "context uses the reserved top-level key 'system'"
    subject = f"audience execution of campaign {body['campaignId']!r}"
    assert answer == invalid(400, ids(body), subject, [problem])


def test_a_recipient_in_another_namespace_is_named(world: World) -> None:
    body = world.body("01-unitary-sms-profile.json")
    body["recipients"][0]["namespace"] = "email"

    answer = refusal(world, lambda: ajo.execute_unitary(world.admin, body))

    problem = (
        f"recipients[0].namespace 'email' is not the identity namespace of campaign "
        f"{body['campaignId']!r} ('phone'); a campaign addresses one namespace: "
        "send this recipient's phone identity"
    )
    subject = f"trigger of campaign {body['campaignId']!r}"
    assert answer == invalid(400, ids(body), subject, [problem])


def test_session_trigger_still_finds_a_recipient_in_another_namespace(world: World) -> None:
    body = world.body("01-unitary-sms-profile.json")  # a campaign in namespace phone
    world.kit.profiles.upsert(
        ck.Profile(id="p-zed", identities={"email": "zed@example.com", "phone": "+15550100009"})
    )

    world.admin.trigger(
        body["campaignId"], [ck.Recipient("zed@example.com", "email")], request_id="r"
    )
    world.kit.tick()

    assert [m.address for m in world.sent()] == ["+15550100009"]


def test_duplicate_user_ids_are_refused(world: World) -> None:
    body = world.body("02-unitary-sms-context-channel-data.json")
    body["recipients"][1]["userId"] = body["recipients"][0]["userId"]

    answer = refusal(world, lambda: ajo.execute_unitary(world.admin, body))

    problem = "recipients[1].userId '+15550100001' appears more than once"
    subject = f"trigger of campaign {body['campaignId']!r}"
    assert answer == invalid(400, ids(body), subject, [problem])


# ---------------------------------------------------------------------- request fields


def test_push_info_needs_app_id_platform_and_token(world: World) -> None:
    body = world.body("03-unitary-push-profile.json")
    body["recipients"][0]["channelData"]["pushInfo"] = {"appID": "com.example.shop", "token": 7}
    body["recipients"].append(
        body["recipients"][0] | {"userId": "other", "channelData": {"pushInfo": "t"}}
    )

    answer = refusal(world, lambda: ajo.execute_unitary(world.admin, body))

    assert answer == invalid(
        400,
        ids(body),
        "unitary execution request",
        [
            "recipients[0].channelData.pushInfo.platform is required",
            "recipients[0].channelData.pushInfo.token must be a non-empty string, not 7",
            "recipients[1].channelData.pushInfo must be an object with appID, platform and "
            "token, not 't'",
        ],
    )


def test_channel_data_fields_are_known_non_empty_strings(world: World) -> None:
    body = world.body("05-unitary-email-channel-data-override.json")
    body["recipients"][0]["channelData"] = {"emailAddress": "", "fax": "1"}

    answer = refusal(world, lambda: ajo.execute_unitary(world.admin, body))

    assert answer["report"]["problems"] == [
        "recipients[0].channelData.emailAddress must be a non-empty string, not ''",
        "recipients[0].channelData.fax is not a known channel data field (emailAddress, "
        "mobilePhoneNumber, phoneNumber, pushToken, pushInfo)",
    ]


def test_merge_policy_fields_are_strings(world: World) -> None:
    body = world.body("06-unitary-email-merge-policy.json")
    body["recipients"][0]["mergePolicyName"] = 5

    answer = refusal(world, lambda: ajo.execute_unitary(world.admin, body))

    problem = "recipients[0].mergePolicyName must be a non-empty string, not 5"
    assert answer == invalid(400, ids(body), "unitary execution request", [problem])


LONE = "\ud800"  # a lone surrogate: no UTF-8 encoding


def test_ids_and_addresses_not_utf8_or_too_long_are_named_by_their_json_path(
    world: World,
) -> None:
    body = world.body("05-unitary-email-channel-data-override.json")
    body["requestId"] = LONE  # not echoed: additionalContext must encode as UTF-8
    recipient = body["recipients"][0]
    recipient |= {"userId": LONE, "namespace": f"email{LONE}", "mergePolicyName": LONE}
    recipient["channelData"] = {"emailAddress": "a" * 1_000_000}
    recipient["context"] = {"note": LONE}

    answer = refusal(world, lambda: ajo.execute_unitary(world.admin, body))

    path = "recipients[0]"
    utf8 = "holds characters that cannot be encoded as UTF-8 (a lone surrogate?)"
    assert answer["report"]["problems"] == [
        f"requestId {utf8}",
        f"{path}.userId {utf8}",
        f"{path}.namespace {utf8}",
        f"{path}.channelData.emailAddress is 1000000 characters long; the limit is "
        f"{MAX_ADDRESS}: shorten it",
        f"{path}.mergePolicyName {utf8}",
        f"{path}.context.note holds characters that cannot be encoded as UTF-8",
    ]
    assert answer["report"]["additionalContext"] == {"campaignId": body["campaignId"]}


def test_push_info_token_and_audience_id_are_named_by_their_json_path(world: World) -> None:
    body = world.body("03-unitary-push-profile.json")
    body["recipients"][0]["channelData"]["pushInfo"]["token"] = LONE
    audience = world.body("09-audience-id-scheduled.json")
    audience["audience"]["id"] = "a" * 257
    audience["campaignId"] = "c" * 257

    pushed = refusal(world, lambda: ajo.execute_unitary(world.admin, body))
    scheduled = refusal(world, lambda: ajo.execute_audience(world.admin, audience))

    assert pushed["report"]["problems"] == [
        "recipients[0].channelData.pushInfo.token holds characters that cannot be encoded "
        "as UTF-8 (a lone surrogate?)"
    ]
    assert scheduled["report"]["problems"] == [
        "campaignId is 257 characters long; the limit is 256: shorten it",
        "audience.id is 257 characters long; the limit is 256: shorten it",
    ]


def test_audience_and_schedule_fields_are_checked(world: World) -> None:
    body = world.body("09-audience-id-scheduled.json")
    body["audience"] = {}
    body["schedule"] = {"executeAt": "tomorrow"}

    answer = refusal(world, lambda: ajo.execute_audience(world.admin, body))

    assert answer == invalid(
        400,
        ids(body),
        "audience execution request",
        [
            "audience.id is required",
            "schedule.executeAt must be an ISO 8601 instant with a UTC offset, not 'tomorrow'",
        ],
    )


# ---------------------------------------------------------------------- refusals


def test_permission_denied_is_the_documented_401(world: World) -> None:
    body = world.body("01-unitary-sms-profile.json")
    viewer = world.kit.as_user(VIEWER)

    answer = refusal(world, lambda: ajo.execute_unitary(viewer, body))

    assert answer == {
        "type": f"{ERRORS}900105-401",
        "title": "The user may not do this",
        "status": 401,
        "report": {
            "additionalContext": ids(body),
            "message": f"user 'vic' lacks permission 'campaign.publish' on campaign "
            f"{body['campaignId']!r}: profile VIEWER does not grant campaign.publish",
        },
    }
    assert world.sent() == []


def test_a_stopped_campaign_is_a_400(world: World) -> None:
    body = world.body("01-unitary-sms-profile.json")
    world.admin.stop(body["campaignId"])

    answer = refusal(world, lambda: ajo.execute_unitary(world.admin, body))

    assert answer == {
        "type": f"{ERRORS}900102-400",
        "title": "The campaign cannot accept this request",
        "status": 400,
        "report": {
            "additionalContext": ids(body),
            "message": f"cannot trigger campaign {body['campaignId']!r}: it is STOPPED; "
            f"campaign {body['campaignId']!r} is STOPPED, so it is not accepting triggers "
            "(it must be LIVE)",
        },
    }


def test_an_unknown_campaign_is_a_400(world: World) -> None:
    body = world.body("01-unitary-sms-profile.json") | {"campaignId": "cmp_missing"}

    answer = refusal(world, lambda: ajo.execute_unitary(world.admin, body))

    assert answer == {
        "type": f"{ERRORS}900103-400",
        "title": "Not found",
        "status": 400,
        "report": {
            "additionalContext": ids(body),
            "message": "no campaign with id 'cmp_missing'",
        },
    }


def test_a_request_id_reused_with_another_body_is_a_400(world: World) -> None:
    body = world.body("01-unitary-sms-profile.json")
    ajo.execute_unitary(world.admin, body)
    body["recipients"][0]["context"] = {"voucher": "OTHER"}

    answer = refusal(world, lambda: ajo.execute_unitary(world.admin, body))

    assert answer == {
        "type": f"{ERRORS}900104-400",
        "title": "The request id was used with another payload",
        "status": 400,
        "report": {
            "additionalContext": ids(body),
            "message": f"request id 'ck-sample-0001' was already used for campaign "
            f"{body['campaignId']!r} with a different payload; use a new request id",
        },
    }


def test_a_body_that_is_not_an_object_has_no_ids_to_report(world: World) -> None:
    answer = refusal(world, lambda: ajo.execute_unitary(world.admin, ["not", "an", "object"]))

    assert answer == invalid(400, {}, "input", ["the request body must be a JSON object, not list"])


def test_a_failure_of_campaignkit_itself_is_a_500() -> None:
    answer = ajo.error_response(ck.StorageError("database disk image is malformed"))

    assert answer == {
        "type": f"{ERRORS}900199-500",
        "title": "An error has occurred",
        "status": 500,
        "report": {"additionalContext": {}, "message": "database disk image is malformed"},
    }


# ---------------------------------------------------------------------- look-ups


def not_found(key: str, value: str, message: str, code: str = "900103") -> dict[str, Any]:
    title = "Not found" if code == "900103" else "The schedule is not pending"
    return {
        "type": f"{ERRORS}{code}-404",
        "title": title,
        "status": 404,
        "report": {"additionalContext": {key: value}, "message": message},
    }


def test_look_ups_of_unknown_ids_are_404(world: World) -> None:
    for lookup, key in (
        (ajo.get_execution, "executionId"),
        (ajo.get_schedule, "scheduleId"),
        (ajo.cancel_schedule, "scheduleId"),
    ):
        answer = refusal(world, functools.partial(lookup, world.admin, "exe_x"))
        assert answer == not_found(key, "exe_x", "no execution with id 'exe_x'")


def test_a_look_up_with_an_id_that_is_not_text_is_a_404(world: World) -> None:
    answer = refusal(world, lambda: ajo.get_execution(world.admin, 5))  # type: ignore[arg-type]

    assert (answer["status"], answer["type"]) == (404, f"{ERRORS}900101-404")
    assert answer["report"]["additionalContext"] == {}


def test_a_look_up_without_read_permission_is_a_401(world: World) -> None:
    answer = ajo.execute_unitary(world.admin, world.body("01-unitary-sms-profile.json"))
    world.kit.access.assign("nobody", ck.ProductProfile.VIEWER)
    world.kit.access.revoke("nobody", ck.ProductProfile.VIEWER)
    nobody = world.kit.as_user("nobody")

    refused = refusal(world, lambda: ajo.get_execution(nobody, answer["executionId"]))

    assert (refused["status"], refused["type"]) == (401, f"{ERRORS}900105-401")
    assert refused["report"]["additionalContext"] == {"executionId": answer["executionId"]}


def test_an_execution_that_has_not_fired_is_looked_up_as_a_schedule(world: World) -> None:
    schedule = ajo.execute_audience(world.admin, world.body("09-audience-id-scheduled.json"))
    key = schedule["scheduleId"]

    answer = refusal(world, lambda: ajo.get_execution(world.admin, key))

    message = (
        f"execution {key!r} has not fired yet: look up its schedule (get_schedule) until it has"
    )
    assert answer == not_found("executionId", key, message)


def test_an_execution_that_was_not_scheduled_has_no_schedule(world: World) -> None:
    execution = ajo.execute_unitary(world.admin, world.body("01-unitary-sms-profile.json"))
    key = execution["executionId"]

    for lookup in (ajo.get_schedule, ajo.cancel_schedule):
        answer = refusal(world, functools.partial(lookup, world.admin, key))
        message = f"schedule {key!r} is an execution that was not scheduled: use get_execution"
        assert answer == not_found("scheduleId", key, message)


def test_a_cancelled_schedule_is_gone(world: World) -> None:
    key = ajo.execute_audience(world.admin, world.body("09-audience-id-scheduled.json"))[
        "scheduleId"
    ]
    assert ajo.cancel_schedule(world.admin, key) == {}

    for lookup in (ajo.get_schedule, ajo.cancel_schedule):
        answer = refusal(world, functools.partial(lookup, world.admin, key))
        assert answer == not_found("scheduleId", key, f"schedule {key!r} was cancelled (deleted)")
    answer = refusal(world, lambda: ajo.get_execution(world.admin, key))
    message = f"execution {key!r} was a schedule, cancelled before it fired"
    assert answer == not_found("executionId", key, message)


def test_cancelling_a_schedule_that_fired_is_the_documented_404(world: World) -> None:
    body = world.body("09-audience-id-scheduled.json")
    key = ajo.execute_audience(world.admin, body)["scheduleId"]
    world.kit.run_until(T0.add(hours=2))
    sent = len(world.sent())

    answer = refusal(world, lambda: ajo.cancel_schedule(world.admin, key))

    campaign = body["campaignId"]
    message = (
        f"cannot cancel_execution campaign {campaign!r}: it is LIVE; execution {key!r} has "
        "fired already; only a scheduled execution can be cancelled before its execute_at"
    )
    assert answer == {
        "type": f"{ERRORS}900106-404",
        "title": "The schedule is not pending",
        "status": 404,
        "report": {
            "additionalContext": {"scheduleId": key, "campaignId": campaign},
            "message": message,
        },
    }
    assert len(world.sent()) == sent == 2


def test_repeating_the_request_of_a_cancelled_schedule_is_a_400_naming_it(world: World) -> None:
    body = world.body("09-audience-id-scheduled.json")
    key = ajo.execute_audience(world.admin, body)["scheduleId"]
    assert ajo.cancel_schedule(world.admin, key) == {}

    answer = refusal(world, lambda: ajo.execute_audience(world.admin, body))

    campaign = body["campaignId"]
    message = (
        f"cannot execute_audience campaign {campaign!r}: it is LIVE; request "
        f"{body['requestId']!r} scheduled execution {key!r}, which was cancelled (deleted): "
        "send a new requestId to schedule it again"
    )
    assert answer == {
        "type": f"{ERRORS}900106-400",
        "title": "The schedule is not pending",
        "status": 400,
        "report": {"additionalContext": ids(body), "message": message},
    }
    world.kit.run_until(T0.add(hours=2))
    assert world.sent() == []
