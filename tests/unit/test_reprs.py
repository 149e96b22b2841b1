"""Concise reprs: a notebook or a debugger shows one line per value, enums by name."""

from __future__ import annotations

import datetime

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit.domain import display
from campaignkit.domain.text_enum import TextEnum
from tests.factories import T0, campaign_in, make_world
from tests.unit.notebook_world import ran_world


def _enum_classes() -> list[type[TextEnum]]:
    found: list[type[TextEnum]] = []
    todo = list(TextEnum.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_enum_shows_its_class_and_member_and_keeps_its_str() -> None:
    classes = _enum_classes()
    assert ck.ExclusionReason in classes
    assert len(classes) >= 20
    for cls in classes:
        for member in cls:
            assert repr(member) == f"{cls.__name__}.{member.name}"
            assert member == member.value
    reason = ck.ExclusionReason.MISSING_CHANNEL_DATA
    assert repr(reason) == "ExclusionReason.MISSING_CHANNEL_DATA"
    assert str(reason) == f"{reason}" == "missing_channel_data"
    assert repr({reason: 2}) == "{ExclusionReason.MISSING_CHANNEL_DATA: 2}"
    assert str(ck.Weekday.MO) == "Weekday.MO"  # no __str__ of its own: unchanged


def test_campaign_repr_names_id_name_status_type_and_next_occurrence() -> None:
    ran = ran_world()
    text = repr(ran.campaign)
    assert text == (
        "Campaign(id='cmp_0001', name='Winter sale', status=LIVE, type=SCHEDULED, "
        "next=2026-12-03T10:00Z)"
    )
    scheduled = make_world().scheduled()
    assert repr(scheduled).endswith("status=SCHEDULED, type=SCHEDULED, next=2026-12-02T09:00Z)")
    draft = campaign_in(ck.CampaignStatus.DRAFT)
    assert repr(draft) == "Campaign(id='cmp', name='C', status=DRAFT, type=SCHEDULED)"
    live_once = campaign_in(ck.CampaignStatus.LIVE)
    assert "next=" not in repr(live_once)


def test_campaign_repr_stays_under_200_characters_whatever_its_size() -> None:
    ran = ran_world()
    campaign = attrs.evolve(
        ran.campaign,
        id="i" * 200,
        name="N" * 300,
        status=ck.CampaignStatus.ACTIVATING,
        type=ck.CampaignType.API_TRIGGERED,
        history=ran.campaign.history * 50,
        next_occurrence_at=pendulum.datetime(2026, 12, 3, 10, 0, 30, tz="UTC"),
    )
    text = repr(campaign)
    assert len(text) < 200
    assert "N" * 39 + "…'" in text
    assert "next=2026-12-03T10:00:30Z" in text


def test_a_page_shows_short_campaigns_and_counts_the_rest() -> None:
    world = make_world()
    for n in range(7):
        world.draft(f"Campaign {n}")
    page = world.admin.list_campaigns(limit=6)
    text = repr(page)
    assert text.count("Campaign(id=") == display.MAX_ITEMS
    assert "... 1 more]" in text
    assert f"next_cursor={page.next_cursor!r}" in text
    assert "history" not in text
    assert "EmailContent" not in text
    assert len(text) < 200 * (display.MAX_ITEMS + 1)
    last = world.admin.list_campaigns(cursor=page.next_cursor)
    assert repr(last) == (
        "Page(items=[Campaign(id='cmp_0001', name='Campaign 0', status=DRAFT, type=SCHEDULED)], "
        "next_cursor=None)"
    )


def test_report_run_and_counts_reprs_give_the_counts_on_one_line() -> None:
    ran = ran_world()
    report = ran.report
    assert repr(report) == (
        "CampaignReport(campaign_id='cmp_0001', name='Winter sale', runs=2, targeted=4, "
        "sent=2, failed=0, excluded=2 {no_consent: 2}, pending=0)"
    )
    assert repr(report.runs[0]) == (
        "RunReport(run_id='run_0001', kind=occurrence, version=1, status=succeeded, "
        "created_at=2026-12-01T10:00Z, targeted=2, sent=1, failed=0, "
        "excluded=1 {no_consent: 1}, pending=0)"
    )
    assert repr(ran.runs[1]) == (
        "Run(id='run_0002', campaign_id='cmp_0001', version=1, kind=occurrence, "
        "status=succeeded, at=2026-12-02T10:00Z, targeted=2, sent=1, failed=0, "
        "excluded=1 {no_consent: 1}, pending=0)"
    )
    assert "recipients" not in repr(ran.runs[0])


def test_counts_repr_shows_extras_only_when_not_zero() -> None:
    assert repr(ck.ActionCounts()) == (
        "ActionCounts(targeted=0, sent=0, failed=0, excluded=0, pending=0)"
    )
    counts = ck.ActionCounts(
        targeted=5,
        sent=3,
        failed=1,
        excluded={ck.ExclusionReason.SUPPRESSED: 1},
        retries=2,
        late=1,
        timezone_fallbacks=4,
        feedback={ck.FeedbackEvent.OPENED: 2},
    )
    assert repr(counts) == (
        "ActionCounts(targeted=5, sent=3, failed=1, excluded=1 {suppressed: 1}, pending=0, "
        "retries=2, late=1, timezone_fallbacks=4, feedback={opened: 2})"
    )


def test_calendar_entry_and_calendar_reprs() -> None:
    ran = ran_world()
    calendar = ran.admin.calendar(T0.add(days=2), T0.add(days=9))
    assert repr(calendar[0]) == (
        "CalendarEntry(campaign_id='cmp_0001', name='Winter sale', status=LIVE, "
        "at=2026-12-03T10:00Z, until=2026-12-11T09:00Z)"
    )
    text = repr(calendar)
    assert text.startswith("Calendar(2026-12-03T09:00Z to 2026-12-10T09:00Z: [CalendarEntry(")
    assert text.endswith(", ... 2 more])")
    assert repr(ck.Calendar()) == "Calendar(None to None: [])"


def test_approval_surface_and_history_reprs() -> None:
    ran = ran_world()
    (entry,) = ran.admin.approval_history(ran.campaign.id)
    assert repr(entry) == (
        "ApprovalEntry(at=2026-12-01T09:00Z, actor='ada', action=activated_without_policy, "
        "version=1, message='first run')"
    )
    assert "message" not in repr(attrs.evolve(entry, message=None))
    assert repr(ran.world.email) == (
        "ChannelSurface(id='srf_0001', name='Newsletter', channel=email, category=MARKETING, "
        "status=ACTIVE)"
    )
    history = ran.campaign.history
    assert repr(history[0]) == "HistoryEntry(2026-12-01T09:00Z, 'ada', create, None -> DRAFT)"
    stopped = ck.HistoryEntry(
        T0, "ada", ck.Verb.STOP, ck.CampaignStatus.LIVE, ck.CampaignStatus.STOPPED, "by hand"
    )
    assert (
        repr(stopped) == "HistoryEntry(2026-12-01T09:00Z, 'ada', stop, LIVE -> STOPPED, 'by hand')"
    )


def test_version_repr_describes_the_schedule() -> None:
    version = ran_world().campaign.live_version
    assert version is not None
    assert repr(version) == (
        "CampaignVersion(number=1, actions=1 (email), audience='vip', "
        "schedule='starts 2026-12-01T10:00Z, daily at 10:00, ends 2026-12-11T09:00Z, UTC')"
    )


@pytest.mark.parametrize(
    ("schedule", "text"),
    [
        (ck.Schedule(), "starts on activation, UTC"),
        (
            ck.Schedule(
                start=T0,
                recurrence=ck.Recurrence.weekly(days=["MO", "WE"], at="18:30", every=2),
                timezone="Europe/Paris",
                use_profile_timezone=True,
            ),
            "starts 2026-12-01T09:00Z, weekly every 2 on MO,WE at 18:30, Europe/Paris, "
            "in each profile's time zone",
        ),
        (
            ck.Schedule(recurrence=ck.Recurrence.monthly(day=31, at="08:00")),
            "starts on activation, monthly on day 31 at 08:00, UTC",
        ),
        (
            ck.Schedule(recurrence=ck.Recurrence.rrule("FREQ=DAILY;INTERVAL=3")),
            "starts on activation, repeats FREQ=DAILY;INTERVAL=3, UTC",
        ),
    ],
)
def test_schedule_text(schedule: ck.Schedule, text: str) -> None:
    assert display.schedule_text(schedule) == text


def test_profile_repr_leaves_out_empty_fields_and_cuts_long_ones() -> None:
    assert repr(ck.Profile("p1")) == "Profile(id='p1', identities={})"
    profile = ck.Profile(
        "p2",
        identities={"email": "bob@example.com"},
        attributes={f"field{n}": "x" * 500 for n in range(100)},
        consents={ck.ChannelType.EMAIL: True, ck.ChannelType.SMS: False},
        channel_data={ck.ChannelType.SMS: "+33600000000"},
        timezone="Europe/Paris",
        language="fr",
        test=True,
    )
    text = repr(profile)
    assert len(text) < 400  # 100 attributes of 500 characters: 4 shown, each cut short
    assert text.count("'field") == 4
    assert text.startswith("Profile(id='p2', identities={'email': 'bob@example.com'}, attributes={")
    assert "consents={email: True, sms: False}, channel_data={'sms': '+33600000000'}" in text
    assert text.endswith("timezone='Europe/Paris', language='fr', test=True)")


def test_display_helpers() -> None:
    assert display.moment(None) == "None"
    paris = pendulum.datetime(2026, 12, 1, 10, 0, 0, tz="Europe/Paris")
    assert display.moment(paris) == "2026-12-01T09:00Z"
    plain = datetime.datetime(2026, 12, 1, 9, 0, 0, 5, tzinfo=datetime.timezone.utc)
    assert display.moment(plain) == "2026-12-01T09:00:00Z"
    assert display.clip("abc", 3) == "abc"
    assert display.clip("abcd", 3) == "ab…"
    assert display.quoted(None) == "None"
    assert display.short({"a": {"b": {"c": 1}}}) == "{'a': {'b': {...}}}"
    assert display.excluded_text({ck.ExclusionReason.STOPPED: 0}) == "{}"
