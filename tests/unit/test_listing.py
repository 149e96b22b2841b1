"""Listing and calendar through ``UserSession``: filters, ordering, cursors, on-air spans."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import campaignkit as ck
from campaignkit.testing import ManualClock, SequentialIds
from tests.factories import T0, World

S = ck.CampaignStatus


# ---------------------------------------------------------------- helpers


def ids(page: ck.Page[ck.Campaign]) -> list[str]:
    return [c.id for c in page]


def newest_first(campaigns: list[ck.Campaign]) -> list[str]:
    return [c.id for c in sorted(campaigns, key=lambda c: (c.created_at, c.id), reverse=True)]


def walk(session: ck.UserSession, **filters: object) -> Iterator[ck.Page[ck.Campaign]]:
    """Every page of a listing, following ``next_cursor`` to the end (at most 1000 pages)."""
    cursor: str | None = None
    for _ in range(1000):  # a cursor that never advances must fail, not hang
        page = session.list_campaigns(cursor=cursor, **filters)  # type: ignore[arg-type]
        yield page
        cursor = page.next_cursor
        if cursor is None:
            return
    pytest.fail("next_cursor never ran out: the cursor does not advance")


def kit_with_ids(campaign_ids: list[str]) -> tuple[ManualClock, ck.UserSession]:
    """A kit whose campaign ids are taken from ``campaign_ids`` in order (others sequential)."""
    pending = iter(campaign_ids)
    fallback = SequentialIds()

    def make_id(prefix: str) -> str:
        return next(pending) if prefix == "cmp" else fallback(prefix)

    clock = ManualClock(T0)
    kit = ck.CampaignKit.in_memory(clock=clock, ids=make_id)
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    return clock, kit.as_user("ada")


def cursor_of(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# ---------------------------------------------------------------- status filter


def one_of_each_status(world: World) -> dict[S, str]:
    """Campaigns in DRAFT, ACTIVATING, SCHEDULED, LIVE, STOPPED, COMPLETED and ARCHIVED."""
    done = world.live("done")
    world.clock.advance(days=3)
    world.kit.tick()
    stopped = world.live("stopped")
    world.admin.stop(stopped.id)
    archived = world.live("archived")
    world.admin.stop(archived.id)
    world.admin.archive(archived.id)
    live = world.live("live")
    scheduled = world.scheduled("scheduled", days=2)
    draft = world.draft("draft")
    activating = world.draft("activating")
    world.admin.activate(activating.id)  # no tick: stays ACTIVATING
    by_status = {
        S.COMPLETED: done.id,
        S.STOPPED: stopped.id,
        S.ARCHIVED: archived.id,
        S.LIVE: live.id,
        S.SCHEDULED: scheduled.id,
        S.DRAFT: draft.id,
        S.ACTIVATING: activating.id,
    }
    assert {world.admin.get(i).status: i for i in by_status.values()} == by_status
    return by_status


def test_default_listing_shows_only_draft_scheduled_and_live(world: World) -> None:
    by_status = one_of_each_status(world)
    page = world.admin.list_campaigns()
    assert {c.status for c in page} == {S.DRAFT, S.SCHEDULED, S.LIVE}
    assert set(ids(page)) == {by_status[S.DRAFT], by_status[S.SCHEDULED], by_status[S.LIVE]}
    assert page.next_cursor is None


def test_all_statuses_lists_every_campaign(world: World) -> None:
    by_status = one_of_each_status(world)
    page = world.admin.list_campaigns(statuses=ck.ALL_STATUSES)
    assert set(ids(page)) == set(by_status.values())
    assert len(page) == len(by_status)


def test_statuses_accepts_a_single_value_or_an_iterable(world: World) -> None:
    by_status = one_of_each_status(world)
    assert ids(world.admin.list_campaigns(statuses=S.STOPPED)) == [by_status[S.STOPPED]]
    pair = world.admin.list_campaigns(statuses=[S.ARCHIVED, S.COMPLETED])
    assert set(ids(pair)) == {by_status[S.ARCHIVED], by_status[S.COMPLETED]}
    as_generator = world.admin.list_campaigns(statuses=(s for s in (S.ACTIVATING,)))
    assert ids(as_generator) == [by_status[S.ACTIVATING]]


def test_an_empty_status_filter_is_refused_with_a_hint(world: World) -> None:
    with pytest.raises(ck.ValidationError, match="ALL_STATUSES"):
        world.admin.list_campaigns(statuses=[])


# ---------------------------------------------------------------- other filters


def test_type_filter_single_and_iterable(world: World) -> None:
    scheduled = world.draft("scheduled type")
    triggered = world.draft("triggered type", type=ck.CampaignType.API_TRIGGERED)
    only_triggered = world.admin.list_campaigns(types=ck.CampaignType.API_TRIGGERED)
    assert ids(only_triggered) == [triggered.id]
    only_scheduled = world.admin.list_campaigns(types=[ck.CampaignType.SCHEDULED])
    assert ids(only_scheduled) == [scheduled.id]
    both = world.admin.list_campaigns(types=set(ck.CampaignType))
    assert ids(both) == [triggered.id, scheduled.id]


def test_channel_filter_matches_any_action_channel(world: World) -> None:
    email = world.draft("email only")
    sms = world.draft("sms only", actions=[world.sms_action()])
    push_action = ck.Action(world.push.id, ck.PushContent(title="T", body="B"))
    mixed = world.draft("email and push", actions=[world.email_action(), push_action])
    single = world.admin.list_campaigns(channels=ck.ChannelType.PUSH)
    assert ids(single) == [mixed.id]
    emails = world.admin.list_campaigns(channels=ck.ChannelType.EMAIL)
    assert ids(emails) == [mixed.id, email.id]
    either = world.admin.list_campaigns(channels=[ck.ChannelType.SMS, ck.ChannelType.PUSH])
    assert ids(either) == [mixed.id, sms.id]


def test_channel_filter_sees_the_open_draft_version_too(world: World) -> None:
    scheduled = world.scheduled("scheduled")
    world.admin.modify(scheduled.id)
    world.admin.update_draft(scheduled.id, actions=[world.sms_action()])
    assert ids(world.admin.list_campaigns(channels=ck.ChannelType.SMS)) == [scheduled.id]
    assert ids(world.admin.list_campaigns(channels=ck.ChannelType.EMAIL)) == [scheduled.id]
    listed = world.admin.list_campaigns().items[0]
    assert listed.has_open_draft


def test_tag_filter(world: World) -> None:
    promo = world.draft("promo", tags=["promo", "q4"])
    world.draft("plain")
    other = world.draft("q4 only", tags=["q4"])
    assert ids(world.admin.list_campaigns(tag="promo")) == [promo.id]
    assert ids(world.admin.list_campaigns(tag="q4")) == [other.id, promo.id]
    assert ids(world.admin.list_campaigns(tag="missing")) == []


def test_creation_range_is_inclusive_at_the_start_and_exclusive_at_the_end(world: World) -> None:
    made = []
    for hour in range(4):
        world.clock.set(T0.add(hours=hour))
        made.append(world.draft(f"hour {hour}"))
    h0, h1, h2, h3 = (c.id for c in made)
    assert ids(world.admin.list_campaigns(created_from=T0.add(hours=1))) == [h3, h2, h1]
    assert ids(world.admin.list_campaigns(created_to=T0.add(hours=2))) == [h1, h0]
    window = world.admin.list_campaigns(created_from=T0.add(hours=1), created_to=T0.add(hours=3))
    assert ids(window) == [h2, h1]
    paris = T0.add(hours=1).in_timezone("Europe/Paris")  # same instant, another zone
    assert ids(world.admin.list_campaigns(created_from=paris, created_to=paris.add(hours=1))) == [
        h1
    ]


def test_creation_range_must_not_be_empty(world: World) -> None:
    with pytest.raises(ck.ValidationError, match="created_to must be after created_from"):
        world.admin.list_campaigns(created_from=T0, created_to=T0)


def test_search_is_a_case_insensitive_substring_of_the_name(world: World) -> None:
    winter = world.draft("Winter SALE")
    summer = world.draft("summer sale")
    world.draft("Newsletter")
    street = world.draft("Straße party")
    assert ids(world.admin.list_campaigns(search="sale")) == [summer.id, winter.id]
    assert ids(world.admin.list_campaigns(search="WINTER s")) == [winter.id]
    assert ids(world.admin.list_campaigns(search="STRASSE")) == [street.id]  # casefold
    assert ids(world.admin.list_campaigns(search="nothing like it")) == []


def test_filters_combine(world: World) -> None:
    world.clock.advance(hours=1)
    match = world.draft("Black Friday", tags=["promo"], actions=[world.sms_action()])
    world.draft("Black Friday email", tags=["promo"])
    world.draft("Black Friday untagged", actions=[world.sms_action()])
    stopped = world.live("Black Friday stopped", tags=["promo"], actions=[world.sms_action()])
    world.admin.stop(stopped.id)
    page = world.admin.list_campaigns(
        tag="promo",
        channels=ck.ChannelType.SMS,
        search="friday",
        types=ck.CampaignType.SCHEDULED,
        created_from=T0,
    )
    assert ids(page) == [match.id]


# ---------------------------------------------------------------- ordering


def test_newest_first(world: World) -> None:
    first = world.draft("first")
    world.clock.advance(minutes=1)
    second = world.draft("second")
    world.clock.advance(seconds=1)
    third = world.draft("third")
    assert ids(world.admin.list_campaigns()) == [third.id, second.id, first.id]


def test_ties_on_creation_instant_are_broken_by_id_descending() -> None:
    clock, ada = kit_with_ids(["cmp_b", "cmp_c", "cmp_a", "cmp_z"])
    for name in ("b", "c", "a"):
        ada.create_campaign(name=name)  # all at T0
    clock.advance(seconds=1)
    ada.create_campaign(name="z")
    assert ids(ada.list_campaigns()) == ["cmp_z", "cmp_c", "cmp_b", "cmp_a"]
    two = ada.list_campaigns(limit=2)
    assert ids(two) == ["cmp_z", "cmp_c"]
    assert ids(ada.list_campaigns(limit=2, cursor=two.next_cursor)) == ["cmp_b", "cmp_a"]


# ---------------------------------------------------------------- pagination


def test_default_page_size_is_fifty(world: World) -> None:
    made = []
    for number in range(120):
        world.clock.advance(seconds=1)
        made.append(world.admin.create_campaign(name=f"campaign {number}"))
    pages = list(walk(world.admin))
    assert [len(p) for p in pages] == [50, 50, 20]
    assert [p.next_cursor is None for p in pages] == [False, False, True]
    flat = [c.id for p in pages for c in p]
    assert flat == [c.id for c in reversed(made)]


def test_cursor_pages_neither_repeat_nor_skip_while_campaigns_are_created(world: World) -> None:
    made = [world.draft(f"c{n}") for n in range(5)]
    first = world.admin.list_campaigns(limit=2)
    world.clock.advance(minutes=1)
    newcomer = world.draft("newcomer")  # newer: sorts before the cursor
    second = world.admin.list_campaigns(limit=2, cursor=first.next_cursor)
    third = world.admin.list_campaigns(limit=2, cursor=second.next_cursor)
    assert ids(first) + ids(second) + ids(third) == [c.id for c in reversed(made)]
    assert third.next_cursor is None
    assert ids(world.admin.list_campaigns(limit=1)) == [newcomer.id]


def test_a_page_filled_exactly_has_no_next_cursor(world: World) -> None:
    for n in range(3):
        world.draft(f"c{n}")
    page = world.admin.list_campaigns(limit=3)
    assert len(page) == 3
    assert page.next_cursor is None


def test_limits_at_the_bounds_are_accepted(world: World) -> None:
    world.draft()
    assert len(world.admin.list_campaigns(limit=1)) == 1
    assert len(world.admin.list_campaigns(limit=500)) == 1


@settings(max_examples=75, deadline=None)
@given(
    # per campaign: seconds to advance the clock before creating it (0: a tie), tagged or not
    plan=st.lists(st.tuples(st.integers(min_value=0, max_value=3), st.booleans()), max_size=30),
    raw_ids=st.lists(
        st.text(alphabet="abcdefgh0123", min_size=1, max_size=4), min_size=30, unique=True
    ),
    limit=st.integers(min_value=1, max_value=10),
    only_tagged=st.booleans(),
)
def test_walking_the_pages_yields_every_match_once_in_order(
    plan: list[tuple[int, bool]], raw_ids: list[str], limit: int, only_tagged: bool
) -> None:
    clock, ada = kit_with_ids([f"cmp_{raw}" for raw in raw_ids])
    created = []
    for seconds, tagged in plan:
        clock.advance(seconds=seconds)
        created.append(ada.create_campaign(name="c", tags=["odd"] if tagged else []))
    matching = [c for c in created if "odd" in c.tags] if only_tagged else created
    filters: dict[str, object] = {"limit": limit}
    if only_tagged:
        filters["tag"] = "odd"

    pages = list(walk(ada, **filters))

    seen = [c.id for page in pages for c in page]
    assert seen == newest_first(matching)
    assert len(seen) == len(set(seen))
    assert all(len(page) == limit for page in pages[:-1])
    assert 0 < len(pages[-1]) <= limit or not matching
    assert len(pages) == max(1, -(-len(matching) // limit))


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        "",
        "!!!",
        cursor_of(b"[1, 2]"),
        cursor_of(b'{"a": 1}'),
        cursor_of(b'["2026-01-01T00:00:00+00:00", 3]'),
        cursor_of(b'["not a date", "cmp_1"]'),
        cursor_of(b'[null, "cmp_1"]'),
        cursor_of(b'["2026-01-01T00:00:00+00:00", "cmp_1", "extra"]'),
        cursor_of(b"\xff\xfe"),
    ],
)
def test_a_bad_cursor_is_refused_with_a_helpful_message(world: World, cursor: str) -> None:
    with pytest.raises(ck.ValidationError) as caught:
        world.admin.list_campaigns(cursor=cursor)
    assert len(caught.value.problems) == 1
    assert "next_cursor" in caught.value.problems[0]


def test_a_deeply_nested_cursor_is_a_validation_error_not_a_crash(world: World) -> None:
    """A cursor is caller input (often a URL parameter): no input may crash the decoder."""
    with pytest.raises(ck.ValidationError, match="next_cursor"):
        world.admin.list_campaigns(cursor=cursor_of(b"[" * 100_000))


@pytest.mark.parametrize(
    "key",
    [b'["12:00", "cmp_1"]', b'["2026-12-01", "cmp_1"]', b'["2026-12-01T09:00:00", "cmp_1"]'],
)
def test_a_cursor_without_an_aware_instant_is_refused(world: World, key: bytes) -> None:
    """Only our own keys are accepted: pendulum.parse("12:00") would read the wall clock."""
    world.draft()
    with pytest.raises(ck.ValidationError, match="next_cursor"):
        world.admin.list_campaigns(cursor=cursor_of(key))


@pytest.mark.parametrize("limit", [0, -1, 501])
def test_a_limit_out_of_range_is_refused(world: World, limit: int) -> None:
    with pytest.raises(ck.ValidationError, match=f"limit {limit} must be between 1 and 500"):
        world.admin.list_campaigns(limit=limit)


@pytest.mark.parametrize("field", ["created_from", "created_to"])
def test_a_naive_creation_bound_is_refused(world: World, field: str) -> None:
    naive = pendulum.naive(2026, 12, 1, 9)
    with pytest.raises(ck.ValidationError) as caught:
        world.admin.list_campaigns(**{field: naive})  # type: ignore[arg-type]
    assert caught.value.problems == [
        f"{field} must be timezone-aware, got naive 2026-12-01T09:00:00; "
        "pass tz=... (for example pendulum.datetime(..., tz='UTC'))"
    ]


def test_several_query_problems_are_reported_together(world: World) -> None:
    with pytest.raises(ck.ValidationError) as caught:
        world.admin.list_campaigns(
            limit=0, statuses=[], cursor="junk", created_from=T0, created_to=T0
        )
    assert len(caught.value.problems) == 4


def test_page_is_iterable_and_sized() -> None:
    page = ck.Page(items=("a", "b", "c"), next_cursor="more")
    assert len(page) == 3
    assert list(page) == ["a", "b", "c"]
    assert [*ck.Page[str](items=())] == []
    assert ck.Page[str](items=()).next_cursor is None


# ---------------------------------------------------------------- calendar


def entry_ids(entries: list[ck.CalendarEntry]) -> list[str]:
    return [e.campaign_id for e in entries]


WIDE = (T0.subtract(days=30), T0.add(days=60))


def test_calendar_shows_only_scheduled_and_live_campaigns(world: World) -> None:
    by_status = one_of_each_status(world)
    entries = world.admin.calendar(*WIDE)
    assert sorted(entry_ids(entries)) == sorted([by_status[S.SCHEDULED], by_status[S.LIVE]])
    assert {e.status for e in entries} == {S.SCHEDULED, S.LIVE}


def test_calendar_spans_of_one_shot_campaigns(world: World) -> None:
    live = world.live("live now")  # went live at T0
    scheduled = world.scheduled("in two days", days=2)
    short = world.draft("ends early", start=T0.add(days=1), end=T0.add(days=1, hours=6))
    world.admin.activate(short.id)
    world.kit.tick()
    entries = {e.campaign_id: e for e in world.admin.calendar(*WIDE)}

    assert entries[live.id].at == T0
    assert entries[live.id].until == T0.add(days=3)
    assert entries[live.id].status is S.LIVE
    assert entries[live.id].name == "live now"
    assert entries[scheduled.id].at == T0.add(days=2)
    assert entries[scheduled.id].until == T0.add(days=5)
    assert entries[scheduled.id].status is S.SCHEDULED
    assert entries[short.id].at == T0.add(days=1)
    assert entries[short.id].until == T0.add(days=1, hours=6)


def test_calendar_at_of_a_scheduled_campaign_that_went_live_is_its_start(world: World) -> None:
    scheduled = world.scheduled("later", days=1)
    world.clock.set(T0.add(days=1, minutes=5))
    world.kit.tick()
    assert world.admin.get(scheduled.id).status is S.LIVE
    (entry,) = world.admin.calendar(*WIDE)
    assert entry.at == T0.add(days=1)
    assert entry.until == T0.add(days=4)


def test_calendar_recurring_without_end_runs_until_stopped(world: World) -> None:
    daily = ck.Recurrence.daily(at="09:00")
    live = world.live("daily live", recurrence=daily)
    ending = world.live("daily with end", recurrence=daily, end=T0.add(days=10))
    upcoming = world.draft("daily later", start=T0.add(days=5), recurrence=daily)
    world.admin.activate(upcoming.id)
    world.kit.tick()
    entries = world.admin.calendar(*WIDE)

    def occurrences(campaign_id: str) -> list[pendulum.DateTime]:
        return [e.at for e in entries if e.campaign_id == campaign_id]

    assert occurrences(live.id) == [T0.add(days=n) for n in range(60)]
    assert occurrences(ending.id) == [T0.add(days=n) for n in range(10)]
    assert occurrences(upcoming.id) == [T0.add(days=n) for n in range(5, 60)]
    assert {e.until for e in entries if e.campaign_id == live.id} == {None}
    assert {e.until for e in entries if e.campaign_id == ending.id} == {T0.add(days=10)}
    far = world.admin.calendar(T0.add(days=365), T0.add(days=366))
    assert [(e.campaign_id, e.at) for e in far] == [
        (live.id, T0.add(days=365)),
        (upcoming.id, T0.add(days=365)),
    ]


def test_calendar_of_a_recurring_campaign_lists_each_occurrence_in_its_zone(
    world: World,
) -> None:
    weekly = ck.Recurrence.weekly(days=["MO", "FR"], at="08:30")
    campaign = world.live("twice a week", recurrence=weekly, timezone="America/New_York")
    start = pendulum.datetime(2026, 12, 7, tz="America/New_York")  # a Monday
    entries = world.admin.calendar(start, start.add(weeks=2))
    assert [e.at.in_timezone("America/New_York").format("ddd HH:mm") for e in entries] == [
        "Mon 08:30",
        "Fri 08:30",
        "Mon 08:30",
        "Fri 08:30",
    ]
    assert {e.campaign_id for e in entries} == {campaign.id}


def test_calendar_refuses_a_range_with_too_many_occurrences(world: World) -> None:
    world.live("every day", recurrence=ck.Recurrence.daily(at="09:00"))
    with pytest.raises(ck.ValidationError, match="shorter range"):
        world.admin.calendar(T0, T0.add(years=40))


def test_calendar_entries_are_sorted_by_instant_then_id(world: World) -> None:
    late = world.scheduled("late", days=4)
    early = world.scheduled("early", days=1)
    now_b = world.live("now b")
    now_a = world.live("now a")  # same go-live instant, larger id
    assert entry_ids(world.admin.calendar(*WIDE)) == [now_b.id, now_a.id, early.id, late.id]


def test_calendar_range_filtering(world: World) -> None:
    live = world.live("live")  # on air [T0, T0+3d)
    scheduled = world.scheduled("scheduled", days=10)  # on air [T0+10d, T0+13d)

    def shown(start: pendulum.DateTime, end: pendulum.DateTime) -> list[str]:
        return entry_ids(world.admin.calendar(start, end))

    assert shown(T0.add(days=3), T0.add(days=10)) == []  # between the two: nothing on air
    assert shown(T0.add(days=2), T0.add(days=10)) == [live.id]
    assert shown(T0.add(days=3), T0.add(days=10, seconds=1)) == [scheduled.id]
    assert shown(T0.subtract(days=5), T0) == []  # ends where the live one starts
    assert shown(T0.add(days=13), T0.add(days=20)) == []  # after both ended
    assert shown(T0.add(days=1), T0.add(days=11)) == [live.id, scheduled.id]


def test_calendar_accepts_any_time_zone_and_returns_utc(world: World) -> None:
    live = world.live()
    tokyo = T0.in_timezone("Asia/Tokyo")
    (entry,) = world.admin.calendar(tokyo, tokyo.add(hours=1))
    assert entry.campaign_id == live.id
    assert entry.at.utcoffset() == pendulum.duration(0)


def test_completed_and_stopped_campaigns_leave_the_calendar(world: World) -> None:
    done = world.live("done")
    stopped = world.live("stopped")
    assert len(world.admin.calendar(*WIDE)) == 2
    world.admin.stop(stopped.id)
    assert entry_ids(world.admin.calendar(*WIDE)) == [done.id]
    world.clock.advance(days=3)
    world.kit.tick()
    assert world.admin.calendar(*WIDE) == []


@pytest.mark.parametrize("end", [T0, T0.subtract(seconds=1)])
def test_calendar_end_must_be_after_start(world: World, end: pendulum.DateTime) -> None:
    with pytest.raises(ck.ValidationError, match="calendar end must be after its start"):
        world.admin.calendar(T0, end)


def test_calendar_refuses_naive_bounds(world: World) -> None:
    with pytest.raises(ck.ValidationError, match="calendar start must be timezone-aware"):
        world.admin.calendar(pendulum.naive(2026, 12, 1), T0.add(days=1))


def test_calendar_sees_more_than_one_store_page(world: World) -> None:
    made = [world.draft(f"c{n}") for n in range(501)]
    for campaign in made:
        world.admin.activate(campaign.id)
    world.kit.tick()
    entries = world.admin.calendar(*WIDE)
    assert entry_ids(entries) == sorted(c.id for c in made)


def test_filters_accept_the_string_form_of_a_value(world: World) -> None:
    draft = world.draft("Plain draft")
    page = world.admin.list_campaigns(statuses="DRAFT", channels="email")  # type: ignore[arg-type]
    assert [c.id for c in page] == [draft.id]


def test_an_unknown_filter_value_is_a_validation_error(world: World) -> None:
    with pytest.raises(ck.ValidationError, match="expected one of"):
        world.admin.list_campaigns(statuses=["DRAFTY"])  # type: ignore[list-item]


def test_an_oversized_cursor_is_refused_before_decoding(world: World) -> None:
    with pytest.raises(ck.ValidationError, match="next_cursor"):
        world.admin.list_campaigns(cursor="A" * 10_000)
