"""AJO-compatible payloads (SPEC section 9, issue 7): the JSON bodies of AJO's unitary and
audience execution requests are accepted as-is, malformed bodies raise one
``ValidationError`` whose problems name JSON paths, responses have AJO's shapes, and
``error_response`` turns every campaignkit error into AJO's error shape.
"""

from __future__ import annotations

import copy
import datetime
import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlparse

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit import ajo
from campaignkit.testing import ManualClock, RecordingChannel, SequentialIds

T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
EMAIL = ck.ChannelType.EMAIL
SMS = ck.ChannelType.SMS
TXN = ck.Category.TRANSACTIONAL
MKT = ck.Category.MARKETING
ADMIN, MANAGER = "ada", "max"
JsonBody = dict[str, Any]


@attrs.define
class Env:
    kit: ck.CampaignKit
    clock: ManualClock
    transactional: ck.Campaign
    marketing: ck.Campaign

    @property
    def admin(self) -> ck.UserSession:
        return self.kit.as_user(ADMIN)

    def sent(self) -> list[ck.Message]:
        messages = []
        for channel in self.kit.channels.values():
            assert isinstance(channel, RecordingChannel)
            messages.extend(channel.sent)
        return messages

    def runs(self) -> list[ck.Run]:
        with self.kit.store.unit_of_work() as uow:
            return [
                *uow.runs.for_campaign(self.transactional.id),
                *uow.runs.for_campaign(self.marketing.id),
            ]

    def assert_nothing_happened(self) -> None:
        self.kit.tick()
        assert self.sent() == []
        assert self.runs() == []


def make_env() -> Env:
    clock = ManualClock(T0)
    kit = ck.CampaignKit.in_memory(clock=clock, ids=SequentialIds())
    kit.access.assign(ADMIN, ck.ProductProfile.ADMINISTRATOR)
    kit.access.assign(MANAGER, ck.ProductProfile.MANAGER)
    admin = kit.as_user(ADMIN)
    surfaces = {}
    for category in ck.Category:
        surfaces[EMAIL, category] = admin.create_surface(
            name=f"email {category}",
            channel=EMAIL,
            settings=ck.EmailSettings(sender="shop@example.com"),
            category=category,
        ).id
        surfaces[SMS, category] = admin.create_surface(
            name=f"sms {category}",
            channel=SMS,
            settings=ck.SmsSettings(sender_id="SHOP"),
            category=category,
        ).id
    kit.profiles.upsert(
        ck.Profile(
            id="p-ann",
            identities={"email": "ann@example.com", "phone": "+33100000001"},
            attributes={"person": {"name": {"firstName": "Ann"}}},
            consents={EMAIL: True, SMS: True},
            channel_data={SMS: "+33100000001"},
        )
    )
    kit.profiles.upsert(
        ck.Profile(
            id="p-bob",
            identities={"email": "bob@example.com"},
            attributes={"person": {"name": {"firstName": "Bob"}}},
            consents={EMAIL: True},
        )
    )
    kit.audiences.define("vip", ["p-ann", "p-bob"])
    subject = "{{ profile.person.name.firstName }}: {{ context.product }}"

    def live(category: ck.Category, name: str) -> ck.Campaign:
        campaign = admin.create_campaign(
            name=name,
            type=ck.CampaignType.API_TRIGGERED,
            category=category,
            audience="vip" if category is MKT else None,
            namespace="email",
            actions=[
                ck.Action(surfaces[EMAIL, category], ck.EmailContent(subject=subject, html="hi")),
                ck.Action(surfaces[SMS, category], ck.SmsContent(text=subject)),
            ],
            schedule=ck.Schedule(end=T0.add(days=30)),
        )
        admin.activate(campaign.id)
        kit.tick()
        return admin.get(campaign.id)

    return Env(kit, clock, live(TXN, "Order confirmation"), live(MKT, "Flash sale"))


@pytest.fixture
def env() -> Iterator[Env]:
    world = make_env()
    yield world
    world.kit.close()


