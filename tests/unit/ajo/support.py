"""Shared helpers of the AJO payload tests: the environment (a kit with surfaces, campaigns and
profiles), AJO bodies to start from, and readers of problems, paths and instants."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from typing import Any

import attrs
import pendulum

import campaignkit as ck
from campaignkit.testing import ManualClock, RecordingChannel, SequentialIds

T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
EMAIL = ck.ChannelType.EMAIL
SMS = ck.ChannelType.SMS
TXN = ck.Category.TRANSACTIONAL
MKT = ck.Category.MARKETING
ADMIN, MANAGER = "ada", "max"
JsonBody = dict[str, Any]


@attrs.define
class Env:
    kit: ck.CampaignKit
    clock: ManualClock
    transactional: ck.Campaign
    marketing: ck.Campaign

    @property
    def admin(self) -> ck.UserSession:
        return self.kit.as_user(ADMIN)

    def sent(self) -> list[ck.Message]:
        messages = []
        for channel in self.kit.channels.values():
            assert isinstance(channel, RecordingChannel)
            messages.extend(channel.sent)
        return messages

    def runs(self) -> list[ck.Run]:
        with self.kit.store.unit_of_work() as uow:
            return [
                *uow.runs.for_campaign(self.transactional.id),
                *uow.runs.for_campaign(self.marketing.id),
            ]

    def assert_nothing_happened(self) -> None:
        self.kit.tick()
        assert self.sent() == []
        assert self.runs() == []


def make_env() -> Env:
    clock = ManualClock(T0)
    kit = ck.CampaignKit.in_memory(clock=clock, ids=SequentialIds())
    kit.access.assign(ADMIN, ck.ProductProfile.ADMINISTRATOR)
    kit.access.assign(MANAGER, ck.ProductProfile.MANAGER)
    admin = kit.as_user(ADMIN)
    surfaces = {}
    for category in ck.Category:
        surfaces[EMAIL, category] = admin.create_surface(
            name=f"email {category}",
            channel=EMAIL,
            settings=ck.EmailSettings(sender="shop@example.com"),
            category=category,
        ).id
        surfaces[SMS, category] = admin.create_surface(
            name=f"sms {category}",
            channel=SMS,
            settings=ck.SmsSettings(sender_id="SHOP"),
            category=category,
        ).id
    kit.profiles.upsert(
        ck.Profile(
            id="p-ann",
            identities={"email": "ann@example.com", "phone": "+33100000001"},
            attributes={"person": {"name": {"firstName": "Ann"}}},
            consents={EMAIL: True, SMS: True},
            channel_data={SMS: "+33100000001"},
        )
    )
    kit.profiles.upsert(
        ck.Profile(
            id="p-bob",
            identities={"email": "bob@example.com"},
            attributes={"person": {"name": {"firstName": "Bob"}}},
            consents={EMAIL: True},
        )
    )
    kit.audiences.define("vip", ["p-ann", "p-bob"])
    subject = "{{ profile.person.name.firstName }}: {{ context.product }}"

    def live(category: ck.Category, name: str) -> ck.Campaign:
        campaign = admin.create_campaign(
            name=name,
            type=ck.CampaignType.API_TRIGGERED,
            category=category,
            audience="vip" if category is MKT else None,
            namespace="email",
            actions=[
                ck.Action(surfaces[EMAIL, category], ck.EmailContent(subject=subject, html="hi")),
                ck.Action(surfaces[SMS, category], ck.SmsContent(text=subject)),
            ],
            schedule=ck.Schedule(end=T0.add(days=30)),
        )
        admin.activate(campaign.id)
        kit.tick()
        return admin.get(campaign.id)

    return Env(kit, clock, live(TXN, "Order confirmation"), live(MKT, "Flash sale"))


def unitary_body(env: Env, **changes: Any) -> JsonBody:
    """A complete AJO unitary execution body, as a host would forward it (parsed JSON)."""
    body: JsonBody = {
        "requestId": "request-12345",
        "campaignId": env.transactional.id,
        "recipients": [
            {
                "type": "aep",
                "userId": "ann@example.com",
                "namespace": "email",
                "mergePolicyName": "Default Timebased",
                "mergePolicySchema": "_xdm.context.profile",
                "channelData": {"emailAddress": "ann.work@example.com"},
                "profile": {"person": {"name": {"firstName": "Jane", "lastName": "Doe"}}},
                "context": {"product": "Gaming Laptop"},
            }
        ],
    }
    body.update(changes)
    return json.loads(json.dumps(body))  # type: ignore[no-any-return]


def recipient(**fields: Any) -> JsonBody:
    base: JsonBody = {"type": "aep", "userId": "ann@example.com", "namespace": "email"}
    base.update(fields)
    return base


def audience_body(env: Env, **changes: Any) -> JsonBody:
    body: JsonBody = {
        "requestId": "audience-1",
        "campaignId": env.marketing.id,
        "audience": {"id": "vip"},
        "context": {"product": "Headphones"},
    }
    body.update(changes)
    return body


def problems_of(call: Callable[[], object]) -> list[str]:
    """The problems of the ValidationError ``call`` raises (an AssertionError if none)."""
    try:
        call()
    except ck.ValidationError as exc:
        return list(exc.problems)
    raise AssertionError("no ValidationError was raised")


def path_of(problem: str) -> str:
    """The JSON path a problem starts with (``recipients[0].type``)."""
    return problem.split(" ", 1)[0].rstrip(":")


def parse_instant(text: str) -> pendulum.DateTime:
    parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None, text
    return pendulum.instance(parsed)
