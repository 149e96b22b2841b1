"""Channel surfaces, activation validation and schedule/recurrence construction."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable

import attrs
import pendulum
import pytest

import campaignkit as ck
from tests.factories import T0, World, make_world

S = ck.CampaignStatus
EMAIL, SMS, PUSH = ck.ChannelType.EMAIL, ck.ChannelType.SMS, ck.ChannelType.PUSH


def assert_problems(error: ck.ValidationError, *fragments: str) -> None:
    """Each fragment is in exactly one problem, and every problem is matched by one fragment."""
    for fragment in fragments:
        hits = [p for p in error.problems if fragment in p]
        assert len(hits) == 1, f"{fragment!r} matched {hits} in {error.problems}"
    unmatched = [p for p in error.problems if not any(f in p for f in fragments)]
    assert not unmatched, f"unexpected problems {unmatched}"
    assert len(error.problems) == len(fragments)


# ---------------------------------------------------------------- surfaces


@pytest.mark.parametrize(
    ("channel", "settings"),
    [
        (
            EMAIL,
            ck.EmailSettings(
                sender="promo@example.com",
                sender_name="Shop",
                reply_to="help@example.com",
                subdomain="mail.example.com",
            ),
        ),
        (SMS, ck.SmsSettings(sender_id="+15550100")),
        (PUSH, ck.PushSettings(app_id="com.shop.android", platform="android")),
    ],
)
def test_create_surface_for_each_channel(
    world: World,
    channel: ck.ChannelType,
    settings: ck.EmailSettings | ck.SmsSettings | ck.PushSettings,
) -> None:
    world.clock.advance(minutes=5)
    surface = world.admin.create_surface(name="  Promo  ", channel=channel, settings=settings)
    assert surface.name == "Promo"
    assert surface.channel is channel
    assert surface.category is ck.Category.MARKETING
    assert surface.settings == settings
    assert surface.status is ck.SurfaceStatus.ACTIVE
    assert surface.is_active
    assert surface.created_at == T0.add(minutes=5)
    assert surface.created_by == "ada"
    assert world.admin.get_surface(surface.id) == surface


def test_create_a_transactional_surface(world: World) -> None:
    surface = world.admin.create_surface(
        name="Receipts",
        channel=EMAIL,
        settings=ck.EmailSettings(sender="receipts@example.com"),
        category=ck.Category.TRANSACTIONAL,
    )
    assert surface.category is ck.Category.TRANSACTIONAL


def refused_surface(
    world: World, *, name: str, channel: ck.ChannelType, settings: object
) -> ck.ValidationError:
    """Create a surface that must be refused; check nothing was stored; return the error."""
    before = world.admin.list_surfaces()
    with pytest.raises(ck.ValidationError) as caught:
        world.admin.create_surface(
            name=name,
            channel=channel,
            settings=settings,  # type: ignore[arg-type]
        )
    assert world.admin.list_surfaces() == before
    return caught.value


def test_settings_of_another_channel_are_refused(world: World) -> None:
    error = refused_surface(
        world, name="Mixed", channel=SMS, settings=ck.EmailSettings(sender="a@example.com")
    )
    assert error.problems == [
        "settings EmailSettings are for channel email, not sms; pass SmsSettings"
    ]


def test_bad_email_addresses_are_each_reported(world: World) -> None:
    error = refused_surface(
        world,
        name="Bad mail",
        channel=EMAIL,
        settings=ck.EmailSettings(sender="not-an-address", reply_to="also bad@example.com"),
    )
    assert_problems(error, "email sender 'not-an-address'", "email reply_to 'also bad@example.com'")


@pytest.mark.parametrize("sender", ["", "@example.com", "ann@", "ann@localhost", "ann example.com"])
def test_malformed_sender_addresses(world: World, sender: str) -> None:
    error = refused_surface(
        world, name="Bad", channel=EMAIL, settings=ck.EmailSettings(sender=sender)
    )
    assert_problems(error, f"email sender {sender!r} is not an email address")


def test_empty_sms_sender_id(world: World) -> None:
    error = refused_surface(world, name="Texts", channel=SMS, settings=ck.SmsSettings(" "))
    assert error.problems == ["SMS sender_id must not be empty"]


def test_empty_push_app_id_and_unknown_platform(world: World) -> None:
    settings = ck.PushSettings(app_id="", platform="blackberry")  # type: ignore[arg-type]
    error = refused_surface(world, name="Pushes", channel=PUSH, settings=settings)
    assert_problems(error, "push app_id must not be empty", "push platform 'blackberry'")


def test_every_surface_problem_is_reported_at_once(world: World) -> None:
    error = refused_surface(
        world, name="   ", channel=EMAIL, settings=ck.EmailSettings(sender="nobody")
    )
    assert_problems(error, "surface name must not be empty", "email sender 'nobody'")
    assert str(error).startswith("surface '   ' has 2 problems:")


def test_a_surface_name_in_use_is_refused(world: World) -> None:
    error = refused_surface(
        world,
        name=" Newsletter ",
        channel=SMS,
        settings=ck.SmsSettings(sender_id=""),
    )
    assert_problems(
        error, "a surface named 'Newsletter' exists already", "SMS sender_id must not be empty"
    )


def test_deactivate_surface_is_idempotent(world: World) -> None:
    spare = world.admin.create_surface(
        name="Spare", channel=SMS, settings=ck.SmsSettings(sender_id="SPARE")
    )
    off = world.admin.deactivate_surface(spare.id)
    assert off.status is ck.SurfaceStatus.DEACTIVATED
    assert not off.is_active
    again = world.admin.deactivate_surface(spare.id)
    assert again == off
    assert world.admin.get_surface(spare.id) == off


def test_a_draft_does_not_hold_its_surface(world: World) -> None:
    world.draft()
    assert world.admin.deactivate_surface(world.email.id).status is ck.SurfaceStatus.DEACTIVATED


@pytest.mark.parametrize("status", [S.ACTIVATING, S.SCHEDULED, S.LIVE])
def test_a_running_campaign_holds_its_surface_until_stopped(world: World, status: S) -> None:
    other = world.live("other holder", actions=[world.sms_action(), world.email_action()])
    if status is S.ACTIVATING:
        campaign = world.draft("holder")
        world.admin.activate(campaign.id)
    elif status is S.SCHEDULED:
        campaign = world.scheduled("holder")
    else:
        campaign = world.live("holder")
    assert world.admin.get(campaign.id).status is status

    with pytest.raises(ck.SurfaceInUse) as caught:
        world.admin.deactivate_surface(world.email.id)
    assert caught.value.surface_id == world.email.id
    assert sorted(caught.value.campaign_ids) == sorted([campaign.id, other.id])
    assert campaign.id in str(caught.value)
    assert "stop them first" in str(caught.value)
    assert isinstance(caught.value, ck.CampaignKitError)
    assert world.admin.get_surface(world.email.id).is_active

    if status is S.ACTIVATING:
        world.kit.tick()
    world.admin.stop(campaign.id)
    world.admin.stop(other.id)
    assert world.admin.deactivate_surface(world.email.id).status is ck.SurfaceStatus.DEACTIVATED


def test_a_completed_campaign_no_longer_holds_its_surface(world: World) -> None:
    world.live()
    world.clock.advance(days=3)
    world.kit.tick()
    assert world.admin.deactivate_surface(world.email.id).status is ck.SurfaceStatus.DEACTIVATED


def test_get_surface_and_list_surfaces(world: World) -> None:
    assert world.admin.get_surface(world.sms.id) == world.sms
    assert [s.name for s in world.admin.list_surfaces()] == ["Alerts", "App", "Newsletter"]
    with pytest.raises(ck.NotFound) as caught:
        world.admin.get_surface("srf_missing")
    assert (caught.value.kind, caught.value.key) == ("surface", "srf_missing")
    with pytest.raises(ck.NotFound):
        world.admin.deactivate_surface("srf_missing")


def test_surfaces_need_their_permissions(world: World) -> None:
    world.kit.access.assign("val", ck.ProductProfile.VIEWER)
    viewer = world.kit.as_user("val")
    with pytest.raises(ck.PermissionDenied) as caught:
        viewer.create_surface(name="Nope", channel=SMS, settings=ck.SmsSettings(sender_id="NOPE"))
    assert caught.value.permission == "surface.manage"
    with pytest.raises(ck.PermissionDenied):
        viewer.deactivate_surface(world.sms.id)
    assert world.admin.get_surface(world.sms.id).is_active


# ---------------------------------------------------------------- activation validation


def refused_activation(world: World, campaign: ck.Campaign) -> ck.ValidationError:
    """Activate ``campaign``, which must be refused; check nothing changed; return the error."""
    before = world.admin.get(campaign.id)
    events_before = len(world.events)
    with pytest.raises(ck.ValidationError) as caught:
        world.admin.activate(campaign.id)
    after = world.admin.get(campaign.id)
    assert after == before
    assert after.status is S.DRAFT
    assert len(world.events) == events_before
    assert f"campaign {campaign.id!r}" in str(caught.value)
    return caught.value


def test_every_activation_problem_is_reported_in_one_error(world: World) -> None:
    retired = world.admin.create_surface(
        name="Retired", channel=EMAIL, settings=ck.EmailSettings(sender="old@example.com")
    )
    world.admin.deactivate_surface(retired.id)
    receipts = world.admin.create_surface(
        name="Receipts",
        channel=EMAIL,
        settings=ck.EmailSettings(sender="receipts@example.com"),
        category=ck.Category.TRANSACTIONAL,
    )
    content = ck.EmailContent(subject="Hello", html="<p>Hi</p>")
    campaign = world.admin.create_campaign(
        name="Everything wrong",
        audience="nobody-knows-it",
        namespace=None,
        actions=[
            ck.Action("srf_missing", content),
            ck.Action(retired.id, content),
            ck.Action(world.sms.id, content),  # email content on an SMS surface
            ck.Action(receipts.id, content),  # transactional surface, marketing campaign
            ck.Action(world.email.id, ck.EmailContent(subject="Hi {{ name", html="<p>ok</p>")),
        ],
        schedule=ck.Schedule(start=T0.subtract(hours=2), end=T0.subtract(hours=3)),
    )
    error = refused_activation(world, campaign)
    assert_problems(
        error,
        "action 1 (email): surface 'srf_missing' does not exist",
        "action 2 (email): surface 'Retired' is deactivated",
        "action 3 (email): surface 'Alerts' is for sms, but the content is email content",
        "action 4 (email): surface 'Receipts' serves TRANSACTIONAL messages, "
        "but the campaign is MARKETING",
        "action 5 (email) subject: template syntax error on line 1",
        "audience 'nobody-knows-it' does not exist",
        "no identity namespace",
        "is in the past",
        "must be after its start",
    )
    assert str(error).startswith(f"campaign {campaign.id!r} has 9 problems:")


def test_no_actions_no_audience_and_an_end_in_the_past(world: World) -> None:
    campaign = world.admin.create_campaign(
        name="Empty", schedule=ck.Schedule(end=T0.subtract(minutes=1))
    )
    error = refused_activation(world, campaign)
    assert_problems(
        error,
        "the campaign has no action",
        "no audience: choose the audience to send to",
        "no identity namespace",
        "is not in the future",
    )


def test_template_problems_are_reported_per_field(world: World) -> None:
    bad = ck.EmailContent(subject="{{ a", html="{% if %}", text="{% endif %}")
    push = ck.PushContent(title="fine", body="{% for %}")
    campaign = world.draft(actions=[ck.Action(world.email.id, bad), ck.Action(world.push.id, push)])
    error = refused_activation(world, campaign)
    assert_problems(
        error,
        "action 1 (email) subject: template syntax error",
        "action 1 (email) html: template syntax error",
        "action 1 (email) text: template syntax error",
        "action 2 (push) body: template syntax error",
    )


def test_a_surface_deactivated_after_drafting_blocks_activation(world: World) -> None:
    campaign = world.draft()
    world.admin.deactivate_surface(world.email.id)
    error = refused_activation(world, campaign)
    assert_problems(error, "action 1 (email): surface 'Newsletter' is deactivated")


@pytest.mark.parametrize(
    ("start", "end", "fragments"),
    [
        (T0.subtract(seconds=1), None, ["is in the past"]),
        (T0.add(days=2), T0.add(days=1), ["must be after its start"]),
        (T0.add(days=1), T0.add(days=1), ["must be after its start"]),
        (None, T0, ["is not in the future"]),
        (None, T0.subtract(days=1), ["is not in the future"]),
        (T0.subtract(hours=2), T0.subtract(hours=1), ["is in the past", "is not in the future"]),
        (T0.subtract(hours=1), T0.subtract(hours=2), ["is in the past", "must be after its start"]),
    ],
)
def test_schedule_problems_at_activation(
    world: World,
    start: pendulum.DateTime | None,
    end: pendulum.DateTime | None,
    fragments: list[str],
) -> None:
    campaign = world.draft(start=start, end=end)
    error = refused_activation(world, campaign)
    assert_problems(error, *fragments)
    if start is not None and start < T0:
        assert f"schedule start {start.isoformat()} is in the past" in error.problems[0]


def test_a_start_exactly_now_is_accepted(world: World) -> None:
    campaign = world.draft(start=T0, end=T0.add(days=1))
    assert world.admin.activate(campaign.id).status is S.ACTIVATING


def test_an_api_triggered_campaign_needs_no_audience(world: World) -> None:
    campaign = world.admin.create_campaign(
        name="Password reset",
        type=ck.CampaignType.API_TRIGGERED,
        namespace="email",
        actions=[world.email_action()],
    )
    assert campaign.newest_version.audience is None
    assert world.admin.activate(campaign.id).status is S.ACTIVATING


def test_an_api_triggered_campaign_with_an_unknown_audience_is_refused(world: World) -> None:
    campaign = world.admin.create_campaign(
        name="Triggered",
        type=ck.CampaignType.API_TRIGGERED,
        audience="ghosts",
        namespace="email",
        actions=[world.email_action()],
    )
    assert_problems(refused_activation(world, campaign), "audience 'ghosts' does not exist")


def test_an_api_triggered_campaign_cannot_recur(world: World) -> None:
    campaign = world.draft(
        type=ck.CampaignType.API_TRIGGERED, recurrence=ck.Recurrence.daily(at="09:00")
    )
    error = refused_activation(world, campaign)
    assert_problems(error, "an API-triggered campaign cannot have a recurrence")


def test_transactional_needs_an_api_triggered_campaign(world: World) -> None:
    with pytest.raises(ck.ValidationError, match="TRANSACTIONAL is only allowed for API_TRIGGERED"):
        world.admin.create_campaign(name="Receipt", category=ck.Category.TRANSACTIONAL)
    assert world.admin.list_campaigns(statuses=ck.ALL_STATUSES).items == ()
    assert world.events == []


def test_a_transactional_api_triggered_campaign_activates_on_a_transactional_surface(
    world: World,
) -> None:
    receipts = world.admin.create_surface(
        name="Receipts",
        channel=EMAIL,
        settings=ck.EmailSettings(sender="receipts@example.com"),
        category=ck.Category.TRANSACTIONAL,
    )
    content = ck.EmailContent(subject="Your receipt", html="<p>Thanks</p>")
    ok = world.admin.create_campaign(
        name="Receipt",
        type=ck.CampaignType.API_TRIGGERED,
        category=ck.Category.TRANSACTIONAL,
        namespace="email",
        actions=[ck.Action(receipts.id, content)],
    )
    assert world.admin.activate(ok.id).status is S.ACTIVATING
    wrong = world.admin.create_campaign(
        name="Receipt on a marketing surface",
        type=ck.CampaignType.API_TRIGGERED,
        category=ck.Category.TRANSACTIONAL,
        namespace="email",
        actions=[ck.Action(world.email.id, content)],
    )
    assert_problems(
        refused_activation(world, wrong),
        "surface 'Newsletter' serves MARKETING messages, but the campaign is TRANSACTIONAL",
    )


# ---------------------------------------------------------------- schedule construction


@pytest.mark.parametrize("field", ["start", "end"])
def test_schedule_refuses_naive_datetimes(field: str) -> None:
    with pytest.raises(ck.ValidationError, match="must be timezone-aware"):
        ck.Schedule(**{field: pendulum.naive(2026, 12, 24, 9)})  # type: ignore[arg-type]
    with pytest.raises(ck.ValidationError, match="must be timezone-aware"):
        ck.Schedule(**{field: dt.datetime(2026, 12, 24, 9)})  # type: ignore[arg-type]


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "utc+1"])
def test_schedule_refuses_unknown_time_zones(zone: str) -> None:
    with pytest.raises(ck.ValidationError, match="unknown time zone") as caught:
        ck.Schedule(timezone=zone)
    assert "IANA" in caught.value.problems[0]


def test_schedule_stores_instants_in_utc() -> None:
    paris = pendulum.datetime(2026, 12, 24, 10, tz="Europe/Paris")
    new_york = dt.datetime(2026, 12, 25, 4, tzinfo=zoneinfo.ZoneInfo("America/New_York"))
    schedule = ck.Schedule(start=paris, end=new_york, timezone="Europe/Paris")
    assert schedule.start == pendulum.datetime(2026, 12, 24, 9, tz="UTC")
    assert schedule.end == pendulum.datetime(2026, 12, 25, 9, tz="UTC")
    assert schedule.start is not None
    assert schedule.end is not None
    assert isinstance(schedule.end, pendulum.DateTime)
    assert schedule.start.timezone_name == "UTC"
    assert schedule.end.timezone_name == "UTC"
    assert schedule.timezone == "Europe/Paris"
    assert not schedule.is_recurring
    assert ck.Schedule(recurrence=ck.Recurrence.daily(at="09:00")).is_recurring


def test_an_inconsistent_schedule_may_be_drafted() -> None:
    schedule = ck.Schedule(start=T0.add(days=2), end=T0.add(days=1))
    assert schedule.end is not None
    assert schedule.start is not None
    assert schedule.end < schedule.start


# ---------------------------------------------------------------- recurrence construction


def test_recurrence_builders() -> None:
    daily = ck.Recurrence.daily(at="23:59", every=2)
    assert (daily.frequency, daily.at, daily.every) == ("DAILY", "23:59", 2)
    monthly = ck.Recurrence.monthly(day=31, at="00:00")
    assert (monthly.frequency, monthly.day, monthly.every) == ("MONTHLY", 31, 1)
    assert ck.Recurrence.monthly(day=1, at="08:00", every=3).every == 3
    rule = ck.Recurrence.rrule(" RRULE:FREQ=WEEKLY;BYDAY=MO,WE ")
    assert (rule.frequency, rule.rule) == ("RRULE", "FREQ=WEEKLY;BYDAY=MO,WE")
    assert ck.Recurrence.rrule("freq=daily").rule == "freq=daily"


def test_weekly_normalizes_and_sorts_days() -> None:
    weekly = ck.Recurrence.weekly(days=["FR", ck.Weekday.MO, "WE", "FR", "SU"], at="18:30")
    assert weekly.days == (ck.Weekday.MO, ck.Weekday.WE, ck.Weekday.FR, ck.Weekday.SU)
    assert all(isinstance(d, ck.Weekday) for d in weekly.days)
    assert (weekly.frequency, weekly.every) == ("WEEKLY", 1)


def daily(at: str, every: int) -> ck.Recurrence:
    return ck.Recurrence.daily(at=at, every=every)


def weekly(at: str, every: int) -> ck.Recurrence:
    return ck.Recurrence.weekly(days=["MO"], at=at, every=every)


def monthly(at: str, every: int) -> ck.Recurrence:
    return ck.Recurrence.monthly(day=1, at=at, every=every)


BUILDERS = pytest.mark.parametrize("build", [daily, weekly, monthly])


@BUILDERS
@pytest.mark.parametrize("at", ["24:00", "9:00", "09:60", "0900", "09:00:00", "", "noon"])
def test_recurrence_time_of_day_must_be_hh_mm(
    build: Callable[[str, int], ck.Recurrence], at: str
) -> None:
    with pytest.raises(ck.ValidationError, match="must be HH:MM in 24-hour form"):
        build(at, 1)


@BUILDERS
@pytest.mark.parametrize("every", [0, -1])
def test_recurrence_every_must_be_positive(
    build: Callable[[str, int], ck.Recurrence], every: int
) -> None:
    with pytest.raises(ck.ValidationError, match=f"every={every} must be at least 1"):
        build("09:00", every)


def test_weekly_needs_known_weekdays() -> None:
    with pytest.raises(ck.ValidationError) as caught:
        ck.Recurrence.weekly(days=[], at="09:00")
    assert caught.value.problems == ["a weekly recurrence needs at least one weekday"]
    with pytest.raises(ck.ValidationError) as caught:
        ck.Recurrence.weekly(days=["MO", "XX", "monday"], at="09:00")
    assert_problems(caught.value, "unknown weekday 'XX'", "unknown weekday 'monday'")
    assert "MO TU WE TH FR SA SU" in caught.value.problems[0]


@pytest.mark.parametrize("day", [0, 32, -1])
def test_monthly_day_must_be_in_1_to_31(day: int) -> None:
    with pytest.raises(ck.ValidationError, match=f"monthly day {day} must be between 1 and 31"):
        ck.Recurrence.monthly(day=day, at="09:00")


@pytest.mark.parametrize("rule", ["BYDAY=MO", "", "RRULE:", "INTERVAL=2;BYHOUR=9"])
def test_rrule_needs_a_frequency(rule: str) -> None:
    with pytest.raises(ck.ValidationError, match=r"has no FREQ=\.\.\.; e\.g\. 'FREQ=DAILY'"):
        ck.Recurrence.rrule(rule)


# ---------------------------------------------------------------- action options


def test_an_actions_rate_limit_is_kept_when_its_id_is_assigned(world: World) -> None:
    action = attrs.evolve(world.email_action(), rate_limit=50)
    campaign = world.draft(actions=[action])
    [stored] = campaign.draft_version.actions  # type: ignore[union-attr]
    assert stored.id.startswith("act")
    assert stored.rate_limit == 50


def test_an_actions_rate_limit_survives_export_and_import(world: World) -> None:
    action = attrs.evolve(world.email_action(), rate_limit=7)
    campaign = world.draft(actions=[action])
    other = make_world()
    [copy] = other.admin.import_(world.admin.export([campaign.id]))
    [imported] = copy.draft_version.actions  # type: ignore[union-attr]
    assert imported.rate_limit == 7
    assert imported.surface_id == other.email.id


@pytest.mark.parametrize("limit", [0, -3, 2.5, True, "10"])
def test_a_rate_limit_must_be_a_positive_whole_number(world: World, limit: object) -> None:
    with pytest.raises(ck.ValidationError) as refused:
        attrs.evolve(world.email_action(), rate_limit=limit)  # type: ignore[arg-type]
    assert_problems(refused.value, f"rate_limit={limit!r} must be a whole number")