def unitary_body(env: Env, **changes: Any) -> JsonBody:
    """A complete AJO unitary execution body, as a host would forward it (parsed JSON)."""
    body: JsonBody = {
        "requestId": "request-12345",
        "campaignId": env.transactional.id,
        "recipients": [
            {
                "type": "aep",
                "userId": "ann@example.com",
                "namespace": "email",
                "mergePolicyName": "Default Timebased",
                "mergePolicySchema": "_xdm.context.profile",
                "channelData": {"emailAddress": "ann.work@example.com"},
                "profile": {"person": {"name": {"firstName": "Jane", "lastName": "Doe"}}},
                "context": {"product": "Gaming Laptop"},
            }
        ],
    }
    body.update(changes)
    return json.loads(json.dumps(body))  # type: ignore[no-any-return]


def recipient(**fields: Any) -> JsonBody:
    base: JsonBody = {"type": "aep", "userId": "ann@example.com", "namespace": "email"}
    base.update(fields)
    return base


def audience_body(env: Env, **changes: Any) -> JsonBody:
    body: JsonBody = {
        "requestId": "audience-1",
        "campaignId": env.marketing.id,
        "audience": {"id": "vip"},
        "context": {"product": "Headphones"},
    }
    body.update(changes)
    return body


def problems_of(call: Callable[[], object]) -> list[str]:
    """The problems of the ValidationError ``call`` raises (an AssertionError if none)."""
    try:
        call()
    except ck.ValidationError as exc:
        return list(exc.problems)
    raise AssertionError("no ValidationError was raised")


def path_of(problem: str) -> str:
    """The JSON path a problem starts with (``recipients[0].type``)."""
    return problem.split(" ", 1)[0].rstrip(":")


def parse_instant(text: str) -> pendulum.DateTime:
    parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None, text
    return pendulum.instance(parsed)


# ---------------------------------------------------------------------- unitary requests


def test_a_full_unitary_body_is_executed_and_answered_in_ajo_shape(env: Env) -> None:
    env.clock.advance(minutes=3)

    response = ajo.execute_unitary(env.admin, unitary_body(env))

    assert set(response) == {
        "requestId",
        "campaignId",
        "executionId",
        "status",
        "executionStatus",
        "createdAt",
        "createdBy",
    }
    assert response["requestId"] == "request-12345"
    assert response["campaignId"] == env.transactional.id
    assert response["status"] == "Triggered"
    assert response["executionStatus"] == "InProgress"
    assert parse_instant(response["createdAt"]) == T0.add(minutes=3)
    assert response["createdBy"] == ADMIN
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
    assert again["executionStatus"] == "Succeeded"
    assert len(env.sent()) == 2  # one email and one SMS, once


def test_a_request_id_reused_with_another_body_is_a_409(env: Env) -> None:
    ajo.execute_unitary(env.admin, unitary_body(env))
    changed = unitary_body(env)
    changed["recipients"][0]["context"] = {"product": "Phone"}

    with pytest.raises(ck.ConflictError) as excinfo:
        ajo.execute_unitary(env.admin, changed)

    assert ajo.error_response(excinfo.value)["status"] == 409


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


# ---------------------------------------------------------------------- audience requests


def test_an_audience_body_without_a_schedule_runs_now(env: Env) -> None:
    response = ajo.execute_audience(env.admin, audience_body(env))

    assert {"requestId", "campaignId", "executionId", "createdAt", "createdBy"} <= set(response)
    assert "executeAt" not in response
    assert response["requestId"] == "audience-1"
    assert response["campaignId"] == env.marketing.id
    assert response["executionStatus"] == "InProgress"
    env.kit.tick()

    assert sorted(m.fields["subject"] for m in env.sent() if m.channel is EMAIL) == [
        "Ann: Headphones",
        "Bob: Headphones",
    ]
    execution = env.admin.execution(response["executionId"])
    assert (execution.status, execution.targeted) == (ck.ExecutionStatus.SUCCEEDED, 2)


