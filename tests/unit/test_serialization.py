"""Every stored type round-trips losslessly, and old documents keep loading."""

from __future__ import annotations

import contextlib
import datetime
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import campaignkit as ck
from campaignkit import serialization as ser
from campaignkit.testing import strategies as cks
from campaignkit.testing.factories import make_action, make_campaign

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ROUND_TRIP = settings(max_examples=60, deadline=None)


@ROUND_TRIP
@given(cks.campaigns())
def test_campaigns_round_trip(campaign: ck.Campaign) -> None:
    assert ser.loads(ck.Campaign, ser.dumps(campaign)) == campaign


@ROUND_TRIP
@given(cks.surfaces())
def test_surfaces_round_trip(surface: ck.ChannelSurface) -> None:
    assert ser.loads(ck.ChannelSurface, ser.dumps(surface)) == surface


@ROUND_TRIP
@given(cks.approval_policies())
def test_approval_policies_round_trip(policy: ck.ApprovalPolicy) -> None:
    assert ser.loads(ck.ApprovalPolicy, ser.dumps(policy)) == policy


@ROUND_TRIP
@given(cks.access_entries())
def test_access_entries_round_trip(entry: ck.AccessAuditEntry) -> None:
    assert ser.loads(ck.AccessAuditEntry, ser.dumps(entry)) == entry


@ROUND_TRIP
@given(cks.profiles())
def test_profiles_round_trip(profile: ck.Profile) -> None:
    assert ser.loads(ck.Profile, ser.dumps(profile)) == profile


@given(cks.campaigns())
@settings(max_examples=20, deadline=None)
def test_documents_are_plain_json_with_a_versioned_envelope(campaign: ck.Campaign) -> None:
    document = json.loads(ser.dumps(campaign))
    assert document["schema"] == "campaign"
    assert document["version"] == ser.SCHEMAS[ck.Campaign][1]
    assert document["data"]["id"] == campaign.id


def test_a_version_1_campaign_document_loads_under_the_current_version() -> None:
    """A campaign written by the foundation release (schema v1) is upcast."""
    text = (FIXTURES / "campaign_v1.json").read_text(encoding="utf-8")
    assert json.loads(text)["version"] == 1
    campaign = ser.loads(ck.Campaign, text)
    assert campaign.status is ck.CampaignStatus.LIVE
    assert campaign.review is None
    assert campaign.approvals == ()
    assert not campaign.draft_in_review
    assert campaign.live_version is not None
    assert campaign.live_version.schedule.timezone == "Europe/Paris"
    assert [e.action for e in campaign.history] == [
        ck.Verb.CREATE,
        ck.Verb.ACTIVATE,
        ck.Verb.PREPARE,
    ]
    again = ser.loads(ck.Campaign, ser.dumps(campaign))
    assert again == campaign
    assert json.loads(ser.dumps(campaign))["version"] == 2


def _envelope(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        (FIXTURES / "campaign_v1.json").read_text(encoding="utf-8")
    )
    document.update(overrides)
    return document


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (_envelope(version=99), "newer campaignkit"),
        (_envelope(schema="surface"), "expected a 'campaign' document"),
        (_envelope(version=0), "invalid version"),
        ({"schema": "campaign", "version": 2}, "not a campaignkit document"),
        ([1, 2], "not a campaignkit document"),
        (_envelope(data={"id": "x"}), "is invalid"),
    ],
)
def test_bad_documents_raise_storage_errors(document: object, message: str) -> None:
    with pytest.raises(ck.StorageError, match=message):
        ser.from_document(ck.Campaign, document)


def test_text_that_is_not_json_is_a_storage_error() -> None:
    with pytest.raises(ck.StorageError, match="not valid JSON"):
        ser.loads(ck.Campaign, "{nope")


def test_only_stored_types_have_a_schema() -> None:
    with pytest.raises(TypeError, match="not a stored campaignkit type"):
        ser.to_document(object())


def test_a_missing_upcaster_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ser, "UPCASTERS", {})
    with pytest.raises(ck.StorageError, match="no upcaster from campaign version 1"):
        ser.loads(ck.Campaign, (FIXTURES / "campaign_v1.json").read_text(encoding="utf-8"))


@given(st.text())
def test_loads_never_raises_anything_but_storage_errors(text: str) -> None:
    with contextlib.suppress(ck.StorageError):
        ser.loads(ck.Campaign, text)


# ---------------------------------------------------------------- scheduling values

