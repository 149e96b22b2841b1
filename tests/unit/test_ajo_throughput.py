"""High-throughput executions (issue 16): AJO's endpoint, many requests at once, shared runs.

``ajo.execute_high_throughput`` takes AJO's documented body (external recipients, 1 to
20); ``ajo.execute_high_throughput_many`` and ``UserSession.trigger_many`` accept many
in one unit of work and deliver the requests of a campaign in shared runs. Each request
stays an execution: idempotent by request id, answered and looked up on its own.
"""

from __future__ import annotations

from typing import Any

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit import ajo
from campaignkit.ajo.throughput import high_throughput_request
from campaignkit.domain.throughput import MAX_REQUESTS, Packer, requests_argument
from campaignkit.engine import CatchUp
from campaignkit.testing import ManualClock, RecordingChannel, SequentialIds

T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
EMAIL = ck.ChannelType.EMAIL


class Env:
    """A kit with a LIVE transactional API-triggered campaign (email, creates profiles)."""

    def __init__(self, batch_size: int = 500) -> None:
        self.clock = ManualClock(T0)
        self.kit = ck.CampaignKit.in_memory(
            clock=self.clock,
            ids=SequentialIds(),
            delivery=ck.DeliverySettings(batch_size=batch_size),
        )
        self.kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        self.admin = self.kit.as_user("ada")
        surface = self.admin.create_surface(
            name="Receipts",
            channel=EMAIL,
            settings=ck.EmailSettings(sender="shop@example.com"),
            category=ck.Category.TRANSACTIONAL,
        )
        campaign = self.admin.create_campaign(
            name="Receipts",
            type=ck.CampaignType.API_TRIGGERED,
            category=ck.Category.TRANSACTIONAL,
            namespace="email",
            create_profiles=True,
            actions=[
                ck.Action(
                    surface.id,
                    ck.EmailContent(
                        subject="Order {{ context.order }}", html="{{ context.order }}"
                    ),
                )
            ],
        )
        self.campaign_id = campaign.id
        self.admin.activate(campaign.id)
        self.kit.tick()

    def sent(self) -> list[ck.Message]:
        channel = self.kit.channels[EMAIL]
        assert isinstance(channel, RecordingChannel)
        return list(channel.sent)

    def runs(self) -> list[ck.Run]:
        with self.kit.store.unit_of_work() as uow:
            return list(uow.runs.for_campaign(self.campaign_id))

    def body(self, request_id: str, count: int = 2, **extra: Any) -> dict[str, Any]:
        """An AJO high-throughput body with ``count`` external recipients."""
        return {
            "requestId": request_id,
            "campaignId": self.campaign_id,
            "recipients": [
                {
                    "type": "external",
                    "userId": f"{request_id}-{n}@example.com",
                    "namespace": "email",
                    "channelData": {"emailAddress": f"{request_id}-{n}@example.com"},
                    "context": {"order": f"{request_id}/{n}"},
                }
                for n in range(count)
            ],
            **extra,
        }


@pytest.fixture
def env() -> Env:
    return Env()


def _state(env: Env, response: dict[str, Any]) -> tuple[ck.ExecutionStatus, int]:
    execution = env.admin.execution(response["executionId"])
    assert execution.request_id == response["requestId"]
    return execution.status, execution.targeted


def _orders(env: Env) -> list[str]:
    return sorted(m.fields["html"] for m in env.sent())


# ----- the documented endpoint, one request


def test_one_request_is_accepted_delivered_and_looked_up_as_its_own_execution(env: Env) -> None:
    response = ajo.execute_high_throughput(env.admin, env.body("r1", 3))
    assert response["requestId"] == "r1"
    assert response["createdBy"] == "ada"
    assert _state(env, response) == (ck.ExecutionStatus.IN_PROGRESS, 0)
    env.kit.tick()
    assert _orders(env) == ["r1/0", "r1/1", "r1/2"]
    assert _state(env, response) == (ck.ExecutionStatus.SUCCEEDED, 3)


def test_a_resent_request_is_the_same_execution_and_sends_nothing_again(env: Env) -> None:
    first = ajo.execute_high_throughput(env.admin, env.body("r1"))
    env.kit.tick()
    again = ajo.execute_high_throughput(env.admin, env.body("r1"))
    env.kit.tick()
    assert again["executionId"] == first["executionId"]
    assert _state(env, again) == (ck.ExecutionStatus.SUCCEEDED, 2)
    assert len(env.sent()) == 2


def test_a_request_id_reused_with_another_payload_is_a_conflict(env: Env) -> None:
    ajo.execute_high_throughput(env.admin, env.body("r1", 2))
    with pytest.raises(ck.ConflictError, match="with a different payload"):
        ajo.execute_high_throughput(env.admin, env.body("r1", 3))