def test_a_minimal_audience_body_runs_the_campaign_audience(env: Env) -> None:
    body = {"requestId": "a", "campaignId": env.marketing.id, "context": {"product": "Ink"}}

    ajo.execute_audience(env.admin, body)
    env.kit.tick()

    assert len([m for m in env.sent() if m.channel is EMAIL]) == 2


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-12-01T11:00:00Z", T0.add(hours=2)),
        ("2026-12-01T11:00:00.000Z", T0.add(hours=2)),
        ("2026-12-01T13:30:00+02:00", T0.add(hours=2, minutes=30)),
        ("2026-12-01T06:00:00-05:00", T0.add(hours=2)),
    ],
)
def test_an_audience_body_with_schedule_execute_at_is_scheduled(
    env: Env, text: str, instant: pendulum.DateTime
) -> None:
    response = ajo.execute_audience(env.admin, audience_body(env, schedule={"executeAt": text}))

    assert "executeAt" in response
    assert parse_instant(response["executeAt"]) == instant
    assert response.get("scheduleStatus", response.get("status")) == "Scheduled"
    env.kit.run_until(instant.subtract(seconds=1))
    assert env.sent() == []
    env.kit.run_until(instant)
    assert len([m for m in env.sent() if m.channel is EMAIL]) == 2


def test_a_scheduled_audience_response_has_the_schedule_shape(env: Env) -> None:
    response = ajo.execute_audience(
        env.admin, audience_body(env, schedule={"executeAt": "2026-12-01T11:00:00Z"})
    )

    assert {"scheduleId", "scheduleStatus", "executeAt", "campaignId"} <= set(response)
    assert response["scheduleStatus"] == "Scheduled"
    assert env.admin.execution(response["scheduleId"]).execute_at == T0.add(hours=2)


def test_an_audience_body_without_request_id_is_accepted(env: Env) -> None:
    body = {"campaignId": env.marketing.id, "context": {"product": "Ink"}}

    try:
        response = ajo.execute_audience(env.admin, body)
    except ck.ValidationError as exc:
        raise AssertionError(exc.problems) from exc
    env.kit.tick()

    assert response["executionId"]
    assert len([m for m in env.sent() if m.channel is EMAIL]) == 2


def test_an_audience_body_for_a_transactional_campaign_is_a_422(env: Env) -> None:
    body = audience_body(env, campaignId=env.transactional.id)

    with pytest.raises(ck.TransitionNotAllowed) as excinfo:
        ajo.execute_audience(env.admin, body)

    assert ajo.error_response(excinfo.value)["status"] == 422
    env.assert_nothing_happened()


# ---------------------------------------------------------------------- status and cancel


def test_execution_status_has_the_ajo_shape(env: Env) -> None:
    name = "execution_status"
    execution_status: Callable[[ck.UserSession, str], dict[str, Any]] = getattr(ajo, name)
    response = ajo.execute_audience(env.admin, audience_body(env))

    before = execution_status(env.admin, response["executionId"])
    env.kit.tick()
    after = execution_status(env.admin, response["executionId"])

    assert before["status"] == "InProgress"
    assert after["status"] == "Succeeded"
    assert after["targetedProfileCount"] == 2
    assert after["executionId"] == response["executionId"]
    assert parse_instant(after["createdAt"]) == T0


def test_cancel_schedule_cancels_before_the_execution_fires(env: Env) -> None:
    name = "cancel_schedule"
    cancel_schedule: Callable[[ck.UserSession, str], object] = getattr(ajo, name)
    execution = env.admin.execute_audience(
        env.marketing.id, request_id="a", execute_at=T0.add(hours=1)
    )

    cancel_schedule(env.admin, execution.id)
    env.kit.run_until(T0.add(hours=2))

    assert env.sent() == []


# ---------------------------------------------------------------------- malformed bodies