_EVERY = st.integers(30, 3 * 24 * 60).map(lambda minutes: pendulum.duration(minutes=minutes))
_PERIODS = st.integers(1, 366 * 24 * 3600 * 10**6).map(  # up to checks.MAX_PERIOD
    lambda micros: pendulum.duration(microseconds=micros)
)
_TIMES = st.sampled_from(["00:00", "08:00", "09:30", "21:00", "23:59"])
_DATES = st.dates(datetime.date(2000, 1, 1), datetime.date(2100, 12, 31))


def _waves() -> st.SearchStrategy[ck.Waves]:
    return st.one_of(
        st.builds(lambda n, e: ck.Waves.equal(count=n, every=e), st.integers(2, 10), _EVERY),
        st.builds(
            lambda parts, e: ck.Waves.percentages(parts, every=e),
            st.sampled_from([[50, 50], [50, 30, 20], [10] * 10, [1, 99]]),
            _EVERY,
        ),
        st.builds(
            lambda sizes, e: ck.Waves.counts(sizes, every=e),
            st.lists(st.integers(1, 10**6), min_size=2, max_size=10),
            _EVERY,
        ),
    )


@st.composite
def _quiet_hours(draw: st.DrawFn) -> ck.QuietHours:
    start, end = draw(_TIMES), draw(_TIMES)
    days = draw(st.lists(st.sampled_from(ck.Weekday), max_size=3, unique=True))
    dates = draw(st.lists(_DATES, max_size=3))
    if start == end and not days and not dates:
        end = "08:00" if start != "08:00" else "21:00"
    return ck.QuietHours(
        start=start,
        end=end,
        timezone=draw(st.sampled_from(["profile", "UTC", "Europe/Paris", "Asia/Kolkata"])),
        mode=draw(st.sampled_from(["queue", "discard"])),
        days=days,
        dates=dates,
    )


def _caps() -> st.SearchStrategy[ck.FrequencyCap]:
    return st.builds(ck.FrequencyCap, max=st.integers(1, 1000), per=_PERIODS)


def _rule_books() -> st.SearchStrategy[ck.RuleBook]:
    rules = st.builds(
        ck.BusinessRules,
        quiet_hours=st.lists(_quiet_hours(), max_size=3).map(tuple),
        caps=st.lists(_caps(), max_size=3).map(tuple),
    )
    return st.builds(
        ck.RuleBook,
        channels=st.dictionaries(st.sampled_from(ck.ChannelType), rules),
        revision=st.integers(0, 1000),
    )


def _schedules() -> st.SearchStrategy[ck.Schedule]:
    return st.builds(
        ck.Schedule,
        start=st.none() | cks.instants(),
        end=st.none() | cks.instants(),
        timezone=st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"]),
        recurrence=st.none() | cks.recurrences(),
        use_profile_timezone=st.booleans(),
        waves=st.none() | _waves(),
        send_window=_PERIODS,
    )


def _versions(number: int) -> st.SearchStrategy[ck.CampaignVersion]:
    actions = st.builds(
        ck.Action,
        surface_id=cks.ids,
        content=cks.contents(),
        id=cks.ids,
        rate_limit=st.none() | st.integers(1, 10**6),
    )
    return st.builds(
        ck.CampaignVersion,
        number=st.just(number),
        created_at=cks.instants(),
        created_by=cks.ids,
        actions=st.lists(actions, max_size=3).map(tuple),
        audience=st.none() | cks.ids,
        namespace=st.just("email"),
        schedule=_schedules(),
        quiet_hours=st.lists(_quiet_hours(), max_size=2).map(tuple),
    )


@st.composite
def _scheduled_campaigns(draw: st.DrawFn) -> ck.Campaign:
    campaign = draw(cks.campaigns())
    return attrs.evolve(
        campaign,
        live_version=draw(st.none() | _versions(1)),
        draft_version=draw(st.none() | _versions(2)),
        superseded_versions=tuple(draw(st.lists(_versions(1), max_size=2))),
        open_runs=draw(st.integers(0, 5)),
        runs_finished_at=draw(st.none() | cks.instants()),
        next_occurrence_at=draw(st.none() | cks.instants()),
    )


@ROUND_TRIP
@given(_scheduled_campaigns())
def test_campaigns_with_scheduling_fields_round_trip(campaign: ck.Campaign) -> None:
    """Recurrences, waves, profile time zones, windows, quiet hours and rate limits survive."""
    assert ser.loads(ck.Campaign, ser.dumps(campaign)) == campaign


