"""Refusals of a trigger's payload: recipient counts, duplicates, context size and shape,
unknown profiles, request ids, every problem in one error, and nothing changed."""

from __future__ import annotations

from typing import Any, cast

import pytest

import campaignkit as ck
from campaignkit.domain.triggers import MAX_CONTEXT_BYTES, MAX_RECIPIENTS
from tests.unit.triggers.support import MKT, Env, ann, bob, context_of_size, problems_of

# ---------------------------------------------------------------------- refusals: the payload


@pytest.mark.parametrize("count", [0, MAX_RECIPIENTS + 1])
def test_zero_or_too_many_recipients_are_refused(env: Env, count: int) -> None:
    campaign = env.campaign(create_profiles=True)
    recipients = [ck.Recipient(f"user{n}@example.com", "email") for n in range(count)]

    with pytest.raises(ck.ValidationError) as excinfo:
        env.admin.trigger(campaign.id, recipients, request_id="r")

    assert problems_of(excinfo) == [f"a unitary trigger takes 1 to 20 recipients, not {count}"]
    env.assert_nothing_happened(campaign.id, "r", profile_ids=[r.user_id for r in recipients])


def test_twenty_recipients_are_accepted(env: Env) -> None:
    campaign = env.campaign(create_profiles=True, subject="Hello")
    recipients = [ck.Recipient(f"user{n}@example.com", "email") for n in range(MAX_RECIPIENTS)]

    env.admin.trigger(campaign.id, recipients, request_id="r")
    env.kit.tick()

    assert sorted(m.address for m in env.sent()) == sorted(r.user_id for r in recipients)


def test_duplicate_user_ids_are_refused(env: Env) -> None:
    campaign = env.campaign()

    with pytest.raises(ck.ValidationError) as excinfo:
        env.admin.trigger(campaign.id, [ann(), bob(), ann()], request_id="r")

    assert problems_of(excinfo) == ["recipients[2].userId 'ann@example.com' appears more than once"]
    env.assert_nothing_happened(campaign.id, "r")


def test_a_context_of_exactly_200_kb_is_accepted(env: Env) -> None:
    campaign = env.campaign()
    context = context_of_size(MAX_CONTEXT_BYTES)
    assert MAX_CONTEXT_BYTES == 200 * 1024

    env.admin.trigger(campaign.id, [ann(context=context)], request_id="r")
    env.kit.tick()

    assert len(env.sent()) == 1


def test_an_oversize_context_is_refused(env: Env) -> None:
    campaign = env.campaign()

    with pytest.raises(ck.ValidationError) as excinfo:
        env.admin.trigger(
            campaign.id,
            [ann(), bob(context=context_of_size(MAX_CONTEXT_BYTES + 1))],
            request_id="r",
        )

    assert problems_of(excinfo) == [
        f"recipients[1].context is {MAX_CONTEXT_BYTES + 1} bytes serialized; "
        f"at most {MAX_CONTEXT_BYTES} bytes are allowed"
    ]
    env.assert_nothing_happened(campaign.id, "r")


def test_the_reserved_system_key_is_refused_at_the_top_level_only(env: Env) -> None:
    campaign = env.campaign(subject="{{ context.order.system }}")

    with pytest.raises(ck.ValidationError) as excinfo:
        env.admin.trigger(campaign.id, [ann(context={"system": {"x": 1}})], request_id="r")
    assert problems_of(excinfo) == [
        "recipients[0].context uses the reserved top-level key 'system'"
    ]
    env.assert_nothing_happened(campaign.id, "r")

    env.admin.trigger(campaign.id, [ann(context={"order": {"system": "nested"}})], request_id="ok")
    env.kit.tick()
    assert [m.fields["subject"] for m in env.sent()] == ["nested"]


def test_a_context_that_is_not_an_object_is_refused(env: Env) -> None:
    campaign = env.campaign()

    with pytest.raises(ck.ValidationError) as excinfo:
        env.admin.trigger(campaign.id, [ann(context=cast("Any", ["a", "b"]))], request_id="r")

    assert problems_of(excinfo) == ["context must be a JSON object, not list ['a', 'b']"]
    assert excinfo.value.subject == "recipient"  # refused when the Recipient is built
    env.assert_nothing_happened(campaign.id, "r")


