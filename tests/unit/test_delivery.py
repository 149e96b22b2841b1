"""Delivery: runs, the ledger, exclusions, retries, feedback, proofs, stop, resume, reports.

Everything runs on a ManualClock: retries, leases and completion are reached by
moving the clock, never by sleeping. Tests where the store matters run on the
in-memory store and on SQLite.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit.delivery.runner import Runner
from campaignkit.domain.delivery import backoff, idempotency_key
from campaignkit.testing import (
    CallbackChannel,
    ManualClock,
    NullChannel,
    ReconcilingRecordingChannel,
    RecordingChannel,
    SequentialIds,
)
from tests.factories import T0, World

C = ck.ChannelType
R = ck.ExclusionReason
L = ck.LedgerState
F = ck.FeedbackEvent
BACKENDS = ["memory", "sqlite"]


# ---------------------------------------------------------------- building worlds


class Worlds:
    """Builds kits (in memory or on SQLite) with an administrator and a surface per channel."""

    def __init__(self, backend: str, tmp_path: Path) -> None:
        self.backend = backend
        self.tmp_path = tmp_path
        self.kits: list[ck.CampaignKit] = []

    def kit(
        self,
        clock: ManualClock,
        *,
        channels: Mapping[C, ck.Channel] | None = None,
        delivery: ck.DeliverySettings | None = None,
        progress: ck.Progress | None = None,
    ) -> ck.CampaignKit:
        """A bare kit on this backend, with sequential ids."""
        id_factory = SequentialIds()
        if self.backend == "memory":
            kit = ck.CampaignKit.in_memory(
                clock=clock, channels=channels, delivery=delivery, progress=progress, ids=id_factory
            )
        else:
            kit = ck.CampaignKit.sqlite(
                self.tmp_path / "kit.db",
                clock,
                channels,
                delivery=delivery,
                progress=progress,
                ids=id_factory,
            )
        self.kits.append(kit)
        return kit

    def world(
        self,
        clock: ManualClock | None = None,
        *,
        channels: Mapping[C, ck.Channel] | None = None,
        delivery: ck.DeliverySettings | None = None,
        progress: ck.Progress | None = None,
    ) -> World:
        """A kit with ada (administrator), three marketing surfaces and audience vip = p1, p2."""
        clock = clock if clock is not None else ManualClock(T0)
        kit = self.kit(clock, channels=channels, delivery=delivery, progress=progress)
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        admin = kit.as_user("ada")
        email = admin.create_surface(
            name="Newsletter", channel=C.EMAIL, settings=ck.EmailSettings(sender="news@example.com")
        )
        sms = admin.create_surface(
            name="Alerts", channel=C.SMS, settings=ck.SmsSettings(sender_id="SHOP")
        )
        push = admin.create_surface(
            name="App", channel=C.PUSH, settings=ck.PushSettings(app_id="com.shop")
        )
        for number, name in ((1, "Ann"), (2, "Bob")):
            kit.profiles.upsert(person(f"p{number}", name))
        kit.audiences.define("vip", ["p1", "p2"])
        events: list[ck.DomainEvent] = []
        kit.subscribe(events.append)
        return World(kit, clock, admin, email, sms, push, events)

    def restart(
        self,
        kit: ck.CampaignKit,
        *,
        channels: Mapping[C, ck.Channel],
        delivery: ck.DeliverySettings,
    ) -> ck.CampaignKit:
        """A new process (another worker id) on the same store, profiles and clock."""
        if self.backend == "memory":
            new = ck.CampaignKit(
                store=kit.store,
                clock=kit.clock,
                channels=channels,
                profiles=kit.profiles,
                delivery=delivery,
            )
        else:
            kit.close()
            new = ck.CampaignKit.sqlite(
                self.tmp_path / "kit.db", kit.clock, channels, delivery=delivery
            )
        assert new.worker_id != kit.worker_id
        self.kits.append(new)
        return new

    def close(self) -> None:
        for kit in self.kits:
            kit.close()


@pytest.fixture(params=BACKENDS)
def worlds(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Worlds]:
    """A world builder on each backend."""
    builder = Worlds(str(request.param), tmp_path)
    yield builder
    builder.close()


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[Worlds]:
    """A world builder on the in-memory store only."""
    builder = Worlds("memory", tmp_path)
    yield builder
    builder.close()


def person(
    pid: str,
    name: str | None = None,
    *,
    email: str | None = "",
    consent: bool = True,
    city: str | None = "Paris",
    phone: str | None = None,
    test: bool = False,
) -> ck.Profile:
    """A profile with an email identity (``<pid>@example.com`` unless given) and email consent."""
    attributes: dict[str, object] = {}
    if name is not None:
        attributes["firstName"] = name
    if city is not None:
        attributes["address"] = {"city": city}
    channel_data = {} if phone is None else {C.SMS: phone}
    address = f"{pid}@example.com" if email == "" else email
    return ck.Profile(
        id=pid,
        identities={} if address is None else {"email": address},
        attributes=attributes,
        consents={C.EMAIL: consent, C.SMS: consent, C.PUSH: consent},
        channel_data=channel_data,
        test=test,
    )


def launch(
    world: World,
    actions: Sequence[ck.Action],
    *,
    audience: str = "vip",
    name: str = "Winter sale",
    end: pendulum.DateTime | None = None,
    tick: bool = True,
) -> ck.Campaign:
    """Create and activate a marketing campaign; tick once (goes live and delivers)."""
    campaign = world.admin.create_campaign(
        name=name,
        audience=audience,
        namespace="email",
        actions=list(actions),
        schedule=ck.Schedule(end=end),
    )
    world.admin.activate(campaign.id)
    if tick:
        world.kit.tick()
    return world.admin.get(campaign.id)


def runs_of(kit: ck.CampaignKit, campaign_id: str) -> list[ck.Run]:
    with kit.store.unit_of_work() as uow:
        return list(uow.runs.for_campaign(campaign_id))


def only_run(kit: ck.CampaignKit, campaign_id: str) -> ck.Run:
    [run] = runs_of(kit, campaign_id)
    return run


def ledger(kit: ck.CampaignKit, run_id: str) -> list[ck.LedgerEntry]:
    with kit.store.unit_of_work() as uow:
        return list(uow.ledger.entries(run_id))


def by_profile(entries: Sequence[ck.LedgerEntry]) -> dict[str, ck.LedgerEntry]:
    """Entries of a one-action run by profile id."""
    found = {e.profile_id: e for e in entries}
    assert len(found) == len(entries)
    return found


def balanced(counts: ck.ActionCounts) -> bool:
    """``targeted = sent + failed + excluded`` with nothing pending."""
    return counts.pending == 0 and counts.targeted == (
        counts.sent + counts.failed + counts.excluded_total
    )


def recorded(kit: ck.CampaignKit, channel: C) -> RecordingChannel:
    found = kit.channels[channel]
    assert isinstance(found, RecordingChannel)
    return found


def email_action(world: World, subject: str = "Hi {{ profile.firstName }}") -> ck.Action:
    return ck.Action(world.email.id, ck.EmailContent(subject=subject, html="<p>Hello</p>"))


def action_id(campaign: ck.Campaign, channel: C) -> str:
    version = campaign.live_version or campaign.newest_version
    [found] = [a.id for a in version.actions if a.channel is channel]
    return found


# ---------------------------------------------------------------- multi-channel


N_PROFILES = 1000
GHOSTS = ["ghost-1", "ghost-2", "ghost-3", "ghost-4", "ghost-5"]


def population(i: int) -> ck.Profile:
    """Profile i of the multi-channel test: a deterministic mix of every exclusion."""
    identities = {} if i % 10 == 0 else {"email": f"u{i}@example.com"}
    channel_data: dict[C, str] = {}
    if i % 4 != 1:
        channel_data[C.SMS] = f"+33600{i:05d}"
    if i % 3 != 2:
        channel_data[C.PUSH] = f"token-{i}"
    if i % 17 == 0:
        channel_data[C.EMAIL] = f"alt{i}@example.net"
    attributes: dict[str, object] = {}
    if i % 11 != 7:
        attributes["firstName"] = f"N{i}"
    if i % 13 == 9:
        attributes["address"] = {"zip": "75001"}
    elif i % 13 == 6:
        attributes["address"] = {}
    else:
        attributes["address"] = {"city": f"C{i}", "zip": "75001"}
    return ck.Profile(
        id=f"p{i:04d}",
        identities=identities,
        attributes=attributes,
        consents={C.EMAIL: i % 5 != 3, C.SMS: i % 6 != 4, C.PUSH: i % 7 != 5},
        channel_data=channel_data,
    )


def address_in(profile: ck.Profile, channel: C) -> str | None:
    """The oracle's address rule (namespace ``email``): channel data, else the email identity."""
    explicit = profile.channel_data.get(channel)
    if explicit:
        return explicit
    if channel is C.EMAIL:
        return profile.identities.get("email")
    return None


