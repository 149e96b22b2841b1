"""The fan-out's hot path gives exactly what its reference gives.

``decide_batch`` inlines deciding a recipient every action sends to and leaves
anyone else to the reference; messages are built in one step; outcomes of a
batch accepted on its first hand-over are written in one pass; keyed contacts
are filed lazily; addresses for the suppression check are read only if the
store asks. Each test compares with the plain way of doing the same.
"""

from __future__ import annotations

import copy
import pickle
from typing import Any

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit import InMemoryStore
from campaignkit.delivery import decide as deciding
from campaignkit.delivery import suppression
from campaignkit.domain.delivery import Message, message_builder
from campaignkit.domain.ledger_rows import builder_parts
from campaignkit.domain.profile import Profile
from campaignkit.testing import RecordingChannel
from tests.factories import T0

EMAIL, SMS = ck.ChannelType.EMAIL, ck.ChannelType.SMS


def _bent(profile: Profile, **fields: object) -> Profile:
    """``profile`` with fields set past its checks (host data is not always what it says)."""
    bent = copy.copy(profile)
    for name, value in fields.items():
        object.__setattr__(bent, name, value)
    return bent


def _people() -> list[Profile]:
    def person(i: int, **kwargs: Any) -> Profile:
        kwargs.setdefault("identities", {"email": f"u{i}@example.com"})
        kwargs.setdefault("attributes", {"firstName": f"U{i}"})
        kwargs.setdefault("consents", {EMAIL: True, SMS: True})
        kwargs.setdefault("channel_data", {SMS: f"+4470000{i:04d}"})
        return Profile(id=f"p{i}", **kwargs)

    return [
        person(0),
        person(1, identities={}),  # missing identity
        person(2, channel_data={}),  # no phone: the SMS action is excluded, not the email
        person(3, consents={EMAIL: True}),  # no SMS consent
        person(4),  # suppressed on email
        person(5, attributes={}),  # missing attribute (email only)
        _bent(person(6), timezone=5),  # a zone that is not text: checked by the reference
        _bent(person(7), identities=42),  # data that raises: FAILED for every action
        person(8, timezone="Europe/Paris"),
        person(9, attributes={"firstName": 7}),  # a number prints
    ]


def _deliver(monkeypatch: pytest.MonkeyPatch, *, reference: bool) -> tuple[Any, ...]:
    if reference:  # every Profile looks like an unknown stand-in: the hot path defers them all
        monkeypatch.setattr(deciding, "UNKNOWN_PROFILE_TYPE", Profile)
    channels = {EMAIL: RecordingChannel(), SMS: RecordingChannel()}
    clock = ck.testing.ManualClock(T0)
    kit = ck.CampaignKit.in_memory(
        clock, channels=channels, ids=ck.testing.SequentialIds(), secret="s" * 32
    )
    people = _people()
    for profile in people:
        kit.profiles._profiles[profile.id] = profile  # type: ignore[attr-defined]
    audience = [p.id for p in people] + ["p0", "nobody", "p8"]  # repeats and an unknown id
    kit.audiences.define("all", audience)
    with kit.store.unit_of_work() as uow:
        uow.suppressions.add(EMAIL, "u4@example.com")
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    ada = kit.as_user("ada")
    email = ada.create_surface(
        name="News",
        channel=EMAIL,
        settings=ck.EmailSettings(
            sender="n@example.com", unsubscribe_url="https://example.com/u/{token}"
        ),
    )
    sms = ada.create_surface(name="Sms", channel=SMS, settings=ck.SmsSettings(sender_id="SHOP"))
    campaign = ada.create_campaign(
        name="Both",
        audience="all",
        namespace="email",
        actions=[
            ck.Action(email.id, ck.EmailContent(subject="Hi {{ profile.firstName }}", html="x")),
            ck.Action(sms.id, ck.SmsContent(text="Sale!")),
        ],
    )
    ada.activate(campaign.id)
    kit.tick()
    kit.tick()
    with kit.store.unit_of_work() as uow:
        (run,) = uow.runs.for_campaign(campaign.id)
        entries = list(uow.ledger.entries(run.id))
    sent = [
        (m.channel, m.profile_id, m.address, dict(m.fields))
        for c in channels.values()
        for m in c.sent
    ]
    return entries, dict(run.counts), sorted(sent, key=repr)