def _invalid(problem: str, request_id: str, campaign_id: str) -> dict[str, Any]:
    """The documented 400 error document of a high-throughput request with one problem."""
    return {
        "type": "https://ns.adobe.com/aep/errors/MSG-900101-400",
        "title": "The request is not valid",
        "status": 400,
        "report": {
            "additionalContext": {"requestId": request_id, "campaignId": campaign_id},
            "message": f"high-throughput execution request has 1 problem:\n  - {problem}",
            "problems": [problem],
        },
    }


@pytest.mark.parametrize("count", [0, 21])
def test_zero_or_more_than_twenty_recipients_is_the_documented_400(env: Env, count: int) -> None:
    answers = ajo.execute_high_throughput_many(env.admin, [env.body("r1", count)])
    problem = f"recipients must hold 1 to 20 recipients, not {count}"
    assert answers == [(400, _invalid(problem, "r1", env.campaign_id))]
    with pytest.raises(ck.ValidationError) as caught:
        ajo.execute_high_throughput(env.admin, env.body("r1", count))
    assert ajo.error_response(caught.value) == answers[0][1]
    env.kit.tick()
    assert env.sent() == []
    assert env.runs() == []


def test_an_aep_recipient_is_the_documented_400_naming_its_path(env: Env) -> None:
    body = env.body("r1", 2)
    body["recipients"][1]["type"] = "aep"
    problem = (
        "recipients[1].type must be 'external' in a high-throughput request, not 'aep': "
        "send profiles of the store with execute_unitary"
    )
    answers = ajo.execute_high_throughput_many(env.admin, [body])
    assert answers == [(400, _invalid(problem, "r1", env.campaign_id))]
    with pytest.raises(ck.ValidationError) as caught:
        ajo.execute_high_throughput(env.admin, body)
    assert caught.value.problems == [problem]
    assert ajo.error_response(caught.value) == answers[0][1]
    env.kit.tick()
    assert env.sent() == []


def test_a_malformed_body_names_every_path() -> None:
    with pytest.raises(ck.ValidationError) as caught:
        high_throughput_request({"recipients": [7, {"type": "csv"}]})
    problems = caught.value.problems
    assert "requestId is required" in problems
    assert "campaignId is required" in problems
    assert any(p.startswith("recipients[0] must be an object") for p in problems)
    assert any(p.startswith("recipients[1].type must be") for p in problems)
    with pytest.raises(ck.ValidationError, match="request body must be a JSON object"):
        high_throughput_request([])


# ----- many requests at once


def test_many_requests_are_answered_in_order_each_on_its_own(env: Env) -> None:
    bad = env.body("bad", 1)
    bad["recipients"][0]["type"] = "aep"
    bodies = [env.body("r1", 2), bad, env.body("r2", 1), "nonsense", env.body("r1", 2)]
    answers = ajo.execute_high_throughput_many(env.admin, bodies)
    assert [status for status, _ in answers] == [202, 400, 202, 400, 202]
    assert answers[0][1]["executionId"] == answers[4][1]["executionId"]  # re-sent in the call
    assert answers[0][1]["executionId"] != answers[2][1]["executionId"]
    env.kit.tick()
    assert _orders(env) == ["r1/0", "r1/1", "r2/0"]
    [run] = env.runs()  # the two accepted requests share one run
    assert run.status is ck.RunStatus.SUCCEEDED
    assert len(run.recipients) == 3
    for (_, response), count in ((answers[0], 2), (answers[2], 1)):
        assert _state(env, response) == (ck.ExecutionStatus.SUCCEEDED, count)


def test_a_request_id_repeated_with_another_payload_in_one_call_is_a_conflict(env: Env) -> None:
    answers = ajo.execute_high_throughput_many(env.admin, [env.body("r1", 2), env.body("r1", 1)])
    assert answers[0][0] == 202
    assert answers[1][0] == 400  # the documented code for a conflict
    assert answers[1][1]["title"] == "The request id was used with another payload"
    env.kit.tick()
    assert _orders(env) == ["r1/0", "r1/1"]


def test_a_request_sent_again_in_a_later_call_is_the_same_execution(env: Env) -> None:
    [(_, first)] = ajo.execute_high_throughput_many(env.admin, [env.body("r1")])
    env.kit.tick()
    [(status, again)] = ajo.execute_high_throughput_many(env.admin, [env.body("r1")])
    env.kit.tick()
    assert (status, again["executionId"]) == (202, first["executionId"])
    assert _state(env, again) == (ck.ExecutionStatus.SUCCEEDED, 2)
    assert len(env.sent()) == 2


