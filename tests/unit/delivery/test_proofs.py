"""Proofs: rendered from the draft, marked as proofs, never counted, validated, and gated by
campaign.write."""

from __future__ import annotations

import pytest

import campaignkit as ck
from tests.unit.delivery.support import C, Worlds, email_action, person, recorded

# ---------------------------------------------------------------- proofs


def test_proofs_render_the_draft_carry_proof_and_are_never_counted(memory: Worlds) -> None:
    world = memory.world()
    kit, admin = world.kit, world.admin
    kit.profiles.upsert(person("p1", "Ann", test=True))
    kit.profiles.upsert(person("p2", "Bob", consent=False, phone="+33600000002", test=True))
    draft = admin.create_campaign(
        name="Draft",
        audience="vip",
        namespace="email",
        actions=[
            email_action(world),
            ck.Action(world.sms.id, ck.SmsContent("Yo {{ profile.firstName }}")),
        ],
    )
    results = admin.send_proof(draft.id, ["p2", "p2"])  # a repeated id is one recipient
    assert [(r.message.channel, r.message.profile_id) for r in results] == [
        (C.EMAIL, "p2"),
        (C.SMS, "p2"),
    ]
    for result in results:
        message = result.message
        assert message.proof is True  # consent does not apply to a proof
        assert message.run_id.startswith("proof-")
        assert message.campaign_id == draft.id
        assert result.result == ck.Accepted(f"{message.channel.value}-{message.idempotency_key}")
    assert results[0].message.fields["subject"] == "Hi Bob"
    assert results[0].message.address == "p2@example.com"
    assert results[1].message.fields == {"text": "Yo Bob"}
    assert results[1].message.address == "+33600000002"
    assert recorded(kit, C.EMAIL).sent == [results[0].message]
    assert admin.report(draft.id).runs == ()

    # on a live campaign with an open draft, the proof renders the newest (draft) version
    live = admin.create_campaign(
        name="Live",
        type=ck.CampaignType.API_TRIGGERED,
        namespace="email",
        actions=[email_action(world)],
    )
    admin.activate(live.id)
    kit.tick()
    admin.trigger(
        live.id, [ck.Recipient(user_id="p1@example.com", namespace="email")], request_id="1"
    )
    kit.tick()
    sent = len(recorded(kit, C.EMAIL).sent)
    before = admin.report(live.id)
    admin.modify(live.id)
    admin.update_draft(live.id, actions=[email_action(world, "New {{ profile.firstName }}")])
    [proof] = admin.send_proof(live.id, ["p1"])
    assert proof.message.fields["subject"] == "New Ann"
    assert proof.message.proof is True
    assert len(recorded(kit, C.EMAIL).sent) == sent + 1
    assert before.sent == 1
    assert admin.report(live.id) == before  # never counted


@pytest.mark.parametrize(
    ("profile_ids", "problem"),
    [
        ([], "send a proof to 1 to 10 profiles, not 0"),
        ([f"p{n}" for n in range(11)], "send a proof to 1 to 10 profiles, not 11"),
        (["p1", "ghost"], "profile 'ghost' does not exist"),
        (["p1", "nomail"], "profile 'nomail' has no email address"),
        (["p1", "noname"], "for profile 'noname'"),
    ],
)
def test_proof_problems_are_validation_errors_and_send_nothing(
    memory: Worlds, profile_ids: list[str], problem: str
) -> None:
    world = memory.world()
    kit = world.kit
    for n in range(11):
        kit.profiles.upsert(person(f"p{n}", f"N{n}", test=True))
    kit.profiles.upsert(person("nomail", "Nora", email=None, test=True))
    kit.profiles.upsert(person("noname", test=True))
    draft = world.admin.create_campaign(
        name="Draft", audience="vip", namespace="email", actions=[email_action(world)]
    )
    with pytest.raises(ck.ValidationError) as caught:
        world.admin.send_proof(draft.id, profile_ids)
    assert any(problem in p for p in caught.value.problems), caught.value.problems
    assert recorded(kit, C.EMAIL).sent == []


def test_a_proof_of_a_template_that_cannot_render_is_a_validation_error(memory: Worlds) -> None:
    world = memory.world()
    draft = world.admin.create_campaign(
        name="Draft",
        audience="vip",
        namespace="email",
        actions=[email_action(world, "{{ profile.firstName + 1 }}")],
    )
    world.kit.profiles.upsert(person("p1", "Ann", test=True))
    with pytest.raises(ck.ValidationError, match="TypeError"):
        world.admin.send_proof(draft.id, ["p1"])
    assert recorded(world.kit, C.EMAIL).sent == []


def test_proofs_need_campaign_write(memory: Worlds) -> None:
    world = memory.world()
    kit = world.kit
    draft = world.admin.create_campaign(
        name="Draft", audience="vip", namespace="email", actions=[email_action(world)]
    )
    kit.access.assign("vera", ck.ProductProfile.VIEWER)
    kit.access.assign("max", ck.ProductProfile.MANAGER)
    kit.profiles.upsert(person("p1", "Ann", test=True))
    for user in ("vera", "nobody"):
        with pytest.raises(ck.PermissionDenied, match=r"campaign\.write"):
            kit.as_user(user).send_proof(draft.id, ["p1"])
    assert recorded(kit, C.EMAIL).sent == []
    [result] = kit.as_user("max").send_proof(draft.id, ["p1"])
    assert result.message.proof is True