def test_the_hot_path_decides_every_recipient_as_the_reference_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fast = _deliver(monkeypatch, reference=False)
    reference = _deliver(monkeypatch, reference=True)
    assert fast == reference
    entries, counts, sent = fast
    states = {(e.action_id, e.profile_id): (e.state, e.reason) for e in entries}
    assert len(states) == len(entries) == 2 * 11  # ten people and the unknown id, two actions
    assert {s for s, _ in states.values()} == {
        ck.LedgerState.SENT,
        ck.LedgerState.EXCLUDED,
        ck.LedgerState.FAILED,
    }
    assert sum(c.excluded.get(ck.ExclusionReason.DUPLICATE, 0) for c in counts.values()) == 4
    assert len(sent) == sum(1 for s, _ in states.values() if s is ck.LedgerState.SENT)


def test_a_built_message_equals_one_made_by_its_class() -> None:
    settings = ck.EmailSettings(sender="n@example.com")
    build = message_builder(
        run_id="r1",
        campaign_id="c1",
        action_id="a1",
        channel=EMAIL,
        settings=settings,
        transactional=True,
    )
    plain = build("p1", "a@example.com", {"subject": "Hi"}, None)
    linked = build("p2", "b@example.com", {"subject": "Yo"}, "https://u/2")
    assert plain == Message(
        "r1",
        "c1",
        "a1",
        "p1",
        EMAIL,
        "a@example.com",
        "r1:a1:p1",
        {"subject": "Hi"},
        settings,
        transactional=True,
    )
    assert linked == Message(
        "r1",
        "c1",
        "a1",
        "p2",
        EMAIL,
        "b@example.com",
        "r1:a1:p2",
        {"subject": "Yo"},
        settings,
        transactional=True,
        unsubscribe_url="https://u/2",
    )
    assert plain.unsubscribe_url is None  # the shared fields were copied, not changed
    assert list(vars(plain)) == [f.name for f in attrs.fields(Message)]
    with pytest.raises(TypeError):
        plain.fields["subject"] = "changed"  # type: ignore[index]


def test_accepted_keeps_its_value_semantics() -> None:
    accepted = ck.Accepted("pm-1")
    assert accepted == ck.Accepted(provider_message_id="pm-1")
    assert hash(accepted) == hash(ck.Accepted("pm-1"))
    assert attrs.evolve(accepted, provider_message_id="pm-2") == ck.Accepted("pm-2")
    assert pickle.loads(pickle.dumps(accepted)) == accepted
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        accepted.provider_message_id = "pm-3"  # type: ignore[misc]


T = pendulum.datetime(2026, 12, 1, 9, tz="UTC")


class _Boom(Exception):
    pass


def test_keyed_contacts_are_filed_when_something_forgets_and_undone_either_way() -> None:
    store = InMemoryStore()
    with store.unit_of_work() as uow:
        uow.contacts.record(EMAIL, [("p1", T)], ["k1"])
    assert store._tables.contact_keys.get(EMAIL) is None  # not filed by a record
    with pytest.raises(_Boom), store.unit_of_work() as uow:
        uow.contacts.record(EMAIL, [("p2", T)], ["k2"])
        uow.contacts.forget(EMAIL, [("p1", "k1")])  # files k1 and k2
        assert set(store._tables.contact_keys[EMAIL]) == {"k2"}
        raise _Boom
    assert set(store._tables.contact_keys[EMAIL]) == {"k1"}  # k1 back, k2 undone after filing
    with store.unit_of_work() as uow:
        uow.contacts.forget(EMAIL, [("p2", "k2"), ("p1", "k1")])
        assert uow.contacts.counts(EMAIL, ["p1", "p2"], T) == {}
    with store.unit_of_work() as uow:
        uow.contacts.forget(SMS, [("p1", "k1")])  # nothing recorded on that channel


