"""Unitary executions: delivered at the next tick, personalized from profile and context,
recipients found by identity or profile id, channel data, consent, and stops."""

from __future__ import annotations

import attrs

import campaignkit as ck
from tests.unit.triggers.support import ADMIN, ANN, BOB, EMAIL, MKT, PUSH, SMS, TXN, Env, ann, bob

# ---------------------------------------------------------------------- unitary executions


def test_a_trigger_returns_an_execution_at_once_and_the_next_tick_delivers(env: Env) -> None:
    campaign = env.campaign(actions=[env.action(EMAIL), env.action(PUSH)])
    env.clock.advance(minutes=5)
    now = env.clock.now()

    execution = env.admin.trigger(campaign.id, [ann(), bob()], request_id="order-1")

    assert execution.id
    assert execution.campaign_id == campaign.id
    assert execution.request_id == "order-1"
    assert execution.kind is ck.ExecutionKind.UNITARY
    assert execution.created_at == now
    assert execution.created_by == ADMIN
    assert execution.execute_at is None
    assert execution.schedule_status is ck.ScheduleStatus.TRIGGERED
    assert execution.status is ck.ExecutionStatus.IN_PROGRESS
    assert execution.targeted == 0
    assert env.sent() == []
    runs = env.runs(campaign.id)
    assert [(r.id, r.kind) for r in runs] == [(execution.run_id, ck.RunKind.TRIGGER)]

    env.kit.tick()

    assert sorted((m.channel, m.address) for m in env.sent()) == [
        (EMAIL, "ann@example.com"),
        (EMAIL, "bob@example.com"),
        (PUSH, "push-token-ann"),
    ]
    assert all(m.transactional and m.run_id == execution.run_id for m in env.sent())
    done = env.admin.execution(execution.id)
    assert done.status is ck.ExecutionStatus.SUCCEEDED
    assert done.schedule_status is ck.ScheduleStatus.TRIGGERED
    assert done.targeted == 2
    assert attrs.evolve(done, status=execution.status, targeted=0) == execution
    report = env.admin.report(campaign.id)
    email_action, push_action = (a.id for a in campaign.live_version.actions)  # type: ignore[union-attr]
    assert report.by_action[email_action].targeted == 2
    assert report.by_action[email_action].sent == 2
    assert report.by_action[push_action].targeted == 2
    assert report.by_action[push_action].sent == 1
    assert report.by_action[push_action].excluded == {ck.ExclusionReason.MISSING_CHANNEL_DATA: 1}
    assert (report.targeted, report.sent) == (4, 3)
    assert [(r.run_id, r.kind, r.status) for r in report.runs] == [
        (execution.run_id, ck.RunKind.TRIGGER, ck.RunStatus.SUCCEEDED)
    ]


def test_each_trigger_gets_its_own_run(env: Env) -> None:
    campaign = env.campaign()

    first = env.admin.trigger(campaign.id, [ann()], request_id="1")
    second = env.admin.trigger(campaign.id, [ann()], request_id="2")
    env.kit.tick()

    assert first.run_id != second.run_id
    assert {r.id for r in env.runs(campaign.id)} == {first.run_id, second.run_id}
    assert sorted(m.run_id for m in env.sent()) == sorted([first.run_id, second.run_id])


def test_a_message_is_personalized_from_profile_and_context(env: Env) -> None:
    campaign = env.campaign(
        subject="{{ profile.firstName }}, your code is {{ context.code }}",
        html="<p>{{ profile.address.city }}: <a href='{{ context.link.url }}'>reset</a></p>",
    )

    env.admin.trigger(
        campaign.id,
        [ann(context={"code": "4242", "link": {"url": "https://shop.example/r/1"}})],
        request_id="r",
    )
    env.kit.tick()

    [message] = env.sent()
    assert message.fields["subject"] == "Ann, your code is 4242"
    assert message.fields["html"] == "<p>Lyon: <a href='https://shop.example/r/1'>reset</a></p>"


def test_each_recipient_sees_their_own_context(env: Env) -> None:
    campaign = env.campaign(subject="{{ profile.firstName }}: order {{ context.order }}")

    env.admin.trigger(
        campaign.id,
        [ann(context={"order": "A-1"}), bob(context={"order": "B-2"})],
        request_id="r",
    )
    env.kit.tick()

    assert {m.address: m.fields["subject"] for m in env.sent()} == {
        "ann@example.com": "Ann: order A-1",
        "bob@example.com": "Bob: order B-2",
    }


def test_a_recipient_without_the_context_a_template_needs_is_excluded(env: Env) -> None:
    campaign = env.campaign(subject="code {{ context.code }}")

    execution = env.admin.trigger(campaign.id, [ann(context={"code": "1"}), bob()], request_id="r")
    env.kit.tick()

    assert [m.address for m in env.sent()] == ["ann@example.com"]
    report = env.admin.report(campaign.id)
    assert report.excluded == {ck.ExclusionReason.MISSING_ATTRIBUTE: 1}
    assert env.admin.execution(execution.id).targeted == 2


def test_call_attributes_overlay_the_stored_profile_for_that_message_only(env: Env) -> None:
    campaign = env.campaign(subject="{{ profile.firstName }} ({{ profile.tier }})")

    env.admin.trigger(
        campaign.id, [ann(profile={"firstName": "Annie"}, context={"c": 1})], request_id="1"
    )
    env.kit.tick()
    env.admin.trigger(campaign.id, [ann()], request_id="2")
    env.kit.tick()

    assert [m.fields["subject"] for m in env.sent()] == ["Annie (gold)", "Ann (gold)"]
    assert env.kit.profiles.get(ANN.id) == ANN


