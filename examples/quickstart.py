"""Quickstart: a campaign from draft to completion on a fast-forwarded clock."""

from __future__ import annotations

import pendulum

import campaignkit as ck
from campaignkit.testing import ManualClock


def main() -> None:
    clock = ManualClock(pendulum.datetime(2026, 12, 1, 9, tz="UTC"))
    kit = ck.CampaignKit.in_memory(clock=clock)
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    kit.audiences.define("vip", ["p1", "p2"])
    ada = kit.as_user("ada")

    news = ada.create_surface(
        name="Newsletter",
        channel=ck.ChannelType.EMAIL,
        settings=ck.EmailSettings(sender="news@example.com"),
    )
    campaign = ada.create_campaign(
        name="Winter sale",
        audience="vip",
        namespace="email",
        actions=[ck.Action(news.id, ck.EmailContent(subject="Hi!", html="<p>-30%</p>"))],
        schedule=ck.Schedule(start=clock.now().add(hours=6)),
    )
    kit.subscribe(lambda event: print("event:", event))
    ada.activate(campaign.id)
    kit.run_until(clock.now().add(days=4))
    print("final status:", ada.get(campaign.id).status)


if __name__ == "__main__":
    main()
