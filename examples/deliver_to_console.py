"""Deliver a two-channel campaign to the console, then read its report."""

from __future__ import annotations

import pendulum

import campaignkit as ck
from campaignkit.testing import ManualClock


def main() -> None:
    clock = ManualClock(pendulum.datetime(2026, 12, 1, 9, tz="UTC"))
    console = ck.ConsoleChannel()
    kit = ck.CampaignKit.in_memory(
        clock=clock, channels={ck.ChannelType.EMAIL: console, ck.ChannelType.SMS: console}
    )
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    people = [("p1", "Ann", True), ("p2", "Bob", False), ("p3", "Chloe", True)]
    for profile_id, name, sms in people:
        kit.profiles.upsert(
            ck.Profile(
                id=profile_id,
                identities={"email": f"{name.lower()}@example.com"},
                attributes={"firstName": name},
                consents={ck.ChannelType.EMAIL: True, ck.ChannelType.SMS: sms},
                channel_data={ck.ChannelType.SMS: "+33600000000"} if sms else {},
            )
        )
    kit.audiences.define("everyone", [p[0] for p in people])
    ada = kit.as_user("ada")
    email = ada.create_surface(
        name="News", channel=ck.ChannelType.EMAIL, settings=ck.EmailSettings(sender="n@example.com")
    )
    texts = ada.create_surface(
        name="Texts", channel=ck.ChannelType.SMS, settings=ck.SmsSettings(sender_id="SHOP")
    )
    campaign = ada.create_campaign(
        name="Opening day",
        audience="everyone",
        namespace="email",
        actions=[
            ck.Action(email.id, ck.EmailContent(subject="Hi {{ profile.firstName }}", html="<p>")),
            ck.Action(texts.id, ck.SmsContent(text="{{ profile.firstName }}, doors open at 10")),
        ],
    )
    ada.activate(campaign.id)
    kit.tick()
    report = ada.report(campaign.id)
    print(f"targeted {report.targeted}, sent {report.sent}, excluded {dict(report.excluded)}")


if __name__ == "__main__":
    main()
