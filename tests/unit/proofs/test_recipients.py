"""Who receives a proof: only test profiles (the whole proof refused otherwise), at most ten,
each able to receive it, and suppression respected and reported."""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import pytest

import campaignkit as ck
from campaignkit.domain.proofs import (
    MAX_PROOF_PROFILES,
    proof_messages,
)
from tests.factories import T0
from tests.unit.proofs.support import C, Env, Envs, S, inbox

# ---------------------------------------------------------------- test profiles only


def test_a_proof_reaches_test_profiles_and_is_recorded_in_history(env: Env) -> None:
    campaign_id = env.draft(sms=True)
    before = env.admin.get(campaign_id)
    results = env.kit.as_user("max").send_proof(campaign_id, ["t2", "t1", "t2"])
    assert [(r.message.channel, r.message.profile_id) for r in results] == [
        (C.EMAIL, "t2"),
        (C.EMAIL, "t1"),
        (C.SMS, "t2"),
        (C.SMS, "t1"),
    ]
    assert all(r.sent and r.excluded is None and r.message.proof for r in results)
    assert [r.message.fields.get("subject") for r in results[:2]] == ["Hi Tom", "Hi Tia"]
    assert results[0].result == ck.Accepted(f"email-{results[0].message.idempotency_key}")
    assert [m.profile_id for m in env.channel(C.EMAIL).sent] == ["t2", "t1"]
    assert [m.address for m in env.channel(C.SMS).sent] == ["+33600000002"] * 2

    after = env.admin.get(campaign_id)
    assert after.revision == before.revision + 1
    assert after.history[:-1] == before.history
    assert after.updated_at == before.updated_at  # a proof changes nothing of the campaign
    entry = after.history[-1]
    assert (entry.action, entry.actor, entry.at) == (ck.Verb.PROOF, "max", T0)
    assert entry.from_status is entry.to_status is S.DRAFT
    assert entry.detail == "4 proof messages of version 1 to t2, t1"
    assert env.admin.report(campaign_id).runs == ()  # never a run, never counted


def test_a_non_test_or_unknown_profile_refuses_the_whole_proof(env: Env) -> None:
    campaign_id = env.draft()
    before = env.admin.get(campaign_id)
    with pytest.raises(ck.ValidationError) as caught:
        env.admin.send_proof(campaign_id, ["t1", "real", "ghost"])
    assert caught.value.problems == [
        "profile_ids: profile 'real' is not a test profile; proofs go only to profiles "
        "stored with Profile(test=True)",
        "profile_ids: profile 'ghost' does not exist",
    ]
    assert env.sent() == 0  # not even t1, a test profile
    assert env.admin.get(campaign_id) == before  # nothing recorded


@pytest.mark.parametrize(
    ("profile_ids", "problem"),
    [
        ([], "profile_ids: send a proof to 1 to 10 profiles, not 0"),
        ([f"t{n}" for n in range(11)], "profile_ids: send a proof to 1 to 10 profiles, not 11"),
        ("t1", "profile_ids must be a list of identifiers, not str 't1'"),
        (["t1", 7], "profile_ids[1] must be a string, not int 7"),
        ([""], "profile_ids[0] must not be empty"),
    ],
)
def test_bad_profile_ids_are_validation_errors(
    env: Env, profile_ids: Sequence[str], problem: str
) -> None:
    campaign_id = env.draft()
    with pytest.raises(ck.ValidationError) as caught:
        env.admin.send_proof(campaign_id, profile_ids)
    assert problem in caught.value.problems
    assert env.sent() == 0
    assert env.proofs(campaign_id) == []


def test_ten_test_profiles_is_the_most_one_proof_names(env: Env) -> None:
    campaign_id = env.draft()
    ids = [f"t{n}" for n in range(MAX_PROOF_PROFILES)]
    for pid in ids:
        env.kit.profiles.upsert(inbox(pid))
    assert len(env.admin.send_proof(campaign_id, ids)) == MAX_PROOF_PROFILES