@ROUND_TRIP
@given(_rule_books())
def test_rule_books_round_trip(rules: ck.RuleBook) -> None:
    assert ser.loads(ck.RuleBook, ser.dumps(rules)) == rules


def test_a_rule_book_is_a_versioned_rules_document() -> None:
    rules = ck.RuleBook(
        channels={
            ck.ChannelType.SMS: ck.BusinessRules(
                quiet_hours=(
                    ck.QuietHours(
                        start="21:00",
                        end="08:00",
                        mode="discard",
                        days=["SA", "SU"],
                        dates=[datetime.date(2026, 12, 25)],
                    ),
                ),
                caps=(ck.FrequencyCap(max=2, per=pendulum.duration(days=7)),),
            )
        },
        revision=3,
    )
    document = json.loads(ser.dumps(rules))
    assert (document["schema"], document["version"]) == ("rules", 1)
    sms = document["data"]["channels"]["sms"]
    assert sms["quiet_hours"][0]["days"] == ["SA", "SU"]
    assert sms["quiet_hours"][0]["dates"] == ["2026-12-25"]
    assert sms["caps"] == [{"max": 2, "per": 604800.0}]
    loaded = ser.loads(ck.RuleBook, ser.dumps(rules))
    assert loaded == rules
    assert loaded.for_channel(ck.ChannelType.SMS).quiet_hours[0].days == (
        ck.Weekday.SA,
        ck.Weekday.SU,
    )


_PARIS_START = pendulum.datetime(2026, 3, 1, 8, tz="UTC")


@pytest.mark.parametrize(
    "recurrence",
    [
        ck.Recurrence.daily(at="09:00"),
        ck.Recurrence.daily(at="23:59", every=3),
        ck.Recurrence.weekly(days=["MO", "TH"], at="18:30", every=2),
        ck.Recurrence.monthly(day=31, at="08:00"),
        ck.Recurrence.rrule("FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=9;BYMINUTE=15"),
    ],
    ids=["daily", "every-3-days", "weekly", "monthly-31", "rrule"],
)
def test_a_loaded_recurring_schedule_fires_at_the_same_instants(
    recurrence: ck.Recurrence,
) -> None:
    """Across the March DST change and short months, the loaded schedule is the same one."""
    schedule = ck.Schedule(
        start=_PARIS_START,
        end=_PARIS_START.add(months=4),
        timezone="Europe/Paris",
        recurrence=recurrence,
        use_profile_timezone=True,
        waves=ck.Waves.equal(count=3, every=pendulum.duration(hours=1)),
        send_window=pendulum.duration(hours=2, minutes=30),
    )
    version = ck.CampaignVersion(
        number=1,
        created_at=_PARIS_START,
        created_by="ada",
        actions=(make_action(), attrs.evolve(make_action(ck.ChannelType.SMS), rate_limit=50)),
        schedule=schedule,
    )
    campaign = attrs.evolve(make_campaign(status=ck.CampaignStatus.LIVE), live_version=version)
    loaded = ser.loads(ck.Campaign, ser.dumps(campaign))
    assert loaded == campaign
    assert loaded.live_version is not None
    again = loaded.live_version.schedule
    assert list(again.occurrences()) == list(schedule.occurrences())
    assert len(list(again.occurrences())) >= 4
    assert again.waves is not None
    assert again.waves.starts(_PARIS_START) == [_PARIS_START.add(hours=h) for h in range(3)]
    assert [a.rate_limit for a in loaded.live_version.actions] == [None, 50]


@pytest.mark.parametrize(
    "waves",
    [
        ck.Waves.equal(count=10, every=pendulum.duration(minutes=30)),
        ck.Waves.percentages([50, 30, 20], every=pendulum.duration(hours=1)),
        ck.Waves.counts([2, 3], every=pendulum.duration(days=1, seconds=1)),
    ],
    ids=["equal", "percentages", "counts"],
)
def test_waves_keep_their_sizing_and_capacities(waves: ck.Waves) -> None:
    campaign = make_campaign()
    assert campaign.draft_version is not None
    schedule = ck.Schedule(waves=waves)
    draft = attrs.evolve(campaign.draft_version, schedule=schedule)
    loaded = ser.loads(ck.Campaign, ser.dumps(attrs.evolve(campaign, draft_version=draft)))
    assert loaded.draft_version is not None
    again = loaded.draft_version.schedule.waves
    assert again == waves
    assert again is not None
    assert again.sizing is waves.sizing
    assert again.capacities(1001) == waves.capacities(1001)