@pytest.mark.parametrize("body", [[], "body", None, 42, [{"requestId": "r"}]])
@pytest.mark.parametrize("endpoint", ["unitary", "audience"])
def test_a_body_that_is_not_an_object_is_refused(env: Env, body: object, endpoint: str) -> None:
    execute = ajo.execute_unitary if endpoint == "unitary" else ajo.execute_audience

    problems = problems_of(lambda: execute(env.admin, body))

    assert problems == [f"the request body must be a JSON object, not {type(body).__name__}"]
    env.assert_nothing_happened()


def _drop(key: str) -> Callable[[JsonBody], None]:
    def change(body: JsonBody) -> None:
        del body[key]

    return change


def _set(key: str, value: object) -> Callable[[JsonBody], None]:
    def change(body: JsonBody) -> None:
        body[key] = value

    return change


def _set_recipient(key: str, value: object, number: int = 0) -> Callable[[JsonBody], None]:
    def change(body: JsonBody) -> None:
        body["recipients"][number][key] = value

    return change


def _drop_recipient(key: str) -> Callable[[JsonBody], None]:
    def change(body: JsonBody) -> None:
        del body["recipients"][0][key]

    return change


MALFORMED_UNITARY: list[tuple[str, Callable[[JsonBody], None], list[str]]] = [
    ("missing requestId", _drop("requestId"), ["requestId"]),
    ("missing campaignId", _drop("campaignId"), ["campaignId"]),
    ("missing recipients", _drop("recipients"), ["recipients"]),
    ("requestId a number", _set("requestId", 12345), ["requestId"]),
    ("requestId blank", _set("requestId", "  "), ["requestId"]),
    ("campaignId a list", _set("campaignId", ["c"]), ["campaignId"]),
    ("recipients an object", _set("recipients", {"type": "aep"}), ["recipients"]),
    ("recipients a string", _set("recipients", "ann@example.com"), ["recipients"]),
    ("recipient not an object", _set("recipients", ["ann@example.com"]), ["recipients[0]"]),
    ("recipient null", _set("recipients", [None]), ["recipients[0]"]),
    ("unknown type", _set_recipient("type", "csv"), ["recipients[0].type"]),
    ("missing type", _drop_recipient("type"), ["recipients[0].type"]),
    ("userId a number", _set_recipient("userId", 12345), ["recipients[0].userId"]),
    ("missing userId", _drop_recipient("userId"), ["recipients[0].userId"]),
    ("missing namespace", _drop_recipient("namespace"), ["recipients[0].namespace"]),
    ("namespace empty", _set_recipient("namespace", ""), ["recipients[0].namespace"]),
    ("context a list", _set_recipient("context", ["a"]), ["recipients[0].context"]),
    ("context a string", _set_recipient("context", "{}"), ["recipients[0].context"]),
    ("profile a string", _set_recipient("profile", "Jane"), ["recipients[0].profile"]),
    ("channelData a list", _set_recipient("channelData", ["a"]), ["recipients[0].channelData"]),
    (
        "channelData unknown key",
        _set_recipient("channelData", {"faxNumber": "+331"}),
        ["recipients[0].channelData.faxNumber"],
    ),
    (
        "channelData emailAddress a number",
        _set_recipient("channelData", {"emailAddress": 5}),
        ["recipients[0].channelData.emailAddress"],
    ),
    (
        "reserved context key",
        _set_recipient("context", {"system": {"a": 1}}),
        ["recipients[0].context"],
    ),
    (
        "oversize context",
        _set_recipient("context", {"blob": "a" * (200 * 1024)}),
        ["recipients[0].context"],
    ),
]


@pytest.mark.parametrize(
    ("change", "paths"),
    [pytest.param(change, paths, id=name) for name, change, paths in MALFORMED_UNITARY],
)
def test_a_malformed_unitary_body_names_the_json_path(
    env: Env, change: Callable[[JsonBody], None], paths: list[str]
) -> None:
    body = unitary_body(env)
    change(body)

    problems = problems_of(lambda: ajo.execute_unitary(env.admin, body))

    assert [path_of(p) for p in problems] == paths
    env.assert_nothing_happened()


