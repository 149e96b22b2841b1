"""Feedback: events counted per action and run, unknown provider ids, unsubscribes and hard
bounces."""

from __future__ import annotations

import pytest

import campaignkit as ck
from campaignkit.domain.delivery import idempotency_key
from tests.factories import T0
from tests.unit.delivery.support import (
    C,
    F,
    L,
    R,
    Worlds,
    action_id,
    email_action,
    launch,
    ledger,
    only_run,
    person,
    recorded,
)

# ---------------------------------------------------------------- feedback


def test_feedback_is_counted_per_event_action_and_run(worlds: Worlds) -> None:
    world = worlds.world()
    kit = world.kit
    campaign = launch(world, [email_action(world), ck.Action(world.sms.id, ck.SmsContent("x"))])
    run = only_run(kit, campaign.id)
    aid = action_id(campaign, C.EMAIL)
    provider = recorded(kit, C.EMAIL).provider_ids
    first = provider[idempotency_key(run.id, aid, "p1")]
    second = provider[idempotency_key(run.id, aid, "p2")]
    world.clock.advance(minutes=5)
    record = kit.record_feedback(first, F.DELIVERED)
    assert record == ck.FeedbackRecord(
        at=T0.add(minutes=5),
        provider_message_id=first,
        event=F.DELIVERED,
        run_id=run.id,
        action_id=aid,
        profile_id="p1",
        campaign_id=campaign.id,
    )
    for provider_id, event in [
        (second, F.DELIVERED),
        (first, F.OPENED),
        (first, F.CLICKED),
        (second, F.OPENED),
        (second, F.COMPLAINT),
        (first, F.SOFT_BOUNCE),
    ]:
        kit.record_feedback(provider_id, event)
    report = world.admin.report(campaign.id)
    expected = {F.DELIVERED: 2, F.OPENED: 2, F.CLICKED: 1, F.COMPLAINT: 1, F.SOFT_BOUNCE: 1}
    assert dict(report.feedback) == expected
    assert dict(report.by_action[aid].feedback) == expected
    assert dict(report.runs[0].by_action[aid].feedback) == expected
    assert report.by_action[action_id(campaign, C.SMS)].feedback == {}
    assert (report.sent, report.targeted) == (2, 4)  # feedback changes no delivery count
    with kit.store.unit_of_work() as uow:
        assert len(uow.feedback.for_campaign(campaign.id)) == 7


def test_feedback_for_an_unknown_provider_id_is_not_found(worlds: Worlds) -> None:
    world = worlds.world()
    campaign = launch(world, [email_action(world)])
    before = world.admin.report(campaign.id)
    with pytest.raises(ck.NotFound, match="nope"):
        world.kit.record_feedback("nope", F.OPENED)
    assert world.admin.report(campaign.id) == before


def test_unsubscribe_withdraws_consent_for_that_channel_only(worlds: Worlds) -> None:
    world = worlds.world()
    kit = world.kit
    for pid in ("p1", "p2"):
        kit.profiles.upsert(person(pid, pid, phone=f"+3360000000{pid[-1]}"))
    campaign = launch(world, [email_action(world)])
    run = only_run(kit, campaign.id)
    key = idempotency_key(run.id, action_id(campaign, C.EMAIL), "p1")
    kit.record_feedback(recorded(kit, C.EMAIL).provider_ids[key], F.UNSUBSCRIBED)
    profile = kit.profiles.get("p1")
    assert profile is not None
    assert profile.consents == {C.EMAIL: False, C.SMS: True, C.PUSH: True}
    assert world.admin.report(campaign.id).feedback == {F.UNSUBSCRIBED: 1}

    later = launch(
        world, [email_action(world), ck.Action(world.sms.id, ck.SmsContent("x"))], name="Later"
    )
    report = world.admin.report(later.id)
    email_counts = report.by_action[action_id(later, C.EMAIL)]
    sms_counts = report.by_action[action_id(later, C.SMS)]
    assert (email_counts.sent, dict(email_counts.excluded)) == (1, {R.NO_CONSENT: 1})
    assert (sms_counts.sent, sms_counts.excluded) == (2, {})


def test_hard_bounce_suppresses_the_address_for_marketing_but_not_transactional(
    worlds: Worlds,
) -> None:
    world = worlds.world()
    kit, admin = world.kit, world.admin
    campaign = launch(world, [email_action(world)])
    run = only_run(kit, campaign.id)
    aid = action_id(campaign, C.EMAIL)
    provider = recorded(kit, C.EMAIL).provider_ids
    kit.record_feedback(provider[idempotency_key(run.id, aid, "p1")], F.HARD_BOUNCE)
    kit.record_feedback(provider[idempotency_key(run.id, aid, "p2")], F.SOFT_BOUNCE)
    with kit.store.unit_of_work() as uow:
        found = uow.suppressions.suppressed(C.EMAIL, ["p1@example.com", "p2@example.com"])
        assert found == {"p1@example.com"}
        assert uow.suppressions.suppressed(C.SMS, ["p1@example.com"]) == set()

    # a later marketing campaign: suppressed wins over consent (p1 also unsubscribes)
    kit.record_feedback(provider[idempotency_key(run.id, aid, "p1")], F.UNSUBSCRIBED)
    later = launch(world, [email_action(world)], name="Later")
    report = admin.report(later.id)
    assert (report.sent, dict(report.excluded)) == (1, {R.SUPPRESSED: 1})
    [entry] = [e for e in ledger(kit, only_run(kit, later.id).id) if e.profile_id == "p1"]
    assert (entry.state, entry.reason) == (L.EXCLUDED, R.SUPPRESSED)

    # a transactional message still goes to the bounced, unsubscribed address
    receipts = admin.create_surface(
        name="Receipts",
        channel=C.EMAIL,
        settings=ck.EmailSettings(sender="shop@example.com"),
        category=ck.Category.TRANSACTIONAL,
    )
    reset = admin.create_campaign(
        name="Password reset",
        type=ck.CampaignType.API_TRIGGERED,
        category=ck.Category.TRANSACTIONAL,
        namespace="email",
        actions=[ck.Action(receipts.id, ck.EmailContent(subject="Reset", html="{{ context.x }}"))],
    )
    admin.activate(reset.id)
    kit.tick()
    admin.trigger(
        reset.id,
        [ck.Recipient(user_id="p1@example.com", namespace="email", context={"x": "link"})],
        request_id="r-1",
    )
    kit.tick()
    report = admin.report(reset.id)
    assert (report.sent, report.excluded) == (1, {})
    message = recorded(kit, C.EMAIL).sent[-1]
    assert (message.profile_id, message.address, message.transactional) == (
        "p1",
        "p1@example.com",
        True,
    )
    assert dict(message.fields) == {"subject": "Reset", "html": "link"}
