"""Who may take a proof and when: ``campaign.write`` on a DRAFT, SCHEDULED or LIVE campaign,
other statuses refused, and the cap per campaign per rolling hour, counted from the store."""

from __future__ import annotations

from collections.abc import Callable

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit.domain.proofs import (
    cap_problems,
    proof_entry,
    proof_messages,
    used_within_hour,
)
from tests.factories import T0
from tests.unit.proofs.support import Env, Envs, S

# ---------------------------------------------------------------- who and when


def test_proofs_need_campaign_write(env: Env) -> None:
    campaign_id = env.draft()
    for user in ("vera", "nobody"):
        with pytest.raises(ck.PermissionDenied, match=r"campaign\.write"):
            env.kit.as_user(user).send_proof(campaign_id, ["t1"])
    with pytest.raises(ck.NotFound):
        env.admin.send_proof("cmp_missing", ["t1"])
    assert env.sent() == 0
    assert env.proofs(campaign_id) == []


def test_scheduled_and_live_campaigns_take_proofs_of_their_newest_version(env: Env) -> None:
    scheduled = env.admin.create_campaign(
        name="Later",
        audience="vip",
        namespace="email",
        actions=[ck.Action(env.email, ck.EmailContent(subject="Later", html="x"))],
        schedule=ck.Schedule(start=T0.add(days=2)),
    ).id
    env.admin.activate(scheduled)
    env.kit.tick()
    assert env.admin.get(scheduled).status is S.SCHEDULED
    [later] = env.admin.send_proof(scheduled, ["t1"])
    assert later.message.fields["subject"] == "Later"

    live = env.admin.create_campaign(
        name="Always on",
        type=ck.CampaignType.API_TRIGGERED,
        namespace="email",
        actions=[ck.Action(env.email, ck.EmailContent(subject="Old", html="x"))],
    ).id
    env.admin.activate(live)
    env.kit.tick()
    assert env.admin.get(live).status is S.LIVE
    env.admin.modify(live)
    env.admin.update_draft(
        live, actions=[ck.Action(env.email, ck.EmailContent(subject="New", html="x"))]
    )
    sent_before = env.sent()
    report = env.admin.report(live)
    [proof] = env.admin.send_proof(live, ["t1"])
    assert proof.message.fields["subject"] == "New"
    assert env.sent() == sent_before + 1
    assert env.admin.report(live) == report  # a proof is never counted
    [entry] = env.proofs(live)
    assert entry.from_status is entry.to_status is S.LIVE
    assert "of version 2" in entry.detail


def _in_review(env: Env) -> str:
    policy = env.admin.create_approval_policy(name="Legal", reviewers=["ada"])
    env.admin.activate_approval_policy(policy.id)
    campaign_id = env.draft()
    env.kit.as_user("max").request_approval(campaign_id)
    return campaign_id


def _stopped(env: Env) -> str:
    campaign_id = env.draft()
    env.admin.activate(campaign_id)
    env.kit.tick()
    env.admin.stop(campaign_id)
    return campaign_id


def _completed(env: Env) -> str:
    campaign_id = env.draft()
    env.admin.activate(campaign_id)
    env.kit.tick()
    env.clock.advance(pendulum.duration(days=4))
    env.kit.tick()
    return campaign_id


def _archived(env: Env) -> str:
    campaign_id = _stopped(env)
    env.admin.archive(campaign_id)
    return campaign_id


@pytest.mark.parametrize(
    ("setup", "status"),
    [
        (_in_review, S.IN_REVIEW),
        (_stopped, S.STOPPED),
        (_completed, S.COMPLETED),
        (_archived, S.ARCHIVED),
    ],
)
def test_other_statuses_refuse_proofs(env: Env, setup: Callable[[Env], str], status: S) -> None:
    campaign_id = setup(env)
    before = env.admin.get(campaign_id)
    assert before.status is status
    sent = env.sent()
    with pytest.raises(ck.TransitionNotAllowed) as caught:
        env.admin.send_proof(campaign_id, ["t1"])
    assert (caught.value.action, caught.value.status) == ("send_proof", status.value)
    assert "DRAFT, SCHEDULED and LIVE" in str(caught.value)
    assert env.sent() == sent
    assert env.admin.get(campaign_id) == before


