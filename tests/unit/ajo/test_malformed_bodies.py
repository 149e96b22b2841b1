"""Malformed bodies: one ``ValidationError`` whose problems name JSON paths, every problem
reported together, and the body left unmodified."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

import campaignkit as ck
from campaignkit import ajo
from tests.unit.ajo.support import (
    Env,
    JsonBody,
    audience_body,
    path_of,
    problems_of,
    recipient,
    unitary_body,
)

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