def test_addresses_are_read_only_if_the_store_asks() -> None:
    people = [
        Profile(id="p1", identities={"email": "a@example.com"}),
        Profile(id="p2", identities={"email": "b@example.com"}),
        Profile(id="p3"),
    ]
    addresses = suppression._Addresses(people, EMAIL, "email")
    assert "_found" not in vars(addresses)
    store = InMemoryStore()
    with store.unit_of_work() as uow:
        assert uow.suppressions.suppressed(EMAIL, addresses) == set()
        assert "_found" not in vars(addresses)  # a store without suppressions never read them
        uow.suppressions.add(EMAIL, "b@example.com")
        assert uow.suppressions.suppressed(EMAIL, addresses) == {"b@example.com"}
    assert len(addresses) == 2
    assert addresses[0] == "a@example.com"
    assert list(addresses[1:]) == ["b@example.com"]
    assert list(addresses) == ["a@example.com", "b@example.com"]


def test_the_null_channel_answers_what_accepted_would() -> None:
    build = message_builder(
        run_id="r1",
        campaign_id="c1",
        action_id="a1",
        channel=EMAIL,
        settings=ck.EmailSettings(sender="n@example.com"),
        transactional=False,
    )
    messages = [build(f"p{i}", f"u{i}@example.com", {"subject": "Hi"}, None) for i in range(3)]
    answered = ck.testing.NullChannel().send(messages)
    assert answered == [ck.Accepted(m.idempotency_key) for m in messages]
    assert all(type(a) is ck.Accepted for a in answered)
    assert [hash(a) for a in answered] == [hash(ck.Accepted(m.idempotency_key)) for m in messages]
    assert ck.testing.NullChannel().send(()) == []


def test_the_inlined_message_build_equals_the_builders(monkeypatch: pytest.MonkeyPatch) -> None:
    inlined = _deliver(monkeypatch, reference=False)
    monkeypatch.setattr(deciding, "builder_parts", lambda build: None)  # a builder of its own
    called = _deliver(monkeypatch, reference=False)
    assert inlined == called
    assert builder_parts(lambda *args: None) is None  # type: ignore[arg-type]


def test_decide_batch_builds_the_messages_its_builders_build() -> None:
    channel = RecordingChannel()
    kit = ck.CampaignKit.in_memory(
        ck.testing.ManualClock(T0), channels={EMAIL: channel}, ids=ck.testing.SequentialIds()
    )
    people = [p for p in _people() if p.id in {"p0", "p8"}]
    for profile in people:
        kit.profiles.upsert(profile)
    kit.audiences.define("all", [p.id for p in people])
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    ada = kit.as_user("ada")
    settings = ck.EmailSettings(sender="n@example.com")
    email = ada.create_surface(name="News", channel=EMAIL, settings=settings)
    content = ck.EmailContent(subject="Hi {{ profile.firstName }}", html="x")
    campaign = ada.create_campaign(
        name="One", audience="all", namespace="email", actions=[ck.Action(email.id, content)]
    )
    ada.activate(campaign.id)
    kit.tick()
    kit.tick()
    assert len(channel.sent) == 2
    for message, profile in zip(channel.sent, people, strict=True):
        build = message_builder(
            run_id=message.run_id,
            campaign_id=campaign.id,
            action_id=message.action_id,
            channel=EMAIL,
            settings=settings,
            transactional=False,
        )
        fields = {"subject": f"Hi {profile.attributes['firstName']}", "html": "x"}
        made = build(profile.id, profile.identities["email"], fields, None)
        assert message == made
        assert list(vars(message).items()) == list(vars(made).items())  # same fields, same order
