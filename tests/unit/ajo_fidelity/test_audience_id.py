"""``audience.id`` on audience executions selects the audience sent to: the campaign's own,
or another the kit's audiences know that is READY (the rule activation applies to a
version's audience). The run records it, streams it and counts it; an unknown or unready
audience is the exact documented 400, and nothing is sent."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import attrs
import pytest

import campaignkit as ck
from campaignkit import ajo
from campaignkit.testing import SequentialIds
from tests.unit.ajo_fidelity.support import EMAIL, T0, World, assert_valid, make_world
from tests.unit.ajo_fidelity.test_refusals import ids, invalid, refusal

OTHER = "ck-vips"


def define_other_audience(world: World) -> None:
    """Audience ``ck-vips``: owen, pia (in no other audience) and a profile without email."""
    world.kit.profiles.upsert(
        ck.Profile(id="p-pia", identities={"email": "pia@example.com"}, consents={EMAIL: True})
    )
    world.kit.audiences.define(OTHER, ["p-owen", "p-pia", "p-phone-1"])


def assert_delivers_to_the_other_audience_only(world: World) -> None:
    """An execution naming ``ck-vips`` sends to its members only, and counts all three.

    Shared with the SQLite and PostgreSQL runs of ``tests/integration``.
    """
    define_other_audience(world)
    body = world.body("07-audience-context.json") | {"audience": {"id": OTHER}}

    answer = ajo.execute_audience(world.admin, body)
    world.kit.tick()

    assert_valid(answer, "execution-response")
    assert sorted(m.address for m in world.sent()) == ["owen@example.com", "pia@example.com"]
    status = ajo.get_execution(world.admin, answer["executionId"])
    assert_valid(status, "execution-status-response")
    assert (status["audienceId"], status["status"], status["targetedProfileCount"]) == (
        OTHER,
        "Succeeded",
        3,  # the member without an email identity is targeted, then excluded
    )
    counts = world.admin.report(body["campaignId"]).counts  # its one run
    assert (counts.targeted, counts.sent) == (3, 2)
    assert counts.excluded == {ck.ExclusionReason.MISSING_IDENTITY: 1}


def test_another_audience_is_the_one_streamed_and_counted(world: World) -> None:
    assert_delivers_to_the_other_audience_only(world)


def test_a_scheduled_execution_streams_the_audience_it_named(world: World) -> None:
    define_other_audience(world)
    body = world.body("09-audience-id-scheduled.json") | {"audience": {"id": OTHER}}

    answer = ajo.execute_audience(world.admin, body)
    world.kit.audiences.define("ck-waitlist", ["p-nora"])  # the campaign's changes meanwhile
    world.kit.run_until(T0.add(hours=2))

    assert answer["audience"] == {"id": OTHER}
    assert ajo.get_schedule(world.admin, answer["scheduleId"])["audience"] == {"id": OTHER}
    assert sorted(m.address for m in world.sent()) == ["owen@example.com", "pia@example.com"]


def test_naming_the_campaign_audience_is_the_same_as_leaving_it_out(world: World) -> None:
    body = world.body("07-audience-context.json") | {"audience": {"id": "ck-waitlist"}}

    answer = ajo.execute_audience(world.admin, body)
    world.kit.tick()

    assert ajo.get_execution(world.admin, answer["executionId"])["audienceId"] == "ck-waitlist"
    assert sorted(m.address for m in world.sent()) == ["nora@example.com", "owen@example.com"]


def test_an_unknown_audience_is_the_documented_400(world: World) -> None:
    body = world.body("09-audience-id-scheduled.json")
    body["audience"] = {"id": "everyone"}

    answer = refusal(world, lambda: ajo.execute_audience(world.admin, body))

    problem = (
        "audience 'everyone' does not exist: name an audience the kit knows "
        "(kit.audiences.define, or the host's audience source), or leave it out to send "
        "to the campaign's audience ('ck-waitlist')"
    )
    subject = f"audience execution of campaign {body['campaignId']!r}"
    assert answer == invalid(400, ids(body), subject, [problem])
    world.kit.run_until(T0.add(hours=2))
    assert world.sent() == []


class _Unready:
    """A host audience source whose one audience is still being computed."""

    def status(self, name: str) -> ck.AudienceStatus | None:
        return ck.AudienceStatus.NOT_READY if name == "computing" else None

    def count(self, name: str) -> int | None:
        return None

    def members(
        self, name: str, *, namespace: str, batch_size: int
    ) -> Iterator[Sequence[ck.Profile]]:
        return iter(())


def test_an_audience_not_ready_is_the_documented_400() -> None:
    world = make_world(
        lambda clock: ck.CampaignKit.in_memory(
            clock=clock, ids=SequentialIds(), audiences=_Unready()
        )
    )
    body = world.body("07-audience-context.json") | {"requestId": "r-1"}
    body["audience"] = {"id": "computing"}

    answer = refusal(world, lambda: ajo.execute_audience(world.admin, body))

    problem = (
        "audience 'computing' is not ready yet: execute once it is computed, or leave it "
        "out to send to the campaign's audience ('ck-waitlist')"
    )
    subject = f"audience execution of campaign {body['campaignId']!r}"
    assert answer == invalid(400, ids(body), subject, [problem])
    assert world.sent() == []


def test_a_request_id_reused_with_another_audience_is_a_conflict(world: World) -> None:
    define_other_audience(world)
    body: dict[str, Any] = world.body("09-audience-id-scheduled.json")
    ajo.execute_audience(world.admin, body)
    body["audience"] = {"id": OTHER}

    answer = refusal(world, lambda: ajo.execute_audience(world.admin, body))

    assert answer["type"] == "https://ns.adobe.com/aep/errors/MSG-900104-400"
    assert answer["report"]["additionalContext"] == ids(body)


def test_a_request_repeated_after_its_audience_changed_is_the_same_execution(
    world: World,
) -> None:
    define_other_audience(world)
    body = world.body("09-audience-id-scheduled.json") | {"audience": {"id": OTHER}}
    answer = ajo.execute_audience(world.admin, body)
    world.kit.audiences.define(OTHER, [])  # emptied: the schedule stays as accepted

    assert ajo.execute_audience(world.admin, body) == answer


def test_a_campaign_without_an_audience_sends_to_the_one_named(world: World) -> None:
    define_other_audience(world)
    admin = world.admin
    live = admin.get(world.campaigns["ck-campaign-audience"]).live_version
    assert live is not None
    campaign = admin.create_campaign(
        name="no audience",
        type=ck.CampaignType.API_TRIGGERED,
        category=ck.Category.MARKETING,
        namespace="email",
        actions=list(live.actions),
    )
    admin.activate(campaign.id)
    world.kit.tick()
    body = {"campaignId": campaign.id, "requestId": "r-none"}

    answer = refusal(world, lambda: ajo.execute_audience(admin, body))
    unknown = body | {"audience": {"id": "nobody"}}
    unknown_answer = refusal(world, lambda: ajo.execute_audience(admin, unknown))
    ajo.execute_audience(admin, body | {"requestId": "r-vips", "audience": {"id": OTHER}})
    world.kit.tick()

    assert answer["report"]["problems"] == [
        f"campaign {campaign.id!r} has no audience to execute on: name one "
        "(audience=..., AJO's audience.id)"
    ]
    assert unknown_answer["report"]["problems"] == [
        "audience 'nobody' does not exist: name an audience the kit knows "
        "(kit.audiences.define, or the host's audience source), for the campaign has no "
        "audience of its own"
    ]
    assert sorted(m.address for m in world.sent()) == ["owen@example.com", "pia@example.com"]


@pytest.mark.parametrize(
    ("audience", "problem"),
    [
        (5, "audience must be a string, not int 5"),
        ("", "audience must not be empty"),
    ],
)
def test_the_session_names_a_bad_audience_argument(
    world: World, audience: object, problem: str
) -> None:
    campaign = world.campaigns["ck-campaign-audience"]

    with pytest.raises(ck.ValidationError) as excinfo:
        world.admin.execute_audience(campaign, request_id="r", audience=audience)  # type: ignore[arg-type]

    assert excinfo.value.problems == [problem]


def test_an_execution_accepted_before_runs_recorded_audiences_names_the_campaign_one(
    world: World,
) -> None:
    answer = ajo.execute_audience(world.admin, world.body("07-audience-context.json"))
    world.kit.tick()
    execution = world.admin.execution(answer["executionId"])
    with world.kit.store.unit_of_work() as uow:  # as a run document of version 1 loads
        uow.runs.save(attrs.evolve(uow.runs.get(execution.run_id), audience=None))

    assert world.admin.execution(execution.id).audience is None
    assert ajo.get_execution(world.admin, execution.id)["audienceId"] == "ck-waitlist"
