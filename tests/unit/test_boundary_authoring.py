"""A checked boundary for authoring: value constructors and authoring/admin verbs (issue 10).

Each known failure of the issue, and the main wrong-type and size cases of
each verb, is refused with a ``ValidationError`` naming the argument before
anything is stored; the in-memory kit and a kit on a SQLite file give the
same outcome and keep the same state. The property suite
(``test_boundary_properties.py``) throws random junk at the same verbs; these
tests pin the messages and the documented limits.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit.domain import checks
from campaignkit.domain.creation import copy_name, normalize_tags
from campaignkit.testing import ManualClock, RecordingChannel, SequentialIds

T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
HOUR = pendulum.duration(hours=1)
SURROGATE = "a\ud800b"


@attrs.define
class Env:
    """A kit with an administrator, an email surface, a draft and a policy."""

    kit: ck.CampaignKit
    admin: ck.UserSession
    surface: ck.ChannelSurface
    draft: ck.Campaign
    policy: ck.ApprovalPolicy

    def action(self) -> ck.Action:
        return ck.Action(self.surface.id, ck.EmailContent(subject="Hi", html="<p>Hi</p>"))

    def state(self) -> object:
        """Everything an authoring verb could change, to compare before and after."""
        admin = self.admin
        campaigns = admin.list_campaigns(statuses=ck.ALL_STATUSES, limit=500)
        return (
            [(c.id, c.revision, c.name, c.tags, c.description) for c in campaigns],
            [(s.id, s.name, s.status) for s in admin.list_surfaces()],
            [(p.id, p.name, p.status, p.revision) for p in admin.list_approval_policies()],
            len(self.kit.access.audit_log()),
            self.kit.access.assignments(),
        )


def make_env(kit: ck.CampaignKit) -> Env:
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    admin = kit.as_user("ada")
    surface = admin.create_surface(
        name="News", channel=ck.ChannelType.EMAIL, settings=ck.EmailSettings("n@example.com")
    )
    draft = admin.create_campaign(name="Winter", tags=["promo"])
    policy = admin.create_approval_policy(name="Review", reviewers=["bob"])
    return Env(kit, admin, surface, draft, policy)


def open_kit(kind: str, tmp_path: Path) -> ck.CampaignKit:
    clock = ManualClock(T0)
    if kind == "memory":
        return ck.CampaignKit.in_memory(clock, ids=SequentialIds())
    return ck.CampaignKit.sqlite(tmp_path / f"{kind}.db", clock, ids=SequentialIds())


@pytest.fixture(params=["memory", "sqlite"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    """The same world on the in-memory store and on a SQLite file."""
    kit = open_kit(str(request.param), tmp_path)
    yield make_env(kit)
    kit.close()


@pytest.fixture
def both(tmp_path: Path) -> Iterator[tuple[Env, Env]]:
    """The same world on both stores, side by side."""
    memory, sqlite = open_kit("memory", tmp_path), open_kit("sqlite", tmp_path)
    yield make_env(memory), make_env(sqlite)
    memory.close()
    sqlite.close()


def refused(env: Env, call: Callable[[Env], object]) -> list[str]:
    """The problems of the ValidationError ``call`` raises; asserts nothing changed."""
    before = env.state()
    with pytest.raises(ck.ValidationError) as caught:
        call(env)
    assert env.state() == before
    return caught.value.problems


def names(problems: list[str], *fragments: str) -> None:
    """Assert that some problem mentions every fragment."""
    assert any(all(f in p for f in fragments) for p in problems), problems


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


# ---------------------------------------------------------------- create_campaign and update_draft


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"name": None}, "name must be a string, not NoneType None"),
        ({"name": "n" * (checks.MAX_NAME + 1)}, f"the limit is {checks.MAX_NAME}"),
        ({"type": "WEEKLY"}, "type: str 'WEEKLY' is not a CampaignType"),
        ({"category": 3}, "category: int 3 is not a Category"),
        ({"description": None}, "description must be a string"),
        (
            {"description": "d" * (checks.MAX_DESCRIPTION + 1)},
            f"the limit is {checks.MAX_DESCRIPTION}",
        ),
        ({"tags": ["t"] * (checks.MAX_TAGS + 1)}, f"the limit is {checks.MAX_TAGS}"),
        ({"tags": ["t" * (checks.MAX_TAG + 1)]}, f"the limit is {checks.MAX_TAG}"),
        ({"tags": [""]}, "tags[0] must not be empty"),
        ({"tags": 5}, "tags must be a list of strings, not int 5"),
        ({"namespace": 5}, "namespace must be a string"),
        ({"audience": "a" * (checks.MAX_NAME + 1)}, "audience is 257 characters long"),
        ({"actions": "send it"}, "actions must be a list of Action values"),
        ({"actions": 5}, "actions must be a list of Action values"),
        ({"quiet_hours": ck.QuietHours("21:00", "08:00")}, "quiet_hours must be a list"),
        ({"create_profiles": "yes"}, "create_profiles must be True or False"),
        ({"quiet_hours": ["21:00-08:00"]}, "quiet_hours takes ck.QuietHours values"),
        ({"actions": [None]}, "action 1 is a NoneType, not an Action"),
    ],
)
def test_create_campaign_names_each_bad_argument(
    env: Env, kwargs: dict[str, Any], expected: str
) -> None:
    arguments = {"name": "X", **kwargs}
    names(refused(env, lambda e: e.admin.create_campaign(**arguments)), expected)


def test_create_campaign_lists_every_bad_argument_at_once(env: Env) -> None:
    problems = refused(
        env,
        lambda e: e.admin.create_campaign(name=5, tags="a", audience=[1], schedule="now"),  # type: ignore[arg-type]
    )
    assert len(problems) == 4, problems


def test_the_documented_limits_themselves_are_accepted(env: Env) -> None:
    action = env.action()
    campaign = env.admin.create_campaign(
        name="n" * checks.MAX_NAME,
        description="d" * checks.MAX_DESCRIPTION,
        tags=[f"{i:0{checks.MAX_TAG}d}" for i in range(checks.MAX_TAGS)],
        actions=[action] * checks.MAX_ACTIONS,
        audience="a" * checks.MAX_NAME,
    )
    again = env.admin.get(campaign.id)
    assert (len(again.name), len(again.tags), len(again.newest_version.actions)) == (
        checks.MAX_NAME,
        checks.MAX_TAGS,
        checks.MAX_ACTIONS,
    )
    problems = refused(env, lambda e: e.admin.create_campaign(name="X", actions=[action] * 51))
    names(problems, "actions has 51 items; the limit is 50")


def test_iterables_that_are_not_lists_still_work(env: Env) -> None:
    campaign = env.admin.create_campaign(
        name="Gen",
        tags=(t for t in ["a", "b"]),
        actions=(a for a in [env.action()]),
        quiet_hours=(q for q in [ck.QuietHours("21:00", "08:00")]),
    )
    assert campaign.tags == ("a", "b")
    assert len(campaign.newest_version.actions) == 1
    updated = env.admin.update_draft(campaign.id, tags=iter(["c"]), actions=iter([]))
    assert (updated.tags, updated.newest_version.actions) == (("c",), ())


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"name": None}, "name must be a string"),
        ({"tags": "x"}, "tags must be a list of strings"),
        ({"actions": "x"}, "actions must be a list of Action values"),
        ({"schedule": None}, "schedule must be a Schedule, not NoneType None"),
        ({"quiet_hours": 5}, "quiet_hours must be a list"),
        ({"description": 5}, "description must be a string"),
        ({"expected_revision": "1"}, "expected_revision must be a whole number"),
        ({"expected_revision": -1}, "expected_revision is -1"),
    ],
)
def test_update_draft_names_each_bad_argument(
    env: Env, kwargs: dict[str, Any], expected: str
) -> None:
    names(refused(env, lambda e: e.admin.update_draft(e.draft.id, **kwargs)), expected)


@pytest.mark.parametrize("campaign_id", [None, 5, "", "c" * (checks.MAX_ID + 1), SURROGATE])
@pytest.mark.parametrize(
    "verb",
    ["get", "delete", "activate", "modify", "discard_draft", "stop", "archive", "duplicate"],
)
def test_campaign_id_verbs_refuse_a_malformed_id(env: Env, verb: str, campaign_id: object) -> None:
    names(refused(env, lambda e: getattr(e.admin, verb)(campaign_id)), "campaign_id")


def test_duplicate_checks_the_name_and_cuts_the_default_one(env: Env) -> None:
    names(refused(env, lambda e: e.admin.duplicate(e.draft.id, name=5)), "name must be a string")  # type: ignore[arg-type]
    long = env.admin.create_campaign(name="n" * checks.MAX_NAME)
    copy = env.admin.duplicate(long.id)
    assert copy.name == copy_name(long.name)
    assert len(copy.name) == checks.MAX_NAME
    assert copy.name.endswith(" (copy)")


def test_normalize_tags_refuses_a_bare_string_and_too_many_tags() -> None:
    with pytest.raises(ck.ValidationError, match="not the string 'vip'"):
        normalize_tags("vip")
    with pytest.raises(ck.ValidationError, match="tags must be a list of strings, not int 5"):
        normalize_tags(5)  # type: ignore[arg-type]
    with pytest.raises(ck.ValidationError, match="the limit is 50"):
        normalize_tags(["t"] * 51)
    assert normalize_tags(iter(["a", " a "])) == ("a",)


# ---------------------------------------------------------------- listing and calendar


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"statuses": 5}, "statuses must be a CampaignStatus"),
        ({"statuses": ["SLEEPING"]}, "statuses: str 'SLEEPING' is not a CampaignStatus"),
        ({"statuses": [["DRAFT"]]}, "statuses: list ['DRAFT'] is not a CampaignStatus"),
        ({"statuses": {"DRAFT": 1}}, "statuses must be a CampaignStatus"),
        ({"types": b"SCHEDULED"}, "types must be a CampaignType"),
        ({"channels": ["email"] * 101}, "channels has 101 items"),
        ({"tag": 5}, "tag must be a string"),
        ({"tag": "t" * (checks.MAX_TAG + 1)}, f"the limit is {checks.MAX_TAG}"),
        ({"search": 5}, "search must be a string"),
        ({"limit": "10"}, "limit must be a whole number, not str '10'"),
        ({"limit": True}, "limit must be a whole number"),
        ({"cursor": 5}, "cursor must be the next_cursor string of a previous page"),
        ({"created_from": "2026-01-01"}, "created_from must be a date-time"),
    ],
)
def test_list_campaigns_names_each_bad_argument(
    env: Env, kwargs: dict[str, Any], expected: str
) -> None:
    names(refused(env, lambda e: e.admin.list_campaigns(**kwargs)), expected)


def test_calendar_names_a_bound_that_is_not_a_datetime(env: Env) -> None:
    problems = refused(env, lambda e: e.admin.calendar("2026-12-01", T0))  # type: ignore[arg-type]
    names(problems, "calendar start must be a date-time")


# ---------------------------------------------------------------- surfaces, policies, access


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"name": 5}, "name must be a string"),
        ({"name": "n" * (checks.MAX_NAME + 1)}, f"the limit is {checks.MAX_NAME}"),
        ({"channel": "fax"}, "channel: str 'fax' is not a ChannelType"),
        ({"category": 3}, "category: int 3 is not a Category"),
        ({"settings": {"sender_id": "S"}}, "settings must be a EmailSettings or SmsSettings"),
    ],
)
def test_create_surface_names_each_bad_argument(
    env: Env, kwargs: dict[str, Any], expected: str
) -> None:
    arguments = {
        "name": "Alerts",
        "channel": ck.ChannelType.SMS,
        "settings": ck.SmsSettings("SHOP"),
        **kwargs,
    }
    names(refused(env, lambda e: e.admin.create_surface(**arguments)), expected)


@pytest.mark.parametrize("verb", ["get_surface", "deactivate_surface"])
def test_surface_id_verbs_refuse_a_malformed_id(env: Env, verb: str) -> None:
    names(refused(env, lambda e: getattr(e.admin, verb)(None)), "surface_id")


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"reviewers": "bob"}, "reviewers must be a list of names, not str 'bob'"),
        ({"reviewers": [5]}, "reviewers[0] must be a string, not int 5"),
        ({"reviewer_groups": 5}, "reviewer_groups must be a list of names"),
        ({"reviewers": ["r"] * (checks.MAX_POLICY_NAMES + 1)}, "reviewers has 1001 items"),
        ({"tags": [None]}, "tags[0] must be a string"),
        ({"requesters": {"ann": 1}}, "requesters must be a list of names"),
        ({"name": None}, "approval policy name must be a string"),
        ({"name_contains": 5}, "name_contains must be a string"),
        ({"name_equals": "n" * (checks.MAX_NAME + 1)}, f"the limit is {checks.MAX_NAME}"),
        ({"types": 5}, "types must be a CampaignType"),
        ({"channels": ["fax"]}, "channels: str 'fax' is not a ChannelType"),
        ({"block_self_approval": "yes"}, "block_self_approval must be True or False"),
        ({"match": ["all"]}, "match ['all'] must be 'all' or 'any'"),
    ],
)
def test_approval_policies_name_each_bad_argument(
    env: Env, kwargs: dict[str, Any], expected: str
) -> None:
    arguments = {"name": "P", "reviewers": ["bob"], **kwargs}
    names(refused(env, lambda e: e.admin.create_approval_policy(**arguments)), expected)
    if "name" not in kwargs:
        problems = refused(env, lambda e: e.admin.update_approval_policy(e.policy.id, **kwargs))
        names(problems, expected)


@pytest.mark.parametrize(
    "call",
    [
        lambda e: e.admin.get_approval_policy(5),
        lambda e: e.admin.activate_approval_policy(None),
        lambda e: e.admin.deactivate_approval_policy(""),
        lambda e: e.admin.duplicate_approval_policy(5),
        lambda e: e.admin.update_approval_policy([e.policy.id], name="X"),
    ],
)
def test_policy_id_verbs_refuse_a_malformed_id(env: Env, call: Callable[[Env], object]) -> None:
    names(refused(env, call), "policy_id")


def test_duplicating_a_policy_checks_the_name(env: Env) -> None:
    problems = refused(env, lambda e: e.admin.duplicate_approval_policy(e.policy.id, name=5))  # type: ignore[arg-type]
    names(problems, "name must be a string")


def test_review_notes_are_checked(env: Env) -> None:
    names(
        refused(env, lambda e: e.admin.request_approval(e.draft.id, message=5)),  # type: ignore[arg-type]
        "message must be a string",
    )
    names(
        refused(env, lambda e: e.admin.approve(e.draft.id, comment=["ok"])),  # type: ignore[arg-type]
        "comment must be a string",
    )
    names(
        refused(env, lambda e: e.admin.request_changes(e.draft.id, None)),  # type: ignore[arg-type]
        "message must be a string",
    )
    long = "m" * (checks.MAX_DESCRIPTION + 1)
    names(
        refused(env, lambda e: e.admin.request_approval(e.draft.id, message=long)),
        f"the limit is {checks.MAX_DESCRIPTION}",
    )


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda e: e.kit.access.assign(None, ck.ProductProfile.VIEWER), "user id must be a string"),
        (lambda e: e.kit.access.assign("u", "ROOT"), "unknown product profile 'ROOT'"),
        (lambda e: e.kit.access.assign("u", ["VIEWER"]), "unknown product profile ['VIEWER']"),
        (
            lambda e: e.kit.access.assign("u", ck.ProductProfile.VIEWER, actor=5),
            "actor must be a string",
        ),
        (lambda e: e.kit.access.add_member(5, "u"), "group id must be a string"),
        (lambda e: e.kit.access.remove_member("g", " "), "user id must be a non-empty string"),
        (lambda e: e.kit.access.groups_of(None), "user id must be a string"),
        (lambda e: e.kit.access.members_of(7), "group id must be a string"),
        (lambda e: e.kit.access.profile_sources(SURROGATE), "user id holds characters"),
        (
            lambda e: e.admin.assign_group_profile("g" * 300, ck.ProductProfile.VIEWER),
            f"the limit is {checks.MAX_ID}",
        ),
        (lambda e: e.admin.revoke_profile(None, ck.ProductProfile.VIEWER), "user id"),
    ],
)
def test_access_verbs_name_each_bad_argument(
    env: Env, call: Callable[[Env], object], expected: str
) -> None:
    names(refused(env, call), expected)


# ---------------------------------------------------------------- export and import


def test_export_refuses_a_bare_id_string(env: Env) -> None:
    names(refused(env, lambda e: e.admin.export(e.draft.id)), "campaign_ids must be a list")
    names(refused(env, lambda e: e.admin.export([5])), "campaign_ids[0] must be a string")  # type: ignore[list-item]


def test_export_checks_the_policy_before_the_ids(env: Env) -> None:
    with pytest.raises(ck.PermissionDenied):
        env.kit.as_user("nobody").export("cmp")


def _deep(levels: int) -> dict[str, Any]:
    top: dict[str, Any] = {}
    node = top
    for _ in range(levels):
        node["a"] = {}
        node = node["a"]
    return top


def test_import_reports_malformed_documents_as_validation_errors(env: Env) -> None:
    package = env.admin.export([env.draft.id])
    [document] = package["campaigns"]

    def variant(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        copy: dict[str, Any] = json.loads(json.dumps(document))
        change(copy["data"])
        return copy

    def set_in(path: list[str], value: object) -> Callable[[dict[str, Any]], None]:
        def change(data: dict[str, Any]) -> None:
            for key in path[:-1]:
                data = data[key]
            data[path[-1]] = value

        return change

    package["campaigns"] = [
        variant(set_in(["draft_version", "schedule", "timezone"], "Mars/Base")),
        variant(set_in(["name"], "n" * 300)),
        variant(set_in(["tags"], ["t"] * 60)),
        variant(set_in(["description"], "d" * (checks.MAX_DESCRIPTION + 1))),
        variant(set_in(["draft_version", "audience"], "a" * 300)),
        {"schema": "campaign", "version": 2, "data": _deep(100_000)},
        {"schema": "campaign", "version": 2, "data": [1, 2]},
        ["not", "a", "document"],
    ]
    problems = refused(env, lambda e: e.admin.import_(package))
    prefixes = [p.split(":")[0] for p in problems]
    assert prefixes == [f"campaign {n}" for n in range(1, 9)], problems
    names(problems, "campaign 1", "unknown time zone")
    names(problems, "campaign 2", f"the limit is {checks.MAX_NAME}")
    names(problems, "campaign 3", f"the limit is {checks.MAX_TAGS}")
    names(problems, "campaign 4", f"the limit is {checks.MAX_DESCRIPTION}")
    names(problems, "campaign 6", "required field missing")
    names(problems, "campaign 7", "is invalid")
    names(problems, "campaign 5", "audience is 300 characters long")
    names(problems, "campaign 8", "not a campaignkit document envelope")


def test_import_refuses_a_version_beyond_the_action_limit(env: Env) -> None:
    full = env.admin.create_campaign(name="Full", actions=[env.action()])
    package = env.admin.export([full.id])
    version = package["campaigns"][0]["data"]["draft_version"]
    version["actions"] = version["actions"] * (checks.MAX_ACTIONS + 1)
    problems = refused(env, lambda e: e.admin.import_(package))
    names(problems, "campaign 1", "actions has 51 items; the limit is 50")


def test_import_refuses_a_package_of_too_many_campaigns(env: Env) -> None:
    package = env.admin.export([env.draft.id])
    package["campaigns"] = package["campaigns"] * 1001
    names(refused(env, lambda e: e.admin.import_(package)), "import at most 1000")


def test_import_names_a_malformed_surface_entry(env: Env) -> None:
    package = env.admin.export([env.draft.id])
    package["surfaces"] = {"srf": "News"}
    names(refused(env, lambda e: e.admin.import_(package)), "surfaces['srf'] must be")


# ---------------------------------------------------------------- the kit's own arguments


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"clock": "now"}, "clock must be a Clock (with now())"),
        ({"channels": [1]}, "channels must be a mapping of ck.ChannelType"),
        ({"channels": {"email": object()}}, "channels key str 'email' must be a ck.ChannelType"),
        ({"channels": {ck.ChannelType.SMS: "console"}}, "channels[sms] must be a Channel"),
        ({"policy": "allow"}, "policy must be a PermissionPolicy"),
        ({"profile_permissions": 5}, "profile_permissions must be a mapping"),
        ({"profile_permissions": {"VIEWER": frozenset()}}, "profile_permissions key str"),
        (
            {"profile_permissions": {ck.ProductProfile.VIEWER: ["campaign.read"]}},
            "profile_permissions[VIEWER] must be a set of ck.Permission",
        ),
        ({"lifecycle": {}}, "lifecycle must be a LifecycleRules"),
        ({"delivery": 100}, "delivery must be a DeliverySettings"),
        ({"ids": "cmp"}, "ids must be a function"),
        ({"progress": 5}, "progress must be a function"),
        ({"audiences": ["vip"]}, "audiences must be an AudienceSource"),
    ],
)
@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_kit_constructors_name_each_bad_argument(
    tmp_path: Path, kind: str, kwargs: dict[str, Any], expected: str
) -> None:
    path = tmp_path / "kit.db"
    with pytest.raises(ck.ValidationError) as caught:
        if kind == "memory":
            ck.CampaignKit.in_memory(**kwargs)
        else:
            ck.CampaignKit.sqlite(path, **kwargs)
    names(caught.value.problems, expected)
    assert not path.exists(), "nothing is created for a refused kit"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"path": 5}, "path must be a file name"),
        ({"path": SURROGATE}, "path holds characters"),
        ({"busy_timeout": "10"}, "busy_timeout must be a number of seconds"),
        ({"busy_timeout": -1}, "busy_timeout must be a number of seconds"),
        ({"busy_timeout": float("nan")}, "busy_timeout must be a number of seconds"),
    ],
)
def test_sqlite_kit_checks_its_file_arguments(kwargs: dict[str, Any], expected: str) -> None:
    arguments = {"path": ":memory:", **kwargs}
    with pytest.raises(ck.ValidationError) as caught:
        ck.CampaignKit.sqlite(**arguments)
    names(caught.value.problems, expected)


def test_the_kit_constructor_checks_its_store() -> None:
    with pytest.raises(ck.ValidationError, match="store must be a Store"):
        ck.CampaignKit(store="memory", clock=ManualClock(T0))  # type: ignore[arg-type]


def test_valid_kit_arguments_are_accepted(tmp_path: Path) -> None:
    kit = ck.CampaignKit.sqlite(
        tmp_path / "ok.db",
        ManualClock(T0),
        channels={ck.ChannelType.EMAIL: RecordingChannel("email")},
        profile_permissions={ck.ProductProfile.VIEWER: frozenset({ck.Permission.CAMPAIGN_READ})},
        busy_timeout=0,
        progress=lambda progress: None,
    )
    kit.close()


# ---------------------------------------------------------------- a bad stored document


def test_an_unloadable_document_does_not_hide_the_others_from_listing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "poisoned.db"
    kit = ck.CampaignKit.sqlite(path, ManualClock(T0), ids=SequentialIds())
    env = make_env(kit)
    bad = env.admin.create_campaign(name="Bad")
    newer = env.admin.create_campaign(name="Newer")
    kit.close()
    with sqlite3.connect(path) as db:
        (text,) = db.execute("SELECT document FROM campaigns WHERE id = ?", (bad.id,)).fetchone()
        document = json.loads(text)
        document["data"]["draft_version"]["schedule"]["timezone"] = 5
        db.execute("UPDATE campaigns SET document = ? WHERE id = ?", (json.dumps(document), bad.id))
    kit = ck.CampaignKit.sqlite(path, ManualClock(T0), ids=SequentialIds())
    admin = kit.as_user("ada")
    with caplog.at_level(logging.WARNING, logger="campaignkit.storage"):
        listed = [c.id for c in admin.list_campaigns()]
    assert listed == [newer.id, env.draft.id]
    assert bad.id in caplog.text
    # a page that ends on the bad document still continues after it
    first = admin.list_campaigns(limit=2)
    assert [c.id for c in first] == [newer.id]
    assert first.next_cursor is not None
    assert [c.id for c in admin.list_campaigns(limit=2, cursor=first.next_cursor)] == [env.draft.id]
    with pytest.raises(ck.StorageError, match="schedule"):
        admin.get(bad.id)
    assert admin.update_draft(env.draft.id, name="Still editable").name == "Still editable"
    kit.close()


def test_a_bad_value_cannot_be_stored_on_either_store(both: tuple[Env, Env]) -> None:
    """Every refusal above happens before the store: both stores end identical."""
    for env in both:
        for call in (
            lambda e: e.admin.create_campaign(name="X", tags="winter"),
            lambda e: e.admin.create_campaign(name="X", schedule=T0),
            lambda e: e.admin.update_draft(e.draft.id, audience=["p1"]),
            lambda e: e.admin.create_surface(name=SURROGATE, channel="sms", settings=None),
        ):
            refused(env, call)
    memory, sqlite = both
    assert memory.state() == sqlite.state()