def has_city(attributes: Mapping[str, object]) -> bool:
    address = attributes.get("address")
    return isinstance(address, dict) and "city" in address


NEEDS: Mapping[C, Callable[[Mapping[str, object]], bool]] = {
    C.EMAIL: lambda a: "firstName" in a,  # the subject has no fallback
    C.SMS: lambda a: True,  # default("friend")
    C.PUSH: has_city,
}


def oracle(
    profile: ck.Profile | None, channel: C, suppressed: set[tuple[C, str]]
) -> ck.ExclusionReason | None:
    """SPEC precedence: unknown profile, identity, channel data, suppressed, consent, attribute."""
    if profile is None:
        return R.UNKNOWN_PROFILE
    if not profile.identities.get("email"):
        return R.MISSING_IDENTITY
    address = address_in(profile, channel)
    if address is None:
        return R.MISSING_CHANNEL_DATA
    if (channel, address) in suppressed:
        return R.SUPPRESSED
    if not profile.consents.get(channel, False):
        return R.NO_CONSENT
    if not NEEDS[channel](profile.attributes):
        return R.MISSING_ATTRIBUTE
    return None


def rendered(profile: ck.Profile, channel: C) -> dict[str, str]:
    attributes = profile.attributes
    address = attributes.get("address")
    city = address.get("city") if isinstance(address, dict) else None
    if channel is C.EMAIL:
        name = attributes["firstName"]
        return {
            "subject": f"Hi {name}",
            "html": f"<p>{name} in {city or 'your city'}</p>",
        }
    if channel is C.SMS:
        return {"text": f"Sale {attributes.get('firstName', 'friend')}!"}
    return {"title": "News", "body": f"Hello {city}"}


def test_multi_channel_run_gives_every_profile_and_action_exactly_one_outcome(
    worlds: Worlds,
) -> None:
    world = worlds.world(delivery=ck.DeliverySettings(batch_size=128))
    kit, admin = world.kit, world.admin
    profiles = {f"p{i:04d}": population(i) for i in range(N_PROFILES)}
    for profile in profiles.values():
        kit.profiles.upsert(profile)

    # an earlier campaign whose hard bounces suppress addresses (soft bounces do not)
    bounced = [pid for i, pid in enumerate(profiles) if i % 19 == 0]
    kit.audiences.define("bounce", bounced)
    earlier = launch(
        world,
        [
            ck.Action(world.email.id, ck.EmailContent(subject="Earlier", html="x")),
            ck.Action(world.sms.id, ck.SmsContent(text="Earlier")),
        ],
        audience="bounce",
        name="Earlier",
    )
    earlier_run = only_run(kit, earlier.id)
    suppressed: set[tuple[C, str]] = set()
    for entry in ledger(kit, earlier_run.id):
        if entry.state is not L.SENT:
            continue
        assert entry.provider_message_id is not None
        assert entry.address is not None
        hard = entry.channel is C.EMAIL or int(entry.profile_id[1:]) % 38 == 0
        kit.record_feedback(entry.provider_message_id, F.HARD_BOUNCE if hard else F.SOFT_BOUNCE)
        if hard:
            suppressed.add((entry.channel, entry.address))
    assert {c for c, _ in suppressed} == {C.EMAIL, C.SMS}
    sent_before = {c: len(recorded(kit, c).sent) for c in C}

    # the audience: every profile, adjacent and far duplicates, and unknown ids
    audience: list[str] = []
    for i, pid in enumerate(profiles):
        audience.append(pid)
        if i % 50 == 25:
            audience.append(pid)
    audience.extend(pid for i, pid in enumerate(profiles) if i % 100 == 3)
    audience[500:500] = GHOSTS
    kit.audiences.define("everyone", audience)

    campaign = launch(
        world,
        [
            ck.Action(
                world.email.id,
                ck.EmailContent(
                    subject="Hi {{ profile.firstName }}",
                    html="<p>{{ profile.firstName }} in "
                    "{{ profile.address.city | default('your city') }}</p>",
                ),
            ),
            ck.Action(
                world.sms.id,
                ck.SmsContent(text="Sale {{ profile.firstName | default('friend') }}!"),
            ),
            ck.Action(
                world.push.id, ck.PushContent(title="News", body="Hello {{ profile.address.city }}")
            ),
        ],
        audience="everyone",
    )
    run = only_run(kit, campaign.id)
    assert run.status is ck.RunStatus.SUCCEEDED
    assert run.streamed
    assert run.position == len(audience)
    actions = {c: action_id(campaign, c) for c in (C.EMAIL, C.SMS, C.PUSH)}
    surfaces = {C.EMAIL: world.email, C.SMS: world.sms, C.PUSH: world.push}

    # the oracle, from the audience as streamed
    expected_sent: dict[C, set[str]] = {c: set() for c in actions}
    expected_excluded: dict[C, Counter[ck.ExclusionReason]] = {c: Counter() for c in actions}
    expected_reason: dict[tuple[C, str], ck.ExclusionReason] = {}
    seen: set[str] = set()
    for pid in audience:
        for channel in actions:
            if pid in seen:
                expected_excluded[channel][R.DUPLICATE] += 1
                continue
            reason = oracle(profiles.get(pid), channel, suppressed)
            if reason is None:
                expected_sent[channel].add(pid)
            else:
                expected_excluded[channel][reason] += 1
                expected_reason[channel, pid] = reason
        seen.add(pid)
    # the mix really covers every reason, on every channel
    for channel, excluded in expected_excluded.items():
        assert set(excluded) >= {
            R.DUPLICATE,
            R.UNKNOWN_PROFILE,
            R.MISSING_IDENTITY,
            R.NO_CONSENT,
        }, channel
        assert expected_sent[channel]
    assert expected_excluded[C.EMAIL][R.MISSING_ATTRIBUTE] > 0
    assert expected_excluded[C.PUSH][R.MISSING_ATTRIBUTE] > 0
    assert expected_excluded[C.SMS][R.MISSING_ATTRIBUTE] == 0  # default() fallback
    assert expected_excluded[C.EMAIL][R.SUPPRESSED] > 0
    assert expected_excluded[C.SMS][R.SUPPRESSED] > 0
    assert expected_excluded[C.SMS][R.MISSING_CHANNEL_DATA] > 0
    assert expected_excluded[C.PUSH][R.MISSING_CHANNEL_DATA] > 0

    # the ledger: exactly one final entry per (unique profile, action)
    entries = ledger(kit, run.id)
    unique = list(dict.fromkeys(audience))
    assert sorted(e.key for e in entries) == sorted(
        (run.id, actions[c], pid) for c in actions for pid in unique
    )
    channel_of = {a: c for c, a in actions.items()}
    for entry in entries:
        channel = channel_of[entry.action_id]
        assert entry.state.is_final, entry
        assert entry.channel is channel
        assert entry.campaign_id == campaign.id
        assert entry.message is None  # dropped once the outcome is final
        if entry.profile_id in expected_sent[channel]:
            assert entry.state is L.SENT, entry
            assert entry.attempts == 1
            assert entry.address == address_in(profiles[entry.profile_id], channel)
        else:
            assert entry.state is L.EXCLUDED, entry
            assert entry.reason is expected_reason[channel, entry.profile_id], entry
            assert entry.attempts == 0

    # the report adds up, per action and in total
    report = admin.report(campaign.id)
    assert [r.run_id for r in report.runs] == [run.id]
    assert dict(report.runs[0].by_action) == dict(report.by_action)
    for channel, aid in actions.items():
        counts = report.by_action[aid]
        assert counts.targeted == len(audience)
        assert counts.sent == len(expected_sent[channel])
        assert counts.failed == 0
        assert dict(counts.excluded) == dict(expected_excluded[channel])
        assert balanced(counts)
        assert counts.retries == 0
    assert report.targeted == 3 * len(audience)
    assert report.sent == sum(len(s) for s in expected_sent.values())
    assert report.targeted == report.sent + report.failed + report.counts.excluded_total
    assert report.counts.pending == 0
    assert report.runs[0].counts == report.counts
    assert report.runs[0].status is ck.RunStatus.SUCCEEDED

    # the channels got exactly the sent messages, once each, fully rendered
    for channel, aid in actions.items():
        channel_double = recorded(kit, channel)
        messages = channel_double.sent[sent_before[channel] :]
        assert all(m.run_id == run.id for m in messages)
        assert sorted(m.profile_id for m in messages) == sorted(expected_sent[channel])
        provider = {e.profile_id: e.provider_message_id for e in entries if e.action_id == aid}
        for message in messages:
            profile = profiles[message.profile_id]
            assert message.action_id == aid
            assert message.campaign_id == campaign.id
            assert message.channel is channel
            assert message.idempotency_key == idempotency_key(run.id, aid, profile.id)
            assert message.address == address_in(profile, channel)
            assert message.proof is False
            assert message.transactional is False
            assert message.settings == surfaces[channel].settings
            assert dict(message.fields) == rendered(profile, channel)
            assert provider[profile.id] == f"{channel.value}-{message.idempotency_key}"