@pytest.mark.parametrize(
    ("bodies", "problem"),
    [
        ("nope", "bodies must be a list of request bodies, not 'nope'"),
        ([], "bodies must hold 1 to 1000 request bodies, not 0"),
    ],
)
def test_the_list_of_bodies_is_checked(env: Env, bodies: Any, problem: str) -> None:
    with pytest.raises(ck.ValidationError) as caught:
        ajo.execute_high_throughput_many(env.admin, bodies)
    assert caught.value.problems[0].startswith(problem)


def test_more_bodies_than_the_limit_are_refused(env: Env) -> None:
    with pytest.raises(ck.ValidationError, match=f"1 to {MAX_REQUESTS} request bodies, not"):
        ajo.execute_high_throughput_many(env.admin, [env.body("r")] * (MAX_REQUESTS + 1))


def test_only_invalid_bodies_accept_nothing(env: Env) -> None:
    answers = ajo.execute_high_throughput_many(env.admin, [{}, []])
    assert [status for status, _ in answers] == [400, 400]
    env.kit.tick()
    assert env.runs() == []


def test_a_campaign_that_does_not_accept_triggers_refuses_each_of_its_requests(env: Env) -> None:
    env.admin.stop(env.campaign_id)
    answers = ajo.execute_high_throughput_many(
        env.admin, [env.body("r1"), env.body("r2"), {**env.body("r3"), "campaignId": "nope"}]
    )
    assert [document["report"]["message"] for _, document in answers[:2]] == [
        answers[0][1]["report"]["message"]
    ] * 2
    assert "not accepting triggers" in answers[0][1]["report"]["message"]
    assert [status for status, _ in answers] == [400, 400, 400]  # documented: 400 or 401
    assert [document["report"]["additionalContext"] for _, document in answers] == [
        {"requestId": "r1", "campaignId": env.campaign_id},
        {"requestId": "r2", "campaignId": env.campaign_id},
        {"requestId": "r3", "campaignId": "nope"},
    ]
    assert "nope" in answers[2][1]["report"]["message"]
    with pytest.raises(ck.TransitionNotAllowed):
        ajo.execute_high_throughput(env.admin, env.body("r4"))


def test_a_user_without_publish_is_denied_each_request(env: Env) -> None:
    env.kit.access.assign("viv", ck.ProductProfile.VIEWER)
    viewer = env.kit.as_user("viv")
    [answer] = viewer.trigger_many([high_throughput_request(env.body("r1"))])
    assert isinstance(answer, ck.PermissionDenied)
    [(status, document)] = ajo.execute_high_throughput_many(viewer, [env.body("r2")])
    assert (status, document["status"], document["report"]["additionalContext"]) == (
        401,
        401,
        {"requestId": "r2", "campaignId": env.campaign_id},
    )
    env.kit.tick()
    assert env.runs() == []


# ----- shared runs: packing, batches, outcomes


def test_the_same_recipient_in_two_requests_goes_to_two_runs_and_gets_both(env: Env) -> None:
    one, two = env.body("r1", 1), env.body("r2", 1)
    two["recipients"][0]["userId"] = one["recipients"][0]["userId"]
    answers = ajo.execute_high_throughput_many(env.admin, [one, two])
    assert [status for status, _ in answers] == [202, 202]
    env.kit.tick()
    assert _orders(env) == ["r1/0", "r2/0"]
    assert len(env.runs()) == 2
    assert len({m.idempotency_key for m in env.sent()}) == 2


def test_a_run_holds_at_most_its_limit_and_each_request_whole() -> None:
    packer: Packer[str] = Packer(limit=5)
    assert packer.place(["a", "b", "c"], ["a", "b", "c"]) == (0, 0, 3)
    assert packer.place(["d", "e", "f"], ["d", "e", "f"]) == (1, 0, 3)  # would overflow run 0
    assert packer.place(["g", "h"], ["g", "h"]) == (0, 3, 5)  # first run it fits
    assert packer.place(["a"], ["a"]) == (1, 3, 4)  # run 0 holds a already
    assert [items for items, _ in packer.runs] == [["a", "b", "c", "g", "h"], ["d", "e", "f", "a"]]


def test_a_shared_run_is_delivered_in_batches_with_one_outcome_per_recipient() -> None:
    env = Env(batch_size=7)
    bodies = [env.body(f"r{n}", 5) for n in range(6)]
    answers = ajo.execute_high_throughput_many(env.admin, bodies)
    ids = [response["executionId"] for _, response in answers]
    before = [env.admin.execution(i).targeted for i in ids]
    assert before == [0] * 6
    env.kit.tick()
    sent = env.sent()
    assert len(sent) == 30
    assert len({m.idempotency_key for m in sent}) == 30
    assert _orders(env) == sorted(f"r{n}/{k}" for n in range(6) for k in range(5))
    [run] = env.runs()
    assert run.counts[run_action(run)].sent == 30
    for i in ids:
        execution = env.admin.execution(i)
        assert (execution.status, execution.targeted) == (ck.ExecutionStatus.SUCCEEDED, 5)
    report = env.admin.report(env.campaign_id)
    assert (report.targeted, report.sent, report.failed) == (30, 30, 0)


