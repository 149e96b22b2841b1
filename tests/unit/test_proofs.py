"""Proofs (SPEC sections 8 and 18): only to test profiles, suppression respected,
``campaign.write`` on a DRAFT, SCHEDULED or LIVE campaign, capped per campaign per
rolling hour (counted from the store, so across processes), recorded in history
and never counted in reports.

Every test runs on the in-memory store and on a SQLite file, on a ManualClock.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit import serialization as ser
from campaignkit.adapters.sqlite import SQLiteProfileStore, SQLiteStore
from campaignkit.delivery.proofs import render_proofs
from campaignkit.domain.campaign import HistoryEntry
from campaignkit.domain.proofs import (
    MAX_PROOF_PROFILES,
    cap_problems,
    proof_entry,
    proof_messages,
    used_within_hour,
)
from campaignkit.testing import ManualClock, RecordingChannel
from tests.factories import T0

C = ck.ChannelType
S = ck.CampaignStatus
HOUR = pendulum.duration(hours=1)


# ---------------------------------------------------------------- the world


@attrs.define
class Env:
    """A kit with ada (administrator), max (manager), an email and an SMS surface."""

    kit: ck.CampaignKit
    clock: ManualClock
    admin: ck.UserSession
    email: str
    sms: str

    def channel(self, channel: C = C.EMAIL) -> RecordingChannel:
        found = self.kit.channels[channel]
        assert isinstance(found, RecordingChannel)
        return found

    def draft(self, *, sms: bool = False, subject: str = "Hi {{ profile.firstName }}") -> str:
        actions = [ck.Action(self.email, ck.EmailContent(subject=subject, html="<p>x</p>"))]
        if sms:
            actions.append(ck.Action(self.sms, ck.SmsContent("Yo {{ profile.firstName }}")))
        return self.admin.create_campaign(
            name="Winter", audience="vip", namespace="email", actions=actions
        ).id

    def history(self, campaign_id: str) -> tuple[HistoryEntry, ...]:
        return self.admin.get(campaign_id).history

    def proofs(self, campaign_id: str) -> list[HistoryEntry]:
        return [e for e in self.history(campaign_id) if e.action is ck.Verb.PROOF]

    def sent(self) -> int:
        return len(self.channel(C.EMAIL).sent) + len(self.channel(C.SMS).sent)

    def suppress(self, channel: C, address: str) -> None:
        with self.kit.store.unit_of_work() as uow:
            uow.suppressions.add(channel, address)


def inbox(pid: str, *, test: bool = True, name: str | None = "Tess") -> ck.Profile:
    return ck.Profile(
        pid,
        identities={"email": f"{pid}@example.com"},
        attributes={} if name is None else {"firstName": name},
        channel_data={C.SMS: f"+336000000{len(pid):02d}"},
        test=test,
    )


Wrap = Callable[[ck.ProfileStore], ck.ProfileStore]


class Envs:
    """Builds Envs on one backend; a kit built with ``share=`` uses the same store."""

    def __init__(self, backend: str, tmp_path: Path) -> None:
        self.backend = backend
        self.path = tmp_path / "kit.db"
        self.kits: list[ck.CampaignKit] = []

    def kit(
        self,
        clock: ManualClock,
        *,
        delivery: ck.DeliverySettings | None = None,
        share: ck.CampaignKit | None = None,
        wrap: Wrap | None = None,
        channels: Mapping[C, ck.Channel] | None = None,
    ) -> ck.CampaignKit:
        """A kit on this backend (another process on the same store with ``share=``)."""
        if channels is None:
            channels = {C.EMAIL: RecordingChannel("email"), C.SMS: RecordingChannel("sms")}
        store: ck.Store
        profiles: ck.ProfileStore
        if self.backend == "memory":
            store = share.store if share is not None else ck.InMemoryStore()
            profiles = share.profiles if share is not None else ck.InMemoryProfileStore()
        else:
            sqlite = SQLiteStore(self.path)
            store, profiles = sqlite, SQLiteProfileStore(sqlite)
        kit = ck.CampaignKit(
            store=store,
            clock=clock,
            channels=channels,
            profiles=wrap(profiles) if wrap is not None else profiles,
            delivery=delivery,
        )
        self.kits.append(kit)
        return kit

    def __call__(
        self,
        *,
        delivery: ck.DeliverySettings | None = None,
        wrap: Wrap | None = None,
        channels: Mapping[C, ck.Channel] | None = None,
    ) -> Env:
        clock = ManualClock(T0)
        kit = self.kit(clock, delivery=delivery, wrap=wrap, channels=channels)
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        kit.access.assign("max", ck.ProductProfile.MANAGER)
        kit.access.assign("vera", ck.ProductProfile.VIEWER)
        admin = kit.as_user("ada")
        email = admin.create_surface(
            name="News", channel=C.EMAIL, settings=ck.EmailSettings(sender="news@example.com")
        )
        sms = admin.create_surface(
            name="Alerts", channel=C.SMS, settings=ck.SmsSettings(sender_id="SHOP")
        )
        for profile in (
            inbox("t1", name="Tia"),
            inbox("t2", name="Tom"),
            inbox("real", test=False),
        ):
            kit.profiles.upsert(profile)
        kit.audiences.define("vip", ["t1", "t2", "real"])
        return Env(kit, clock, admin, email.id, sms.id)

    def close(self) -> None:
        for kit in self.kits:
            kit.close()


@pytest.fixture(params=["memory", "sqlite"])
def envs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Envs]:
    builder = Envs(str(request.param), tmp_path)
    yield builder
    builder.close()


@pytest.fixture
def env(envs: Envs) -> Env:
    return envs()


# ---------------------------------------------------------------- test profiles only


def test_a_proof_reaches_test_profiles_and_is_recorded_in_history(env: Env) -> None:
    campaign_id = env.draft(sms=True)
    before = env.admin.get(campaign_id)
    results = env.kit.as_user("max").send_proof(campaign_id, ["t2", "t1", "t2"])
    assert [(r.message.channel, r.message.profile_id) for r in results] == [
        (C.EMAIL, "t2"),
        (C.EMAIL, "t1"),
        (C.SMS, "t2"),
        (C.SMS, "t1"),
    ]
    assert all(r.sent and r.excluded is None and r.message.proof for r in results)
    assert [r.message.fields.get("subject") for r in results[:2]] == ["Hi Tom", "Hi Tia"]
    assert results[0].result == ck.Accepted(f"email-{results[0].message.idempotency_key}")
    assert [m.profile_id for m in env.channel(C.EMAIL).sent] == ["t2", "t1"]
    assert [m.address for m in env.channel(C.SMS).sent] == ["+33600000002"] * 2

    after = env.admin.get(campaign_id)
    assert after.revision == before.revision + 1
    assert after.history[:-1] == before.history
    assert after.updated_at == before.updated_at  # a proof changes nothing of the campaign
    entry = after.history[-1]
    assert (entry.action, entry.actor, entry.at) == (ck.Verb.PROOF, "max", T0)
    assert entry.from_status is entry.to_status is S.DRAFT
    assert entry.detail == "4 proof messages of version 1 to t2, t1"
    assert env.admin.report(campaign_id).runs == ()  # never a run, never counted


def test_a_non_test_or_unknown_profile_refuses_the_whole_proof(env: Env) -> None:
    campaign_id = env.draft()
    before = env.admin.get(campaign_id)
    with pytest.raises(ck.ValidationError) as caught:
        env.admin.send_proof(campaign_id, ["t1", "real", "ghost"])
    assert caught.value.problems == [
        "profile_ids: profile 'real' is not a test profile; proofs go only to profiles "
        "stored with Profile(test=True)",
        "profile_ids: profile 'ghost' does not exist",
    ]
    assert env.sent() == 0  # not even t1, a test profile
    assert env.admin.get(campaign_id) == before  # nothing recorded


@pytest.mark.parametrize(
    ("profile_ids", "problem"),
    [
        ([], "profile_ids: send a proof to 1 to 10 profiles, not 0"),
        ([f"t{n}" for n in range(11)], "profile_ids: send a proof to 1 to 10 profiles, not 11"),
        ("t1", "profile_ids must be a list of identifiers, not str 't1'"),
        (["t1", 7], "profile_ids[1] must be a string, not int 7"),
        ([""], "profile_ids[0] must not be empty"),
    ],
)
def test_bad_profile_ids_are_validation_errors(
    env: Env, profile_ids: Sequence[str], problem: str
) -> None:
    campaign_id = env.draft()
    with pytest.raises(ck.ValidationError) as caught:
        env.admin.send_proof(campaign_id, profile_ids)
    assert problem in caught.value.problems
    assert env.sent() == 0
    assert env.proofs(campaign_id) == []


def test_ten_test_profiles_is_the_most_one_proof_names(env: Env) -> None:
    campaign_id = env.draft()
    ids = [f"t{n}" for n in range(MAX_PROOF_PROFILES)]
    for pid in ids:
        env.kit.profiles.upsert(inbox(pid))
    assert len(env.admin.send_proof(campaign_id, ids)) == MAX_PROOF_PROFILES


def test_a_profile_that_cannot_receive_the_proof_refuses_it(env: Env) -> None:
    """No address, or a template the profile cannot fill: nothing is sent or recorded."""
    campaign_id = env.draft()
    env.kit.profiles.upsert(attrs.evolve(inbox("nameless", name=None), identities={}))
    with pytest.raises(ck.ValidationError) as caught:
        env.admin.send_proof(campaign_id, ["t1", "nameless"])
    assert caught.value.problems == ["profile 'nameless' has no email address"]
    env.kit.profiles.upsert(inbox("nameless", name=None))
    with pytest.raises(ck.ValidationError, match="for profile 'nameless'"):
        env.admin.send_proof(campaign_id, ["t1", "nameless"])
    assert env.sent() == 0
    assert env.proofs(campaign_id) == []


def test_a_draft_whose_template_does_not_compile_is_a_validation_error(env: Env) -> None:
    campaign_id = env.draft(subject="Hi {{ profile.firstName ")
    with pytest.raises(ck.ValidationError, match="the template does not compile"):
        env.admin.send_proof(campaign_id, ["t1"])
    assert env.sent() == 0


# ---------------------------------------------------------------- suppression


@pytest.mark.parametrize("category", [ck.Category.MARKETING, ck.Category.TRANSACTIONAL])
def test_a_suppressed_test_profile_gets_no_proof_and_the_result_says_so(
    env: Env, category: ck.Category
) -> None:
    """Whatever the category: a proof is never worth a bounce."""
    if category is ck.Category.MARKETING:
        campaign_id = env.draft(sms=True)
    else:
        surface = env.admin.create_surface(
            name="Receipts",
            channel=C.EMAIL,
            settings=ck.EmailSettings(sender="shop@example.com"),
            category=category,
        )
        campaign_id = env.admin.create_campaign(
            name="Receipt",
            type=ck.CampaignType.API_TRIGGERED,
            category=category,
            namespace="email",
            actions=[
                ck.Action(surface.id, ck.EmailContent(subject="Hi", html="x")),
                ck.Action(env.sms, ck.SmsContent("Yo")),
            ],
        ).id
    env.suppress(C.EMAIL, "t1@example.com")
    results = env.admin.send_proof(campaign_id, ["t1", "t2"])
    by_key = {(r.message.channel, r.message.profile_id): r for r in results}
    blocked = by_key[(C.EMAIL, "t1")]
    assert (blocked.sent, blocked.result, blocked.excluded) == (
        False,
        None,
        ck.ExclusionReason.SUPPRESSED,
    )
    assert blocked.message.address == "t1@example.com"  # what it would have been
    assert all(r.sent for key, r in by_key.items() if key != (C.EMAIL, "t1"))
    assert [m.profile_id for m in env.channel(C.EMAIL).sent] == ["t2"]
    assert [m.profile_id for m in env.channel(C.SMS).sent] == ["t1", "t2"]
    [entry] = env.proofs(campaign_id)
    assert entry.detail == "3 proof messages of version 1 to t1, t2; suppressed, not sent: t1"
    assert proof_messages(entry) == 3


def test_a_proof_whose_every_address_is_suppressed_sends_nothing_and_is_recorded(
    env: Env,
) -> None:
    campaign_id = env.draft()
    env.suppress(C.EMAIL, "t1@example.com")
    [result] = env.admin.send_proof(campaign_id, ["t1"])
    assert not result.sent
    assert env.sent() == 0
    [entry] = env.proofs(campaign_id)
    assert entry.detail.startswith("0 proof messages of version 1 to t1; suppressed")


def test_a_proof_that_sends_nothing_still_costs_one_so_history_stays_bounded(
    envs: Envs,
) -> None:
    env = envs(delivery=ck.DeliverySettings(proofs_per_hour=2))
    campaign_id = env.draft()
    env.suppress(C.EMAIL, "t1@example.com")
    env.admin.send_proof(campaign_id, ["t1"])
    env.admin.send_proof(campaign_id, ["t1"])
    with pytest.raises(ck.ValidationError, match="has used 2 of its 2 proof messages"):
        env.admin.send_proof(campaign_id, ["t1"])
    assert len(env.proofs(campaign_id)) == 2
    assert env.sent() == 0


# ---------------------------------------------------------------- who and when


def test_proofs_need_campaign_write(env: Env) -> None:
    campaign_id = env.draft()
    for user in ("vera", "nobody"):
        with pytest.raises(ck.PermissionDenied, match=r"campaign\.write"):
            env.kit.as_user(user).send_proof(campaign_id, ["t1"])
    with pytest.raises(ck.NotFound):
        env.admin.send_proof("cmp_missing", ["t1"])
    assert env.sent() == 0
    assert env.proofs(campaign_id) == []


def test_scheduled_and_live_campaigns_take_proofs_of_their_newest_version(env: Env) -> None:
    scheduled = env.admin.create_campaign(
        name="Later",
        audience="vip",
        namespace="email",
        actions=[ck.Action(env.email, ck.EmailContent(subject="Later", html="x"))],
        schedule=ck.Schedule(start=T0.add(days=2)),
    ).id
    env.admin.activate(scheduled)
    env.kit.tick()
    assert env.admin.get(scheduled).status is S.SCHEDULED
    [later] = env.admin.send_proof(scheduled, ["t1"])
    assert later.message.fields["subject"] == "Later"

    live = env.admin.create_campaign(
        name="Always on",
        type=ck.CampaignType.API_TRIGGERED,
        namespace="email",
        actions=[ck.Action(env.email, ck.EmailContent(subject="Old", html="x"))],
    ).id
    env.admin.activate(live)
    env.kit.tick()
    assert env.admin.get(live).status is S.LIVE
    env.admin.modify(live)
    env.admin.update_draft(
        live, actions=[ck.Action(env.email, ck.EmailContent(subject="New", html="x"))]
    )
    sent_before = env.sent()
    report = env.admin.report(live)
    [proof] = env.admin.send_proof(live, ["t1"])
    assert proof.message.fields["subject"] == "New"
    assert env.sent() == sent_before + 1
    assert env.admin.report(live) == report  # a proof is never counted
    [entry] = env.proofs(live)
    assert entry.from_status is entry.to_status is S.LIVE
    assert "of version 2" in entry.detail


def _in_review(env: Env) -> str:
    policy = env.admin.create_approval_policy(name="Legal", reviewers=["ada"])
    env.admin.activate_approval_policy(policy.id)
    campaign_id = env.draft()
    env.kit.as_user("max").request_approval(campaign_id)
    return campaign_id


def _stopped(env: Env) -> str:
    campaign_id = env.draft()
    env.admin.activate(campaign_id)
    env.kit.tick()
    env.admin.stop(campaign_id)
    return campaign_id


def _completed(env: Env) -> str:
    campaign_id = env.draft()
    env.admin.activate(campaign_id)
    env.kit.tick()
    env.clock.advance(pendulum.duration(days=4))
    env.kit.tick()
    return campaign_id


def _archived(env: Env) -> str:
    campaign_id = _stopped(env)
    env.admin.archive(campaign_id)
    return campaign_id


@pytest.mark.parametrize(
    ("setup", "status"),
    [
        (_in_review, S.IN_REVIEW),
        (_stopped, S.STOPPED),
        (_completed, S.COMPLETED),
        (_archived, S.ARCHIVED),
    ],
)
def test_other_statuses_refuse_proofs(env: Env, setup: Callable[[Env], str], status: S) -> None:
    campaign_id = setup(env)
    before = env.admin.get(campaign_id)
    assert before.status is status
    sent = env.sent()
    with pytest.raises(ck.TransitionNotAllowed) as caught:
        env.admin.send_proof(campaign_id, ["t1"])
    assert (caught.value.action, caught.value.status) == ("send_proof", status.value)
    assert "DRAFT, SCHEDULED and LIVE" in str(caught.value)
    assert env.sent() == sent
    assert env.admin.get(campaign_id) == before


# ---------------------------------------------------------------- the hourly cap


def test_proofs_are_capped_per_campaign_per_rolling_hour(envs: Envs) -> None:
    env = envs(delivery=ck.DeliverySettings(proofs_per_hour=5))
    campaign_id, other = env.draft(), env.draft()
    env.admin.send_proof(campaign_id, ["t1", "t2"])  # 2
    env.clock.advance(pendulum.duration(minutes=20))
    env.admin.send_proof(campaign_id, ["t1", "t2"])  # 4
    with pytest.raises(ck.ValidationError) as caught:
        env.admin.send_proof(campaign_id, ["t1", "t2"])
    [problem] = caught.value.problems
    assert problem == (
        f"profile_ids: campaign {campaign_id!r} has used 4 of its 5 proof messages per hour "
        "(DeliverySettings.proofs_per_hour); this proof needs 2; "
        "retry after 2026-12-01T10:00:00+00:00"
    )
    env.admin.send_proof(campaign_id, ["t1"])  # 5: exactly the cap
    env.admin.send_proof(other, ["t1", "t2"])  # the cap is per campaign
    assert env.sent() == 7
    env.clock.set(T0.add(hours=1))  # the first proof ages out at 10:00 sharp
    env.admin.send_proof(campaign_id, ["t1", "t2"])
    assert env.sent() == 9
    assert [proof_messages(e) for e in env.proofs(campaign_id)] == [2, 2, 1, 2]


def test_the_cap_holds_across_processes_sharing_a_store(envs: Envs) -> None:
    env = envs(delivery=ck.DeliverySettings(proofs_per_hour=3))
    campaign_id = env.draft()
    other = envs.kit(env.clock, delivery=ck.DeliverySettings(proofs_per_hour=3), share=env.kit)
    env.admin.send_proof(campaign_id, ["t1", "t2"])
    with pytest.raises(ck.ValidationError, match="has used 2 of its 3 proof messages"):
        other.as_user("ada").send_proof(campaign_id, ["t1", "t2"])
    [result] = other.as_user("ada").send_proof(campaign_id, ["t1"])
    assert result.sent
    assert [e.detail[:1] for e in env.proofs(campaign_id)] == ["2", "1"]


def test_a_proof_larger_than_the_cap_names_no_retry_instant(env: Env) -> None:
    campaign = env.admin.get(env.draft())
    assert cap_problems(campaign, T0, 3, 2) == [
        f"profile_ids: campaign {campaign.id!r} has used 0 of its 2 proof messages per hour "
        "(DeliverySettings.proofs_per_hour); this proof needs 3"
    ]


def test_only_proof_entries_count_toward_the_cap(env: Env) -> None:
    campaign = env.admin.get(env.draft())
    entry = proof_entry(campaign, now=T0, actor="ada", messages=1, recipients=["t1"])
    assert entry.detail == "1 proof message of version 1 to t1"
    odd = attrs.evolve(entry, detail="written by hand")
    created = campaign.history[0]
    assert [proof_messages(e) for e in (entry, odd, created)] == [1, 0, 0]
    proofed = attrs.evolve(campaign, history=(created, entry, odd))
    assert used_within_hour(proofed, T0.add(minutes=59)) == 2  # the odd entry costs one
    assert used_within_hour(proofed, T0.add(hours=1)) == 0


@pytest.mark.parametrize("value", [0, -1, 2.5, "50", True])
def test_the_cap_setting_is_a_positive_whole_number(value: object) -> None:
    with pytest.raises(ck.ValidationError, match="proofs_per_hour must be a whole number"):
        ck.DeliverySettings(proofs_per_hour=value)  # type: ignore[arg-type]
    assert ck.DeliverySettings().proofs_per_hour == 50


# ---------------------------------------------------------------- failures


class _Meddling:
    """A profile store that writes the campaign while a proof is being prepared."""

    def __init__(self, inner: ck.ProfileStore) -> None:
        self.inner = inner
        self.meddle: Callable[[], None] | None = None

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def get_many(self, profile_ids: Sequence[str]) -> Mapping[str, ck.Profile]:
        if self.meddle is not None:
            meddle, self.meddle = self.meddle, None
            meddle()
        return self.inner.get_many(profile_ids)


def test_a_concurrent_change_is_a_conflict_and_nothing_is_sent(envs: Envs) -> None:
    stores: list[_Meddling] = []

    def wrap(inner: ck.ProfileStore) -> ck.ProfileStore:
        stores.append(_Meddling(inner))
        return stores[-1]  # type: ignore[return-value]

    env = envs(wrap=wrap)
    campaign_id = env.draft()

    def rename() -> None:
        with env.kit.store.unit_of_work() as uow:
            current = uow.campaigns.find(campaign_id)
            assert current is not None
            uow.campaigns.save(attrs.evolve(current, name="Renamed meanwhile"))

    stores[0].meddle = rename
    before = env.admin.get(campaign_id)
    with pytest.raises(ck.ConflictError):
        env.admin.send_proof(campaign_id, ["t1"])
    assert env.sent() == 0
    assert env.admin.get(campaign_id) == before  # the rename rolled back with the proof
    assert env.admin.send_proof(campaign_id, ["t1"])[0].sent  # a retry goes through


def test_a_channel_that_is_not_wired_refuses_the_proof(envs: Envs) -> None:
    env = envs(channels={C.EMAIL: RecordingChannel("email")})
    campaign_id = env.draft(sms=True)
    with pytest.raises(ck.DeliveryError, match="no channel is wired for sms"):
        env.admin.send_proof(campaign_id, ["t1"])
    assert env.channel(C.EMAIL).sent == []
    assert env.proofs(campaign_id) == []


class _Mute(RecordingChannel):
    def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
        super().send(messages)
        return []


def test_a_channel_answering_the_wrong_count_is_a_delivery_error_after_recording(
    envs: Envs,
) -> None:
    """The proof was recorded before the hand-over, so it counts toward the cap."""
    env = envs(channels={C.EMAIL: _Mute("email")})
    campaign_id = env.draft()
    with pytest.raises(ck.DeliveryError, match="answered 0 results for 1 proof messages"):
        env.admin.send_proof(campaign_id, ["t1"])
    assert len(env.channel(C.EMAIL).sent) == 1
    [entry] = env.proofs(campaign_id)
    assert proof_messages(entry) == 1


# ---------------------------------------------------------------- Profile(test=...)


@pytest.mark.parametrize("value", [1, "yes", None])
def test_the_test_mark_is_a_boolean(value: object) -> None:
    with pytest.raises(ck.ValidationError, match="test must be True or False"):
        ck.Profile("p1", test=value)  # type: ignore[arg-type]
    assert ck.Profile("p1").test is False


def test_the_test_mark_round_trips_and_old_profiles_load_as_real_ones(env: Env) -> None:
    stored = env.kit.profiles.get("t1")
    assert stored is not None
    assert stored.test is True
    real = env.kit.profiles.get("real")
    assert real is not None
    assert real.test is False
    document = json.loads(ser.dumps(inbox("t9")))
    assert (document["version"], document["data"]["test"]) == (2, True)
    old = {"schema": "profile", "version": 1, "data": {"id": "old", "identities": {}}}
    loaded = ser.from_document(ck.Profile, old)
    assert loaded == ck.Profile("old", test=False)
    newer = {**document, "version": 3}
    with pytest.raises(ck.StorageError, match="newer campaignkit"):
        ser.from_document(ck.Profile, newer)


def test_the_retry_instant_waits_for_as_many_proofs_as_must_age_out(env: Env) -> None:
    campaign = env.admin.get(env.draft())
    history = [
        proof_entry(campaign, now=T0.add(minutes=m), actor="ada", messages=2, recipients=["t1"])
        for m in (0, 20, 40)
    ]
    proofed = attrs.evolve(campaign, history=(*campaign.history, *history))
    [problem] = cap_problems(proofed, T0.add(minutes=50), 4, 6)
    assert problem.endswith("retry after 2026-12-01T10:20:00+00:00")  # two of three must go
    assert cap_problems(proofed, T0.add(minutes=50), 1, 7) == []
    assert cap_problems(proofed, T0.add(minutes=50), 0, 6) != []  # nothing still costs one


def test_an_action_whose_surface_is_gone_is_a_problem_of_the_proof(env: Env) -> None:
    campaign = env.admin.get(env.draft(sms=True))
    email, sms = campaign.newest_version.actions
    rendered = render_proofs(
        campaign,
        {email.id: None, sms.id: env.admin.get_surface(env.sms)},
        [inbox("t1")],
        run_id="proof-1",
        suppressed=lambda channel, addresses: set(),
    )
    assert rendered.problems == (f"action {email.id}: surface {env.email!r} does not exist",)
    assert [m.channel for m in rendered.to_send] == [C.SMS]


def test_a_profile_stored_before_the_test_mark_loads_from_a_sqlite_file(tmp_path: Path) -> None:
    """A version 1 profile row (written before the mark existed) is a real customer."""
    old = {
        "schema": "profile",
        "version": 1,
        "data": {"id": "ann", "identities": {"email": "ann@example.com"}, "language": "fr"},
    }
    with SQLiteStore(tmp_path / "old.db") as store:
        with store.unit_of_work():
            store.database.execute(
                "INSERT INTO profiles (id, document) VALUES (?, ?)", ("ann", json.dumps(old))
            )
        profiles = SQLiteProfileStore(store)
        loaded = profiles.get("ann")
        assert loaded == ck.Profile("ann", identities={"email": "ann@example.com"}, language="fr")
        assert loaded.test is False
        profiles.upsert(attrs.evolve(loaded, test=True))  # written back at version 2
        [(text,)] = store.database.all("SELECT document FROM profiles")
        assert json.loads(text)["version"] == 2
        assert profiles.get("ann") == attrs.evolve(loaded, test=True)
