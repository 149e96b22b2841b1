"""Personalization: missing attributes exclude only that action, nested attributes, fallbacks
and context render, and template errors fail only their message."""

from __future__ import annotations

import campaignkit as ck
from tests.unit.delivery.support import (
    C,
    L,
    R,
    Worlds,
    action_id,
    by_profile,
    email_action,
    launch,
    ledger,
    only_run,
    person,
    recorded,
)

# ---------------------------------------------------------------- personalization


def test_a_missing_attribute_excludes_only_that_action_for_that_recipient(worlds: Worlds) -> None:
    world = worlds.world()
    kit = world.kit
    kit.profiles.upsert(person("p1", None, phone="+33600000001", city="Lyon"))
    kit.profiles.upsert(person("p2", "Bob", phone="+33600000002", city=None))
    campaign = launch(
        world,
        [
            email_action(world, "Hi {{ profile.firstName }} from {{ profile.address.city }}"),
            ck.Action(
                world.sms.id,
                ck.SmsContent("Hi {{ profile.firstName | default('friend') }}"),
            ),
        ],
    )
    run = only_run(kit, campaign.id)
    email, sms = action_id(campaign, C.EMAIL), action_id(campaign, C.SMS)
    states = {(e.action_id, e.profile_id): (e.state, e.reason) for e in ledger(kit, run.id)}
    assert states == {
        (email, "p1"): (L.EXCLUDED, R.MISSING_ATTRIBUTE),
        (email, "p2"): (L.EXCLUDED, R.MISSING_ATTRIBUTE),
        (sms, "p1"): (L.SENT, None),
        (sms, "p2"): (L.SENT, None),
    }
    assert [m.fields["text"] for m in recorded(kit, C.SMS).sent] == ["Hi friend", "Hi Bob"]
    assert recorded(kit, C.EMAIL).sent == []
    report = world.admin.report(campaign.id)
    assert report.by_action[email].excluded == {R.MISSING_ATTRIBUTE: 2}
    assert run.status is ck.RunStatus.SUCCEEDED


def test_nested_attributes_fallbacks_and_context_render(memory: Worlds) -> None:
    world = memory.world()
    kit = world.kit
    kit.profiles.upsert(
        ck.Profile(
            id="p1",
            identities={"email": "ann@example.com"},
            attributes={"firstName": "Ann", "address": {"city": "Paris", "geo": {"zip": 75001}}},
            consents={C.EMAIL: True},
        )
    )
    kit.profiles.upsert(
        ck.Profile(
            id="p2",
            identities={"email": "bob@example.com"},
            attributes={"address": {"geo": {}}, "tier": None},
            consents={C.EMAIL: True},
        )
    )
    campaign = launch(
        world,
        [
            ck.Action(
                world.email.id,
                ck.EmailContent(
                    subject="{{ profile.firstName | default('friend') }} in "
                    "{{ profile.address.city | default('your city') }}",
                    html="{% if profile.address.geo.zip is defined %}"
                    "{{ profile.address.geo.zip }}{% else %}-{% endif %}",
                    text="{{ profile.firstName|upper if profile.firstName is defined else 'HI' }}",
                ),
            )
        ],
    )
    sent = recorded(kit, C.EMAIL).sent
    assert [dict(m.fields) for m in sent] == [
        {"subject": "Ann in Paris", "html": "75001", "text": "ANN"},
        {"subject": "friend in your city", "html": "-", "text": "HI"},
    ]
    assert world.admin.report(campaign.id).sent == 2


def test_a_fallback_covers_a_missing_parent_attribute(memory: Worlds) -> None:
    world = memory.world()
    kit = world.kit
    kit.profiles.upsert(person("p1", "Ann", city=None))  # no address at all
    campaign = launch(
        world, [email_action(world, "In {{ profile.address.city | default('your city') }}")]
    )
    report = world.admin.report(campaign.id)
    assert report.excluded == {}
    assert recorded(kit, C.EMAIL).sent[0].fields["subject"] == "In your city"


def test_a_template_error_other_than_missing_data_fails_that_message_only(
    worlds: Worlds,
) -> None:
    world = worlds.world()
    kit = world.kit
    kit.profiles.upsert(
        ck.Profile(
            id="p1",
            identities={"email": "p1@example.com"},
            attributes={"firstName": "Ann", "n": "seven"},
            consents={C.EMAIL: True},
        )
    )
    kit.profiles.upsert(
        ck.Profile(
            id="p2",
            identities={"email": "p2@example.com"},
            attributes={"firstName": "Bob", "n": 7},
            consents={C.EMAIL: True},
        )
    )
    campaign = launch(world, [email_action(world, "{{ profile.firstName }} #{{ profile.n + 1 }}")])
    run = only_run(kit, campaign.id)
    entries = by_profile(ledger(kit, run.id))
    assert entries["p1"].state is L.FAILED
    assert entries["p1"].error is not None
    assert entries["p1"].error.startswith("TypeError")
    assert entries["p2"].state is L.SENT
    assert [m.fields["subject"] for m in recorded(kit, C.EMAIL).sent] == ["Bob #8"]
    report = world.admin.report(campaign.id)
    assert (report.sent, report.failed, report.targeted) == (1, 1, 2)
    assert run.status is ck.RunStatus.SUCCEEDED