def test_runs_and_ledger_entries_keep_their_scheduling_fields() -> None:
    t = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
    run = ck.Run(
        id="run_1",
        campaign_id="cmp_1",
        version=2,
        kind=ck.RunKind.SCHEDULED,
        status=ck.RunStatus.RUNNING,
        created_at=t,
        due_at=t.add(hours=1),
        nominal_at=t.subtract(microseconds=1),
        wave_filled=(3, 0, 7),
        rate_sent={"act_email": 100, "act_sms": 0},
        rate_origin={"act_email": t.add(seconds=1, microseconds=5)},
        counts={"act_email": ck.ActionCounts(targeted=10, late=2, timezone_fallbacks=1)},
        revision=5,
    )
    assert ser.loads(ck.Run, ser.dumps(run)) == run
    entry = ck.LedgerEntry(
        run_id="run_1",
        action_id="act_email",
        profile_id="p1",
        campaign_id="cmp_1",
        channel=ck.ChannelType.EMAIL,
        state=ck.LedgerState.QUEUED,
        next_attempt_at=t.add(hours=8),
        due_at=t.add(hours=8),
        timezone="+05:30",
        slot=t.add(hours=8, microseconds=10_000),
    )
    assert ser.loads(ck.LedgerEntry, ser.dumps(entry)) == entry


@pytest.mark.parametrize(
    "build",
    [
        lambda per: ck.FrequencyCap(max=2, per=per),
        lambda per: ck.Waves.equal(count=2, every=per),
        lambda per: ck.Schedule(send_window=per),
    ],
    ids=["frequency cap", "waves", "send window"],
)
def test_stored_periods_refuse_months_and_years(
    build: Callable[[pendulum.Duration], object],
) -> None:
    """Months have no fixed length; a stored period would lose which month was meant."""
    for calendar in (pendulum.duration(months=1), pendulum.duration(years=1, days=2)):
        with pytest.raises(ck.ValidationError, match="uses months or years"):
            build(calendar)
    build(pendulum.duration(weeks=4, days=2, hours=1))  # absolute periods are fine


def test_an_absolute_cap_period_reaches_as_far_back_after_loading() -> None:
    cap = ck.FrequencyCap(max=2, per=pendulum.duration(weeks=4, days=2, hours=1))
    rules = ck.RuleBook(channels={ck.ChannelType.EMAIL: ck.BusinessRules(caps=(cap,))})
    loaded = ser.loads(ck.RuleBook, ser.dumps(rules)).for_channel(ck.ChannelType.EMAIL).caps[0]
    now = pendulum.datetime(2026, 3, 31, 9, tz="UTC")
    assert now - loaded.per == now - cap.per == pendulum.datetime(2026, 3, 1, 8, tz="UTC")


# ---------------------------------------------------------------- documents before scheduling


def _fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def test_a_version_1_campaign_gets_the_scheduling_defaults() -> None:
    campaign = ser.loads(ck.Campaign, _fixture("campaign_v1.json"))
    assert campaign.live_version is not None
    assert campaign.live_version.schedule == ck.Schedule(timezone="Europe/Paris")
    assert campaign.live_version.quiet_hours == ()
    assert [a.rate_limit for a in campaign.live_version.actions] == [None]
    assert (campaign.open_runs, campaign.runs_finished_at, campaign.next_occurrence_at) == (
        0,
        None,
        None,
    )


def test_a_campaign_stored_before_scheduling_loads_with_the_defaults() -> None:
    """A version 2 campaign document written before the scheduling fields existed."""
    text = _fixture("campaign_v2_before_scheduling.json")
    document = json.loads(text)
    assert document["version"] == 2
    stored_schedule = document["data"]["live_version"]["schedule"]
    assert set(stored_schedule) == {"start", "end", "timezone", "recurrence"}
    campaign = ser.loads(ck.Campaign, text)
    assert campaign.live_version is not None
    schedule = campaign.live_version.schedule
    assert schedule.recurrence == ck.Recurrence.weekly(days=["MO", "TH"], at="09:30", every=2)
    assert not schedule.use_profile_timezone
    assert schedule.waves is None
    assert schedule.send_window == pendulum.duration(hours=12)
    assert campaign.live_version.quiet_hours == ()
    assert [a.rate_limit for a in campaign.live_version.actions] == [None]
    assert campaign.next_occurrence_at is None
    assert campaign.open_runs == 1
    paris = pendulum.datetime(2026, 12, 3, 9, 30, tz="Europe/Paris")
    assert next(schedule.occurrences()) == paris.in_timezone("UTC")  # the first Thursday
    assert ser.loads(ck.Campaign, ser.dumps(campaign)) == campaign