def test_the_second_recipient_is_named_by_its_index(env: Env) -> None:
    body = unitary_body(env)
    body["recipients"].append(recipient(userId="bob@example.com", type="csv", profile=[]))

    problems = problems_of(lambda: ajo.execute_unitary(env.admin, body))

    assert [path_of(p) for p in problems] == ["recipients[1].type", "recipients[1].profile"]
    assert "'csv'" in problems[0]
    env.assert_nothing_happened()


def test_every_problem_of_a_body_is_reported_together(env: Env) -> None:
    body = {
        "requestId": 7,
        "recipients": [
            {"type": "csv", "userId": 5, "namespace": "email", "context": []},
            "bob@example.com",
            recipient(channelData={"emailAddress": "", "fax": "1"}, profile="x"),
        ],
    }

    with pytest.raises(ck.ValidationError) as excinfo:
        ajo.execute_unitary(env.admin, body)

    assert [path_of(p) for p in excinfo.value.problems] == [
        "requestId",
        "campaignId",
        "recipients[0].type",
        "recipients[0].userId",
        "recipients[0].context",
        "recipients[1]",
        "recipients[2].channelData.emailAddress",
        "recipients[2].channelData.fax",
        "recipients[2].profile",
    ]
    assert "unitary execution request has 9 problems" in str(excinfo.value)
    env.assert_nothing_happened()


def test_payload_problems_found_on_execution_name_json_paths_too(env: Env) -> None:
    body = {
        "requestId": "r",
        "campaignId": env.transactional.id,
        "recipients": [
            recipient(context={"system": 1}),
            recipient(userId="ghost@example.com"),
            recipient(),
        ],
    }

    problems = problems_of(lambda: ajo.execute_unitary(env.admin, body))

    assert [path_of(p) for p in problems] == [
        "recipients[0].context",
        "recipients[2].userId",
        "recipients[1]",
    ]
    env.assert_nothing_happened()


@pytest.mark.parametrize("count", [0, 21])
def test_a_wrong_recipient_count_names_the_recipients_path(env: Env, count: int) -> None:
    body = {
        "requestId": "r",
        "campaignId": env.transactional.id,
        "recipients": [recipient(userId=f"u{n}@example.com") for n in range(count)],
    }

    problems = problems_of(lambda: ajo.execute_unitary(env.admin, body))

    assert [path_of(p) for p in problems][:1] == ["recipients"]
    env.assert_nothing_happened()


MALFORMED_AUDIENCE: list[tuple[str, Callable[[JsonBody], None], list[str]]] = [
    ("missing campaignId", _drop("campaignId"), ["campaignId"]),
    ("campaignId a number", _set("campaignId", 1), ["campaignId"]),
    ("requestId a number", _set("requestId", 1), ["requestId"]),
    ("context a list", _set("context", [1]), ["context"]),
    ("context a string", _set("context", "deal"), ["context"]),
    ("reserved context key", _set("context", {"system": 1}), ["context"]),
]


@pytest.mark.parametrize(
    ("change", "paths"),
    [pytest.param(change, paths, id=name) for name, change, paths in MALFORMED_AUDIENCE],
)
def test_a_malformed_audience_body_names_the_json_path(
    env: Env, change: Callable[[JsonBody], None], paths: list[str]
) -> None:
    body = audience_body(env)
    change(body)

    problems = problems_of(lambda: ajo.execute_audience(env.admin, body))

    assert [path_of(p) for p in problems] == paths
    env.assert_nothing_happened()


@pytest.mark.parametrize(
    "execute_at",
    ["2026-12-01T11:00:00", "garbage", "", 1764585600, {"at": "2026-12-01T11:00:00Z"}],
    ids=["naive", "garbage", "empty", "number", "object"],
)
def test_a_bad_schedule_execute_at_names_the_json_path(env: Env, execute_at: object) -> None:
    body = audience_body(env, schedule={"executeAt": execute_at})

    problems = problems_of(lambda: ajo.execute_audience(env.admin, body))

    assert [path_of(p) for p in problems] == ["schedule.executeAt"]
    env.assert_nothing_happened()