def test_a_profile_that_cannot_receive_the_proof_refuses_it(env: Env) -> None:
    """No address, or a template the profile cannot fill: nothing is sent or recorded."""
    campaign_id = env.draft()
    env.kit.profiles.upsert(attrs.evolve(inbox("nameless", name=None), identities={}))
    with pytest.raises(ck.ValidationError) as caught:
        env.admin.send_proof(campaign_id, ["t1", "nameless"])
    assert caught.value.problems == ["profile 'nameless' has no email address"]
    env.kit.profiles.upsert(inbox("nameless", name=None))
    with pytest.raises(ck.ValidationError, match="for profile 'nameless'"):
        env.admin.send_proof(campaign_id, ["t1", "nameless"])
    assert env.sent() == 0
    assert env.proofs(campaign_id) == []


def test_a_draft_whose_template_does_not_compile_is_a_validation_error(env: Env) -> None:
    campaign_id = env.draft(subject="Hi {{ profile.firstName ")
    with pytest.raises(ck.ValidationError, match="the template does not compile"):
        env.admin.send_proof(campaign_id, ["t1"])
    assert env.sent() == 0


# ---------------------------------------------------------------- suppression


@pytest.mark.parametrize("category", [ck.Category.MARKETING, ck.Category.TRANSACTIONAL])
def test_a_suppressed_test_profile_gets_no_proof_and_the_result_says_so(
    env: Env, category: ck.Category
) -> None:
    """Whatever the category: a proof is never worth a bounce."""
    if category is ck.Category.MARKETING:
        campaign_id = env.draft(sms=True)
    else:
        surface = env.admin.create_surface(
            name="Receipts",
            channel=C.EMAIL,
            settings=ck.EmailSettings(sender="shop@example.com"),
            category=category,
        )
        campaign_id = env.admin.create_campaign(
            name="Receipt",
            type=ck.CampaignType.API_TRIGGERED,
            category=category,
            namespace="email",
            actions=[
                ck.Action(surface.id, ck.EmailContent(subject="Hi", html="x")),
                ck.Action(env.sms, ck.SmsContent("Yo")),
            ],
        ).id
    env.suppress(C.EMAIL, "t1@example.com")
    results = env.admin.send_proof(campaign_id, ["t1", "t2"])
    by_key = {(r.message.channel, r.message.profile_id): r for r in results}
    blocked = by_key[(C.EMAIL, "t1")]
    assert (blocked.sent, blocked.result, blocked.excluded) == (
        False,
        None,
        ck.ExclusionReason.SUPPRESSED,
    )
    assert blocked.message.address == "t1@example.com"  # what it would have been
    assert all(r.sent for key, r in by_key.items() if key != (C.EMAIL, "t1"))
    assert [m.profile_id for m in env.channel(C.EMAIL).sent] == ["t2"]
    assert [m.profile_id for m in env.channel(C.SMS).sent] == ["t1", "t2"]
    [entry] = env.proofs(campaign_id)
    assert entry.detail == "3 proof messages of version 1 to t1, t2; suppressed, not sent: t1"
    assert proof_messages(entry) == 3


def test_a_proof_whose_every_address_is_suppressed_sends_nothing_and_is_recorded(
    env: Env,
) -> None:
    campaign_id = env.draft()
    env.suppress(C.EMAIL, "t1@example.com")
    [result] = env.admin.send_proof(campaign_id, ["t1"])
    assert not result.sent
    assert env.sent() == 0
    [entry] = env.proofs(campaign_id)
    assert entry.detail.startswith("0 proof messages of version 1 to t1; suppressed")


def test_a_proof_that_sends_nothing_still_costs_one_so_history_stays_bounded(
    envs: Envs,
) -> None:
    env = envs(delivery=ck.DeliverySettings(proofs_per_hour=2))
    campaign_id = env.draft()
    env.suppress(C.EMAIL, "t1@example.com")
    env.admin.send_proof(campaign_id, ["t1"])
    env.admin.send_proof(campaign_id, ["t1"])
    with pytest.raises(ck.ValidationError, match="has used 2 of its 2 proof messages"):
        env.admin.send_proof(campaign_id, ["t1"])
    assert len(env.proofs(campaign_id)) == 2
    assert env.sent() == 0
