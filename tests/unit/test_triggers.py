"""API-triggered campaigns (SPEC section 9, issue 7): campaign rules, refusals that
change nothing, unitary triggers, idempotent request ids (also across a reopen of a
SQLite kit), audience executions and their schedules, and permissions.

Most tests run on an in-memory kit and on a kit in a SQLite file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, cast

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit.domain.triggers import MAX_CONTEXT_BYTES, MAX_RECIPIENTS, ExecutionRecord
from campaignkit.testing import ManualClock, RecordingChannel, SequentialIds

T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
API = ck.CampaignType.API_TRIGGERED
TXN = ck.Category.TRANSACTIONAL
MKT = ck.Category.MARKETING
EMAIL = ck.ChannelType.EMAIL
SMS = ck.ChannelType.SMS
PUSH = ck.ChannelType.PUSH
S = ck.CampaignStatus

ADMIN, MANAGER, VIEWER, NOBODY = "ada", "max", "vic", "nobody"
ANN = ck.Profile(
    id="p-ann",
    identities={"email": "ann@example.com", "phone": "+33100000001"},
    attributes={"firstName": "Ann", "tier": "gold", "address": {"city": "Lyon"}},
    consents={EMAIL: True, SMS: True, PUSH: True},
    channel_data={PUSH: "push-token-ann"},
)
BOB = ck.Profile(
    id="p-bob",
    identities={"email": "bob@example.com"},
    attributes={"firstName": "Bob", "tier": "silver"},
    consents={EMAIL: True},
)
SUBJECT = "Hello {{ profile.firstName }}"
Kind = Literal["memory", "sqlite"]


# ---------------------------------------------------------------------- the world


@attrs.define
class Env:
    """A kit on a manual clock with users, surfaces, two profiles and an audience."""

    kind: Kind
    kit: ck.CampaignKit
    clock: ManualClock
    path: Path | None
    surfaces: dict[tuple[ck.ChannelType, ck.Category], str]
    names: int = 0

    def session(self, user: str = ADMIN) -> ck.UserSession:
        return self.kit.as_user(user)

    @property
    def admin(self) -> ck.UserSession:
        return self.kit.as_user(ADMIN)

    def channel(self, channel: ck.ChannelType = EMAIL) -> RecordingChannel:
        found = self.kit.channels[channel]
        assert isinstance(found, RecordingChannel)
        return found

    def sent(self) -> list[ck.Message]:
        """Every message any channel received, email first."""
        return [m for channel in ck.ChannelType for m in self.channel(channel).sent]

    def clear(self) -> None:
        for channel in ck.ChannelType:
            self.channel(channel).clear()

    def action(
        self,
        channel: ck.ChannelType = EMAIL,
        category: ck.Category = TXN,
        text: str = SUBJECT,
        html: str = "<p>hello</p>",
    ) -> ck.Action:
        content: ck.Content
        if channel is EMAIL:
            content = ck.EmailContent(subject=text, html=html)
        elif channel is SMS:
            content = ck.SmsContent(text=text)
        else:
            content = ck.PushContent(title=text, body="body")
        return ck.Action(self.surfaces[channel, category], content)

    def campaign(
        self,
        *,
        category: ck.Category = TXN,
        type: ck.CampaignType = API,
        create_profiles: bool = False,
        subject: str = SUBJECT,
        html: str = "<p>hello</p>",
        actions: Sequence[ck.Action] | None = None,
        audience: str | None = None,
        namespace: str = "email",
        start: pendulum.DateTime | None = None,
        end: pendulum.DateTime | None = None,
        activate: bool = True,
    ) -> ck.Campaign:
        """A campaign, activated and ticked (LIVE, or SCHEDULED with a later start)."""
        self.names += 1
        admin = self.admin
        campaign = admin.create_campaign(
            name=f"Campaign {self.names}",
            type=type,
            category=category,
            audience=audience,
            namespace=namespace,
            actions=list(actions)
            if actions is not None
            else [self.action(EMAIL, category, subject, html)],
            schedule=ck.Schedule(start=start, end=end),
            create_profiles=create_profiles,
        )
        if activate:
            admin.activate(campaign.id)
            self.kit.tick()
        return admin.get(campaign.id)

    def runs(self, campaign_id: str) -> list[ck.Run]:
        with self.kit.store.unit_of_work() as uow:
            return list(uow.runs.for_campaign(campaign_id))

    def record(self, campaign_id: str, request_id: str) -> ExecutionRecord | None:
        with self.kit.store.unit_of_work() as uow:
            return uow.executions.by_request(campaign_id, request_id)

    def assert_nothing_happened(
        self,
        campaign_id: str,
        request_id: str,
        *,
        profile_ids: Sequence[str] = (),
        runs: int = 0,
    ) -> None:
        """No execution, no (new) run, no profile, and nothing sent, even after a tick."""
        self.kit.tick()
        assert self.sent() == []
        assert len(self.runs(campaign_id)) == runs
        assert self.record(campaign_id, request_id) is None
        for profile_id in profile_ids:
            assert self.kit.profiles.get(profile_id) is None

    def reopen(self) -> Env:
        """Close the kit and open the same SQLite file again (a process restart)."""
        assert self.path is not None
        self.kit.close()
        return attrs.evolve(self, kit=ck.CampaignKit.sqlite(self.path, clock=self.clock))


def open_env(kind: Kind, tmp_path: Path) -> Env:
    clock = ManualClock(T0)
    path = tmp_path / "kit.db" if kind == "sqlite" else None
    kit = (
        ck.CampaignKit.in_memory(clock=clock, ids=SequentialIds())
        if path is None
        else ck.CampaignKit.sqlite(path, clock=clock)
    )
    kit.access.assign(ADMIN, ck.ProductProfile.ADMINISTRATOR)
    kit.access.assign(MANAGER, ck.ProductProfile.MANAGER)
    kit.access.assign(VIEWER, ck.ProductProfile.VIEWER)
    admin = kit.as_user(ADMIN)
    settings: dict[ck.ChannelType, Any] = {
        EMAIL: ck.EmailSettings(sender="shop@example.com"),
        SMS: ck.SmsSettings(sender_id="SHOP"),
        PUSH: ck.PushSettings(app_id="com.shop"),
    }
    surfaces = {}
    for channel, setting in settings.items():
        for category in ck.Category:
            surface = admin.create_surface(
                name=f"{channel} {category}", channel=channel, settings=setting, category=category
            )
            surfaces[channel, category] = surface.id
    kit.profiles.upsert(ANN)
    kit.profiles.upsert(BOB)
    kit.audiences.define("vip", [ANN.id, BOB.id])
    return Env(kind, kit, clock, path, surfaces)


@pytest.fixture(params=["memory", "sqlite"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    world = open_env(cast("Kind", request.param), tmp_path)
    yield world
    world.kit.close()


@pytest.fixture
def sqlite_env(tmp_path: Path) -> Iterator[Env]:
    world = open_env("sqlite", tmp_path)
    yield world
    world.kit.close()


def ann(**changes: Any) -> ck.Recipient:
    """Ann, addressed by her email identity."""
    return attrs.evolve(ck.Recipient("ann@example.com", "email"), **changes)


def bob(**changes: Any) -> ck.Recipient:
    return attrs.evolve(ck.Recipient("bob@example.com", "email"), **changes)


def problems_of(excinfo: pytest.ExceptionInfo[ck.ValidationError]) -> list[str]:
    return list(excinfo.value.problems)


def context_of_size(size: int, key: str = "blob") -> dict[str, str]:
    """A context whose compact JSON serialization is exactly ``size`` bytes."""
    overhead = len(json.dumps({key: ""}, separators=(",", ":")))
    context = {key: "a" * (size - overhead)}
    assert len(json.dumps(context, separators=(",", ":")).encode()) == size
    return context


# ---------------------------------------------------------------------- campaign rules


@pytest.mark.parametrize("category", [MKT, TXN])
def test_an_api_triggered_campaign_may_be_marketing_or_transactional(
    env: Env, category: ck.Category
) -> None:
    campaign = env.campaign(category=category)

    assert campaign.type is API
    assert campaign.category is category
    assert campaign.status is S.LIVE


def test_an_api_triggered_transactional_campaign_may_create_profiles(env: Env) -> None:
    campaign = env.campaign(create_profiles=True)

    assert campaign.create_profiles is True
    assert campaign.status is S.LIVE


@pytest.mark.parametrize(
    ("type", "category"),
    [(API, MKT), (ck.CampaignType.SCHEDULED, MKT)],
    ids=["api-marketing", "scheduled-marketing"],
)
def test_create_profiles_is_refused_for_anything_but_api_triggered_transactional(
    env: Env, type: ck.CampaignType, category: ck.Category
) -> None:
    before = env.admin.list_campaigns().items

    with pytest.raises(ck.ValidationError) as excinfo:
        env.admin.create_campaign(
            name="Refused",
            type=type,
            category=category,
            audience="vip",
            namespace="email",
            actions=[env.action(EMAIL, category)],
            create_profiles=True,
        )

    assert any("create_profiles" in p and "TRANSACTIONAL" in p for p in problems_of(excinfo))
    assert env.admin.list_campaigns().items == before


def test_transactional_is_refused_for_a_scheduled_campaign(env: Env) -> None:
    with pytest.raises(ck.ValidationError, match="TRANSACTIONAL is only allowed for API_TRIGGERED"):
        env.admin.create_campaign(name="Refused", type=ck.CampaignType.SCHEDULED, category=TXN)


def test_a_campaign_without_end_stays_live_and_accepts_triggers(env: Env) -> None:
    campaign = env.campaign()
    env.clock.advance(days=60)
    env.kit.tick()

    assert env.admin.get(campaign.id).status is S.LIVE
    env.admin.trigger(campaign.id, [ann()], request_id="late")
    env.kit.tick()
    assert [m.address for m in env.sent()] == ["ann@example.com"]


def test_a_campaign_completes_at_its_end_date_and_then_refuses_triggers(env: Env) -> None:
    end = T0.add(days=2)
    campaign = env.campaign(end=end)
    env.clock.set(end.subtract(seconds=1))
    env.kit.tick()
    assert env.admin.get(campaign.id).status is S.LIVE
    env.admin.trigger(campaign.id, [ann()], request_id="before-end")

    env.kit.run_until(end)

    assert env.admin.get(campaign.id).status is S.COMPLETED
    assert len(env.sent()) == 1
    env.clear()
    with pytest.raises(ck.TransitionNotAllowed, match="COMPLETED") as excinfo:
        env.admin.trigger(campaign.id, [ann()], request_id="after-end")
    assert excinfo.value.status == "COMPLETED"
    env.assert_nothing_happened(campaign.id, "after-end", runs=1)


def test_a_stopped_campaign_refuses_triggers(env: Env) -> None:
    campaign = env.campaign()
    env.admin.stop(campaign.id)

    with pytest.raises(ck.TransitionNotAllowed, match="STOPPED") as excinfo:
        env.admin.trigger(campaign.id, [ann()], request_id="r")

    assert "LIVE" in str(excinfo.value)
    env.assert_nothing_happened(campaign.id, "r")


# ---------------------------------------------------------------------- refusals: the campaign


def test_a_scheduled_campaign_cannot_be_triggered(env: Env) -> None:
    campaign = env.campaign(type=ck.CampaignType.SCHEDULED, category=MKT, audience="vip")
    env.kit.tick()
    runs = len(env.runs(campaign.id))
    env.clear()

    with pytest.raises(ck.TransitionNotAllowed) as excinfo:
        env.admin.trigger(campaign.id, [ann()], request_id="r")
    assert "not API_TRIGGERED" in str(excinfo.value)
    with pytest.raises(ck.TransitionNotAllowed, match="not API_TRIGGERED"):
        env.admin.execute_audience(campaign.id, request_id="a")

    env.assert_nothing_happened(campaign.id, "r", runs=runs)
    assert env.record(campaign.id, "a") is None


@pytest.mark.parametrize("status", [S.DRAFT, S.STOPPED, S.COMPLETED])
def test_a_campaign_that_is_not_live_refuses_triggers(env: Env, status: S) -> None:
    end = T0.add(days=1)
    campaign = env.campaign(category=MKT, audience="vip", end=end, activate=status is not S.DRAFT)
    if status is S.STOPPED:
        env.admin.stop(campaign.id)
    if status is S.COMPLETED:
        env.kit.run_until(end.add(hours=1))
    assert env.admin.get(campaign.id).status is status

    with pytest.raises(ck.TransitionNotAllowed) as excinfo:
        env.admin.trigger(campaign.id, [ann()], request_id="r")
    message = str(excinfo.value)
    assert status.value in message
    assert "not accepting triggers" in message
    assert excinfo.value.status == status.value
    with pytest.raises(ck.TransitionNotAllowed, match=status.value):
        env.admin.execute_audience(campaign.id, request_id="a")

    env.assert_nothing_happened(campaign.id, "r")
    assert env.record(campaign.id, "a") is None


def test_a_trigger_before_the_start_is_refused_and_accepted_from_the_start(env: Env) -> None:
    start = T0.add(days=1)
    campaign = env.campaign(start=start)
    assert campaign.status is S.SCHEDULED

    with pytest.raises(ck.TransitionNotAllowed) as excinfo:
        env.admin.trigger(campaign.id, [ann()], request_id="early")
    assert "SCHEDULED" in str(excinfo.value)
    env.assert_nothing_happened(campaign.id, "early")

    env.clock.set(start)  # no tick: the trigger itself catches the campaign up
    execution = env.admin.trigger(campaign.id, [ann()], request_id="on-time")
    env.kit.tick()

    assert execution.request_id == "on-time"
    assert env.admin.get(campaign.id).status is S.LIVE
    assert [m.address for m in env.sent()] == ["ann@example.com"]


@pytest.mark.parametrize("tick", [False, True], ids=["caught-up-by-the-call", "ticked"])
def test_a_trigger_at_or_after_the_end_is_refused(env: Env, tick: bool) -> None:
    end = T0.add(days=1)
    campaign = env.campaign(end=end)
    env.clock.set(end)
    if tick:
        env.kit.tick()

    with pytest.raises(ck.TransitionNotAllowed) as excinfo:
        env.admin.trigger(campaign.id, [ann()], request_id="late")

    message = str(excinfo.value)
    assert "COMPLETED" in message or "stopped accepting triggers" in message
    env.assert_nothing_happened(campaign.id, "late")


# ---------------------------------------------------------------------- refusals: the payload


@pytest.mark.parametrize("count", [0, MAX_RECIPIENTS + 1])
def test_zero_or_too_many_recipients_are_refused(env: Env, count: int) -> None:
    campaign = env.campaign(create_profiles=True)
    recipients = [ck.Recipient(f"user{n}@example.com", "email") for n in range(count)]

    with pytest.raises(ck.ValidationError) as excinfo:
        env.admin.trigger(campaign.id, recipients, request_id="r")

    assert problems_of(excinfo) == [f"a unitary trigger takes 1 to 20 recipients, not {count}"]
    env.assert_nothing_happened(campaign.id, "r", profile_ids=[r.user_id for r in recipients])


def test_twenty_recipients_are_accepted(env: Env) -> None:
    campaign = env.campaign(create_profiles=True, subject="Hello")
    recipients = [ck.Recipient(f"user{n}@example.com", "email") for n in range(MAX_RECIPIENTS)]

    env.admin.trigger(campaign.id, recipients, request_id="r")
    env.kit.tick()

    assert sorted(m.address for m in env.sent()) == sorted(r.user_id for r in recipients)


def test_duplicate_user_ids_are_refused(env: Env) -> None:
    campaign = env.campaign()

    with pytest.raises(ck.ValidationError) as excinfo:
        env.admin.trigger(campaign.id, [ann(), bob(), ann()], request_id="r")

    assert problems_of(excinfo) == ["recipients[2].userId 'ann@example.com' appears more than once"]
    env.assert_nothing_happened(campaign.id, "r")


def test_a_context_of_exactly_200_kb_is_accepted(env: Env) -> None:
    campaign = env.campaign()
    context = context_of_size(MAX_CONTEXT_BYTES)
    assert MAX_CONTEXT_BYTES == 200 * 1024

    env.admin.trigger(campaign.id, [ann(context=context)], request_id="r")
    env.kit.tick()

    assert len(env.sent()) == 1


def test_an_oversize_context_is_refused(env: Env) -> None:
    campaign = env.campaign()

    with pytest.raises(ck.ValidationError) as excinfo:
        env.admin.trigger(
            campaign.id,
            [ann(), bob(context=context_of_size(MAX_CONTEXT_BYTES + 1))],
            request_id="r",
        )

    assert problems_of(excinfo) == [
        f"recipients[1].context is {MAX_CONTEXT_BYTES + 1} bytes serialized; "
        f"at most {MAX_CONTEXT_BYTES} bytes are allowed"
    ]
    env.assert_nothing_happened(campaign.id, "r")


def test_the_reserved_system_key_is_refused_at_the_top_level_only(env: Env) -> None:
    campaign = env.campaign(subject="{{ context.order.system }}")

    with pytest.raises(ck.ValidationError) as excinfo:
        env.admin.trigger(campaign.id, [ann(context={"system": {"x": 1}})], request_id="r")
    assert problems_of(excinfo) == [
        "recipients[0].context uses the reserved top-level key 'system'"
    ]
    env.assert_nothing_happened(campaign.id, "r")

    env.admin.trigger(campaign.id, [ann(context={"order": {"system": "nested"}})], request_id="ok")
    env.kit.tick()
    assert [m.fields["subject"] for m in env.sent()] == ["nested"]


def test_a_context_that_is_not_an_object_is_refused(env: Env) -> None:
    campaign = env.campaign()

    with pytest.raises(ck.ValidationError) as excinfo:
        env.admin.trigger(campaign.id, [ann(context=cast("Any", ["a", "b"]))], request_id="r")

    assert problems_of(excinfo) == ["context must be a JSON object, not list ['a', 'b']"]
    assert excinfo.value.subject == "recipient"  # refused when the Recipient is built
    env.assert_nothing_happened(campaign.id, "r")


def test_a_context_that_is_not_json_data_is_refused(env: Env) -> None:
    campaign = env.campaign()

    with pytest.raises(ck.ValidationError) as excinfo:
        env.admin.trigger(campaign.id, [ann(context={"when": object()})], request_id="r")

    [problem] = problems_of(excinfo)
    assert problem.startswith("context.when must be a JSON value (str, number, bool, None")
    env.assert_nothing_happened(campaign.id, "r")


def test_unknown_profiles_are_all_listed_when_creation_is_off(env: Env) -> None:
    campaign = env.campaign()
    assert campaign.create_profiles is False
    ghosts = [ck.Recipient("ghost@example.com", "email"), ck.Recipient("crm-9", "crmId")]

    with pytest.raises(ck.ValidationError) as excinfo:
        env.admin.trigger(campaign.id, [ghosts[0], ann(), ghosts[1]], request_id="r")

    problems = problems_of(excinfo)
    assert len(problems) == 2
    assert problems[0].startswith("recipients[0]: no profile with email 'ghost@example.com'")
    assert problems[1].startswith("recipients[2]: no profile with crmId 'crm-9'")
    assert all("create_profiles=True" in p for p in problems)
    assert "trigger of campaign" in str(excinfo.value)
    env.assert_nothing_happened(campaign.id, "r", profile_ids=["ghost@example.com", "crm-9"])


@pytest.mark.parametrize("request_id", ["", "   "])
def test_a_blank_request_id_is_refused(env: Env, request_id: str) -> None:
    campaign = env.campaign(category=MKT, audience="vip")

    with pytest.raises(ck.ValidationError, match="request_id must be a non-empty string"):
        env.admin.trigger(campaign.id, [ann()], request_id=request_id)
    with pytest.raises(ck.ValidationError, match="request_id must be a non-empty string"):
        env.admin.execute_audience(campaign.id, request_id=request_id)

    env.assert_nothing_happened(campaign.id, request_id)


def test_every_payload_problem_is_reported_in_one_validation_error(env: Env) -> None:
    campaign = env.campaign()
    recipients = [
        ann(context={"system": 1}),
        ck.Recipient("ghost@example.com", "email"),
        bob(context=context_of_size(MAX_CONTEXT_BYTES + 10)),
        ck.Recipient(" ", "email"),
        ann(),
        *(ck.Recipient(f"user{n}@example.com", "email") for n in range(16)),
    ]
    assert len(recipients) == 21

    with pytest.raises(ck.ValidationError) as excinfo:
        env.admin.trigger(campaign.id, recipients, request_id="r")

    text = "\n".join(problems_of(excinfo))
    for expected in [
        "1 to 20 recipients, not 21",
        "recipients[0].context uses the reserved top-level key 'system'",
        "recipients[1]: no profile with email 'ghost@example.com'",
        "recipients[2].context is",
        "recipients[3].userId must not be empty",
        "recipients[4].userId 'ann@example.com' appears more than once",
        "recipients[20]: no profile with email 'user15@example.com'",
    ]:
        assert expected in text
    assert len(problems_of(excinfo)) == 1 + 4 + 16 + 1  # count, four bad ones, 16+1 unknown
    env.assert_nothing_happened(campaign.id, "r")


def test_a_refused_call_leaves_its_request_id_free(env: Env) -> None:
    campaign = env.campaign()
    with pytest.raises(ck.ValidationError):
        env.admin.trigger(campaign.id, [ann(context={"system": 1})], request_id="r")

    execution = env.admin.trigger(campaign.id, [ann()], request_id="r")
    env.kit.tick()

    assert env.admin.execution(execution.id).status is ck.ExecutionStatus.SUCCEEDED
    assert len(env.sent()) == 1


def test_an_unknown_campaign_is_not_found(env: Env) -> None:
    with pytest.raises(ck.NotFound):
        env.admin.trigger("cmp_missing", [ann()], request_id="r")
    with pytest.raises(ck.NotFound):
        env.admin.execute_audience("cmp_missing", request_id="r")
    with pytest.raises(ck.NotFound):
        env.admin.execution("exe_missing")
    with pytest.raises(ck.NotFound):
        env.admin.cancel_execution("exe_missing")


# ---------------------------------------------------------------------- permissions


def test_a_manager_cannot_trigger_execute_or_cancel(env: Env) -> None:
    transactional = env.campaign()
    marketing = env.campaign(category=MKT, audience="vip")
    scheduled = env.admin.execute_audience(marketing.id, request_id="s", execute_at=T0.add(hours=1))
    manager = env.session(MANAGER)

    with pytest.raises(ck.PermissionDenied, match=r"campaign\.publish"):
        manager.trigger(transactional.id, [ann()], request_id="r")
    with pytest.raises(ck.PermissionDenied, match=r"campaign\.publish"):
        manager.execute_audience(marketing.id, request_id="a")
    with pytest.raises(ck.PermissionDenied, match=r"campaign\.publish"):
        manager.cancel_execution(scheduled.id)

    env.assert_nothing_happened(transactional.id, "r")
    assert env.record(marketing.id, "a") is None
    assert manager.execution(scheduled.id).schedule_status is ck.ScheduleStatus.SCHEDULED
    env.kit.run_until(T0.add(hours=1))
    assert len(env.sent()) == 2  # the schedule was not cancelled


@pytest.mark.parametrize("user", [MANAGER, VIEWER])
def test_reading_an_execution_needs_campaign_read(env: Env, user: str) -> None:
    campaign = env.campaign()
    execution = env.admin.trigger(campaign.id, [ann()], request_id="r")

    assert env.session(user).execution(execution.id).id == execution.id
    with pytest.raises(ck.PermissionDenied, match=r"campaign\.read"):
        env.session(NOBODY).execution(execution.id)
    with pytest.raises(ck.PermissionDenied):
        env.session(NOBODY).execution("exe_missing")


# ---------------------------------------------------------------------- unitary executions


def test_a_trigger_returns_an_execution_at_once_and_the_next_tick_delivers(env: Env) -> None:
    campaign = env.campaign(actions=[env.action(EMAIL), env.action(PUSH)])
    env.clock.advance(minutes=5)
    now = env.clock.now()

    execution = env.admin.trigger(campaign.id, [ann(), bob()], request_id="order-1")

    assert execution.id
    assert execution.campaign_id == campaign.id
    assert execution.request_id == "order-1"
    assert execution.kind is ck.ExecutionKind.UNITARY
    assert execution.created_at == now
    assert execution.created_by == ADMIN
    assert execution.execute_at is None
    assert execution.schedule_status is ck.ScheduleStatus.TRIGGERED
    assert execution.status is ck.ExecutionStatus.IN_PROGRESS
    assert execution.targeted == 0
    assert env.sent() == []
    runs = env.runs(campaign.id)
    assert [(r.id, r.kind) for r in runs] == [(execution.run_id, ck.RunKind.TRIGGER)]

    env.kit.tick()

    assert sorted((m.channel, m.address) for m in env.sent()) == [
        (EMAIL, "ann@example.com"),
        (EMAIL, "bob@example.com"),
        (PUSH, "push-token-ann"),
    ]
    assert all(m.transactional and m.run_id == execution.run_id for m in env.sent())
    done = env.admin.execution(execution.id)
    assert done.status is ck.ExecutionStatus.SUCCEEDED
    assert done.schedule_status is ck.ScheduleStatus.TRIGGERED
    assert done.targeted == 2
    assert attrs.evolve(done, status=execution.status, targeted=0) == execution
    report = env.admin.report(campaign.id)
    email_action, push_action = (a.id for a in campaign.live_version.actions)  # type: ignore[union-attr]
    assert report.by_action[email_action].targeted == 2
    assert report.by_action[email_action].sent == 2
    assert report.by_action[push_action].targeted == 2
    assert report.by_action[push_action].sent == 1
    assert report.by_action[push_action].excluded == {ck.ExclusionReason.MISSING_CHANNEL_DATA: 1}
    assert (report.targeted, report.sent) == (4, 3)
    assert [(r.run_id, r.kind, r.status) for r in report.runs] == [
        (execution.run_id, ck.RunKind.TRIGGER, ck.RunStatus.SUCCEEDED)
    ]


def test_each_trigger_gets_its_own_run(env: Env) -> None:
    campaign = env.campaign()

    first = env.admin.trigger(campaign.id, [ann()], request_id="1")
    second = env.admin.trigger(campaign.id, [ann()], request_id="2")
    env.kit.tick()

    assert first.run_id != second.run_id
    assert {r.id for r in env.runs(campaign.id)} == {first.run_id, second.run_id}
    assert sorted(m.run_id for m in env.sent()) == sorted([first.run_id, second.run_id])


def test_a_message_is_personalized_from_profile_and_context(env: Env) -> None:
    campaign = env.campaign(
        subject="{{ profile.firstName }}, your code is {{ context.code }}",
        html="<p>{{ profile.address.city }}: <a href='{{ context.link.url }}'>reset</a></p>",
    )

    env.admin.trigger(
        campaign.id,
        [ann(context={"code": "4242", "link": {"url": "https://shop.example/r/1"}})],
        request_id="r",
    )
    env.kit.tick()

    [message] = env.sent()
    assert message.fields["subject"] == "Ann, your code is 4242"
    assert message.fields["html"] == "<p>Lyon: <a href='https://shop.example/r/1'>reset</a></p>"


def test_each_recipient_sees_their_own_context(env: Env) -> None:
    campaign = env.campaign(subject="{{ profile.firstName }}: order {{ context.order }}")

    env.admin.trigger(
        campaign.id,
        [ann(context={"order": "A-1"}), bob(context={"order": "B-2"})],
        request_id="r",
    )
    env.kit.tick()

    assert {m.address: m.fields["subject"] for m in env.sent()} == {
        "ann@example.com": "Ann: order A-1",
        "bob@example.com": "Bob: order B-2",
    }


def test_a_recipient_without_the_context_a_template_needs_is_excluded(env: Env) -> None:
    campaign = env.campaign(subject="code {{ context.code }}")

    execution = env.admin.trigger(campaign.id, [ann(context={"code": "1"}), bob()], request_id="r")
    env.kit.tick()

    assert [m.address for m in env.sent()] == ["ann@example.com"]
    report = env.admin.report(campaign.id)
    assert report.excluded == {ck.ExclusionReason.MISSING_ATTRIBUTE: 1}
    assert env.admin.execution(execution.id).targeted == 2


def test_call_attributes_overlay_the_stored_profile_for_that_message_only(env: Env) -> None:
    campaign = env.campaign(subject="{{ profile.firstName }} ({{ profile.tier }})")

    env.admin.trigger(
        campaign.id, [ann(profile={"firstName": "Annie"}, context={"c": 1})], request_id="1"
    )
    env.kit.tick()
    env.admin.trigger(campaign.id, [ann()], request_id="2")
    env.kit.tick()

    assert [m.fields["subject"] for m in env.sent()] == ["Annie (gold)", "Ann (gold)"]
    assert env.kit.profiles.get(ANN.id) == ANN


def test_a_created_profile_keeps_the_call_attributes_but_never_the_context(env: Env) -> None:
    campaign = env.campaign(
        create_profiles=True, subject="Welcome {{ profile.firstName }} {{ context.code }}"
    )

    env.admin.trigger(
        campaign.id,
        [
            ck.Recipient(
                "new@example.com", "email", profile={"firstName": "Nia"}, context={"code": "7"}
            )
        ],
        request_id="r",
    )
    env.kit.tick()

    [message] = env.sent()
    assert (message.address, message.fields["subject"]) == ("new@example.com", "Welcome Nia 7")
    created = env.kit.profiles.get("new@example.com")
    assert created is not None
    assert dict(created.attributes) == {"firstName": "Nia"}
    assert dict(created.identities) == {"email": "new@example.com"}
    assert env.kit.profiles.find_by_identity("email", "new@example.com") == created


def test_a_created_profile_is_found_by_the_next_trigger(env: Env) -> None:
    campaign = env.campaign(create_profiles=True, subject="{{ profile.firstName }}")
    new = ck.Recipient("new@example.com", "email", profile={"firstName": "Nia"})
    env.admin.trigger(campaign.id, [new], request_id="1")

    env.admin.trigger(campaign.id, [ck.Recipient("new@example.com", "email")], request_id="2")
    env.kit.tick()

    assert [m.fields["subject"] for m in env.sent()] == ["Nia", "Nia"]
    assert [m.profile_id for m in env.sent()] == ["new@example.com", "new@example.com"]


def test_a_recipient_is_found_by_identity_in_its_namespace(env: Env) -> None:
    env.kit.profiles.upsert(
        ck.Profile(
            id="p-cid",
            identities={"email": "cid@example.com", "crmId": "CRM-1"},
            attributes={"firstName": "Cid"},
        )
    )
    campaign = env.campaign()

    env.admin.trigger(campaign.id, [ck.Recipient("CRM-1", "crmId")], request_id="r")
    env.kit.tick()

    [message] = env.sent()
    assert (message.profile_id, message.address) == ("p-cid", "cid@example.com")
    assert message.fields["subject"] == "Hello Cid"


def test_a_recipient_is_found_by_profile_id(env: Env) -> None:
    campaign = env.campaign()

    env.admin.trigger(campaign.id, [ck.Recipient(ANN.id, "email")], request_id="r")
    env.kit.tick()

    [message] = env.sent()
    assert message.profile_id == ANN.id
    assert message.fields["subject"] == "Hello Ann"
    assert message.address == "ann@example.com"


def test_two_recipients_of_one_profile_never_mix_their_payloads(env: Env) -> None:
    campaign = env.campaign(subject="{{ profile.firstName }} {{ context.v }}")
    by_email = ann(profile={"firstName": "Email"}, context={"v": "A"})
    by_phone = ck.Recipient(
        "+33100000001", "phone", profile={"firstName": "Phone"}, context={"v": "B"}
    )

    try:
        env.admin.trigger(campaign.id, [by_email, by_phone], request_id="r")
    except ck.ValidationError:  # refusing the pair is a correct answer too
        env.assert_nothing_happened(campaign.id, "r")
        return
    env.kit.tick()

    subjects = [m.fields["subject"] for m in env.sent()]
    assert len(subjects) == 1
    assert subjects[0] in {"Email A", "Phone B"}


def test_channel_data_in_the_call_overrides_the_address(env: Env) -> None:
    campaign = env.campaign(
        actions=[env.action(EMAIL), env.action(SMS, text="code {{ context.code }}")],
        namespace="email",
    )

    env.admin.trigger(
        campaign.id,
        [
            ann(
                channel_data={EMAIL: "ann.work@example.com", SMS: "+33199999999"},
                context={"code": "9"},
            )
        ],
        request_id="r",
    )
    env.kit.tick()

    assert sorted((m.channel, m.address) for m in env.sent()) == [
        (EMAIL, "ann.work@example.com"),
        (SMS, "+33199999999"),
    ]
    stored = env.kit.profiles.get(ANN.id)
    assert stored is not None
    assert dict(stored.channel_data) == {PUSH: "push-token-ann"}


def test_marketing_triggers_respect_consent_and_transactional_ones_do_not(env: Env) -> None:
    env.kit.profiles.upsert(attrs.evolve(BOB, consents={}))
    marketing = env.campaign(category=MKT)
    transactional = env.campaign(category=TXN)

    env.admin.trigger(marketing.id, [ann(), bob()], request_id="m")
    env.admin.trigger(transactional.id, [ann(), bob()], request_id="t")
    env.kit.tick()

    assert sorted((m.campaign_id, m.address) for m in env.sent()) == sorted(
        [
            (marketing.id, "ann@example.com"),
            (transactional.id, "ann@example.com"),
            (transactional.id, "bob@example.com"),
        ]
    )
    assert env.admin.report(marketing.id).excluded == {ck.ExclusionReason.NO_CONSENT: 1}


def test_a_trigger_accepted_before_a_stop_is_not_delivered(env: Env) -> None:
    campaign = env.campaign()
    execution = env.admin.trigger(campaign.id, [ann()], request_id="r")
    env.admin.stop(campaign.id)

    env.kit.tick()

    assert env.sent() == []
    assert env.admin.execution(execution.id).status is ck.ExecutionStatus.FAILED


# ---------------------------------------------------------------------- idempotency


def test_the_same_request_id_and_payload_returns_the_same_execution(env: Env) -> None:
    campaign = env.campaign()
    recipients = [ann(context={"code": "1"}, channel_data={EMAIL: "a@example.com"}), bob()]
    first = env.admin.trigger(campaign.id, recipients, request_id="r")
    env.kit.tick()
    env.clock.advance(minutes=1)

    again = env.admin.trigger(campaign.id, list(recipients), request_id="r")
    env.kit.tick()

    assert again.id == first.id
    assert again.run_id == first.run_id
    assert again.created_at == first.created_at
    assert again.status is ck.ExecutionStatus.SUCCEEDED
    assert len(env.sent()) == 2
    assert len(env.runs(campaign.id)) == 1


def test_a_repeat_before_the_tick_sends_once(env: Env) -> None:
    campaign = env.campaign()

    first = env.admin.trigger(campaign.id, [ann()], request_id="r")
    again = env.admin.trigger(campaign.id, [ann()], request_id="r")
    env.kit.tick()

    assert again == first
    assert len(env.sent()) == 1


@pytest.mark.parametrize(
    "changed",
    [
        [ann(context={"code": "2"})],
        [ann(context={"code": "1"}), bob()],
        [ann(context={"code": "1"}, profile={"firstName": "X"})],
        [ann(context={"code": "1"}, channel_data={EMAIL: "x@example.com"})],
        [bob(context={"code": "1"})],
    ],
    ids=["context", "recipients", "profile", "channel-data", "user"],
)
def test_the_same_request_id_with_another_payload_is_a_conflict(
    env: Env, changed: list[ck.Recipient]
) -> None:
    campaign = env.campaign()
    first = env.admin.trigger(campaign.id, [ann(context={"code": "1"})], request_id="r")
    env.kit.tick()

    with pytest.raises(ck.ConflictError) as excinfo:
        env.admin.trigger(campaign.id, changed, request_id="r")

    assert "'r'" in str(excinfo.value)
    assert "different payload" in str(excinfo.value)
    env.kit.tick()
    assert len(env.sent()) == 1
    assert [r.id for r in env.runs(campaign.id)] == [first.run_id]


def test_a_request_id_is_scoped_to_its_campaign(env: Env) -> None:
    one = env.campaign()
    two = env.campaign()

    first = env.admin.trigger(one.id, [ann()], request_id="r")
    second = env.admin.trigger(two.id, [bob()], request_id="r")
    env.kit.tick()

    assert first.id != second.id
    assert {(m.campaign_id, m.address) for m in env.sent()} == {
        (one.id, "ann@example.com"),
        (two.id, "bob@example.com"),
    }


def test_a_request_id_used_for_a_trigger_conflicts_with_an_audience_execution(
    env: Env,
) -> None:
    campaign = env.campaign(category=MKT, audience="vip")
    env.admin.trigger(campaign.id, [ann()], request_id="r")

    with pytest.raises(ck.ConflictError):
        env.admin.execute_audience(campaign.id, request_id="r")

    assert len(env.runs(campaign.id)) == 1


def test_an_audience_execution_is_idempotent_per_request_id(env: Env) -> None:
    campaign = env.campaign(category=MKT, audience="vip", subject="{{ context.deal }}")
    at = T0.add(hours=1)
    first = env.admin.execute_audience(
        campaign.id, request_id="a", context={"deal": "50%"}, execute_at=at
    )

    again = env.admin.execute_audience(
        campaign.id, request_id="a", context={"deal": "50%"}, execute_at=at
    )
    with pytest.raises(ck.ConflictError):
        env.admin.execute_audience(campaign.id, request_id="a", context={"deal": "60%"})
    with pytest.raises(ck.ConflictError):
        env.admin.execute_audience(
            campaign.id, request_id="a", context={"deal": "50%"}, execute_at=at.add(minutes=1)
        )
    env.kit.run_until(at.add(hours=1))

    assert again == first
    assert [m.fields["subject"] for m in env.sent()] == ["50%", "50%"]
    assert len(env.runs(campaign.id)) == 1


def test_a_repeat_after_a_reopen_of_the_sqlite_kit_sends_nothing(sqlite_env: Env) -> None:
    env = sqlite_env
    campaign = env.campaign(subject="{{ context.code }}")
    recipients = [ann(context={"code": "1"}, channel_data={EMAIL: "a@example.com"})]
    first = env.admin.trigger(campaign.id, recipients, request_id="r")
    env.kit.tick()
    assert len(env.sent()) == 1

    env = env.reopen()
    sqlite_env.kit = env.kit  # the fixture closes the reopened kit
    again = env.admin.trigger(campaign.id, recipients, request_id="r")
    env.kit.tick()

    assert again.id == first.id
    assert again.run_id == first.run_id
    assert again.status is ck.ExecutionStatus.SUCCEEDED
    assert env.sent() == []
    assert len(env.runs(campaign.id)) == 1
    with pytest.raises(ck.ConflictError):
        env.admin.trigger(campaign.id, [ann(context={"code": "2"})], request_id="r")
    assert env.admin.report(campaign.id).sent == 1


def test_a_trigger_accepted_before_a_restart_is_delivered_once_after_it(
    sqlite_env: Env,
) -> None:
    env = sqlite_env
    campaign = env.campaign()
    first = env.admin.trigger(campaign.id, [ann()], request_id="r")

    env = env.reopen()
    sqlite_env.kit = env.kit
    again = env.admin.trigger(campaign.id, [ann()], request_id="r")
    env.kit.tick()
    env.kit.tick()

    assert again.id == first.id
    assert [m.address for m in env.sent()] == ["ann@example.com"]
    assert env.admin.execution(first.id).status is ck.ExecutionStatus.SUCCEEDED


def test_a_scheduled_audience_execution_survives_a_reopen(sqlite_env: Env) -> None:
    env = sqlite_env
    campaign = env.campaign(category=MKT, audience="vip", subject="{{ context.deal }}")
    at = T0.add(hours=3)
    first = env.admin.execute_audience(
        campaign.id, request_id="a", context={"deal": "bogo"}, execute_at=at
    )

    env = env.reopen()
    sqlite_env.kit = env.kit
    assert (
        env.admin.execute_audience(
            campaign.id, request_id="a", context={"deal": "bogo"}, execute_at=at
        )
        == first
    )
    env.kit.run_until(at)

    assert [m.fields["subject"] for m in env.sent()] == ["bogo", "bogo"]
    assert env.admin.execution(first.id).schedule_status is ck.ScheduleStatus.TRIGGERED


# ---------------------------------------------------------------------- audience executions


def test_an_audience_execution_is_for_marketing_campaigns_only(env: Env) -> None:
    campaign = env.campaign(category=TXN, audience="vip")

    with pytest.raises(ck.TransitionNotAllowed, match="MARKETING"):
        env.admin.execute_audience(campaign.id, request_id="a", context={"x": 1})

    env.assert_nothing_happened(campaign.id, "a")


def test_an_audience_execution_needs_an_audience(env: Env) -> None:
    campaign = env.campaign(category=MKT, audience=None)

    with pytest.raises(ck.ValidationError, match="has no audience"):
        env.admin.execute_audience(campaign.id, request_id="a")

    env.assert_nothing_happened(campaign.id, "a")


def test_an_audience_execution_now_shares_its_context_with_every_recipient(env: Env) -> None:
    campaign = env.campaign(
        category=MKT, audience="vip", subject="{{ profile.firstName }}: {{ context.deal.name }}"
    )

    execution = env.admin.execute_audience(
        campaign.id, request_id="a", context={"deal": {"name": "Winter -30%"}}
    )
    assert execution.kind is ck.ExecutionKind.AUDIENCE
    assert execution.execute_at is None
    assert execution.status is ck.ExecutionStatus.IN_PROGRESS
    assert env.sent() == []
    env.kit.tick()

    assert {m.address: m.fields["subject"] for m in env.sent()} == {
        "ann@example.com": "Ann: Winter -30%",
        "bob@example.com": "Bob: Winter -30%",
    }
    done = env.admin.execution(execution.id)
    assert (done.status, done.targeted) == (ck.ExecutionStatus.SUCCEEDED, 2)
    assert done.schedule_status is ck.ScheduleStatus.TRIGGERED
    report = env.admin.report(campaign.id)
    assert [(r.kind, r.counts.targeted, r.counts.sent) for r in report.runs] == [
        (ck.RunKind.AUDIENCE_EXECUTION, 2, 2)
    ]


def test_an_immediate_audience_execution_is_triggered_not_scheduled(env: Env) -> None:
    campaign = env.campaign(category=MKT, audience="vip")

    execution = env.admin.execute_audience(campaign.id, request_id="a")

    assert execution.schedule_status is ck.ScheduleStatus.TRIGGERED
    assert env.admin.execution(execution.id).schedule_status is ck.ScheduleStatus.TRIGGERED


def test_an_immediate_audience_execution_cannot_be_cancelled(env: Env) -> None:
    campaign = env.campaign(category=MKT, audience="vip")
    execution = env.admin.execute_audience(campaign.id, request_id="a")

    with pytest.raises(ck.TransitionNotAllowed, match="fired already"):
        env.admin.cancel_execution(execution.id)

    env.kit.tick()
    assert len(env.sent()) == 2


def test_a_unitary_execution_cannot_be_cancelled(env: Env) -> None:
    campaign = env.campaign()
    execution = env.admin.trigger(campaign.id, [ann()], request_id="r")

    with pytest.raises(ck.TransitionNotAllowed, match="fired already"):
        env.admin.cancel_execution(execution.id)

    env.kit.tick()
    assert len(env.sent()) == 1


def test_a_scheduled_audience_execution_fires_at_execute_at(env: Env) -> None:
    campaign = env.campaign(
        category=MKT, audience="vip", subject="{{ profile.firstName }} {{ context.deal }}"
    )
    at = T0.add(hours=2)

    execution = env.admin.execute_audience(
        campaign.id, request_id="a", context={"deal": "-20%"}, execute_at=at
    )

    assert execution.execute_at == at
    assert execution.schedule_status is ck.ScheduleStatus.SCHEDULED
    assert execution.status is ck.ExecutionStatus.IN_PROGRESS
    assert execution.created_at == T0
    env.kit.tick()
    env.kit.run_until(at.subtract(seconds=1))
    assert env.sent() == []
    waiting = env.admin.execution(execution.id)
    assert (waiting.schedule_status, waiting.targeted) == (ck.ScheduleStatus.SCHEDULED, 0)

    env.kit.run_until(at)

    assert sorted(m.fields["subject"] for m in env.sent()) == ["Ann -20%", "Bob -20%"]
    fired = env.admin.execution(execution.id)
    assert fired.schedule_status is ck.ScheduleStatus.TRIGGERED
    assert fired.status is ck.ExecutionStatus.SUCCEEDED
    assert fired.targeted == 2
    [action] = campaign.live_version.actions  # type: ignore[union-attr]
    assert env.admin.report(campaign.id).by_action[action.id].targeted == 2


def test_a_scheduled_audience_execution_accepts_another_time_zone(env: Env) -> None:
    campaign = env.campaign(category=MKT, audience="vip")
    at = pendulum.datetime(2026, 12, 1, 12, tz="Europe/Paris")  # 11:00 UTC

    execution = env.admin.execute_audience(campaign.id, request_id="a", execute_at=at)

    assert execution.execute_at == T0.add(hours=2)
    env.kit.run_until(T0.add(hours=2).subtract(seconds=1))
    assert env.sent() == []
    env.kit.run_until(T0.add(hours=2))
    assert len(env.sent()) == 2


def test_a_scheduled_audience_execution_can_be_cancelled_before_it_fires(env: Env) -> None:
    campaign = env.campaign(category=MKT, audience="vip")
    at = T0.add(hours=2)
    execution = env.admin.execute_audience(campaign.id, request_id="a", execute_at=at)
    env.clock.advance(hours=1)

    cancelled = env.admin.cancel_execution(execution.id)

    assert cancelled.id == execution.id
    assert cancelled.schedule_status is ck.ScheduleStatus.CANCELLED
    assert cancelled.status is ck.ExecutionStatus.CANCELLED
    assert env.admin.cancel_execution(execution.id) == cancelled  # cancelling again is a no-op
    env.kit.run_until(at.add(days=1))
    assert env.sent() == []
    assert env.admin.execution(execution.id) == cancelled
    assert env.admin.get(campaign.id).status is S.LIVE
    assert env.admin.report(campaign.id).targeted == 0


def test_a_cancelled_request_id_still_returns_its_execution(env: Env) -> None:
    campaign = env.campaign(category=MKT, audience="vip")
    at = T0.add(hours=2)
    execution = env.admin.execute_audience(campaign.id, request_id="a", execute_at=at)
    env.admin.cancel_execution(execution.id)

    again = env.admin.execute_audience(campaign.id, request_id="a", execute_at=at)
    env.kit.run_until(at)

    assert again.id == execution.id
    assert again.schedule_status is ck.ScheduleStatus.CANCELLED
    assert env.sent() == []


@pytest.mark.parametrize("tick", [False, True], ids=["at-execute-at", "after-it-fired"])
def test_a_scheduled_audience_execution_cannot_be_cancelled_once_due(env: Env, tick: bool) -> None:
    campaign = env.campaign(category=MKT, audience="vip")
    at = T0.add(hours=2)
    execution = env.admin.execute_audience(campaign.id, request_id="a", execute_at=at)
    if tick:
        env.kit.run_until(at.add(minutes=1))
    else:
        env.clock.set(at)

    with pytest.raises(ck.TransitionNotAllowed, match="fired already"):
        env.admin.cancel_execution(execution.id)

    env.kit.tick()
    assert len(env.sent()) == 2
    assert env.admin.execution(execution.id).schedule_status is ck.ScheduleStatus.TRIGGERED


@pytest.mark.parametrize(
    ("when", "problem"),
    [
        (T0.subtract(minutes=1), "is in the past"),
        (T0.add(days=2), "after the campaign's end"),
        (T0.add(days=1), "after the campaign's end"),
    ],
    ids=["past", "after-end", "at-end"],
)
def test_execute_at_must_be_between_now_and_the_end(
    env: Env, when: pendulum.DateTime, problem: str
) -> None:
    campaign = env.campaign(category=MKT, audience="vip", end=T0.add(days=1))

    with pytest.raises(ck.ValidationError) as excinfo:
        env.admin.execute_audience(campaign.id, request_id="a", execute_at=when)

    [message] = problems_of(excinfo)
    assert problem in message
    assert when.in_timezone("UTC").isoformat() in message
    env.assert_nothing_happened(campaign.id, "a")


def test_a_naive_execute_at_is_refused(env: Env) -> None:
    campaign = env.campaign(category=MKT, audience="vip")
    naive = pendulum.naive(2026, 12, 2, 9)

    with pytest.raises(ck.ValidationError, match="execute_at must be timezone-aware"):
        env.admin.execute_audience(campaign.id, request_id="a", execute_at=naive)

    env.assert_nothing_happened(campaign.id, "a")


@pytest.mark.parametrize(
    ("context", "problem"),
    [
        ({"system": {"a": 1}}, "context uses the reserved top-level key 'system'"),
        (
            context_of_size(MAX_CONTEXT_BYTES + 1),
            f"context is {MAX_CONTEXT_BYTES + 1} bytes serialized",
        ),
        (["not", "an", "object"], "context must be a JSON object, not list"),
    ],
    ids=["reserved-key", "oversize", "not-an-object"],
)
def test_an_audience_context_is_checked(env: Env, context: object, problem: str) -> None:
    campaign = env.campaign(category=MKT, audience="vip")

    with pytest.raises(ck.ValidationError) as excinfo:
        env.admin.execute_audience(
            campaign.id, request_id="a", context=cast("Mapping[str, Any]", context)
        )

    [only] = problems_of(excinfo)
    assert only.startswith(problem)
    env.assert_nothing_happened(campaign.id, "a")


def test_every_audience_problem_is_reported_in_one_validation_error(env: Env) -> None:
    campaign = env.campaign(category=MKT, audience="vip")

    with pytest.raises(ck.ValidationError) as excinfo:
        env.admin.execute_audience(
            campaign.id,
            request_id="a",
            context={"system": 1},
            execute_at=T0.subtract(hours=1),
        )

    assert len(problems_of(excinfo)) == 2
    env.assert_nothing_happened(campaign.id, "a")


def test_an_api_triggered_campaign_with_a_pending_schedule_completes_at_its_end(
    env: Env,
) -> None:
    end = T0.add(days=1)
    campaign = env.campaign(category=MKT, audience="vip", end=end)
    at = T0.add(hours=1)
    env.admin.execute_audience(campaign.id, request_id="a", execute_at=at)

    env.kit.run_until(end.add(hours=1))

    assert len(env.sent()) == 2
    assert env.admin.get(campaign.id).status is S.COMPLETED


def test_a_trigger_whose_new_profile_cannot_be_saved_is_not_accepted(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The call and the profiles it creates are written together or not at all."""
    campaign = env.campaign(create_profiles=True, subject="Hello")

    def refuse(profile: ck.Profile) -> None:
        raise ck.StorageError("the profile store is full")

    monkeypatch.setattr(env.kit.profiles, "upsert", refuse)
    with pytest.raises(ck.StorageError, match="is full"):
        env.admin.trigger(campaign.id, [ck.Recipient("new@example.com", "email")], request_id="r")
    env.assert_nothing_happened(campaign.id, "r", profile_ids=["new@example.com"])

    monkeypatch.undo()  # the same request id is free: nothing of the first call was kept
    env.admin.trigger(campaign.id, [ck.Recipient("new@example.com", "email")], request_id="r")
    env.kit.tick()
    assert [m.address for m in env.sent()] == ["new@example.com"]
    assert env.kit.profiles.get("new@example.com") is not None