def test_a_context_that_is_not_json_data_is_refused(env: Env) -> None:
    campaign = env.campaign()

    with pytest.raises(ck.ValidationError) as excinfo:
        env.admin.trigger(campaign.id, [ann(context={"when": object()})], request_id="r")

    [problem] = problems_of(excinfo)
    assert problem.startswith("context.when must be a JSON value (str, number, bool, None")
    env.assert_nothing_happened(campaign.id, "r")


def test_unknown_profiles_are_all_listed_when_creation_is_off(env: Env) -> None:
    campaign = env.campaign()
    assert campaign.create_profiles is False
    ghosts = [ck.Recipient("ghost@example.com", "email"), ck.Recipient("crm-9", "crmId")]

    with pytest.raises(ck.ValidationError) as excinfo:
        env.admin.trigger(campaign.id, [ghosts[0], ann(), ghosts[1]], request_id="r")

    problems = problems_of(excinfo)
    assert len(problems) == 2
    assert problems[0].startswith("recipients[0]: no profile with email 'ghost@example.com'")
    assert problems[1].startswith("recipients[2]: no profile with crmId 'crm-9'")
    assert all("create_profiles=True" in p for p in problems)
    assert "trigger of campaign" in str(excinfo.value)
    env.assert_nothing_happened(campaign.id, "r", profile_ids=["ghost@example.com", "crm-9"])


@pytest.mark.parametrize("request_id", ["", "   "])
def test_a_blank_request_id_is_refused(env: Env, request_id: str) -> None:
    campaign = env.campaign(category=MKT, audience="vip")

    with pytest.raises(ck.ValidationError, match="request_id must be a non-empty string"):
        env.admin.trigger(campaign.id, [ann()], request_id=request_id)
    with pytest.raises(ck.ValidationError, match="request_id must be a non-empty string"):
        env.admin.execute_audience(campaign.id, request_id=request_id)

    env.assert_nothing_happened(campaign.id, request_id)


def test_every_payload_problem_is_reported_in_one_validation_error(env: Env) -> None:
    campaign = env.campaign()
    recipients = [
        ann(context={"system": 1}),
        ck.Recipient("ghost@example.com", "email"),
        bob(context=context_of_size(MAX_CONTEXT_BYTES + 10)),
        ck.Recipient(" ", "email"),
        ann(),
        *(ck.Recipient(f"user{n}@example.com", "email") for n in range(16)),
    ]
    assert len(recipients) == 21

    with pytest.raises(ck.ValidationError) as excinfo:
        env.admin.trigger(campaign.id, recipients, request_id="r")

    text = "\n".join(problems_of(excinfo))
    for expected in [
        "1 to 20 recipients, not 21",
        "recipients[0].context uses the reserved top-level key 'system'",
        "recipients[1]: no profile with email 'ghost@example.com'",
        "recipients[2].context is",
        "recipients[3].userId must not be empty",
        "recipients[4].userId 'ann@example.com' appears more than once",
        "recipients[20]: no profile with email 'user15@example.com'",
    ]:
        assert expected in text
    assert len(problems_of(excinfo)) == 1 + 4 + 16 + 1  # count, four bad ones, 16+1 unknown
    env.assert_nothing_happened(campaign.id, "r")


def test_a_refused_call_leaves_its_request_id_free(env: Env) -> None:
    campaign = env.campaign()
    with pytest.raises(ck.ValidationError):
        env.admin.trigger(campaign.id, [ann(context={"system": 1})], request_id="r")

    execution = env.admin.trigger(campaign.id, [ann()], request_id="r")
    env.kit.tick()

    assert env.admin.execution(execution.id).status is ck.ExecutionStatus.SUCCEEDED
    assert len(env.sent()) == 1


def test_an_unknown_campaign_is_not_found(env: Env) -> None:
    with pytest.raises(ck.NotFound):
        env.admin.trigger("cmp_missing", [ann()], request_id="r")
    with pytest.raises(ck.NotFound):
        env.admin.execute_audience("cmp_missing", request_id="r")
    with pytest.raises(ck.NotFound):
        env.admin.execution("exe_missing")
    with pytest.raises(ck.NotFound):
        env.admin.cancel_execution("exe_missing")