# ---------------------------------------------------------------- retries

RETRY = ck.DeliverySettings(
    max_attempts=4,
    retry_base=pendulum.duration(seconds=30),
    retry_cap=pendulum.duration(minutes=2),
)


def delays(key: str, settings: ck.DeliverySettings, attempts: int) -> list[pendulum.DateTime]:
    """When attempts 1..``attempts`` happen for a message first sent at T0."""
    times = [T0]
    for attempt in range(1, attempts):
        times.append(
            times[-1] + backoff(key, attempt, base=settings.retry_base, cap=settings.retry_cap)
        )
    return times


def test_transient_failures_are_retried_with_deterministic_backoff_then_failed(
    worlds: Worlds,
) -> None:
    clock = ManualClock(T0)
    tries: Counter[str] = Counter()
    log: list[tuple[str, pendulum.DateTime]] = []

    def respond(message: ck.Message) -> ck.SendResult:
        pid = message.profile_id
        tries[pid] += 1
        log.append((pid, clock.now()))
        if pid == "flaky" and tries[pid] <= 2:
            return ck.TransientFailure(f"busy {tries[pid]}")
        if pid == "down":
            return ck.TransientFailure(f"busy {tries[pid]}")
        if pid == "bad":
            return ck.PermanentFailure("invalid address")
        return ck.Accepted(f"ok-{pid}-{tries[pid]}")

    world = worlds.world(clock, channels={C.EMAIL: CallbackChannel(respond)}, delivery=RETRY)
    kit = world.kit
    for pid in ("ok", "flaky", "down", "bad"):
        kit.profiles.upsert(person(pid, pid))
    kit.audiences.define("mixed", ["ok", "flaky", "down", "bad"])
    campaign = launch(world, [email_action(world)], audience="mixed")
    run = only_run(kit, campaign.id)
    aid = action_id(campaign, C.EMAIL)
    key = {pid: idempotency_key(run.id, aid, pid) for pid in tries}

    # after the first tick: one sent, one failed for good, two waiting to retry
    entries = by_profile(ledger(kit, run.id))
    assert entries["ok"].state is L.SENT
    assert entries["ok"].provider_message_id == "ok-ok-1"
    assert (entries["bad"].state, entries["bad"].error, entries["bad"].attempts) == (
        L.FAILED,
        "invalid address",
        1,
    )
    for pid in ("flaky", "down"):
        entry = entries[pid]
        assert (entry.state, entry.attempts, entry.error) == (L.RETRY, 1, "busy 1")
        assert entry.next_attempt_at == delays(key[pid], RETRY, 2)[1]
        assert entry.message is not None
        assert entry.message.idempotency_key == key[pid]
    assert run.status is ck.RunStatus.RUNNING
    assert run.due_at == min(delays(key["flaky"], RETRY, 2)[1], delays(key["down"], RETRY, 2)[1])
    counts = run.counts[aid]
    assert (counts.targeted, counts.sent, counts.failed, counts.pending, counts.retries) == (
        4,
        1,
        1,
        2,
        0,
    )
    assert kit.engine.next_due_at() == run.due_at

    # the engine re-sends at exactly the backoff instants, on its clock
    kit.run_until(T0.add(hours=1))
    assert [t for pid, t in log if pid == "flaky"] == delays(key["flaky"], RETRY, 3)
    assert [t for pid, t in log if pid == "down"] == delays(key["down"], RETRY, 4)
    assert [t for pid, t in log if pid in ("ok", "bad")] == [T0, T0]
    entries = by_profile(ledger(kit, run.id))
    assert (entries["flaky"].state, entries["flaky"].attempts) == (L.SENT, 3)
    assert entries["flaky"].provider_message_id == "ok-flaky-3"
    assert (entries["down"].state, entries["down"].attempts, entries["down"].error) == (
        L.FAILED,
        4,
        "busy 4",
    )
    run = only_run(kit, campaign.id)
    assert run.status is ck.RunStatus.SUCCEEDED
    assert run.finished_at == delays(key["down"], RETRY, 4)[-1]
    assert run.due_at is None
    report = world.admin.report(campaign.id)
    assert (report.sent, report.failed, report.retries, report.targeted) == (2, 2, 2 + 3, 4)
    assert balanced(report.counts)


def test_backoff_is_deterministic_exponential_jittered_and_capped() -> None:
    base, cap = pendulum.duration(seconds=10), pendulum.duration(seconds=100)
    first = backoff("run:act:p1", 1, base=base, cap=cap)
    assert first == backoff("run:act:p1", 1, base=base, cap=cap)
    for attempt in range(1, 10):
        delay = backoff("run:act:p1", attempt, base=base, cap=cap).total_seconds()
        raw = min(10 * 2 ** (attempt - 1), 100)
        assert 0.5 * raw <= delay < raw
    spread = {backoff(f"run:act:p{n}", 1, base=base, cap=cap) for n in range(20)}
    assert len(spread) > 10  # recipients do not retry in lockstep


class Flaky:
    """A channel that raises (or answers nonsense) on its first call, then accepts."""

    def __init__(self, first: Callable[[Sequence[ck.Message]], Sequence[ck.SendResult]]) -> None:
        self.first = first
        self.calls = 0

    def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
        self.calls += 1
        if self.calls == 1:
            return self.first(messages)
        return [ck.Accepted(f"flaky-{m.idempotency_key}") for m in messages]