def test_a_run_stored_before_scheduling_loads_with_the_defaults() -> None:
    run = ser.loads(ck.Run, _fixture("run_v1_before_scheduling.json"))
    assert (run.nominal_at, run.wave_filled, dict(run.rate_sent), dict(run.rate_origin)) == (
        None,
        (),
        {},
        {},
    )
    counts = run.counts["act_email"]
    assert (counts.targeted, counts.sent, counts.pending) == (3, 1, 1)
    assert (counts.late, counts.timezone_fallbacks) == (0, 0)
    assert run.revision == 4
    assert ser.loads(ck.Run, ser.dumps(run)) == run


def test_a_run_document_of_version_1_streams_its_version_audience() -> None:
    """Run documents went to version 2 with the run's own audience; v1 loads as None."""
    text = _fixture("run_v1_before_scheduling.json")
    assert json.loads(text)["version"] == 1
    assert ser.loads(ck.Run, text).audience is None
    t = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
    run = ck.Run(
        id="run_a",
        campaign_id="cmp_1",
        version=1,
        kind=ck.RunKind.AUDIENCE_EXECUTION,
        status=ck.RunStatus.PENDING,
        created_at=t,
        due_at=t,
        audience="vips",
    )
    assert ser.dumps_run(run) == ser.dumps(run)
    document = json.loads(ser.dumps_run(run))
    assert (document["version"], document["data"]["audience"]) == (2, "vips")
    assert ser.loads(ck.Run, ser.dumps_run(run)) == run


def test_a_ledger_entry_stored_before_scheduling_loads_with_the_defaults() -> None:
    entry = ser.loads(ck.LedgerEntry, _fixture("ledger_entry_v1_before_scheduling.json"))
    assert entry.state is ck.LedgerState.RETRY
    assert entry.next_attempt_at == pendulum.datetime(2026, 12, 1, 9, 5, tz="UTC")
    assert (entry.due_at, entry.timezone, entry.slot) == (None, None, None)
    assert ser.loads(ck.LedgerEntry, ser.dumps(entry)) == entry


# ---------------------------------------------------------------- instants and dates in documents


def _with_data(**changes: Any) -> dict[str, Any]:
    document = _envelope()
    document["data"] = {**document["data"], **changes}
    return document


def test_an_instant_with_an_offset_loads_as_the_same_instant_in_utc() -> None:
    """Documents written elsewhere (an edited export) may carry offsets: read as UTC."""
    campaign = ser.from_document(ck.Campaign, _with_data(created_at="2026-12-01T10:30:00+01:00"))
    assert campaign.created_at == pendulum.datetime(2026, 12, 1, 9, 30, tz="UTC")
    assert campaign.created_at.utcoffset() == datetime.timedelta(0)
    assert json.loads(ser.dumps(campaign))["data"]["created_at"] == "2026-12-01T09:30:00+00:00"


@pytest.mark.parametrize(
    "value",
    [1764579600, "2026-12-01T09:00:00", "yesterday"],
    ids=["a-number", "naive", "not-a-date"],
)
def test_a_bad_instant_is_a_storage_error_naming_the_field(value: object) -> None:
    """Numbers, naive and malformed instants are refused, never guessed."""
    with pytest.raises(ck.StorageError, match=r"expected DateTime @ \$\.created_at"):
        ser.from_document(ck.Campaign, _with_data(created_at=value))


def test_a_bad_quiet_date_is_a_storage_error() -> None:
    document = json.loads(ser.dumps(ck.RuleBook(channels={ck.ChannelType.SMS: ck.BusinessRules()})))
    document["data"]["channels"]["sms"]["quiet_hours"] = [
        {
            "start": "00:00",
            "end": "00:00",
            "timezone": "profile",
            "mode": "queue",
            "days": [],
            "dates": [20261225],
        }
    ]
    with pytest.raises(ck.StorageError, match=r"expected date @ .*quiet_hours\[0\]\.dates\[0\]"):
        ser.from_document(ck.RuleBook, document)


def test_an_old_document_whose_data_is_not_an_object_is_a_storage_error() -> None:
    with pytest.raises(ck.StorageError, match="data must be an object"):
        ser.from_document(ck.Campaign, _envelope(data=["not", "an", "object"]))
