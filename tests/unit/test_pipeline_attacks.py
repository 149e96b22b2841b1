"""Attacks on issue 12's per-batch delivery pipeline: hostile channels, bad data, odd hosts.

Covers the paused garbage collector, the shared heartbeat thread, channel
answers of every wrong shape, provider ids reused inside and across batches,
profile data that breaks each decide step on the simple and the timed path,
duplicates inside a batch and across a resume, and how a run ends when its
campaign stops during its last batch or its last batch leaves retries. Every
kit-level test runs on the in-memory store and on a SQLite file. Nothing
sleeps: threads are waited for by polling an event with a bound.

Four bugs found here were fixed with them (a generator answer, a lookup that raises, a
channel that empties its input, two heartbeat blocks on one run).
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit.adapters.memory import InMemoryStore
from campaignkit.delivery import collector
from campaignkit.delivery.lease import Leases
from campaignkit.delivery.runner import Paused
from campaignkit.testing import CallbackChannel, ManualClock, SequentialIds
from tests.factories import bypass, person

T0 = pendulum.datetime(2027, 3, 1, 9, tz="UTC")
EMAIL = ck.ChannelType.EMAIL


# ---------------------------------------------------------------- helpers


class HostAudiences:
    """A host audience source handing over whatever profiles it was given."""

    def __init__(self, audiences: Mapping[str, Sequence[ck.Profile]]) -> None:
        self.audiences = dict(audiences)
        self.raise_at: int | None = None
        self.interrupt = False

    def status(self, name: str) -> ck.AudienceStatus | None:
        return ck.AudienceStatus.READY if name in self.audiences else None

    def count(self, name: str) -> int | None:
        return len(self.audiences[name]) if name in self.audiences else None

    def members(
        self, name: str, *, namespace: str, batch_size: int
    ) -> Iterator[Sequence[ck.Profile]]:
        members = self.audiences[name]
        for number, start in enumerate(range(0, len(members), batch_size)):
            if number == self.raise_at:
                if self.interrupt:
                    raise KeyboardInterrupt
                raise RuntimeError("audience service down")
            yield members[start : start + batch_size]


def _wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    """Poll ``condition()`` every 10 ms of real time, up to ``seconds``."""
    pause = threading.Event()
    for _ in range(int(seconds * 100)):
        if condition():
            return True
        pause.wait(0.01)
    return False


@attrs.define
class Env:
    kit: ck.CampaignKit
    clock: ManualClock
    admin: ck.UserSession
    surface: ck.ChannelSurface

    def campaign(
        self,
        audience: str,
        subject: str = "Hi",
        *,
        schedule: ck.Schedule | None = None,
        name: str = "Crowd",
    ) -> ck.Campaign:
        return self.admin.create_campaign(
            name=name,
            audience=audience,
            namespace="email",
            actions=[ck.Action(self.surface.id, ck.EmailContent(subject=subject, html="<p>x</p>"))],
            schedule=schedule or ck.Schedule(),
        )

    def start(self, audience: str, subject: str = "Hi", **kwargs: object) -> ck.Campaign:
        campaign = self.campaign(audience, subject, **kwargs)  # type: ignore[arg-type]
        self.admin.activate(campaign.id)
        return campaign

    def run_of(self, campaign_id: str) -> ck.Run:
        with self.kit.store.unit_of_work() as uow:
            (run,) = uow.runs.for_campaign(campaign_id)
        return run

    def entries(self, campaign_id: str) -> list[ck.LedgerEntry]:
        run = self.run_of(campaign_id)
        with self.kit.store.unit_of_work() as uow:
            return list(uow.ledger.entries(run.id))


@pytest.fixture(params=["memory", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_env(backend: str, tmp_path: Path) -> Iterator[Callable[..., Env]]:
    kits: list[ck.CampaignKit] = []

    def make(
        audiences: HostAudiences | None = None,
        channel: ck.Channel | None = None,
        delivery: ck.DeliverySettings | None = None,
        clock: ManualClock | None = None,
        name: str = "kit.db",
    ) -> Env:
        clock = clock or ManualClock(T0)
        options: dict[str, object] = {
            "clock": clock,
            "ids": SequentialIds(),
            "audiences": audiences,
            "delivery": delivery or ck.DeliverySettings(batch_size=10),
            "channels": {EMAIL: channel or CallbackChannel(accept)},
        }
        kit = (
            ck.CampaignKit.sqlite(tmp_path / name, **options)  # type: ignore[arg-type]
            if backend == "sqlite"
            else ck.CampaignKit.in_memory(**options)  # type: ignore[arg-type]
        )
        kits.append(kit)
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        admin = kit.as_user("ada")
        surface = admin.create_surface(
            name="News", channel=EMAIL, settings=ck.EmailSettings(sender="n@example.com")
        )
        return Env(kit, clock, admin, surface)

    yield make
    for kit in kits:
        kit.close()


def accept(message: ck.Message) -> ck.SendResult:
    return ck.Accepted(f"id-{message.idempotency_key}")


def crowd(count: int, **attributes: object) -> list[ck.Profile]:
    return [person(f"p{i:03d}", **attributes) for i in range(count)]


@pytest.fixture(autouse=True)
def _gc_on() -> Iterator[None]:
    """Every test starts and ends with the collector on, as a host would have it."""
    gc.enable()
    yield
    gc.enable()


# ---------------------------------------------------------------- the paused collector


def test_the_collector_is_off_inside_a_batch_and_on_after(make_env: Callable[..., Env]) -> None:
    seen: list[bool] = []

    def spy(message: ck.Message) -> ck.SendResult:
        seen.append(gc.isenabled())
        return accept(message)

    env = make_env(audiences=HostAudiences({"c": crowd(25)}), channel=CallbackChannel(spy))
    campaign = env.start("c")
    env.kit.tick()
    assert seen
    assert not any(seen)
    assert gc.isenabled()
    assert env.run_of(campaign.id).status is ck.RunStatus.SUCCEEDED


def test_the_collector_is_back_on_after_an_audience_that_raises_mid_run(
    make_env: Callable[..., Env],
) -> None:
    host = HostAudiences({"c": crowd(25)})
    host.raise_at = 1
    env = make_env(audiences=host)
    campaign = env.start("c")
    env.kit.tick()
    assert env.run_of(campaign.id).status is ck.RunStatus.FAILED
    assert gc.isenabled()


def test_the_collector_is_back_on_after_a_keyboard_interrupt_and_the_run_resumes(
    make_env: Callable[..., Env],
) -> None:
    host = HostAudiences({"c": crowd(25)})
    host.raise_at, host.interrupt = 1, True
    env = make_env(audiences=host)
    campaign = env.start("c")
    with pytest.raises(KeyboardInterrupt):
        env.kit.tick()
    assert gc.isenabled()
    run = env.run_of(campaign.id)
    assert run.lease_owner is None  # handed back at once
    host.raise_at = None
    env.kit.tick()
    assert env.run_of(campaign.id).status is ck.RunStatus.SUCCEEDED
    assert env.admin.report(campaign.id).sent == 25


def test_a_keyboard_interrupt_in_a_channel_restores_the_collector(
    make_env: Callable[..., Env],
) -> None:
    calls = [0]

    def interrupt(message: ck.Message) -> ck.SendResult:
        calls[0] += 1
        if calls[0] == 12:
            raise KeyboardInterrupt
        return accept(message)

    env = make_env(audiences=HostAudiences({"c": crowd(25)}), channel=CallbackChannel(interrupt))
    campaign = env.start("c")
    with pytest.raises(KeyboardInterrupt):
        env.kit.tick()
    assert gc.isenabled()
    env.kit.tick()  # PENDING entries of the interrupted batch are re-sent with their keys
    assert env.run_of(campaign.id).status is ck.RunStatus.SUCCEEDED
    entries = env.entries(campaign.id)
    assert len(entries) == 25
    assert {e.state for e in entries} == {ck.LedgerState.SENT}


def test_the_collector_is_back_on_after_paused_and_lease_lost(
    make_env: Callable[..., Env],
) -> None:
    stopping = threading.Event()

    def stop_after_one(message: ck.Message) -> ck.SendResult:
        stopping.set()  # the worker stops after this batch (Paused)
        return accept(message)

    env = make_env(
        audiences=HostAudiences({"c": crowd(25)}), channel=CallbackChannel(stop_after_one)
    )
    campaign = env.start("c")
    env.kit.runner.stop_requested = stopping.is_set
    env.kit.tick()
    assert gc.isenabled()
    assert env.run_of(campaign.id).status is ck.RunStatus.RUNNING
    assert env.admin.report(campaign.id).sent == 10

    def steal(message: ck.Message) -> ck.SendResult:  # another worker takes the run over
        with env.kit.store.unit_of_work() as uow:
            run = uow.runs.get(message.run_id)
            if run.lease_owner != "thief":
                uow.runs.save(
                    attrs.evolve(run, lease_owner="thief", lease_expires_at=T0.add(hours=1))
                )
        return accept(message)

    env.kit.channels[EMAIL]._respond = steal
    env.kit.runner.stop_requested = lambda: False
    env.kit.tick()
    assert gc.isenabled()
    assert env.run_of(campaign.id).lease_owner == "thief"


def test_a_host_that_disabled_the_collector_keeps_it_disabled(
    make_env: Callable[..., Env],
) -> None:
    env = make_env(audiences=HostAudiences({"c": crowd(25)}))
    env.start("c")
    gc.disable()
    env.kit.tick()
    assert not gc.isenabled()


def test_pause_gc_false_never_touches_the_collector(
    make_env: Callable[..., Env], monkeypatch: pytest.MonkeyPatch
) -> None:
    touched: list[str] = []
    monkeypatch.setattr(gc, "disable", lambda: touched.append("disable"))
    monkeypatch.setattr(gc, "enable", lambda: touched.append("enable"))
    env = make_env(
        audiences=HostAudiences({"c": crowd(25)}),
        delivery=ck.DeliverySettings(batch_size=10, pause_gc=False),
    )
    campaign = env.start("c")
    env.kit.tick()
    assert touched == []
    assert env.admin.report(campaign.id).sent == 25


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_pause_gc_must_be_a_bool(value: object) -> None:
    with pytest.raises(ck.ValidationError, match="pause_gc"):
        ck.DeliverySettings(pause_gc=value)  # type: ignore[arg-type]


def test_two_kits_ticking_in_two_threads_leave_the_collector_on(tmp_path: Path) -> None:
    inside = threading.Barrier(2, timeout=10)
    states: list[bool] = []

    def meet(message: ck.Message) -> ck.SendResult:
        if message.profile_id == "p000":
            inside.wait()  # both kits are inside a batch at once
            states.append(gc.isenabled())
        return accept(message)

    kits = []
    for n in range(2):
        kit = ck.CampaignKit.in_memory(
            clock=ManualClock(T0),
            ids=SequentialIds(),
            audiences=HostAudiences({"c": crowd(25)}),
            channels={EMAIL: CallbackChannel(meet)},
            delivery=ck.DeliverySettings(batch_size=10),
        )
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        admin = kit.as_user("ada")
        surface = admin.create_surface(
            name=f"N{n}", channel=EMAIL, settings=ck.EmailSettings(sender="n@example.com")
        )
        campaign = admin.create_campaign(
            name="C",
            audience="c",
            namespace="email",
            actions=[ck.Action(surface.id, ck.EmailContent(subject="Hi", html="<p>x</p>"))],
        )
        admin.activate(campaign.id)
        kits.append((kit, admin, campaign.id))
    errors: list[BaseException] = []

    def tick(kit: ck.CampaignKit) -> None:
        try:
            kit.tick()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=tick, args=(k,)) for k, _, _ in kits]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert states == [False, False]
    assert gc.isenabled()
    for kit, admin, campaign_id in kits:
        assert admin.report(campaign_id).sent == 25
        kit.close()


def test_a_host_disabling_the_collector_during_a_batch_is_overridden() -> None:
    """Documented limit (not a bug report): a disable inside a paused block is undone."""
    with collector.paused():
        gc.disable()
    assert gc.isenabled()  # the host's own disable, made while paused, is lost


# ---------------------------------------------------------------- the shared heartbeat


def _running(run_id: str, owner: str) -> ck.Run:
    return ck.Run(
        id=run_id,
        campaign_id="cmp",
        version=1,
        kind=ck.RunKind.SCHEDULED,
        status=ck.RunStatus.RUNNING,
        created_at=T0,
        due_at=T0,
        lease_owner=owner,
        lease_expires_at=T0.add(minutes=1),
    )


def _lease_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("campaignkit-lease-")]


def _expiry(store: ck.Store, run_id: str) -> pendulum.DateTime | None:
    with store.unit_of_work() as uow:
        return uow.runs.get(run_id).lease_expires_at


@pytest.fixture
def leased() -> tuple[InMemoryStore, ManualClock, Leases]:
    assert _wait_until(lambda: not _lease_threads())  # no thread of an earlier test is left
    store = InMemoryStore()
    with store.unit_of_work() as uow:
        for run_id in ("run_1", "run_2"):
            uow.runs.add(_running(run_id, "worker-a"))
    clock = ManualClock(T0)
    return store, clock, Leases("worker-a", clock, pendulum.duration(milliseconds=30))


def test_two_runs_kept_from_two_threads_share_one_named_thread(
    leased: tuple[InMemoryStore, ManualClock, Leases],
) -> None:
    store, clock, leases = leased
    both_in, done = threading.Barrier(3, timeout=10), threading.Event()

    def deliver(run_id: str) -> None:
        with leases.heartbeat(store, run_id):
            both_in.wait()
            done.wait(10)

    threads = [threading.Thread(target=deliver, args=(r,)) for r in ("run_1", "run_2")]
    for thread in threads:
        thread.start()
    both_in.wait()
    try:
        names = [t.name for t in _lease_threads()]
        assert len(names) == 1
        assert set(names[0].removeprefix("campaignkit-lease-").split("+")) == {"run_1", "run_2"}
        clock.advance(pendulum.duration(minutes=5))
        later = T0.add(minutes=5)
        assert _wait_until(
            lambda: all((_expiry(store, r) or T0) > later for r in ("run_1", "run_2"))
        ), "both runs are renewed from the clock"
    finally:
        done.set()
        for thread in threads:
            thread.join(10)
    assert _wait_until(lambda: not _lease_threads()), "the thread ends after a second idle"


def test_a_block_that_raises_stops_its_renewals(
    leased: tuple[InMemoryStore, ManualClock, Leases],
) -> None:
    store, clock, leases = leased
    with pytest.raises(RuntimeError), leases.heartbeat(store, "run_1"):
        assert _wait_until(lambda: bool(_lease_threads()))
        raise RuntimeError("the block failed")
    assert _wait_until(lambda: all("run_1" not in t.name for t in _lease_threads()))
    clock.advance(pendulum.duration(minutes=5))
    assert _wait_until(lambda: not _lease_threads())
    assert (_expiry(store, "run_1") or T0) < T0.add(minutes=5)  # never renewed after the block


def test_two_blocks_on_one_run_keep_renewing_until_the_last_ends(
    leased: tuple[InMemoryStore, ManualClock, Leases],
) -> None:
    store, clock, leases = leased
    with leases.heartbeat(store, "run_1"):
        with leases.heartbeat(store, "run_1"):
            pass
        clock.advance(pendulum.duration(minutes=5))
        assert _wait_until(lambda: (_expiry(store, "run_1") or T0) > T0.add(minutes=5), seconds=2)


def test_a_store_that_raises_in_renew_does_not_stop_the_other_runs(
    leased: tuple[InMemoryStore, ManualClock, Leases],
) -> None:
    store, clock, leases = leased

    class Broken:
        def unit_of_work(self) -> object:
            raise ck.StorageError("gone")

    with leases.heartbeat(Broken(), "run_9"), leases.heartbeat(store, "run_1"):  # type: ignore[arg-type]
        clock.advance(pendulum.duration(minutes=5))
        assert _wait_until(lambda: (_expiry(store, "run_1") or T0) > T0.add(minutes=5))
    assert _wait_until(lambda: not _lease_threads())


# ---------------------------------------------------------------- channel answers


class Subaccepted(ck.Accepted):
    pass


@pytest.mark.parametrize("shape", ["list", "tuple", "subclass"])
def test_a_channel_answering_any_sequence_of_results_is_recorded(
    make_env: Callable[..., Env], shape: str
) -> None:
    class Channel:
        def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
            if shape == "subclass":
                return [Subaccepted(f"id-{m.idempotency_key}") for m in messages]
            results = [accept(m) for m in messages]
            return tuple(results) if shape == "tuple" else results

    env = make_env(audiences=HostAudiences({"c": crowd(25)}), channel=Channel())
    campaign = env.start("c")
    env.kit.tick()
    assert env.run_of(campaign.id).status is ck.RunStatus.SUCCEEDED
    entries = env.entries(campaign.id)
    assert all(e.state is ck.LedgerState.SENT and e.provider_message_id for e in entries)


def test_a_channel_answering_a_generator_still_delivers(make_env: Callable[..., Env]) -> None:
    class Channel:
        def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
            return (accept(m) for m in messages)  # type: ignore[return-value]

    env = make_env(audiences=HostAudiences({"c": crowd(5)}), channel=Channel())
    campaign = env.start("c")
    env.kit.tick()
    assert env.admin.report(campaign.id).sent == 5


@pytest.mark.parametrize("answer", ["short", "long", "raises-midway", "not-a-result"])
def test_a_wrong_answer_retries_the_whole_group_with_the_same_keys(
    make_env: Callable[..., Env], answer: str
) -> None:
    broken = [True]
    handed: list[str] = []

    class Channel:
        def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
            handed.extend(m.idempotency_key for m in messages)
            results = [accept(m) for m in messages]
            if broken[0] and len(messages) > 1:
                if answer == "short":
                    return results[:-1]
                if answer == "long":
                    return [*results, results[0]]
                if answer == "raises-midway":
                    raise ConnectionError("dropped after half the batch")
                return [results[0], "ok", *results[2:]]  # type: ignore[list-item]
            return results

    env = make_env(audiences=HostAudiences({"c": crowd(25)}), channel=Channel())
    campaign = env.start("c")
    env.kit.tick()
    run = env.run_of(campaign.id)
    assert run.status is ck.RunStatus.RUNNING  # retries are due later
    assert {e.state for e in env.entries(campaign.id)} == {ck.LedgerState.RETRY}
    broken[0] = False
    env.clock.advance(pendulum.duration(hours=2))
    env.kit.tick()
    assert env.run_of(campaign.id).status is ck.RunStatus.SUCCEEDED
    entries = env.entries(campaign.id)
    assert len(entries) == 25
    assert {e.state for e in entries} == {ck.LedgerState.SENT}
    assert len(handed) == 50  # each key twice
    assert len(set(handed)) == 25  # and no other key


def test_provider_ids_reused_inside_and_across_batches_are_sent_once(
    make_env: Callable[..., Env], caplog: pytest.LogCaptureFixture
) -> None:
    class Channel:
        def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
            return [ck.Accepted("same-id") for _ in messages]

    env = make_env(audiences=HostAudiences({"c": crowd(25)}), channel=Channel())
    campaign = env.start("c")
    with caplog.at_level(logging.WARNING, logger="campaignkit"):
        env.kit.tick()
    assert env.run_of(campaign.id).status is ck.RunStatus.SUCCEEDED
    entries = env.entries(campaign.id)
    assert {e.state for e in entries} == {ck.LedgerState.SENT}
    assert sum(e.provider_message_id == "same-id" for e in entries) == 1
    assert env.admin.report(campaign.id).sent == 25
    assert any("provider message id" in r.getMessage() for r in caplog.records)


def test_a_provider_id_taken_by_another_run_is_dropped(make_env: Callable[..., Env]) -> None:
    class Channel:
        def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
            return [ck.Accepted(f"id-{m.profile_id}") for m in messages]

    env = make_env(audiences=HostAudiences({"c": crowd(5)}), channel=Channel())
    first = env.start("c", name="First")
    env.kit.tick()
    second = env.start("c", name="Second")
    env.kit.tick()
    for campaign in (first, second):
        assert env.run_of(campaign.id).status is ck.RunStatus.SUCCEEDED
        assert env.admin.report(campaign.id).sent == 5
    assert all(e.provider_message_id is None for e in env.entries(second.id))


# ---------------------------------------------------------------- bad profile data

SIMPLE = ck.Schedule()
TIMED = ck.Schedule(
    use_profile_timezone=True,
    waves=ck.Waves.equal(count=2, every=pendulum.duration(hours=1)),
)


@pytest.mark.parametrize("schedule", [SIMPLE, TIMED], ids=["simple", "waves+zones"])
@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"identities": ["bad@example.com"]}, ""),
        ({"identities": None}, ""),
        ({"timezone": 5}, ""),
        ({"timezone": b"Europe/Paris"}, ""),
        ({"consents": None}, ""),
        ({"attributes": None}, ""),
    ],
    ids=[
        "identities-list",
        "identities-none",
        "zone-int",
        "zone-bytes",
        "consents-none",
        "attrs-none",
    ],
)
def test_bad_profile_data_fails_that_recipient_alone(
    make_env: Callable[..., Env], schedule: ck.Schedule, fields: dict[str, object], why: str
) -> None:
    people = crowd(20, firstName="A")
    people.insert(7, bypass(person("bad", firstName="B"), **fields))
    env = make_env(audiences=HostAudiences({"c": people}))
    campaign = env.start("c", "Hi {{ profile.firstName }}", schedule=schedule)
    env.kit.tick()
    env.clock.advance(pendulum.duration(hours=1))
    env.kit.tick()
    assert env.run_of(campaign.id).status is ck.RunStatus.SUCCEEDED
    report = env.admin.report(campaign.id)
    assert report.sent == 20, report
    (bad,) = [e for e in env.entries(campaign.id) if e.profile_id == "bad"]
    assert bad.state in (ck.LedgerState.FAILED, ck.LedgerState.EXCLUDED), bad
    if bad.state is ck.LedgerState.FAILED:
        assert bad.error is not None
        assert "profile data cannot be used" in bad.error


def test_a_template_failing_for_one_recipient_fails_that_recipient_alone(
    make_env: Callable[..., Env],
) -> None:
    people = crowd(20, n=2)
    people.insert(3, person("zero", n=0))
    env = make_env(audiences=HostAudiences({"c": people}))
    campaign = env.start(
        "c", "{% if profile.n %}{{ 10 // profile.n }}{% else %}{{ 1 // 0 }}{% endif %}"
    )
    env.kit.tick()
    assert env.run_of(campaign.id).status is ck.RunStatus.SUCCEEDED
    report = env.admin.report(campaign.id)
    assert (report.sent, report.counts.failed) == (20, 1)
    (bad,) = [e for e in env.entries(campaign.id) if e.state is not ck.LedgerState.SENT]
    assert bad.profile_id == "zero"
    assert bad.state is ck.LedgerState.FAILED


# ---------------------------------------------------------------- duplicates


def test_duplicates_inside_a_batch_and_across_a_resume_are_sent_once(
    make_env: Callable[..., Env],
) -> None:
    people = crowd(8)
    audience = [people[0], people[1], people[0], *people[2:], people[1], people[5], people[0]]
    handed: list[str] = []

    def spy(message: ck.Message) -> ck.SendResult:
        handed.append(message.profile_id)
        return accept(message)

    env = make_env(
        audiences=HostAudiences({"c": audience}),
        channel=CallbackChannel(spy),
        delivery=ck.DeliverySettings(batch_size=4),
    )
    campaign = env.start("c")
    stopping = threading.Event()

    def stop_after(message: ck.Message) -> ck.SendResult:
        stopping.set()
        return spy(message)

    env.kit.channels[EMAIL]._respond = stop_after
    env.kit.runner.stop_requested = stopping.is_set
    env.kit.tick()  # the first batch, then the worker stops
    assert env.run_of(campaign.id).status is ck.RunStatus.RUNNING
    env.kit.runner.stop_requested = lambda: False
    env.kit.channels[EMAIL]._respond = spy
    env.kit.tick()  # resumes from its position
    assert env.run_of(campaign.id).status is ck.RunStatus.SUCCEEDED
    assert sorted(handed) == sorted(p.id for p in people)
    report = env.admin.report(campaign.id)
    assert report.sent == 8
    assert report.counts.excluded.get(ck.ExclusionReason.DUPLICATE) == 4, report.counts


# ---------------------------------------------------------------- run endings


def test_a_campaign_stopped_during_the_last_batch_ends_the_run_stopped(
    make_env: Callable[..., Env],
) -> None:
    env_box: list[Env] = []

    def stop_then_accept(message: ck.Message) -> ck.SendResult:
        env = env_box[0]
        if message.profile_id == "p024":
            env.admin.stop(message.campaign_id)
        return accept(message)

    env = make_env(
        audiences=HostAudiences({"c": crowd(25)}), channel=CallbackChannel(stop_then_accept)
    )
    env_box.append(env)
    campaign = env.start("c")
    env.kit.tick()
    run = env.run_of(campaign.id)
    assert run.status is ck.RunStatus.STOPPED, run
    assert env.admin.get(campaign.id).status is ck.CampaignStatus.STOPPED


@pytest.mark.parametrize("counts_agree", [True, False], ids=["counts", "counts-disagree"])
def test_a_last_batch_with_retries_left_does_not_end_the_run(
    make_env: Callable[..., Env], monkeypatch: pytest.MonkeyPatch, counts_agree: bool
) -> None:
    """The ledger, not only the counts, decides: wrong counts never end a run with a retry."""
    if not counts_agree:
        from campaignkit.delivery import runner

        monkeypatch.setattr(runner, "_open", lambda run: False)
    flaky = {"p024": 1}

    def once_busy(message: ck.Message) -> ck.SendResult:
        if flaky.get(message.profile_id):
            flaky[message.profile_id] -= 1
            return ck.TransientFailure("busy")
        return accept(message)

    env = make_env(audiences=HostAudiences({"c": crowd(25)}), channel=CallbackChannel(once_busy))
    campaign = env.start("c")
    env.kit.tick()
    run = env.run_of(campaign.id)
    assert run.status is ck.RunStatus.RUNNING, run
    assert run.due_at is not None
    assert run.due_at > T0
    assert run.lease_owner is None
    env.clock.advance(pendulum.duration(hours=2))
    env.kit.tick()
    assert env.run_of(campaign.id).status is ck.RunStatus.SUCCEEDED
    assert env.admin.report(campaign.id).sent == 25


def test_a_worker_stopping_during_the_last_batch_leaves_the_run_to_be_ended(
    make_env: Callable[..., Env],
) -> None:
    stopping = threading.Event()

    def stop_in_last(message: ck.Message) -> ck.SendResult:
        if message.profile_id == "p024":
            stopping.set()
        return accept(message)

    env = make_env(audiences=HostAudiences({"c": crowd(25)}), channel=CallbackChannel(stop_in_last))
    campaign = env.start("c")
    env.kit.runner.stop_requested = stopping.is_set
    env.kit.tick()
    run = env.run_of(campaign.id)
    assert run.status is ck.RunStatus.RUNNING  # not ended by a stopping worker
    assert run.lease_owner is None  # handed back (Paused)
    assert {e.state for e in env.entries(campaign.id)} == {ck.LedgerState.SENT}
    env.kit.runner.stop_requested = lambda: False
    env.kit.tick()
    assert env.run_of(campaign.id).status is ck.RunStatus.SUCCEEDED
    assert env.admin.report(campaign.id).sent == 25
    assert issubclass(Paused, Exception)


# ---------------------------------------------------------------- one kit, two threads


def test_one_kit_ticking_from_two_threads_sends_nobody_twice(
    make_env: Callable[..., Env],
) -> None:
    """A tick while another thread of the same kit is inside a channel call.

    Both threads are the same worker, so the lease does not keep the second
    one out of the run the first is delivering.
    """
    in_send, release = threading.Event(), threading.Event()
    handed: list[str] = []
    lock = threading.Lock()

    def slow_first(message: ck.Message) -> ck.SendResult:
        with lock:
            handed.append(message.idempotency_key)
        if threading.current_thread().name == "first" and not in_send.is_set():
            in_send.set()
            release.wait(10)
        return accept(message)

    env = make_env(audiences=HostAudiences({"c": crowd(25)}), channel=CallbackChannel(slow_first))
    campaign = env.start("c")
    errors: list[BaseException] = []

    def tick() -> None:
        try:
            env.kit.tick()
        except BaseException as exc:  # reported below
            errors.append(exc)

    first = threading.Thread(target=tick, name="first")
    first.start()
    assert in_send.wait(10)
    second = threading.Thread(target=tick, name="second")
    second.start()
    second.join(10)
    release.set()
    first.join(10)
    env.kit.tick()
    assert not errors, errors
    assert env.run_of(campaign.id).status is ck.RunStatus.SUCCEEDED
    assert env.admin.report(campaign.id).sent == 25
    twice = sorted({k for k in handed if handed.count(k) > 1})
    assert not twice, f"{len(twice)} messages handed over twice: {twice[:3]}"


def test_a_channel_that_consumes_its_input_list_fails_the_group_not_the_run(
    make_env: Callable[..., Env],
) -> None:
    broken = [True]

    class Channel:
        def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
            if broken[0]:
                messages.clear()  # type: ignore[attr-defined]
                return []
            return [accept(m) for m in messages]

    env = make_env(audiences=HostAudiences({"c": crowd(5)}), channel=Channel())
    campaign = env.start("c")
    env.kit.tick()
    assert env.run_of(campaign.id).status is ck.RunStatus.RUNNING  # retried later
    broken[0] = False
    env.clock.advance(pendulum.duration(hours=2))
    env.kit.tick()
    assert env.admin.report(campaign.id).sent == 5


@pytest.mark.parametrize("lookup", ["raises", "not-a-result"])
def test_a_lookup_that_raises_after_an_interrupt_does_not_fail_the_run(
    make_env: Callable[..., Env], lookup: str
) -> None:
    state = {"interrupt": True, "lookup_raises": True}

    class Channel:
        def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
            if state["interrupt"]:
                state["interrupt"] = False
                raise KeyboardInterrupt  # the worker is interrupted mid-batch: PENDING left
            return [accept(m) for m in messages]

        def lookup(self, idempotency_key: str) -> ck.SendResult | None:
            if state["lookup_raises"]:
                state["lookup_raises"] = False
                if lookup == "raises":
                    raise ConnectionError("provider API down")
                return "delivered"  # type: ignore[return-value]
            return None

    env = make_env(audiences=HostAudiences({"c": crowd(5)}), channel=Channel())
    campaign = env.start("c")
    with pytest.raises(KeyboardInterrupt):
        env.kit.tick()
    env.kit.tick()
    env.clock.advance(pendulum.duration(hours=2))
    env.kit.tick()
    assert env.run_of(campaign.id).status is ck.RunStatus.SUCCEEDED
    assert env.admin.report(campaign.id).sent == 5


# ---------------------------------------------------------------- API triggers (one batch)


def _triggered(env: Env) -> ck.Campaign:
    for profile in crowd(3):
        env.kit.profiles.upsert(profile)
    campaign = env.admin.create_campaign(
        name="Receipt",
        type=ck.CampaignType.API_TRIGGERED,
        namespace="email",
        actions=[ck.Action(env.surface.id, ck.EmailContent(subject="Hi", html="<p>x</p>"))],
    )
    env.admin.activate(campaign.id)
    env.kit.tick()
    return campaign


def test_a_trigger_whose_only_batch_has_a_retry_left_is_not_ended_early(
    make_env: Callable[..., Env],
) -> None:
    busy = {"p001": 1}

    def once_busy(message: ck.Message) -> ck.SendResult:
        if busy.get(message.profile_id):
            busy[message.profile_id] -= 1
            return ck.TransientFailure("busy")
        return accept(message)

    env = make_env(channel=CallbackChannel(once_busy))
    campaign = _triggered(env)
    recipients = [ck.Recipient(f"p{i:03d}@example.com", "email") for i in range(3)]
    env.admin.trigger(campaign.id, recipients, request_id="r1")
    env.kit.tick()
    run = env.run_of(campaign.id)
    assert run.status is ck.RunStatus.RUNNING, run
    env.clock.advance(pendulum.duration(hours=2))
    env.kit.tick()
    assert env.run_of(campaign.id).status is ck.RunStatus.SUCCEEDED
    entries = env.entries(campaign.id)
    assert sorted(e.profile_id for e in entries) == ["p000", "p001", "p002"]
    assert {e.state for e in entries} == {ck.LedgerState.SENT}


def test_a_trigger_stopped_during_its_send_ends_stopped(make_env: Callable[..., Env]) -> None:
    box: list[Env] = []

    def stop_then_accept(message: ck.Message) -> ck.SendResult:
        box[0].admin.stop(message.campaign_id)
        return accept(message)

    env = make_env(channel=CallbackChannel(stop_then_accept))
    box.append(env)
    campaign = _triggered(env)
    env.admin.trigger(campaign.id, [ck.Recipient("p000@example.com", "email")], request_id="r1")
    env.kit.tick()
    run = env.run_of(campaign.id)
    assert run.status is ck.RunStatus.STOPPED, run


def test_a_dropped_worker_leaves_no_cyclic_garbage() -> None:
    """Leases and their heartbeat refer to each other weakly: dropping a kit frees them at once."""
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        leases = Leases("worker-a", ManualClock(T0), pendulum.duration(minutes=1))
        del leases
        gc.collect()
        ours = [o for o in gc.garbage if type(o).__module__.startswith("campaignkit")]
        assert ours == []
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if was:
            gc.enable()


@pytest.mark.parametrize(
    ("subject", "locked"),
    [("Hi {{ profile.firstName }}", True), ("{% if true %}Hi{% endif %}", False)],
    ids=["pure-substitution", "jinja"],
)
def test_a_jinja_batch_is_rendered_without_holding_the_write_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, subject: str, locked: bool
) -> None:
    """Another process may write while a batch of Jinja templates renders (it may take long).

    A batch of pure substitutions renders in well under a millisecond: it is
    decided inside its intent transaction.
    """
    import sqlite3

    from campaignkit.delivery import decide as deciding

    seen: list[bool] = []
    decide = deciding.decide_batch

    def probing(*args: Any, **kwargs: Any) -> Any:
        other = sqlite3.connect(tmp_path / "kit.db", timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            seen.append(False)
        except sqlite3.OperationalError:  # database is locked
            seen.append(True)
        finally:
            other.close()
        return decide(*args, **kwargs)

    monkeypatch.setattr(deciding, "decide_batch", probing)
    clock = ManualClock(T0)
    kit = ck.CampaignKit.sqlite(
        tmp_path / "kit.db",
        clock,
        {EMAIL: CallbackChannel(accept)},
        ids=SequentialIds(),
        audiences=HostAudiences({"c": crowd(3, firstName="Ann")}),
    )
    try:
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        admin = kit.as_user("ada")
        surface = admin.create_surface(
            name="News", channel=EMAIL, settings=ck.EmailSettings(sender="n@example.com")
        )
        campaign = admin.create_campaign(
            name="Crowd",
            audience="c",
            namespace="email",
            actions=[ck.Action(surface.id, ck.EmailContent(subject=subject, html="<p>x</p>"))],
        )
        admin.activate(campaign.id)
        kit.tick()
        assert admin.report(campaign.id).sent == 3
    finally:
        kit.close()
    assert seen == [locked]