def _raise(messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
    raise ConnectionError("provider unreachable")


def _too_few(messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
    return [ck.Accepted("only-one")]


@pytest.mark.parametrize(
    ("first", "error"),
    [
        (_raise, "ConnectionError: provider unreachable"),
        (_too_few, "DeliveryError: channel answered 1 results for 2 messages"),
    ],
)
def test_a_channel_that_raises_or_miscounts_is_a_transient_failure_of_its_batch(
    memory: Worlds,
    first: Callable[[Sequence[ck.Message]], Sequence[ck.SendResult]],
    error: str,
) -> None:
    channel = Flaky(first)
    world = memory.world(channels={C.EMAIL: channel}, delivery=RETRY)
    campaign = launch(world, [email_action(world)])
    run = only_run(world.kit, campaign.id)
    entries = ledger(world.kit, run.id)
    assert [(e.state, e.error, e.attempts) for e in entries] == [(L.RETRY, error, 1)] * 2
    assert run.status is ck.RunStatus.RUNNING
    world.kit.run_until(T0.add(hours=1))
    entries = ledger(world.kit, run.id)
    assert [e.state for e in entries] == [L.SENT, L.SENT]
    report = world.admin.report(campaign.id)
    assert (report.sent, report.retries, report.failed) == (2, 2, 0)
    assert channel.calls == 3  # each message is retried at its own (jittered) instant


# ---------------------------------------------------------------- feedback


def test_feedback_is_counted_per_event_action_and_run(worlds: Worlds) -> None:
    world = worlds.world()
    kit = world.kit
    campaign = launch(world, [email_action(world), ck.Action(world.sms.id, ck.SmsContent("x"))])
    run = only_run(kit, campaign.id)
    aid = action_id(campaign, C.EMAIL)
    provider = recorded(kit, C.EMAIL).provider_ids
    first = provider[idempotency_key(run.id, aid, "p1")]
    second = provider[idempotency_key(run.id, aid, "p2")]
    world.clock.advance(minutes=5)
    record = kit.record_feedback(first, F.DELIVERED)
    assert record == ck.FeedbackRecord(
        at=T0.add(minutes=5),
        provider_message_id=first,
        event=F.DELIVERED,
        run_id=run.id,
        action_id=aid,
        profile_id="p1",
        campaign_id=campaign.id,
    )
    for provider_id, event in [
        (second, F.DELIVERED),
        (first, F.OPENED),
        (first, F.CLICKED),
        (second, F.OPENED),
        (second, F.COMPLAINT),
        (first, F.SOFT_BOUNCE),
    ]:
        kit.record_feedback(provider_id, event)
    report = world.admin.report(campaign.id)
    expected = {F.DELIVERED: 2, F.OPENED: 2, F.CLICKED: 1, F.COMPLAINT: 1, F.SOFT_BOUNCE: 1}
    assert dict(report.feedback) == expected
    assert dict(report.by_action[aid].feedback) == expected
    assert dict(report.runs[0].by_action[aid].feedback) == expected
    assert report.by_action[action_id(campaign, C.SMS)].feedback == {}
    assert (report.sent, report.targeted) == (2, 4)  # feedback changes no delivery count
    with kit.store.unit_of_work() as uow:
        assert len(uow.feedback.for_campaign(campaign.id)) == 7


def test_feedback_for_an_unknown_provider_id_is_not_found(worlds: Worlds) -> None:
    world = worlds.world()
    campaign = launch(world, [email_action(world)])
    before = world.admin.report(campaign.id)
    with pytest.raises(ck.NotFound, match="nope"):
        world.kit.record_feedback("nope", F.OPENED)
    assert world.admin.report(campaign.id) == before


def test_unsubscribe_withdraws_consent_for_that_channel_only(worlds: Worlds) -> None:
    world = worlds.world()
    kit = world.kit
    for pid in ("p1", "p2"):
        kit.profiles.upsert(person(pid, pid, phone=f"+3360000000{pid[-1]}"))
    campaign = launch(world, [email_action(world)])
    run = only_run(kit, campaign.id)
    key = idempotency_key(run.id, action_id(campaign, C.EMAIL), "p1")
    kit.record_feedback(recorded(kit, C.EMAIL).provider_ids[key], F.UNSUBSCRIBED)
    profile = kit.profiles.get("p1")
    assert profile is not None
    assert profile.consents == {C.EMAIL: False, C.SMS: True, C.PUSH: True}
    assert world.admin.report(campaign.id).feedback == {F.UNSUBSCRIBED: 1}

    later = launch(
        world, [email_action(world), ck.Action(world.sms.id, ck.SmsContent("x"))], name="Later"
    )
    report = world.admin.report(later.id)
    email_counts = report.by_action[action_id(later, C.EMAIL)]
    sms_counts = report.by_action[action_id(later, C.SMS)]
    assert (email_counts.sent, dict(email_counts.excluded)) == (1, {R.NO_CONSENT: 1})
    assert (sms_counts.sent, sms_counts.excluded) == (2, {})


def test_hard_bounce_suppresses_the_address_for_marketing_but_not_transactional(
    worlds: Worlds,
) -> None:
    world = worlds.world()
    kit, admin = world.kit, world.admin
    campaign = launch(world, [email_action(world)])
    run = only_run(kit, campaign.id)
    aid = action_id(campaign, C.EMAIL)
    provider = recorded(kit, C.EMAIL).provider_ids
    kit.record_feedback(provider[idempotency_key(run.id, aid, "p1")], F.HARD_BOUNCE)
    kit.record_feedback(provider[idempotency_key(run.id, aid, "p2")], F.SOFT_BOUNCE)
    with kit.store.unit_of_work() as uow:
        found = uow.suppressions.suppressed(C.EMAIL, ["p1@example.com", "p2@example.com"])
        assert found == {"p1@example.com"}
        assert uow.suppressions.suppressed(C.SMS, ["p1@example.com"]) == set()

    # a later marketing campaign: suppressed wins over consent (p1 also unsubscribes)
    kit.record_feedback(provider[idempotency_key(run.id, aid, "p1")], F.UNSUBSCRIBED)
    later = launch(world, [email_action(world)], name="Later")
    report = admin.report(later.id)
    assert (report.sent, dict(report.excluded)) == (1, {R.SUPPRESSED: 1})
    [entry] = [e for e in ledger(kit, only_run(kit, later.id).id) if e.profile_id == "p1"]
    assert (entry.state, entry.reason) == (L.EXCLUDED, R.SUPPRESSED)

    # a transactional message still goes to the bounced, unsubscribed address
    receipts = admin.create_surface(
        name="Receipts",
        channel=C.EMAIL,
        settings=ck.EmailSettings(sender="shop@example.com"),
        category=ck.Category.TRANSACTIONAL,
    )
    reset = admin.create_campaign(
        name="Password reset",
        type=ck.CampaignType.API_TRIGGERED,
        category=ck.Category.TRANSACTIONAL,
        namespace="email",
        actions=[ck.Action(receipts.id, ck.EmailContent(subject="Reset", html="{{ context.x }}"))],
    )
    admin.activate(reset.id)
    kit.tick()
    admin.trigger(
        reset.id,
        [ck.Recipient(user_id="p1@example.com", namespace="email", context={"x": "link"})],
        request_id="r-1",
    )
    kit.tick()
    report = admin.report(reset.id)
    assert (report.sent, report.excluded) == (1, {})
    message = recorded(kit, C.EMAIL).sent[-1]
    assert (message.profile_id, message.address, message.transactional) == (
        "p1",
        "p1@example.com",
        True,
    )
    assert dict(message.fields) == {"subject": "Reset", "html": "link"}


# ---------------------------------------------------------------- proofs


def test_proofs_render_the_draft_carry_proof_and_are_never_counted(memory: Worlds) -> None:
    world = memory.world()
    kit, admin = world.kit, world.admin
    kit.profiles.upsert(person("p1", "Ann", test=True))
    kit.profiles.upsert(person("p2", "Bob", consent=False, phone="+33600000002", test=True))
    draft = admin.create_campaign(
        name="Draft",
        audience="vip",
        namespace="email",
        actions=[
            email_action(world),
            ck.Action(world.sms.id, ck.SmsContent("Yo {{ profile.firstName }}")),
        ],
    )
    results = admin.send_proof(draft.id, ["p2", "p2"])  # a repeated id is one recipient
    assert [(r.message.channel, r.message.profile_id) for r in results] == [
        (C.EMAIL, "p2"),
        (C.SMS, "p2"),
    ]
    for result in results:
        message = result.message
        assert message.proof is True  # consent does not apply to a proof
        assert message.run_id.startswith("proof-")
        assert message.campaign_id == draft.id
        assert result.result == ck.Accepted(f"{message.channel.value}-{message.idempotency_key}")
    assert results[0].message.fields["subject"] == "Hi Bob"
    assert results[0].message.address == "p2@example.com"
    assert results[1].message.fields == {"text": "Yo Bob"}
    assert results[1].message.address == "+33600000002"
    assert recorded(kit, C.EMAIL).sent == [results[0].message]
    assert admin.report(draft.id).runs == ()

    # on a live campaign with an open draft, the proof renders the newest (draft) version
    live = admin.create_campaign(
        name="Live",
        type=ck.CampaignType.API_TRIGGERED,
        namespace="email",
        actions=[email_action(world)],
    )
    admin.activate(live.id)
    kit.tick()
    admin.trigger(
        live.id, [ck.Recipient(user_id="p1@example.com", namespace="email")], request_id="1"
    )
    kit.tick()
    sent = len(recorded(kit, C.EMAIL).sent)
    before = admin.report(live.id)
    admin.modify(live.id)
    admin.update_draft(live.id, actions=[email_action(world, "New {{ profile.firstName }}")])
    [proof] = admin.send_proof(live.id, ["p1"])
    assert proof.message.fields["subject"] == "New Ann"
    assert proof.message.proof is True
    assert len(recorded(kit, C.EMAIL).sent) == sent + 1
    assert before.sent == 1
    assert admin.report(live.id) == before  # never counted


@pytest.mark.parametrize(
    ("profile_ids", "problem"),
    [
        ([], "send a proof to 1 to 10 profiles, not 0"),
        ([f"p{n}" for n in range(11)], "send a proof to 1 to 10 profiles, not 11"),
        (["p1", "ghost"], "profile 'ghost' does not exist"),
        (["p1", "nomail"], "profile 'nomail' has no email address"),
        (["p1", "noname"], "for profile 'noname'"),
    ],
)
def test_proof_problems_are_validation_errors_and_send_nothing(
    memory: Worlds, profile_ids: list[str], problem: str
) -> None:
    world = memory.world()
    kit = world.kit
    for n in range(11):
        kit.profiles.upsert(person(f"p{n}", f"N{n}", test=True))
    kit.profiles.upsert(person("nomail", "Nora", email=None, test=True))
    kit.profiles.upsert(person("noname", test=True))
    draft = world.admin.create_campaign(
        name="Draft", audience="vip", namespace="email", actions=[email_action(world)]
    )
    with pytest.raises(ck.ValidationError) as caught:
        world.admin.send_proof(draft.id, profile_ids)
    assert any(problem in p for p in caught.value.problems), caught.value.problems
    assert recorded(kit, C.EMAIL).sent == []


def test_a_proof_of_a_template_that_cannot_render_is_a_validation_error(memory: Worlds) -> None:
    world = memory.world()
    draft = world.admin.create_campaign(
        name="Draft",
        audience="vip",
        namespace="email",
        actions=[email_action(world, "{{ profile.firstName + 1 }}")],
    )
    world.kit.profiles.upsert(person("p1", "Ann", test=True))
    with pytest.raises(ck.ValidationError, match="TypeError"):
        world.admin.send_proof(draft.id, ["p1"])
    assert recorded(world.kit, C.EMAIL).sent == []


def test_proofs_need_campaign_write(memory: Worlds) -> None:
    world = memory.world()
    kit = world.kit
    draft = world.admin.create_campaign(
        name="Draft", audience="vip", namespace="email", actions=[email_action(world)]
    )
    kit.access.assign("vera", ck.ProductProfile.VIEWER)
    kit.access.assign("max", ck.ProductProfile.MANAGER)
    kit.profiles.upsert(person("p1", "Ann", test=True))
    for user in ("vera", "nobody"):
        with pytest.raises(ck.PermissionDenied, match=r"campaign\.write"):
            kit.as_user(user).send_proof(draft.id, ["p1"])
    assert recorded(kit, C.EMAIL).sent == []
    [result] = kit.as_user("max").send_proof(draft.id, ["p1"])
    assert result.message.proof is True


# ---------------------------------------------------------------- stop, completion, end date


def crowd(kit: ck.CampaignKit, size: int, name: str = "crowd") -> list[str]:
    """``size`` sendable profiles in audience ``name``."""
    ids = [f"m{n:03d}" for n in range(size)]
    for pid in ids:
        kit.profiles.upsert(person(pid, pid))
    kit.audiences.define(name, ids)
    return ids


def test_stop_during_a_batch_halts_the_run_at_the_next_batch_boundary(worlds: Worlds) -> None:
    target: dict[str, str] = {}
    world_box: list[World] = []

    def respond(message: ck.Message) -> ck.SendResult:
        if len(channel.calls) == 11:  # the first message of the 2nd batch
            world_box[0].admin.stop(target["id"])
        return ck.Accepted(f"cb-{message.idempotency_key}")

    channel = CallbackChannel(respond)
    world = worlds.world(channels={C.EMAIL: channel}, delivery=ck.DeliverySettings(batch_size=10))
    world_box.append(world)
    kit = world.kit
    ids = crowd(kit, 45)
    campaign = world.admin.create_campaign(
        name="Stoppable", audience="crowd", namespace="email", actions=[email_action(world)]
    )
    target["id"] = campaign.id
    world.admin.activate(campaign.id)
    kit.tick()

    assert [m.profile_id for m in channel.calls] == ids[:20]  # batches 1 and 2, nothing more
    assert world.admin.get(campaign.id).status is ck.CampaignStatus.STOPPED
    run = only_run(kit, campaign.id)
    assert run.status is ck.RunStatus.STOPPED
    assert run.finished_at == T0
    assert run.due_at is None
    entries = by_profile(ledger(kit, run.id))
    assert sorted(entries) == sorted(ids)
    for pid in ids[:20]:
        assert entries[pid].state is L.SENT
    for pid in ids[20:]:
        assert (entries[pid].state, entries[pid].reason) == (L.EXCLUDED, R.STOPPED)
    report = world.admin.report(campaign.id)
    assert (report.targeted, report.sent, report.failed) == (45, 20, 0)
    assert dict(report.excluded) == {R.STOPPED: 25}
    assert balanced(report.counts)
    assert report.runs[0].status is ck.RunStatus.STOPPED
    kit.run_until(T0.add(days=5))
    assert len(channel.calls) == 20


def test_stop_while_retries_are_queued_settles_them_as_stopped(worlds: Worlds) -> None:
    def respond(message: ck.Message) -> ck.SendResult:
        if message.profile_id == "p2":
            return ck.TransientFailure("busy")
        return ck.Accepted(f"cb-{message.idempotency_key}")

    channel = CallbackChannel(respond)
    world = worlds.world(channels={C.EMAIL: channel}, delivery=RETRY)
    kit = world.kit
    campaign = launch(world, [email_action(world)])
    run = only_run(kit, campaign.id)
    assert run.status is ck.RunStatus.RUNNING
    assert run.due_at is not None
    world.clock.advance(seconds=5)  # before the retry is due
    world.admin.stop(campaign.id)
    assert by_profile(ledger(kit, run.id))["p2"].state is L.RETRY  # settled by the next tick
    kit.tick()
    run = only_run(kit, campaign.id)
    assert run.status is ck.RunStatus.STOPPED
    assert run.finished_at == T0.add(seconds=5)
    entries = by_profile(ledger(kit, run.id))
    assert entries["p1"].state is L.SENT
    assert (entries["p2"].state, entries["p2"].reason) == (L.EXCLUDED, R.STOPPED)
    report = world.admin.report(campaign.id)
    assert (report.targeted, report.sent, dict(report.excluded)) == (2, 1, {R.STOPPED: 1})
    assert balanced(report.counts)
    kit.run_until(T0.add(days=1))
    assert [m.profile_id for m in channel.calls] == ["p1", "p2"]  # never retried


def test_a_stop_during_the_last_batch_settles_queued_retries_at_once(memory: Worlds) -> None:
    target: dict[str, str] = {}
    world_box: list[World] = []

    def respond(message: ck.Message) -> ck.SendResult:
        if message.profile_id == "p2":
            world_box[0].admin.stop(target["id"])
            return ck.TransientFailure("busy")
        return ck.Accepted(f"cb-{message.idempotency_key}")

    world = memory.world(channels={C.EMAIL: CallbackChannel(respond)}, delivery=RETRY)
    world_box.append(world)
    campaign = launch(world, [email_action(world)], tick=False)
    target["id"] = campaign.id
    world.kit.tick()
    world.kit.tick()  # the next tick, at the same instant
    run = only_run(world.kit, campaign.id)
    entries = by_profile(ledger(world.kit, run.id))
    assert (entries["p2"].state, entries["p2"].reason) == (L.EXCLUDED, R.STOPPED)
    assert run.status is ck.RunStatus.STOPPED
    assert balanced(world.admin.report(campaign.id).counts)


def test_completion_waits_for_retries_beyond_three_days(worlds: Worlds) -> None:
    settings = ck.DeliverySettings(
        max_attempts=3,
        retry_base=pendulum.duration(days=2),
        retry_cap=pendulum.duration(days=10),
    )

    def respond(message: ck.Message) -> ck.SendResult:
        if message.profile_id == "p2":
            return ck.TransientFailure("mailbox full")
        return ck.Accepted(f"cb-{message.idempotency_key}")

    world = worlds.world(channels={C.EMAIL: CallbackChannel(respond)}, delivery=settings)
    kit = world.kit
    campaign = launch(world, [email_action(world)])
    run = only_run(kit, campaign.id)
    key = idempotency_key(run.id, action_id(campaign, C.EMAIL), "p2")
    last = delays(key, settings, 3)[-1]
    assert last > T0.add(days=3)

    kit.run_until(T0.add(days=3, minutes=1))
    assert world.admin.get(campaign.id).status is ck.CampaignStatus.LIVE
    assert only_run(kit, campaign.id).status is ck.RunStatus.RUNNING

    kit.run_until(T0.add(days=30))
    finished = world.admin.get(campaign.id)
    run = only_run(kit, campaign.id)
    assert (run.status, run.finished_at) == (ck.RunStatus.SUCCEEDED, last)
    assert finished.status is ck.CampaignStatus.COMPLETED
    [completion] = [e for e in finished.history if e.to_status is ck.CampaignStatus.COMPLETED]
    assert completion.at == last
    report = world.admin.report(campaign.id)
    assert (report.sent, report.failed, report.retries) == (1, 1, 2)
    assert balanced(report.counts)


def test_the_end_date_cuts_a_run_off(worlds: Worlds) -> None:
    settings = ck.DeliverySettings(
        retry_base=pendulum.duration(hours=6), retry_cap=pendulum.duration(days=1)
    )

    def respond(message: ck.Message) -> ck.SendResult:
        if message.profile_id == "p2":
            return ck.TransientFailure("busy")
        return ck.Accepted(f"cb-{message.idempotency_key}")

    channel = CallbackChannel(respond)
    world = worlds.world(channels={C.EMAIL: channel}, delivery=settings)
    kit = world.kit
    end = T0.add(hours=2)
    campaign = launch(world, [email_action(world)], end=end)
    kit.run_until(T0.add(days=5))
    finished = world.admin.get(campaign.id)
    assert finished.status is ck.CampaignStatus.COMPLETED
    [completion] = [e for e in finished.history if e.to_status is ck.CampaignStatus.COMPLETED]
    assert completion.at == end
    run = only_run(kit, campaign.id)
    assert (run.status, run.finished_at) == (ck.RunStatus.STOPPED, end)
    entries = by_profile(ledger(kit, run.id))
    assert (entries["p2"].state, entries["p2"].reason) == (L.EXCLUDED, R.STOPPED)
    report = world.admin.report(campaign.id)
    assert (report.sent, dict(report.excluded)) == (1, {R.STOPPED: 1})
    assert balanced(report.counts)
    assert [m.profile_id for m in channel.calls] == ["p1", "p2"]


# ---------------------------------------------------------------- resume after a crash, leases


class Crash(BaseException):
    """The process dies: not an ``Exception``, so nothing in campaignkit catches it."""


@pytest.mark.parametrize("lookup", [True, False], ids=["lookup", "resend"])
@pytest.mark.parametrize("delivered", [0, 4])
def test_a_run_resumes_after_a_crash_without_losing_or_resending_recorded_messages(
    worlds: Worlds, lookup: bool, delivered: int
) -> None:
    settings = ck.DeliverySettings(batch_size=10, lease=pendulum.duration(minutes=2))
    provider = ReconcilingRecordingChannel("prov") if lookup else RecordingChannel("prov")
    crash_at: list[str] = []

    def respond(message: ck.Message) -> ck.SendResult:
        if message.profile_id in crash_at:  # dies in the middle of the 2nd batch
            raise Crash
        [result] = provider.send([message])
        return result

    world = worlds.world(channels={C.EMAIL: CallbackChannel(respond)}, delivery=settings)
    kit = world.kit
    ids = crowd(kit, 30)
    crash_at.append(ids[10 + delivered])
    campaign = world.admin.create_campaign(
        name="Crashy", audience="crowd", namespace="email", actions=[email_action(world)]
    )
    world.admin.activate(campaign.id)
    with pytest.raises(Crash):
        kit.tick()

    run = only_run(kit, campaign.id)
    aid = action_id(world.admin.get(campaign.id), C.EMAIL)
    entries = by_profile(ledger(kit, run.id))
    assert sorted(entries) == ids[:20]  # the 3rd batch was never decided
    assert all(entries[pid].state is L.SENT for pid in ids[:10])
    for pid in ids[10:20]:
        entry = entries[pid]
        assert entry.state is L.PENDING
        assert entry.message is not None
        assert entry.message.idempotency_key == idempotency_key(run.id, aid, pid)
    assert (run.status, run.position, run.counts[aid].pending) == (ck.RunStatus.RUNNING, 20, 10)
    assert [m.profile_id for m in provider.sent] == ids[: 10 + delivered]

    # an interrupted worker hands its run back at once (a killed one cannot):
    released = only_run(kit, campaign.id)
    assert (released.lease_owner, released.due_at) == (None, world.clock.now())
    # model a killed worker: its lease still holds the run
    with kit.store.unit_of_work() as uow:
        held_until = world.clock.now().add(minutes=2)
        uow.runs.save(
            attrs.evolve(
                uow.runs.get(run.id),
                lease_owner="dead-worker",
                lease_expires_at=held_until,
                due_at=held_until,
            )
        )

    # a new process: the dead worker's lease holds it off until it expires
    restarted = worlds.restart(kit, channels={C.EMAIL: provider}, delivery=settings)
    restarted.tick()
    assert len(provider.sent) == 10 + delivered
    assert by_profile(ledger(restarted, run.id))[ids[15]].state is L.PENDING
    world.clock.advance(settings.lease)
    restarted.tick()

    run = only_run(restarted, campaign.id)
    assert run.status is ck.RunStatus.SUCCEEDED
    entries = by_profile(ledger(restarted, run.id))
    assert sorted(entries) == ids
    for pid in ids:
        key = idempotency_key(run.id, aid, pid)
        assert entries[pid].state is L.SENT
        assert entries[pid].provider_message_id == f"prov-{key}"
    copies = Counter(m.profile_id for m in provider.sent)
    resent = set() if lookup else set(ids[10 : 10 + delivered])
    assert copies == {pid: 2 if pid in resent else 1 for pid in ids}
    for message in provider.sent:  # a copy carries the same idempotency key
        assert message.idempotency_key == idempotency_key(run.id, aid, message.profile_id)
    report = restarted.as_user("ada").report(campaign.id)
    assert (report.targeted, report.sent, report.failed, report.retries) == (30, 30, 0, 0)
    assert balanced(report.counts)

    # recorded outcomes are never sent again, whatever ticks follow
    total = len(provider.sent)
    world.clock.advance(days=1)
    restarted.tick()
    assert len(provider.sent) == total


def test_the_same_worker_resumes_its_own_crashed_run_at_once(memory: Worlds) -> None:
    provider = RecordingChannel("prov")
    armed = [True]

    def respond(message: ck.Message) -> ck.SendResult:
        if armed[0] and message.profile_id == "p2":
            armed[0] = False
            raise Crash
        [result] = provider.send([message])
        return result

    world = memory.world(channels={C.EMAIL: CallbackChannel(respond)})
    campaign = world.admin.create_campaign(
        name="Crashy", audience="vip", namespace="email", actions=[email_action(world)]
    )
    world.admin.activate(campaign.id)
    with pytest.raises(Crash):
        world.kit.tick()
    world.kit.tick()
    run = only_run(world.kit, campaign.id)
    assert run.status is ck.RunStatus.SUCCEEDED
    # p1 was accepted before the crash but its outcome was not recorded: re-sent, same key
    assert [m.profile_id for m in provider.sent] == ["p1", "p1", "p2"]
    assert provider.sent[0].idempotency_key == provider.sent[1].idempotency_key


def lease_run(world: World, owner: str, expires: pendulum.DateTime) -> ck.Campaign:
    """A LIVE campaign whose run exists, undelivered, leased to ``owner`` until ``expires``."""
    kit = world.kit
    campaign = world.admin.create_campaign(
        name="Leased", audience="vip", namespace="email", actions=[email_action(world)]
    )
    world.admin.activate(campaign.id)
    with kit.store.unit_of_work() as uow:
        caught = kit.engine.catch_up(uow, uow.campaigns.get(campaign.id), world.clock.now())
        assert caught.campaign is not None
        assert caught.campaign.status is ck.CampaignStatus.LIVE
        [run] = uow.runs.for_campaign(campaign.id)
        uow.runs.save(attrs.evolve(run, lease_owner=owner, lease_expires_at=expires))
    return campaign


def test_a_run_leased_by_another_worker_waits_for_the_lease_to_expire(worlds: Worlds) -> None:
    world = worlds.world()
    kit = world.kit
    campaign = lease_run(world, "other", T0.add(minutes=5))
    sent = recorded(kit, C.EMAIL).sent
    kit.tick()
    assert sent == []
    run = only_run(kit, campaign.id)
    assert (run.status, run.lease_owner) == (ck.RunStatus.PENDING, "other")
    world.clock.set(T0.add(minutes=4, seconds=59))
    kit.tick()
    assert sent == []
    world.clock.set(T0.add(minutes=5))
    kit.tick()
    assert sorted(m.profile_id for m in sent) == ["p1", "p2"]
    run = only_run(kit, campaign.id)
    assert (run.status, run.lease_owner, run.lease_expires_at) == (
        ck.RunStatus.SUCCEEDED,
        None,
        None,
    )


class Livelock(Exception):
    """The engine kept ticking at one instant without making progress."""


class WatchdogClock(ManualClock):
    """A ManualClock that refuses to be set to the same instant over and over."""

    def __init__(self, start: pendulum.DateTime, limit: int = 200) -> None:
        super().__init__(start)
        self.sets: Counter[pendulum.DateTime] = Counter()
        self.limit = limit

    def set(self, when: pendulum.DateTime) -> None:
        self.sets[when] += 1
        if self.sets[when] > self.limit:
            raise Livelock(f"set to {when} more than {self.limit} times")
        super().set(when)


def test_run_until_waits_for_another_workers_lease_instead_of_spinning(memory: Worlds) -> None:
    clock = WatchdogClock(T0)
    world = memory.world(clock)
    campaign = lease_run(world, "other", T0.add(minutes=5))
    world.kit.run_until(T0.add(minutes=10))
    assert sorted(m.profile_id for m in recorded(world.kit, C.EMAIL).sent) == ["p1", "p2"]
    assert only_run(world.kit, campaign.id).finished_at == T0.add(minutes=5)


# ---------------------------------------------------------------- progress


def test_progress_is_reported_after_every_batch(worlds: Worlds) -> None:
    seen: list[ck.RunProgress] = []

    def record(progress: ck.RunProgress) -> None:
        seen.append(progress)

    world = worlds.world(progress=record, delivery=ck.DeliverySettings(batch_size=10))
    kit = world.kit
    ids = crowd(kit, 25)
    kit.audiences.define("crowd", [*ids, ids[0]])  # 26 members, one duplicate
    campaign = launch(world, [email_action(world)], audience="crowd")
    run = only_run(kit, campaign.id)
    assert [p.position for p in seen] == [10, 20, 26]
    assert all((p.run_id, p.campaign_id, p.total) == (run.id, campaign.id, 26) for p in seen)
    assert [p.counts.targeted for p in seen] == [10, 20, 26]
    assert [p.counts.sent for p in seen] == [10, 20, 25]
    assert seen[-1].counts == run.total()


def test_progress_total_is_unknown_for_a_conditional_audience(memory: Worlds) -> None:
    seen: list[ck.RunProgress] = []

    def record(progress: ck.RunProgress) -> None:
        seen.append(progress)

    world = memory.world(progress=record, delivery=ck.DeliverySettings(batch_size=2))
    kit = world.kit
    crowd(kit, 5)
    kit.audiences.define("m", where=lambda p: p.id.startswith("m"))
    launch(world, [email_action(world)], audience="m")
    assert [(p.position, p.total) for p in seen] == [(2, None), (4, None), (5, None)]


# ---------------------------------------------------------------- channels


@pytest.mark.parametrize("backend", BACKENDS)
def test_kits_wire_a_recording_channel_per_type_by_default(backend: str, tmp_path: Path) -> None:
    builder = Worlds(backend, tmp_path)
    try:
        kit = builder.kit(ManualClock(T0))
        assert set(kit.channels) == set(C)
        assert len({id(channel) for channel in kit.channels.values()}) == len(C)
        for channel_type, channel in kit.channels.items():
            assert type(channel) is RecordingChannel
            assert isinstance(channel, ck.Channel)
            assert channel.sent == []
            [result] = channel.send([message_for(channel_type)])
            assert result == ck.Accepted(f"{channel_type.value}-run:act:p1")
    finally:
        builder.close()


def message_for(channel: C, *, proof: bool = False) -> ck.Message:
    settings: dict[C, ck.EmailSettings | ck.SmsSettings | ck.PushSettings] = {
        C.EMAIL: ck.EmailSettings(sender="news@example.com"),
        C.SMS: ck.SmsSettings(sender_id="SHOP"),
        C.PUSH: ck.PushSettings(app_id="com.shop"),
    }
    return ck.Message(
        run_id="run",
        campaign_id="cmp",
        action_id="act",
        profile_id="p1",
        channel=channel,
        address="ann@example.com",
        idempotency_key="run:act:p1",
        fields={"subject": "Hi", "html": "<p>x</p>"},
        settings=settings[channel],
        proof=proof,
    )


def test_console_channel_prints_every_message_to_its_stream(memory: Worlds) -> None:
    stream = io.StringIO()
    console = ck.ConsoleChannel(stream)
    results = console.send([message_for(C.EMAIL), message_for(C.EMAIL, proof=True)])
    assert results == [ck.Accepted("console-run:act:p1")] * 2
    assert stream.getvalue().splitlines() == [
        "[email] to ann@example.com: subject='Hi'; html='<p>x</p>'",
        "[email] [proof] to ann@example.com: subject='Hi'; html='<p>x</p>'",
    ]

    # wired into a kit, a run prints each message
    out = io.StringIO()
    world = memory.world(channels={C.EMAIL: ck.ConsoleChannel(out)})
    campaign = launch(world, [email_action(world)])
    assert out.getvalue().splitlines() == [
        "[email] to p1@example.com: subject='Hi Ann'; html='<p>Hello</p>'",
        "[email] to p2@example.com: subject='Hi Bob'; html='<p>Hello</p>'",
    ]
    assert world.admin.report(campaign.id).sent == 2


def test_console_channel_defaults_to_standard_output(capsys: pytest.CaptureFixture[str]) -> None:
    ck.ConsoleChannel().send([message_for(C.SMS)])
    assert capsys.readouterr().out.startswith("[sms] to ann@example.com: ")


def test_null_channel_accepts_and_keeps_nothing() -> None:
    assert NullChannel().send([message_for(C.PUSH)]) == [ck.Accepted("run:act:p1")]


def test_an_action_without_a_wired_channel_is_refused_at_activation(memory: Worlds) -> None:
    world = memory.world(channels={C.EMAIL: RecordingChannel()})
    draft = world.admin.create_campaign(
        name="No SMS channel",
        audience="vip",
        namespace="email",
        actions=[ck.Action(world.sms.id, ck.SmsContent("x"))],
    )
    with pytest.raises(ck.ValidationError) as refused:
        world.admin.activate(draft.id)
    assert any("no channel is wired for sms" in p for p in refused.value.problems)
    assert world.admin.get(draft.id).status is ck.CampaignStatus.DRAFT


def test_a_channel_unwired_after_activation_fails_the_run_with_a_clear_error(
    memory: Worlds,
) -> None:
    world = memory.world(channels={C.EMAIL: RecordingChannel(), C.SMS: RecordingChannel()})
    start = world.clock.now().add(hours=1)
    campaign = world.admin.create_campaign(
        name="Later",
        audience="vip",
        namespace="email",
        actions=[ck.Action(world.sms.id, ck.SmsContent("x"))],
        schedule=ck.Schedule(start=start),
    )
    world.admin.activate(campaign.id)
    world.kit.tick()  # SCHEDULED, validated with its channel wired
    del world.kit.channels[C.SMS]  # then the host wires the kit without it
    world.kit.run_until(start)
    run = only_run(world.kit, campaign.id)
    assert run.status is ck.RunStatus.FAILED
    assert run.error is not None
    assert "no channel is wired for sms" in run.error


# ---------------------------------------------------------------- personalization


def test_a_missing_attribute_excludes_only_that_action_for_that_recipient(worlds: Worlds) -> None:
    world = worlds.world()
    kit = world.kit
    kit.profiles.upsert(person("p1", None, phone="+33600000001", city="Lyon"))
    kit.profiles.upsert(person("p2", "Bob", phone="+33600000002", city=None))
    campaign = launch(
        world,
        [
            email_action(world, "Hi {{ profile.firstName }} from {{ profile.address.city }}"),
            ck.Action(
                world.sms.id,
                ck.SmsContent("Hi {{ profile.firstName | default('friend') }}"),
            ),
        ],
    )
    run = only_run(kit, campaign.id)
    email, sms = action_id(campaign, C.EMAIL), action_id(campaign, C.SMS)
    states = {(e.action_id, e.profile_id): (e.state, e.reason) for e in ledger(kit, run.id)}
    assert states == {
        (email, "p1"): (L.EXCLUDED, R.MISSING_ATTRIBUTE),
        (email, "p2"): (L.EXCLUDED, R.MISSING_ATTRIBUTE),
        (sms, "p1"): (L.SENT, None),
        (sms, "p2"): (L.SENT, None),
    }
    assert [m.fields["text"] for m in recorded(kit, C.SMS).sent] == ["Hi friend", "Hi Bob"]
    assert recorded(kit, C.EMAIL).sent == []
    report = world.admin.report(campaign.id)
    assert report.by_action[email].excluded == {R.MISSING_ATTRIBUTE: 2}
    assert run.status is ck.RunStatus.SUCCEEDED


def test_nested_attributes_fallbacks_and_context_render(memory: Worlds) -> None:
    world = memory.world()
    kit = world.kit
    kit.profiles.upsert(
        ck.Profile(
            id="p1",
            identities={"email": "ann@example.com"},
            attributes={"firstName": "Ann", "address": {"city": "Paris", "geo": {"zip": 75001}}},
            consents={C.EMAIL: True},
        )
    )
    kit.profiles.upsert(
        ck.Profile(
            id="p2",
            identities={"email": "bob@example.com"},
            attributes={"address": {"geo": {}}, "tier": None},
            consents={C.EMAIL: True},
        )
    )
    campaign = launch(
        world,
        [
            ck.Action(
                world.email.id,
                ck.EmailContent(
                    subject="{{ profile.firstName | default('friend') }} in "
                    "{{ profile.address.city | default('your city') }}",
                    html="{% if profile.address.geo.zip is defined %}"
                    "{{ profile.address.geo.zip }}{% else %}-{% endif %}",
                    text="{{ profile.firstName|upper if profile.firstName is defined else 'HI' }}",
                ),
            )
        ],
    )
    sent = recorded(kit, C.EMAIL).sent
    assert [dict(m.fields) for m in sent] == [
        {"subject": "Ann in Paris", "html": "75001", "text": "ANN"},
        {"subject": "friend in your city", "html": "-", "text": "HI"},
    ]
    assert world.admin.report(campaign.id).sent == 2


def test_a_fallback_covers_a_missing_parent_attribute(memory: Worlds) -> None:
    world = memory.world()
    kit = world.kit
    kit.profiles.upsert(person("p1", "Ann", city=None))  # no address at all
    campaign = launch(
        world, [email_action(world, "In {{ profile.address.city | default('your city') }}")]
    )
    report = world.admin.report(campaign.id)
    assert report.excluded == {}
    assert recorded(kit, C.EMAIL).sent[0].fields["subject"] == "In your city"


def test_a_template_error_other_than_missing_data_fails_that_message_only(
    worlds: Worlds,
) -> None:
    world = worlds.world()
    kit = world.kit
    kit.profiles.upsert(
        ck.Profile(
            id="p1",
            identities={"email": "p1@example.com"},
            attributes={"firstName": "Ann", "n": "seven"},
            consents={C.EMAIL: True},
        )
    )
    kit.profiles.upsert(
        ck.Profile(
            id="p2",
            identities={"email": "p2@example.com"},
            attributes={"firstName": "Bob", "n": 7},
            consents={C.EMAIL: True},
        )
    )
    campaign = launch(world, [email_action(world, "{{ profile.firstName }} #{{ profile.n + 1 }}")])
    run = only_run(kit, campaign.id)
    entries = by_profile(ledger(kit, run.id))
    assert entries["p1"].state is L.FAILED
    assert entries["p1"].error is not None
    assert entries["p1"].error.startswith("TypeError")
    assert entries["p2"].state is L.SENT
    assert [m.fields["subject"] for m in recorded(kit, C.EMAIL).sent] == ["Bob #8"]
    report = world.admin.report(campaign.id)
    assert (report.sent, report.failed, report.targeted) == (1, 1, 2)
    assert run.status is ck.RunStatus.SUCCEEDED


# ---------------------------------------------------------------- reports


def test_reports_need_campaign_report_read(memory: Worlds) -> None:
    world = memory.world()
    kit = world.kit
    campaign = launch(world, [email_action(world)])
    kit.access.assign("vera", ck.ProductProfile.VIEWER)
    kit.access.assign("max", ck.ProductProfile.MANAGER)
    for user in ("vera", "max", "ada"):
        assert kit.as_user(user).report(campaign.id).sent == 2
    with pytest.raises(ck.PermissionDenied, match=r"campaign_report\.read"):
        kit.as_user("nobody").report(campaign.id)
    with pytest.raises(ck.NotFound):
        world.admin.report("cmp_missing")
    with pytest.raises(ck.PermissionDenied):  # a denial does not reveal existence
        kit.as_user("nobody").report("cmp_missing")


def test_reports_break_down_per_run_and_per_action(worlds: Worlds) -> None:
    world = worlds.world()
    kit, admin = world.kit, world.admin
    kit.profiles.upsert(person("p1", "Ann", phone="+33600000001"))
    kit.profiles.upsert(person("p2", "Bob", consent=False))
    campaign = admin.create_campaign(
        name="Triggered",
        type=ck.CampaignType.API_TRIGGERED,
        namespace="email",
        actions=[email_action(world), ck.Action(world.sms.id, ck.SmsContent("x"))],
    )
    admin.activate(campaign.id)
    kit.tick()
    email, sms = (
        action_id(admin.get(campaign.id), C.EMAIL),
        action_id(admin.get(campaign.id), C.SMS),
    )
    admin.trigger(
        campaign.id, [ck.Recipient(user_id="p1@example.com", namespace="email")], request_id="a"
    )
    kit.tick()
    world.clock.advance(minutes=1)
    admin.trigger(
        campaign.id,
        [
            ck.Recipient(user_id="p1@example.com", namespace="email"),
            ck.Recipient(user_id="p2@example.com", namespace="email"),
        ],
        request_id="b",
    )
    kit.tick()
    report = admin.report(campaign.id)
    assert [r.kind for r in report.runs] == [ck.RunKind.TRIGGER] * 2
    assert [r.status for r in report.runs] == [ck.RunStatus.SUCCEEDED] * 2
    first, second = report.runs
    assert (first.counts.targeted, first.counts.sent) == (2, 2)
    assert first.by_action[email] == ck.ActionCounts(targeted=1, sent=1)
    assert second.by_action[email] == ck.ActionCounts(
        targeted=2, sent=1, excluded={R.NO_CONSENT: 1}
    )
    assert second.by_action[sms] == ck.ActionCounts(
        targeted=2, sent=1, excluded={R.MISSING_CHANNEL_DATA: 1}
    )
    assert report.by_action[email] == ck.ActionCounts(
        targeted=3, sent=2, excluded={R.NO_CONSENT: 1}
    )
    assert report.by_action[sms] == first.by_action[sms].plus(second.by_action[sms])
    assert (report.targeted, report.sent, report.failed) == (6, 4, 0)
    assert dict(report.excluded) == {R.NO_CONSENT: 1, R.MISSING_CHANNEL_DATA: 1}
    assert report.counts == first.counts.plus(second.counts)
    assert all(balanced(r.counts) for r in report.runs)
    assert report.campaign_id == campaign.id
    assert report.name == "Triggered"


def test_report_html_escapes_names(memory: Worlds) -> None:
    world = memory.world()
    kit = world.kit
    kit.profiles.upsert(person("p2", "Bob", consent=False))
    campaign = launch(world, [email_action(world)], name="<script>alert('x')</script> & co")
    page = world.admin.report(campaign.id)._repr_html_()
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co" in page
    assert "<td>2</td><td>1</td><td>0</td><td>1 (no_consent: 1)</td>" in page
    assert world.admin.get(campaign.id)._repr_html_().count("&lt;script&gt;") == 1


def test_a_worker_that_fails_after_losing_its_run_leaves_it_to_the_new_owner(
    worlds: Worlds, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A delivery that raises once another worker owns the run does not mark it FAILED."""
    world = worlds.world()
    store = world.kit.store

    def taken_over_then_broken(self: Runner, run_id: str, *args: object, **kwargs: object) -> bool:
        with store.unit_of_work() as uow:  # meanwhile another worker took the run over
            run = uow.runs.get(run_id)
            uow.runs.save(attrs.evolve(run, lease_owner="worker-elsewhere"))
        raise RuntimeError("the process is in a bad way")

    monkeypatch.setattr(Runner, "_batch", taken_over_then_broken)
    campaign = world.admin.create_campaign(
        name="Taken", audience="vip", namespace="email", actions=[email_action(world)]
    )
    world.admin.activate(campaign.id)
    world.kit.tick()
    run = only_run(world.kit, campaign.id)
    assert run.status is ck.RunStatus.RUNNING  # left to its new owner
    assert (run.lease_owner, run.error) == ("worker-elsewhere", None)