def test_a_malformed_audience_body_reports_every_problem_together(env: Env) -> None:
    body = {"requestId": "", "context": ["x"]}

    problems = problems_of(lambda: ajo.execute_audience(env.admin, body))

    assert [path_of(p) for p in problems] == ["requestId", "campaignId", "context"]
    env.assert_nothing_happened()


def test_a_malformed_body_is_not_modified(env: Env) -> None:
    body = unitary_body(env)
    body["recipients"][0]["type"] = "csv"
    snapshot = copy.deepcopy(body)

    problems_of(lambda: ajo.execute_unitary(env.admin, body))

    assert body == snapshot


# ---------------------------------------------------------------------- error responses


ERRORS: list[tuple[ck.CampaignKitError, int]] = [
    (ck.ValidationError(["recipients[0].type must be 'aep'", "requestId is required"]), 400),
    (ck.PermissionDenied("max", "campaign.publish", "cmp_1", "MANAGER"), 403),
    (ck.NotFound("campaign", "cmp_missing"), 404),
    (ck.ConflictError("request id 'r' was already used"), 409),
    (ck.TransitionNotAllowed("cmp_1", "STOPPED", "trigger", "it must be LIVE"), 422),
    (ck.StorageError("database disk image is malformed"), 500),
    (ck.DeliveryError("no channel is wired for email"), 500),
    (ck.CampaignKitError("something else"), 500),
]


@pytest.mark.parametrize(("error", "status"), ERRORS, ids=[type(e).__name__ for e, _ in ERRORS])
def test_error_response_has_the_ajo_shape_and_a_fitting_status(
    error: ck.CampaignKitError, status: int
) -> None:
    response = ajo.error_response(error)

    assert set(response) == {"type", "title", "status", "report"}
    assert response["status"] == status
    url = urlparse(response["type"])
    assert (url.scheme, bool(url.netloc)) == ("https", True)
    assert isinstance(response["title"], str)
    assert response["title"]
    assert isinstance(response["report"], dict)
    assert json.dumps(str(error))[1:-1] in json.dumps(response["report"])
    assert json.loads(json.dumps(response)) == response


def test_a_validation_error_response_lists_every_problem() -> None:
    error = ck.ValidationError(
        ["recipients[0].type must be 'aep', not 'csv'", "campaignId is required"],
        subject="unitary execution request",
    )

    response = ajo.error_response(error)

    assert response["status"] == 400
    report = json.dumps(response["report"])
    for problem in error.problems:
        assert json.dumps(problem)[1:-1] in report


def test_an_error_report_has_additional_context() -> None:
    response = ajo.error_response(ck.ValidationError(["requestId is required"]))

    assert isinstance(response["report"]["additionalContext"], dict)


def test_real_refusals_map_to_their_statuses(env: Env) -> None:
    manager = env.kit.as_user(MANAGER)
    seen: dict[str, int] = {}
    calls: dict[str, Callable[[], object]] = {
        "malformed": lambda: ajo.execute_unitary(env.admin, {"requestId": "r"}),
        "forbidden": lambda: ajo.execute_unitary(manager, unitary_body(env)),
        "unknown campaign": lambda: ajo.execute_unitary(
            env.admin, unitary_body(env, campaignId="cmp_missing")
        ),
        "not live": lambda: ajo.execute_audience(env.admin, audience_body(env)),
    }
    env.admin.stop(env.marketing.id)

    for name, call in calls.items():
        with pytest.raises(ck.CampaignKitError) as excinfo:
            call()
        seen[name] = ajo.error_response(excinfo.value)["status"]

    assert seen == {"malformed": 400, "forbidden": 403, "unknown campaign": 404, "not live": 422}
    env.assert_nothing_happened()
