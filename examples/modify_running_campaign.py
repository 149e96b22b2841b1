"""Versioning: change a recurring LIVE campaign without stopping it."""

from __future__ import annotations

import pendulum

import campaignkit as ck
from campaignkit.testing import ManualClock


def main() -> None:
    clock = ManualClock(pendulum.datetime(2026, 12, 1, 9, tz="UTC"))
    kit = ck.CampaignKit.in_memory(clock=clock)
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    kit.audiences.define("subscribers", ["p1"])
    ada = kit.as_user("ada")
    sms = ada.create_surface(
        name="Alerts", channel=ck.ChannelType.SMS, settings=ck.SmsSettings(sender_id="SHOP")
    )
    daily = ada.create_campaign(
        name="Daily deal",
        audience="subscribers",
        namespace="phone",
        actions=[ck.Action(sms.id, ck.SmsContent(text="Today's deal: socks"))],
        schedule=ck.Schedule(recurrence=ck.Recurrence.daily(at="09:00")),
    )
    ada.activate(daily.id)
    kit.tick()
    print("status:", ada.get(daily.id).status)

    clock.advance(days=2)
    draft = ada.modify(daily.id)  # opens version 2; version 1 keeps running
    print("open draft:", draft.has_open_draft, "draft version:", draft.newest_version.number)
    ada.update_draft(daily.id, actions=[ck.Action(sms.id, ck.SmsContent(text="Deal: hats"))])
    live = ada.activate(daily.id)  # replaces the live version at once
    assert live.live_version is not None
    print("live version:", live.live_version.number, "status:", live.status)
    for entry in live.history:
        print(f"  {entry.at.to_iso8601_string()} {entry.actor:>6} {entry.action} {entry.detail}")


if __name__ == "__main__":
    main()
