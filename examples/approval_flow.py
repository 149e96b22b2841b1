"""Separation of duties: a manager drafts, an approver reviews and publishes."""

from __future__ import annotations

import pendulum

import campaignkit as ck
from campaignkit.testing import ManualClock


def main() -> None:
    clock = ManualClock(pendulum.datetime(2026, 12, 1, 9, tz="UTC"))
    kit = ck.CampaignKit.in_memory(clock=clock)
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    kit.access.assign("max", ck.ProductProfile.MANAGER)
    kit.access.add_member("marketing", "april")
    kit.access.assign_group("marketing", ck.ProductProfile.APPROVER)
    kit.audiences.define("vip", ["p1", "p2"])

    def notify(event: ck.DomainEvent) -> None:
        if isinstance(event, ck.ApprovalEvent):
            review = event.review
            to = sorted(review.reviewer_groups) if review else []
            print(f"notify: {event.action} on {event.campaign_name!r} by {event.entry.actor}", to)

    kit.subscribe(notify)

    ada = kit.as_user("ada")
    news = ada.create_surface(
        name="Newsletter",
        channel=ck.ChannelType.EMAIL,
        settings=ck.EmailSettings(sender="news@example.com"),
    )
    policy = ada.create_approval_policy(
        name="Marketing review", reviewer_groups=["marketing"], block_self_approval=True
    )
    ada.activate_approval_policy(policy.id)

    max_ = kit.as_user("max")
    april = kit.as_user("april")
    campaign = max_.create_campaign(
        name="Winter sale",
        audience="vip",
        namespace="email",
        actions=[ck.Action(news.id, ck.EmailContent(subject="Hi", html="<p>-30%</p>"))],
    )
    try:
        max_.activate(campaign.id)
    except ck.PermissionDenied as denied:
        print("max cannot publish:", denied.reason)

    max_.request_approval(campaign.id, message="Ready")
    clock.advance(hours=1)
    april.request_changes(campaign.id, "Mention the end date")
    max_.update_draft(
        campaign.id,
        actions=[ck.Action(news.id, ck.EmailContent(subject="Hi", html="<p>Until Sunday</p>"))],
    )
    max_.request_approval(campaign.id)
    clock.advance(hours=1)
    april.approve(campaign.id, comment="Approved")
    kit.tick()
    print("status:", april.get(campaign.id).status)
    for entry in april.approval_history(campaign.id):
        print(f"  {entry.at.to_iso8601_string()} {entry.actor:>5} {entry.action} {entry.message}")


if __name__ == "__main__":
    main()