def run_action(run: ck.Run) -> str:
    [action] = run.counts
    return action


def test_an_execution_counts_only_its_recipients_as_its_run_goes() -> None:
    env = Env(batch_size=4)
    answers = env.admin.trigger_many(
        [
            ck.TriggerRequest(
                env.campaign_id,
                [ck.Recipient(f"{r}{n}@example.com", "email", external=True) for n in range(3)],
                r,
            )
            for r in ("a", "b", "c")
        ]
    )
    executions = [a for a in answers if isinstance(a, ck.Execution)]
    assert [e.targeted for e in executions] == [0, 0, 0]
    with env.kit.store.unit_of_work() as uow:  # as if one batch of four were decided
        run = uow.runs.get(executions[0].run_id)
        uow.runs.save(attrs.evolve(run, position=4))
    assert [env.admin.execution(e.id).targeted for e in executions] == [3, 1, 0]


# ----- the session verb


def test_trigger_many_creates_each_new_profile_once_the_first_request_wins(env: Env) -> None:
    answers = env.admin.trigger_many(
        [
            ck.TriggerRequest(
                env.campaign_id,
                [
                    ck.Recipient(
                        "new@example.com", "email", profile={"n": 1}, context={"order": "a"}
                    )
                ],
                "a",
            ),
            ck.TriggerRequest(
                env.campaign_id,
                [
                    ck.Recipient(
                        "new@example.com", "email", profile={"n": 2}, context={"order": "b"}
                    )
                ],
                "b",
            ),
        ]
    )
    assert all(isinstance(a, ck.Execution) for a in answers)
    created = env.kit.profiles.get("new@example.com")
    assert created is not None
    assert created.attributes == {"n": 1}
    env.kit.tick()
    assert _orders(env) == ["a", "b"]  # each request's own context, in two runs
    assert len(env.runs()) == 2


def test_trigger_many_answers_a_blank_request_id_on_its_own(env: Env) -> None:
    good = ck.TriggerRequest(env.campaign_id, [ck.Recipient("x@example.com", "email")], "ok")
    blank = ck.TriggerRequest(env.campaign_id, [ck.Recipient("y@example.com", "email")], " ")
    answers = env.admin.trigger_many([good, blank])
    assert isinstance(answers[0], ck.Execution)
    assert isinstance(answers[1], ck.ValidationError)
    assert "request_id" in str(answers[1])


def test_a_trigger_request_refuses_wrong_types() -> None:
    with pytest.raises(ck.ValidationError) as caught:
        ck.TriggerRequest(7, "someone", None)  # type: ignore[arg-type]
    assert caught.value.problems == [
        "campaign_id must be a string, not int 7",
        "request_id must be a string, not NoneType None",
        "recipients must be a list of ck.Recipient values, not str 'someone'",
    ]
    with pytest.raises(ck.ValidationError, match=r"recipients\[0\] must be a Recipient"):
        ck.TriggerRequest("c", [{"userId": "x"}], "r")  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("requests", "problem"),
    [
        ("nope", "requests must be a list of ck.TriggerRequest values, not str 'nope'"),
        ([], "requests must hold 1 to 1000 trigger requests, not 0"),
        ([7], "requests[0] must be a TriggerRequest, not int 7"),
    ],
)
def test_the_requests_argument_is_checked(requests: Any, problem: str) -> None:
    with pytest.raises(ck.ValidationError) as caught:
        requests_argument(requests)
    assert caught.value.problems[0].startswith(problem)


def test_a_campaign_purged_by_its_catch_up_is_not_found(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(env.kit.engine, "catch_up", lambda uow, campaign, now: CatchUp(None))
    [answer] = env.admin.trigger_many([high_throughput_request(env.body("r1"))])
    assert isinstance(answer, ck.NotFound)
    assert env.campaign_id in str(answer)


def test_a_recipient_outside_the_campaigns_namespace_is_a_400_on_ajo_only(env: Env) -> None:
    body = env.body("r1", 1)
    body["recipients"][0]["namespace"] = "phone"
    [(status, document)] = ajo.execute_high_throughput_many(env.admin, [body])
    assert status == 400
    [problem] = document["report"]["problems"]
    assert problem.startswith("recipients[0].namespace 'phone' is not the identity namespace")
    [answer] = env.admin.trigger_many([high_throughput_request(body)])  # campaignkit's own rule
    assert isinstance(answer, ck.Execution)
