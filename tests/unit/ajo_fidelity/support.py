"""The kit the fidelity tests run on, the request fixtures and the stored schemas.

A campaign per sample channel (SMS in ``phone``, push in ``ecid``, email in
``email``, all transactional) and a marketing campaign on audience
``ck-waitlist``; the fixtures name them ``ck-campaign-sms``, ``-push``,
``-email`` and ``-audience``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import jsonschema
import pendulum

import campaignkit as ck
from campaignkit.testing import ManualClock, RecordingChannel, SequentialIds

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ajo"
T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
ADMIN, VIEWER = "ada", "vic"
EMAIL, SMS, PUSH = ck.ChannelType.EMAIL, ck.ChannelType.SMS, ck.ChannelType.PUSH
JsonBody = dict[str, Any]


def request_fixtures() -> list[str]:
    """The names of every request fixture, in order."""
    return sorted(path.name for path in (FIXTURES / "requests").glob("*.json"))


def raw_body(name: str) -> JsonBody:
    """A request fixture as stored."""
    loaded: JsonBody = json.loads((FIXTURES / "requests" / name).read_text())
    return loaded


def schema(name: str) -> dict[str, Any]:
    """A stored schema by its name (``execution-response``)."""
    loaded: dict[str, Any] = json.loads((FIXTURES / "schemas" / f"{name}.schema.json").read_text())
    return loaded


def assert_valid(document: object, name: str) -> None:
    """Validate ``document`` against the stored schema ``name`` (a jsonschema error if not)."""
    jsonschema.validate(document, schema(name), cls=jsonschema.Draft202012Validator)


@attrs.define
class World:
    kit: ck.CampaignKit
    clock: ManualClock
    campaigns: dict[str, str]

    @property
    def admin(self) -> ck.UserSession:
        return self.kit.as_user(ADMIN)

    def body(self, name: str) -> JsonBody:
        """A request fixture with the id of this kit's campaign in place of ``campaignId``."""
        body = raw_body(name)
        body["campaignId"] = self.campaigns[body["campaignId"]]
        return body

    def sent(self) -> list[ck.Message]:
        messages = []
        for channel in self.kit.channels.values():
            assert isinstance(channel, RecordingChannel)
            messages.extend(channel.sent)
        return messages


def make_world(open_kit: Callable[[ManualClock], ck.CampaignKit] | None = None) -> World:
    """The fidelity kit, in memory or as ``open_kit`` opens it (a SQLite or PostgreSQL kit)."""
    clock = ManualClock(T0)
    if open_kit is None:
        kit = ck.CampaignKit.in_memory(clock=clock, ids=SequentialIds())
    else:
        kit = open_kit(clock)
    kit.access.assign(ADMIN, ck.ProductProfile.ADMINISTRATOR)
    kit.access.assign(VIEWER, ck.ProductProfile.VIEWER)
    admin = kit.as_user(ADMIN)
    txn, mkt = ck.Category.TRANSACTIONAL, ck.Category.MARKETING
    surfaces = {
        (EMAIL, category): admin.create_surface(
            name=f"email {category}",
            channel=EMAIL,
            settings=ck.EmailSettings(sender="shop@example.com"),
            category=category,
        ).id
        for category in (txn, mkt)
    }
    surfaces[SMS, txn] = admin.create_surface(
        name="sms", channel=SMS, settings=ck.SmsSettings(sender_id="SHOP"), category=txn
    ).id
    surfaces[PUSH, txn] = admin.create_surface(
        name="push",
        channel=PUSH,
        settings=ck.PushSettings(app_id="com.example.shop", platform="ios"),
        category=txn,
    ).id
    for number in (1, 2):
        kit.profiles.upsert(
            ck.Profile(id=f"p-phone-{number}", identities={"phone": f"+1555010000{number}"})
        )
    kit.profiles.upsert(
        ck.Profile(id="p-ecid", identities={"ecid": "70114455668800112233445566778899001122"})
    )
    for name in ("nora", "owen"):
        kit.profiles.upsert(
            ck.Profile(
                id=f"p-{name}",
                identities={"email": f"{name}@example.com"},
                attributes={"person": {"name": {"firstName": name.title()}}},
                consents={EMAIL: True},
            )
        )
    kit.audiences.define("ck-waitlist", ["p-nora", "p-owen"])
    greeting = "{{ profile.person.name.firstName | default('there') }}"
    offer = "{{ context.item.title | default('news') }} {{ context.voucher | default('') }}"

    def live(name: str, namespace: str, action: ck.Action, category: ck.Category) -> str:
        campaign = admin.create_campaign(
            name=name,
            type=ck.CampaignType.API_TRIGGERED,
            category=category,
            audience="ck-waitlist" if category is mkt else None,
            namespace=namespace,
            actions=[action],
        )
        admin.activate(campaign.id)
        kit.tick()
        return campaign.id

    email = ck.EmailContent(subject=f"{greeting}: {offer}", html="-")
    campaigns = {
        "ck-campaign-sms": live(
            "sms", "phone", ck.Action(surfaces[SMS, txn], ck.SmsContent(text=offer)), txn
        ),
        "ck-campaign-push": live(
            "push",
            "ecid",
            ck.Action(surfaces[PUSH, txn], ck.PushContent(title=greeting, body=offer)),
            txn,
        ),
        "ck-campaign-email": live("email", "email", ck.Action(surfaces[EMAIL, txn], email), txn),
        "ck-campaign-audience": live(
            "audience", "email", ck.Action(surfaces[EMAIL, mkt], email), mkt
        ),
    }
    return World(kit, clock, campaigns)
