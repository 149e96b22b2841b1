"""A daily 09:00 campaign delivered in each recipient's own time zone, over a month.

The clock is fast-forwarded through March 2027, across both daylight-saving
changes (New York on 14 March, Paris on 28 March): every recipient keeps
getting the message at 09:00 on their own clock. A kit-wide frequency cap
(at most 5 marketing emails per rolling 7 days) drops the extra sends, and a
profile without a usable time zone falls back to the campaign's.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import pendulum

import campaignkit as ck
from campaignkit.testing import CallbackChannel, ManualClock

ZONES = {
    "hana": "Pacific/Honolulu",  # UTC-10
    "nina": "America/New_York",
    "pierre": "Europe/Paris",
    "kai": "Pacific/Kiritimati",  # UTC+14
    "ravi": "+05:30",  # a UTC offset works too
    "zed": "Mars/Olympus_Mons",  # unknown: falls back to Europe/Paris
}

SHOWN_IN: dict[str, str | pendulum.FixedTimezone] = {
    "ravi": pendulum.FixedTimezone(5 * 3600 + 30 * 60),
    "zed": "Europe/Paris",
}


def main() -> None:
    start = pendulum.datetime(2027, 3, 1, tz="Europe/Paris")
    clock = ManualClock(start.subtract(days=1))
    arrivals: dict[str, list[pendulum.DateTime]] = defaultdict(list)

    def deliver(message: ck.Message) -> ck.SendResult:
        arrivals[message.profile_id].append(clock.now())
        return ck.Accepted(f"mail-{message.idempotency_key}")

    kit = ck.CampaignKit.in_memory(
        clock=clock, channels={ck.ChannelType.EMAIL: CallbackChannel(deliver)}
    )
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    for name, zone in ZONES.items():
        kit.profiles.upsert(
            ck.Profile(
                name,
                identities={"email": f"{name}@example.com"},
                consents={ck.ChannelType.EMAIL: True},
                timezone=zone,
            )
        )
    kit.audiences.define("everyone", list(ZONES))
    kit.rules.add_frequency_cap(
        ck.ChannelType.EMAIL, ck.FrequencyCap(max=5, per=pendulum.duration(days=7))
    )

    ada = kit.as_user("ada")
    news = ada.create_surface(
        name="Daily tip",
        channel=ck.ChannelType.EMAIL,
        settings=ck.EmailSettings(sender="tips@example.com"),
    )
    campaign = ada.create_campaign(
        name="Tip of the day",
        audience="everyone",
        namespace="email",
        actions=[ck.Action(news.id, ck.EmailContent(subject="Today's tip", html="<p>Tip</p>"))],
        schedule=ck.Schedule(
            start=start,
            end=start.add(months=1),
            timezone="Europe/Paris",
            recurrence=ck.Recurrence.daily(at="09:00"),
            use_profile_timezone=True,
        ),
    )
    ada.activate(campaign.id)
    kit.run_until(start.add(months=1, days=2))

    print(f"{campaign.name}: {ada.get(campaign.id).status}")
    for name, zone in ZONES.items():
        shown_zone = SHOWN_IN.get(name, zone)
        local = Counter(at.in_timezone(shown_zone).format("HH:mm") for at in arrivals[name])
        print(f"  {name:7} {zone:20} {len(arrivals[name]):2} emails, local times {dict(local)}")
    counts = ada.report(campaign.id).counts
    print(
        f"report: {len(ada.report(campaign.id).runs)} runs, targeted {counts.targeted}, "
        f"sent {counts.sent}, excluded {dict(counts.excluded)}, "
        f"time-zone fallbacks {counts.timezone_fallbacks}"
    )


if __name__ == "__main__":
    main()