def test_a_created_profile_keeps_the_call_attributes_but_never_the_context(env: Env) -> None:
    campaign = env.campaign(
        create_profiles=True, subject="Welcome {{ profile.firstName }} {{ context.code }}"
    )

    env.admin.trigger(
        campaign.id,
        [
            ck.Recipient(
                "new@example.com", "email", profile={"firstName": "Nia"}, context={"code": "7"}
            )
        ],
        request_id="r",
    )
    env.kit.tick()

    [message] = env.sent()
    assert (message.address, message.fields["subject"]) == ("new@example.com", "Welcome Nia 7")
    created = env.kit.profiles.get("new@example.com")
    assert created is not None
    assert dict(created.attributes) == {"firstName": "Nia"}
    assert dict(created.identities) == {"email": "new@example.com"}
    assert env.kit.profiles.find_by_identity("email", "new@example.com") == created


def test_a_created_profile_is_found_by_the_next_trigger(env: Env) -> None:
    campaign = env.campaign(create_profiles=True, subject="{{ profile.firstName }}")
    new = ck.Recipient("new@example.com", "email", profile={"firstName": "Nia"})
    env.admin.trigger(campaign.id, [new], request_id="1")

    env.admin.trigger(campaign.id, [ck.Recipient("new@example.com", "email")], request_id="2")
    env.kit.tick()

    assert [m.fields["subject"] for m in env.sent()] == ["Nia", "Nia"]
    assert [m.profile_id for m in env.sent()] == ["new@example.com", "new@example.com"]


def test_a_recipient_is_found_by_identity_in_its_namespace(env: Env) -> None:
    env.kit.profiles.upsert(
        ck.Profile(
            id="p-cid",
            identities={"email": "cid@example.com", "crmId": "CRM-1"},
            attributes={"firstName": "Cid"},
        )
    )
    campaign = env.campaign()

    env.admin.trigger(campaign.id, [ck.Recipient("CRM-1", "crmId")], request_id="r")
    env.kit.tick()

    [message] = env.sent()
    assert (message.profile_id, message.address) == ("p-cid", "cid@example.com")
    assert message.fields["subject"] == "Hello Cid"


def test_a_recipient_is_found_by_profile_id(env: Env) -> None:
    campaign = env.campaign()

    env.admin.trigger(campaign.id, [ck.Recipient(ANN.id, "email")], request_id="r")
    env.kit.tick()

    [message] = env.sent()
    assert message.profile_id == ANN.id
    assert message.fields["subject"] == "Hello Ann"
    assert message.address == "ann@example.com"


def test_two_recipients_of_one_profile_never_mix_their_payloads(env: Env) -> None:
    campaign = env.campaign(subject="{{ profile.firstName }} {{ context.v }}")
    by_email = ann(profile={"firstName": "Email"}, context={"v": "A"})
    by_phone = ck.Recipient(
        "+33100000001", "phone", profile={"firstName": "Phone"}, context={"v": "B"}
    )

    try:
        env.admin.trigger(campaign.id, [by_email, by_phone], request_id="r")
    except ck.ValidationError:  # refusing the pair is a correct answer too
        env.assert_nothing_happened(campaign.id, "r")
        return
    env.kit.tick()

    subjects = [m.fields["subject"] for m in env.sent()]
    assert len(subjects) == 1
    assert subjects[0] in {"Email A", "Phone B"}


def test_channel_data_in_the_call_overrides_the_address(env: Env) -> None:
    campaign = env.campaign(
        actions=[env.action(EMAIL), env.action(SMS, text="code {{ context.code }}")],
        namespace="email",
    )

    env.admin.trigger(
        campaign.id,
        [
            ann(
                channel_data={EMAIL: "ann.work@example.com", SMS: "+33199999999"},
                context={"code": "9"},
            )
        ],
        request_id="r",
    )
    env.kit.tick()

    assert sorted((m.channel, m.address) for m in env.sent()) == [
        (EMAIL, "ann.work@example.com"),
        (SMS, "+33199999999"),
    ]
    stored = env.kit.profiles.get(ANN.id)
    assert stored is not None
    assert dict(stored.channel_data) == {PUSH: "push-token-ann"}


def test_marketing_triggers_respect_consent_and_transactional_ones_do_not(env: Env) -> None:
    env.kit.profiles.upsert(attrs.evolve(BOB, consents={}))
    marketing = env.campaign(category=MKT)
    transactional = env.campaign(category=TXN)

    env.admin.trigger(marketing.id, [ann(), bob()], request_id="m")
    env.admin.trigger(transactional.id, [ann(), bob()], request_id="t")
    env.kit.tick()

    assert sorted((m.campaign_id, m.address) for m in env.sent()) == sorted(
        [
            (marketing.id, "ann@example.com"),
            (transactional.id, "ann@example.com"),
            (transactional.id, "bob@example.com"),
        ]
    )
    assert env.admin.report(marketing.id).excluded == {ck.ExclusionReason.NO_CONSENT: 1}


def test_a_trigger_accepted_before_a_stop_is_not_delivered(env: Env) -> None:
    campaign = env.campaign()
    execution = env.admin.trigger(campaign.id, [ann()], request_id="r")
    env.admin.stop(campaign.id)

    env.kit.tick()

    assert env.sent() == []
    assert env.admin.execution(execution.id).status is ck.ExecutionStatus.FAILED
