"""``channelData.pushInfo``: its ``appID`` and ``platform`` must be those of the campaign's
push surface (the surface sends the message, so a token of another app cannot reach the
device); a refusal is the exact documented 400 naming the recipient and the field."""

from __future__ import annotations

from typing import Any

import pytest

import campaignkit as ck
from campaignkit import ajo
from tests.unit.ajo_fidelity.support import ADMIN, PUSH, World
from tests.unit.ajo_fidelity.test_refusals import ids, invalid, refusal

SUBJECT = "unitary execution request"
SURFACE = "'com.example.shop' on ios"


def push_body(world: World, app: str, platform: str) -> dict[str, Any]:
    body = world.body("03-unitary-push-profile.json")
    body["recipients"][0]["channelData"]["pushInfo"] |= {"appID": app, "platform": platform}
    return body


def test_an_app_id_of_another_app_is_a_400_naming_the_recipient(world: World) -> None:
    body = push_body(world, "com.example.other", "ios")
    campaign = body["campaignId"]

    answer = refusal(world, lambda: ajo.execute_unitary(world.admin, body))

    problem = (
        "recipients[0].channelData.pushInfo.appID 'com.example.other' is not the app of "
        f"campaign {campaign!r}'s push surface ({SURFACE}): send a token of that app, or "
        "trigger a campaign whose push surface is this app's"
    )
    assert answer == invalid(400, ids(body), SUBJECT, [problem])
    assert world.sent() == []


def test_a_platform_of_another_platform_is_a_400_naming_the_recipient(world: World) -> None:
    body = push_body(world, "com.example.shop", "android")
    campaign = body["campaignId"]

    answer = refusal(world, lambda: ajo.execute_unitary(world.admin, body))

    problem = (
        "recipients[0].channelData.pushInfo.platform 'android' is not the platform of "
        f"campaign {campaign!r}'s push surface for 'com.example.shop' ({SURFACE}): send a "
        "token of that platform, or trigger a campaign with a push surface for this one"
    )
    assert answer == invalid(400, ids(body), SUBJECT, [problem])
    assert world.sent() == []


def test_the_platform_is_compared_without_regard_to_case(world: World) -> None:
    body = push_body(world, "com.example.shop", "iOS")

    ajo.execute_unitary(world.admin, body)
    world.kit.tick()

    [message] = world.sent()
    assert (message.channel, message.address) == (PUSH, "device-token-0a1b2c3d")


def test_each_push_surface_of_the_campaign_is_one_the_push_info_may_name(
    world: World,
) -> None:
    admin = world.admin
    surfaces = [
        admin.create_surface(
            name=f"push {platform}",
            channel=PUSH,
            settings=ck.PushSettings(app_id="com.example.shop", platform=platform),
            category=ck.Category.TRANSACTIONAL,
        ).id
        for platform in ("android", "web")
    ]
    campaign = admin.create_campaign(
        name="two apps",
        type=ck.CampaignType.API_TRIGGERED,
        category=ck.Category.TRANSACTIONAL,
        namespace="ecid",
        actions=[ck.Action(s, ck.PushContent(title="t", body="b")) for s in surfaces],
    )
    admin.activate(campaign.id)
    world.kit.tick()
    sent = push_body(world, "com.example.shop", "web") | {"campaignId": campaign.id}
    refused = push_body(world, "com.example.shop", "ios") | {"campaignId": campaign.id}
    refused["requestId"] = "ck-refused"

    ajo.execute_unitary(world.kit.as_user(ADMIN), sent)
    answer = refusal(world, lambda: ajo.execute_unitary(admin, refused))

    assert len(world.sent()) == 2  # both actions, one push each
    assert answer["report"]["problems"] == [
        "recipients[0].channelData.pushInfo.platform 'ios' is not the platform of campaign "
        f"{campaign.id!r}'s push surface for 'com.example.shop' ('com.example.shop' on "
        "android/web): send a token of that platform, or trigger a campaign with a push "
        "surface for this one"
    ]


def test_a_campaign_without_push_accepts_push_info_it_does_not_send(world: World) -> None:
    body = world.body("01-unitary-sms-profile.json")
    push = {"appID": "com.example.other", "platform": "android", "token": "t"}
    body["recipients"][0]["channelData"] = {"pushInfo": push}

    ajo.execute_unitary(world.admin, body)
    world.kit.tick()

    assert [m.channel for m in world.sent()] == [ck.ChannelType.SMS]


