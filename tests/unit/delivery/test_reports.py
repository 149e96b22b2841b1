"""Reports: gated by campaign.report.read, broken down per run and per action, with names
escaped in HTML."""

from __future__ import annotations

import pytest

import campaignkit as ck
from tests.unit.delivery.support import (
    C,
    R,
    Worlds,
    action_id,
    balanced,
    email_action,
    launch,
    person,
)

# ---------------------------------------------------------------- reports


def test_reports_need_campaign_report_read(memory: Worlds) -> None:
    world = memory.world()
    kit = world.kit
    campaign = launch(world, [email_action(world)])
    kit.access.assign("vera", ck.ProductProfile.VIEWER)
    kit.access.assign("max", ck.ProductProfile.MANAGER)
    for user in ("vera", "max", "ada"):
        assert kit.as_user(user).report(campaign.id).sent == 2
    with pytest.raises(ck.PermissionDenied, match=r"campaign_report\.read"):
        kit.as_user("nobody").report(campaign.id)
    with pytest.raises(ck.NotFound):
        world.admin.report("cmp_missing")
    with pytest.raises(ck.PermissionDenied):  # a denial does not reveal existence
        kit.as_user("nobody").report("cmp_missing")


def test_reports_break_down_per_run_and_per_action(worlds: Worlds) -> None:
    world = worlds.world()
    kit, admin = world.kit, world.admin
    kit.profiles.upsert(person("p1", "Ann", phone="+33600000001"))
    kit.profiles.upsert(person("p2", "Bob", consent=False))
    campaign = admin.create_campaign(
        name="Triggered",
        type=ck.CampaignType.API_TRIGGERED,
        namespace="email",
        actions=[email_action(world), ck.Action(world.sms.id, ck.SmsContent("x"))],
    )
    admin.activate(campaign.id)
    kit.tick()
    email, sms = (
        action_id(admin.get(campaign.id), C.EMAIL),
        action_id(admin.get(campaign.id), C.SMS),
    )
    admin.trigger(
        campaign.id, [ck.Recipient(user_id="p1@example.com", namespace="email")], request_id="a"
    )
    kit.tick()
    world.clock.advance(minutes=1)
    admin.trigger(
        campaign.id,
        [
            ck.Recipient(user_id="p1@example.com", namespace="email"),
            ck.Recipient(user_id="p2@example.com", namespace="email"),
        ],
        request_id="b",
    )
    kit.tick()
    report = admin.report(campaign.id)
    assert [r.kind for r in report.runs] == [ck.RunKind.TRIGGER] * 2
    assert [r.status for r in report.runs] == [ck.RunStatus.SUCCEEDED] * 2
    first, second = report.runs
    assert (first.counts.targeted, first.counts.sent) == (2, 2)
    assert first.by_action[email] == ck.ActionCounts(targeted=1, sent=1)
    assert second.by_action[email] == ck.ActionCounts(
        targeted=2, sent=1, excluded={R.NO_CONSENT: 1}
    )
    assert second.by_action[sms] == ck.ActionCounts(
        targeted=2, sent=1, excluded={R.MISSING_CHANNEL_DATA: 1}
    )
    assert report.by_action[email] == ck.ActionCounts(
        targeted=3, sent=2, excluded={R.NO_CONSENT: 1}
    )
    assert report.by_action[sms] == first.by_action[sms].plus(second.by_action[sms])
    assert (report.targeted, report.sent, report.failed) == (6, 4, 0)
    assert dict(report.excluded) == {R.NO_CONSENT: 1, R.MISSING_CHANNEL_DATA: 1}
    assert report.counts == first.counts.plus(second.counts)
    assert all(balanced(r.counts) for r in report.runs)
    assert report.campaign_id == campaign.id
    assert report.name == "Triggered"


def test_report_html_escapes_names(memory: Worlds) -> None:
    world = memory.world()
    kit = world.kit
    kit.profiles.upsert(person("p2", "Bob", consent=False))
    campaign = launch(world, [email_action(world)], name="<script>alert('x')</script> & co")
    page = world.admin.report(campaign.id)._repr_html_()
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co" in page
    assert "<td>2</td><td>1</td><td>0</td><td>1 (no_consent: 1)</td>" in page
    assert world.admin.get(campaign.id)._repr_html_().count("&lt;script&gt;") == 1
