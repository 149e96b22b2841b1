"""The known failures of issue 10 (numeric zones, datetimes as schedules, bare strings, lone
surrogates) and value constructors naming the wrong field, bounded periods and stored
aggregates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit.domain import checks
from tests.unit.boundary_authoring.support import HOUR, SURROGATE, T0, Env, names, refused

# ---------------------------------------------------------------- the known failures


def test_a_schedule_with_a_numeric_time_zone_is_refused_when_built() -> None:
    with pytest.raises(ck.ValidationError) as caught:
        ck.Schedule(timezone=5)  # type: ignore[arg-type]
    names(caught.value.problems, "schedule timezone", "must be a string")


def test_a_datetime_passed_as_the_schedule_is_refused_and_nothing_stored(env: Env) -> None:
    at = T0.add(days=1)
    problems = refused(env, lambda e: e.admin.create_campaign(name="X", schedule=at))  # type: ignore[arg-type]
    names(problems, "schedule must be a Schedule", "DateTime")
    problems = refused(env, lambda e: e.admin.update_draft(e.draft.id, schedule=at))  # type: ignore[arg-type]
    names(problems, "schedule must be a Schedule")


def test_a_bare_string_of_tags_is_refused_not_split_into_letters(env: Env) -> None:
    problems = refused(env, lambda e: e.admin.create_campaign(name="X", tags="winter"))
    assert problems == ["tags must be a list of strings, not str 'winter'"]
    problems = refused(env, lambda e: e.admin.update_draft(e.draft.id, tags="winter"))
    names(problems, "tags must be a list of strings")


def test_an_audience_given_as_a_list_of_ids_is_refused(env: Env) -> None:
    problems = refused(env, lambda e: e.admin.create_campaign(name="X", audience=["p1"]))  # type: ignore[arg-type]
    assert problems == ["audience must be a string, not list ['p1']"]
    problems = refused(env, lambda e: e.admin.update_draft(e.draft.id, audience=["p1"]))  # type: ignore[arg-type]
    names(problems, "audience must be a string")


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        (None, "user_id must be a non-empty string, not NoneType None"),
        (7, "user_id must be a non-empty string, not int 7"),
        (" ", "user_id must be a non-empty string"),
        (SURROGATE, "user_id holds characters that cannot be encoded as UTF-8"),
        ("u" * (checks.MAX_ID + 1), f"the limit is {checks.MAX_ID}"),
    ],
)
def test_as_user_refuses_anything_but_a_short_utf8_id(
    env: Env, user: object, expected: str
) -> None:
    names(refused(env, lambda e: e.kit.as_user(user)), expected)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "call",
    [
        lambda e: e.admin.create_campaign(name=SURROGATE),
        lambda e: e.admin.create_campaign(name="X", description=SURROGATE),
        lambda e: e.admin.create_campaign(name="X", tags=[SURROGATE]),
        lambda e: e.admin.create_campaign(name="X", audience=SURROGATE),
        lambda e: e.admin.create_campaign(name="X", namespace=SURROGATE),
        lambda e: e.admin.update_draft(e.draft.id, name=SURROGATE),
        lambda e: e.admin.duplicate(e.draft.id, name=SURROGATE),
        lambda e: e.admin.get(SURROGATE),
        lambda e: e.admin.delete(SURROGATE),
        lambda e: e.admin.list_campaigns(tag=SURROGATE),
        lambda e: e.admin.create_surface(
            name=SURROGATE, channel=ck.ChannelType.SMS, settings=ck.SmsSettings("S")
        ),
        lambda e: e.admin.get_surface(SURROGATE),
        lambda e: e.admin.create_approval_policy(name=SURROGATE, reviewers=["bob"]),
        lambda e: e.admin.create_approval_policy(name="P", reviewers=[SURROGATE]),
        lambda e: e.admin.get_approval_policy(SURROGATE),
        lambda e: e.admin.request_approval(e.draft.id, message=SURROGATE),
        lambda e: e.admin.assign_profile(SURROGATE, ck.ProductProfile.VIEWER),
        lambda e: e.admin.add_group_member("staff", SURROGATE),
        lambda e: e.kit.access.profiles_of(SURROGATE),
        lambda e: e.admin.export([SURROGATE]),
    ],
)
def test_lone_surrogates_are_validation_errors_on_both_stores(
    both: tuple[Env, Env], call: Callable[[Env], object]
) -> None:
    memory, sqlite = both
    found = [refused(env, call) for env in both]
    assert found[0] == found[1]
    names(found[0], "UTF-8")
    assert memory.state() == sqlite.state()


# ---------------------------------------------------------------- value constructors


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"start": "2026-12-24T09:00:00Z"}, "schedule start must be a date-time"),
        ({"end": dt.date(2026, 12, 24)}, "schedule end must be a date-time"),
        ({"start": dt.datetime(2026, 12, 24, 9)}, "schedule start must be timezone-aware"),
        ({"timezone": "X" * 300}, "longer than any zone"),
        ({"timezone": SURROGATE}, "schedule timezone: unknown time zone"),
        ({"recurrence": "FREQ=DAILY"}, "schedule recurrence must be a Recurrence"),
        ({"waves": 3}, "schedule waves must be a Waves"),
        ({"use_profile_timezone": 1}, "schedule use_profile_timezone must be True or False"),
        ({"send_window": 12}, "schedule send_window must be a pendulum.Duration"),
    ],
)
def test_schedule_checks_every_field(kwargs: dict[str, Any], expected: str) -> None:
    with pytest.raises(ck.ValidationError) as caught:
        ck.Schedule(**kwargs)
    names(caught.value.problems, expected)


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda: ck.EmailContent(subject=1, html="x"), "EmailContent subject must be a string"),  # type: ignore[arg-type]
        (lambda: ck.EmailContent("s", "h", text=b"t"), "EmailContent text must be a string"),  # type: ignore[arg-type]
        (lambda: ck.SmsContent(None), "SmsContent text must be a string"),  # type: ignore[arg-type]
        (lambda: ck.PushContent(SURROGATE, "b"), "PushContent title holds characters"),
        (
            lambda: ck.SmsContent("x" * (checks.MAX_TEMPLATE + 1)),
            f"the limit is {checks.MAX_TEMPLATE}",
        ),
        (lambda: ck.EmailSettings(sender=5), "EmailSettings sender must be a string"),  # type: ignore[arg-type]
        (lambda: ck.EmailSettings("a@b.c", reply_to=[1]), "EmailSettings reply_to must be"),  # type: ignore[arg-type]
        (lambda: ck.SmsSettings("S" * 2000), f"the limit is {checks.MAX_SETTING}"),
        (lambda: ck.PushSettings("app", platform=3), "PushSettings platform must be a string"),  # type: ignore[arg-type]
        (lambda: ck.Action(5, ck.SmsContent("x")), "action surface_id must be a string"),  # type: ignore[arg-type]
        (lambda: ck.Action("srf", "hello"), "action content must be a EmailContent or"),  # type: ignore[arg-type]
        (lambda: ck.Action("srf", ck.SmsContent("x"), id=None), "action id must be a string"),  # type: ignore[arg-type]
        (lambda: ck.QuietHours("21:00", "08:00", days="SU"), "quiet hours days must be a list"),
        (lambda: ck.QuietHours("21:00", "08:00", days=5), "quiet hours days must be a list"),  # type: ignore[arg-type]
        (lambda: ck.QuietHours("21:00", "08:00", dates=7), "quiet hours dates must be a list"),  # type: ignore[arg-type]
        (
            lambda: ck.QuietHours("21:00", "08:00", dates=[dt.date(2026, 1, 1)] * 1001),
            "quiet hours dates has 1001 items",
        ),
        (lambda: ck.QuietHours("21:00", "08:00", mode=["queue"]), "quiet hours mode ['queue']"),  # type: ignore[arg-type]
        (lambda: ck.FrequencyCap("3", HOUR), "frequency cap max must be a whole number"),  # type: ignore[arg-type]
        (lambda: ck.FrequencyCap(True, HOUR), "frequency cap max must be a whole number"),
        (lambda: ck.Waves.equal(count="3", every=HOUR), "waves: count must be a whole number"),  # type: ignore[arg-type]
        (lambda: ck.Waves.equal(count=10**12, every=HOUR), "waves: 1000000000000 waves"),
        (lambda: ck.Waves.percentages("55", every=HOUR), "waves: sizes must be a list"),  # type: ignore[arg-type]
        (lambda: ck.Waves.counts(5, every=HOUR), "waves: sizes must be a list"),  # type: ignore[arg-type]
        (lambda: ck.Waves.counts([True, 2], every=HOUR), "waves: size 1 must be a whole number"),
        (lambda: ck.Waves.counts([1] * 2000, every=HOUR), "waves: 2000 waves"),
        (lambda: ck.Waves("equal", (1, 1), HOUR), "waves sizing must be a WaveSizing"),  # type: ignore[arg-type]
        (lambda: ck.Waves.counts([1, 2], every=5), "waves every must be a pendulum.Duration"),  # type: ignore[arg-type]
        (lambda: ck.FrequencyCap(1, per=5), "frequency cap period must be a pendulum.Duration"),  # type: ignore[arg-type]
        (
            lambda: ck.Schedule(send_window=pendulum.duration()),
            "schedule send_window must be positive",
        ),
    ],
)
def test_value_constructors_name_the_wrong_field(
    build: Callable[[], object], expected: str
) -> None:
    with pytest.raises(ck.ValidationError) as caught:
        build()
    names(caught.value.problems, expected)


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (
            lambda: ck.Schedule(send_window=pendulum.duration(days=367)),
            "schedule send_window is longer than the limit of 366 days",
        ),
        (
            lambda: ck.FrequencyCap(1, pendulum.duration(days=10**6)),
            "frequency cap period is longer than the limit of 366 days",
        ),
        (
            lambda: ck.Waves.equal(count=2, every=pendulum.duration(days=367)),
            "waves must be at most 366 days apart, not 52 weeks 3 days",
        ),
        (
            lambda: ck.Waves.equal(count=2, every=dt.timedelta(minutes=1)),
            "waves must be at least 30 minutes apart, not 1 minute",
        ),
    ],
)
def test_periods_are_bounded_so_date_arithmetic_cannot_overflow(
    build: Callable[[], object], expected: str
) -> None:
    with pytest.raises(ck.ValidationError) as caught:
        build()
    assert caught.value.problems == [expected]
    ck.Schedule(send_window=checks.MAX_PERIOD)  # the limit itself is fine


def test_standard_library_periods_are_kept_as_pendulum_durations(env: Env) -> None:
    schedule = ck.Schedule(
        send_window=dt.timedelta(hours=3),
        waves=ck.Waves.equal(count=2, every=dt.timedelta(hours=1)),
    )
    cap = ck.FrequencyCap(2, dt.timedelta(days=1))
    for period in (schedule.send_window, cap.per, schedule.waves.every if schedule.waves else None):
        assert type(period) is pendulum.Duration
    stored = env.admin.get(env.admin.create_campaign(name="Periods", schedule=schedule).id)
    assert stored.newest_version.schedule == schedule
    assert type(stored.newest_version.schedule.send_window) is pendulum.Duration


def test_policy_conditions_report_bad_names() -> None:
    many = ck.PolicyConditions(tags=frozenset(str(i) for i in range(1001)))
    assert many.problems() == ["tags has more than 1000 entries"]
    typed = ck.PolicyConditions(requesters=frozenset({5}), requester_groups=frozenset({" "}))  # type: ignore[arg-type]
    assert typed.problems() == [
        "requesters entry must be a string, not int 5",
        "requester_groups entry ' ' must not be blank",
    ]


def test_a_version_refuses_a_naive_creation_time_and_a_bare_action_string() -> None:
    with pytest.raises(ck.ValidationError) as caught:
        ck.CampaignVersion(
            number=1,
            created_at=dt.datetime(2026, 12, 1, 9),  # type: ignore[arg-type]
            created_by="ada",
            actions="act",  # type: ignore[arg-type]
        )
    names(caught.value.problems, "version created_at must be timezone-aware")
    names(caught.value.problems, "actions must be a list of Action values, not str 'act'")


def test_stored_aggregates_check_types_but_not_sizes() -> None:
    version = ck.CampaignVersion(number=1, created_at=T0, created_by="ada")
    with pytest.raises(ck.ValidationError) as caught:
        attrs.evolve(version, actions=["not an action"], audience=5, schedule=None, number=0)  # type: ignore[arg-type]
    problems = caught.value.problems
    for expected in (
        "version number is 0",
        "actions[0] must be a Action",
        "audience must be a string",
        "schedule must be a Schedule",
    ):
        names(problems, expected)
    # a name longer than MAX_NAME loads (stores written before the limits stay readable)
    long = "n" * (checks.MAX_NAME + 10)
    campaign = ck.Campaign(
        id="cmp",
        name=long,
        type=ck.CampaignType.SCHEDULED,
        category=ck.Category.MARKETING,
        status=ck.CampaignStatus.DRAFT,
        created_at=T0,
        created_by="ada",
        updated_at=T0,
        draft_version=version,
    )
    assert campaign.name == long
    with pytest.raises(ck.ValidationError) as caught:
        attrs.evolve(campaign, tags="winter", name=SURROGATE, type="SCHEDULED")  # type: ignore[arg-type]
    for expected in (
        "tags must be a tuple of strings",
        "campaign name holds characters",
        "campaign type must be a CampaignType",
    ):
        names(caught.value.problems, expected)