# ---------------------------------------------------------------- the hourly cap


def test_proofs_are_capped_per_campaign_per_rolling_hour(envs: Envs) -> None:
    env = envs(delivery=ck.DeliverySettings(proofs_per_hour=5))
    campaign_id, other = env.draft(), env.draft()
    env.admin.send_proof(campaign_id, ["t1", "t2"])  # 2
    env.clock.advance(pendulum.duration(minutes=20))
    env.admin.send_proof(campaign_id, ["t1", "t2"])  # 4
    with pytest.raises(ck.ValidationError) as caught:
        env.admin.send_proof(campaign_id, ["t1", "t2"])
    [problem] = caught.value.problems
    assert problem == (
        f"profile_ids: campaign {campaign_id!r} has used 4 of its 5 proof messages per hour "
        "(DeliverySettings.proofs_per_hour); this proof needs 2; "
        "retry after 2026-12-01T10:00:00+00:00"
    )
    env.admin.send_proof(campaign_id, ["t1"])  # 5: exactly the cap
    env.admin.send_proof(other, ["t1", "t2"])  # the cap is per campaign
    assert env.sent() == 7
    env.clock.set(T0.add(hours=1))  # the first proof ages out at 10:00 sharp
    env.admin.send_proof(campaign_id, ["t1", "t2"])
    assert env.sent() == 9
    assert [proof_messages(e) for e in env.proofs(campaign_id)] == [2, 2, 1, 2]


def test_the_cap_holds_across_processes_sharing_a_store(envs: Envs) -> None:
    env = envs(delivery=ck.DeliverySettings(proofs_per_hour=3))
    campaign_id = env.draft()
    other = envs.kit(env.clock, delivery=ck.DeliverySettings(proofs_per_hour=3), share=env.kit)
    env.admin.send_proof(campaign_id, ["t1", "t2"])
    with pytest.raises(ck.ValidationError, match="has used 2 of its 3 proof messages"):
        other.as_user("ada").send_proof(campaign_id, ["t1", "t2"])
    [result] = other.as_user("ada").send_proof(campaign_id, ["t1"])
    assert result.sent
    assert [e.detail[:1] for e in env.proofs(campaign_id)] == ["2", "1"]


def test_a_proof_larger_than_the_cap_names_no_retry_instant(env: Env) -> None:
    campaign = env.admin.get(env.draft())
    assert cap_problems(campaign, T0, 3, 2) == [
        f"profile_ids: campaign {campaign.id!r} has used 0 of its 2 proof messages per hour "
        "(DeliverySettings.proofs_per_hour); this proof needs 3"
    ]


def test_only_proof_entries_count_toward_the_cap(env: Env) -> None:
    campaign = env.admin.get(env.draft())
    entry = proof_entry(campaign, now=T0, actor="ada", messages=1, recipients=["t1"])
    assert entry.detail == "1 proof message of version 1 to t1"
    odd = attrs.evolve(entry, detail="written by hand")
    created = campaign.history[0]
    assert [proof_messages(e) for e in (entry, odd, created)] == [1, 0, 0]
    proofed = attrs.evolve(campaign, history=(created, entry, odd))
    assert used_within_hour(proofed, T0.add(minutes=59)) == 2  # the odd entry costs one
    assert used_within_hour(proofed, T0.add(hours=1)) == 0


@pytest.mark.parametrize("value", [0, -1, 2.5, "50", True])
def test_the_cap_setting_is_a_positive_whole_number(value: object) -> None:
    with pytest.raises(ck.ValidationError, match="proofs_per_hour must be a whole number"):
        ck.DeliverySettings(proofs_per_hour=value)  # type: ignore[arg-type]
    assert ck.DeliverySettings().proofs_per_hour == 50