@pytest.mark.parametrize("stopped", [True, False])
def test_a_campaign_that_cannot_send_answers_as_without_push_info(
    world: World, stopped: bool
) -> None:
    body = push_body(world, "com.example.other", "ios")
    if stopped:
        world.admin.stop(body["campaignId"])
    else:
        body["campaignId"] = "cmp_missing"

    answer = refusal(world, lambda: ajo.execute_unitary(world.admin, body))

    assert answer["type"].endswith("900102-400" if stopped else "900103-400")


# ------------------------------------------------------------- high throughput

HT_SUBJECT = "high-throughput execution request"


def high_throughput_body(world: World, app: str, platform: str, number: int = 0) -> dict[str, Any]:
    """The push sample as a high-throughput request: an external recipient."""
    body = push_body(world, app, platform)
    body["requestId"] = f"ck-ht-{number}"
    body["recipients"][0]["type"] = "external"
    return body


def _app_problem(campaign: str) -> str:
    return (
        "recipients[0].channelData.pushInfo.appID 'com.example.other' is not the app of "
        f"campaign {campaign!r}'s push surface ({SURFACE}): send a token of that app, or "
        "trigger a campaign whose push surface is this app's"
    )


def test_high_throughput_refuses_an_app_id_of_another_app_as_unitary_does(world: World) -> None:
    body = high_throughput_body(world, "com.example.other", "ios")

    answer = refusal(world, lambda: ajo.execute_high_throughput(world.admin, body))

    assert answer == invalid(400, ids(body), HT_SUBJECT, [_app_problem(body["campaignId"])])
    assert world.sent() == []


def test_high_throughput_refuses_a_platform_of_another_platform(world: World) -> None:
    body = high_throughput_body(world, "com.example.shop", "android")
    campaign = body["campaignId"]

    answer = refusal(world, lambda: ajo.execute_high_throughput(world.admin, body))

    problem = (
        "recipients[0].channelData.pushInfo.platform 'android' is not the platform of "
        f"campaign {campaign!r}'s push surface for 'com.example.shop' ({SURFACE}): send a "
        "token of that platform, or trigger a campaign with a push surface for this one"
    )
    assert answer == invalid(400, ids(body), HT_SUBJECT, [problem])
    assert world.sent() == []


def test_high_throughput_sends_a_push_info_of_the_campaign_app(world: World) -> None:
    body = high_throughput_body(world, "com.example.shop", "iOS")

    answer = ajo.execute_high_throughput(world.admin, body)
    world.kit.tick()

    assert answer["requestId"] == body["requestId"]
    [message] = world.sent()
    assert (message.channel, message.address) == (PUSH, "device-token-0a1b2c3d")


def test_many_high_throughput_requests_answer_a_wrong_push_info_on_its_own(
    world: World,
) -> None:
    good = high_throughput_body(world, "com.example.shop", "ios", 1)
    bad = high_throughput_body(world, "com.example.other", "ios", 2)
    missing = high_throughput_body(world, "com.example.other", "ios", 3)
    missing["campaignId"] = "cmp_missing"

    answers = ajo.execute_high_throughput_many(world.admin, [good, bad, missing])
    world.kit.tick()

    assert [status for status, _ in answers] == [202, 400, 400]
    assert answers[1][1] == invalid(400, ids(bad), HT_SUBJECT, [_app_problem(bad["campaignId"])])
    assert answers[2][1]["type"] == "https://ns.adobe.com/aep/errors/MSG-900103-400"
    assert answers[2][1]["report"]["additionalContext"] == ids(missing)
    assert [m.address for m in world.sent()] == ["device-token-0a1b2c3d"]


def test_a_high_throughput_campaign_without_push_accepts_push_info_it_does_not_send(
    world: World,
) -> None:
    body = high_throughput_body(world, "com.example.other", "android")
    body["campaignId"] = world.campaigns["ck-campaign-email"]
    body["recipients"][0] |= {"namespace": "email", "userId": "walk.in@example.com"}
    body["recipients"][0]["channelData"]["emailAddress"] = "walk.in@example.com"

    ajo.execute_high_throughput(world.admin, body)
    world.kit.tick()

    assert [m.channel for m in world.sent()] == [ck.ChannelType.EMAIL]
