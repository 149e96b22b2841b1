"""Leases: heartbeats keep the lease of a slow channel call and stop once another worker owns
the run, expired leases are taken over, and runs that cannot be failed are set aside."""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

import pendulum
import pytest

import campaignkit as ck
from campaignkit.adapters.memory import InMemoryStore
from campaignkit.adapters.sqlite import SQLiteStore
from campaignkit.delivery.lease import Leases
from campaignkit.delivery.runner import Runner
from campaignkit.testing import CallbackChannel, ManualClock, SequentialIds
from tests.factories import person
from tests.unit.isolation.support import EMAIL, T0, HostAudiences

# ---------------------------------------------------------------- leases

FOUR = [f"p{i}" for i in range(4)]


def _activated_news(
    kit: ck.CampaignKit, people: list[str], *, start: pendulum.DateTime | None = None
) -> tuple[ck.UserSession, ck.Campaign]:
    """An email campaign to ``people`` (profiles made here), activated by an administrator.

    It goes out at the first tick, or at ``start`` if given.
    """
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    admin = kit.as_user("ada")
    surface = admin.create_surface(
        name="News", channel=EMAIL, settings=ck.EmailSettings(sender="n@example.com")
    )
    for pid in people:
        kit.profiles.upsert(person(pid))
    kit.audiences.define("all", people)
    campaign = admin.create_campaign(
        name="News",
        audience="all",
        namespace="email",
        actions=[ck.Action(surface.id, ck.EmailContent(subject="Hi", html="<p>x</p>"))],
        schedule=None if start is None else ck.Schedule(start=start),
    )
    admin.activate(campaign.id)
    return admin, campaign


def test_a_heartbeat_keeps_the_lease_of_a_slow_channel_call(tmp_path: Path) -> None:
    """Worker A's call outlasts the lease by the clock; its heartbeat renews it; B keeps off."""
    clock = ManualClock(T0)
    path = tmp_path / "kit.db"
    lease = pendulum.duration(milliseconds=300)  # a heartbeat every 0.1 s of real time
    kits: dict[str, ck.CampaignKit] = {}
    handed: list[tuple[str, str]] = []
    renewed: list[pendulum.DateTime] = []

    def slow(message: ck.Message) -> ck.SendResult:
        handed.append(("A", message.idempotency_key))
        if len(handed) == 1:
            clock.set(clock.now().add(minutes=5))  # far past the lease by the clock
            expected = clock.now() + lease
            waited = threading.Event()
            for _ in range(500):  # up to 5 s of real time for a 0.1 s heartbeat
                with kits["A"].store.unit_of_work() as uow:
                    (run,) = uow.runs.for_campaign(message.campaign_id)
                if run.lease_expires_at is not None and run.lease_expires_at >= expected:
                    renewed.append(run.lease_expires_at)
                    break
                waited.wait(0.01)
            kits["B"].tick()  # the lease is live by the clock: B leaves the run alone
        return ck.Accepted(f"mail-{message.idempotency_key}")

    def quick(message: ck.Message) -> ck.SendResult:
        handed.append(("B", message.idempotency_key))
        return ck.Accepted(f"mail-{message.idempotency_key}")

    settings = ck.DeliverySettings(batch_size=2, lease=lease)
    for name, deliver in (("A", slow), ("B", quick)):
        kits[name] = ck.CampaignKit.sqlite(
            path,
            clock=clock,
            channels={EMAIL: CallbackChannel(deliver)},
            delivery=settings,
        )
    try:
        kit = kits["A"]
        admin, campaign = _activated_news(kit, FOUR)
        kit.tick()
        assert renewed, "the heartbeat never renewed the lease from the clock"
        assert [worker for worker, _ in handed] == ["A"] * 4  # B never took the run over
        assert admin.report(campaign.id).sent == 4
    finally:
        for each in kits.values():
            each.close()


def _wait_until(condition: object, seconds: float = 5.0) -> bool:
    """Poll ``condition()`` every 10 ms of real time, up to ``seconds``."""
    pause = threading.Event()
    for _ in range(int(seconds * 100)):
        if condition():  # type: ignore[operator]
            return True
        pause.wait(0.01)
    return False


def _run(run_id: str, owner: str | None) -> ck.Run:
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


def test_a_heartbeat_stops_once_another_worker_owns_the_run(backend: str, tmp_path: Path) -> None:
    store: ck.Store = SQLiteStore(tmp_path / "kit.db") if backend == "sqlite" else InMemoryStore()
    with store.unit_of_work() as uow:
        uow.runs.add(_run("run_1", "worker-b"))
    leases = Leases("worker-a", ManualClock(T0), pendulum.duration(milliseconds=30))
    name = "campaignkit-lease-run_1"
    with leases.heartbeat(store, "run_1"):
        assert _wait_until(lambda: all(t.name != name for t in threading.enumerate()))
    with store.unit_of_work() as uow:
        assert uow.runs.get("run_1").lease_owner == "worker-b"  # untouched
    assert leases.renew(store, "run_1") is False


class BrokenStore:
    """A store whose units of work always fail (a closed or unreachable database)."""

    def unit_of_work(self) -> object:
        raise ck.StorageError("the database is gone")


def test_a_heartbeat_that_cannot_renew_logs_and_keeps_trying(
    caplog: pytest.LogCaptureFixture,
) -> None:
    leases = Leases("worker-a", ManualClock(T0), pendulum.duration(milliseconds=30))
    with (
        caplog.at_level(logging.WARNING, logger="campaignkit"),
        leases.heartbeat(BrokenStore(), "run_1"),  # type: ignore[arg-type]
    ):
        assert _wait_until(
            lambda: sum("could not renew" in r.getMessage() for r in caplog.records) >= 2
        )
    assert all(t.name != "campaignkit-lease-run_1" for t in threading.enumerate())


def test_without_a_heartbeat_no_thread_is_started(make_env: object) -> None:
    env = make_env(  # type: ignore[operator]
        audiences=HostAudiences({"crowd": [person("a")]}),
        delivery=ck.DeliverySettings(heartbeat=False),
    )
    before = set(threading.enumerate())  # an earlier kit's idle heartbeat may end meanwhile
    campaign = env.campaign("Crowd", "crowd")
    env.admin.activate(campaign.id)
    env.kit.tick()
    assert set(threading.enumerate()) - before == set()  # none started
    assert env.admin.report(campaign.id).sent == 1


def test_a_lease_is_taken_over_only_once_expired_by_the_clock() -> None:
    clock = ManualClock(T0)
    leases = Leases("worker-a", clock, pendulum.duration(minutes=1))
    other = _run("run_1", "worker-b")  # expires at T0 + 1 minute
    mine = _run("run_1", "worker-a")
    assert leases.held_elsewhere(other)
    assert not leases.held_elsewhere(mine)
    clock.set(T0.add(minutes=1))
    assert not leases.held_elsewhere(other)  # expired: it may be taken over
    assert leases.expiry() == T0.add(minutes=2)


def test_a_conflict_while_failing_a_run_leaves_it_for_a_later_tick(
    make_env: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = HostAudiences({"down": [person("c")]})
    host.broken.add("down")
    env = make_env(audiences=host)  # type: ignore[operator]
    campaign = env.campaign("Down", "down")
    env.admin.activate(campaign.id)
    original = Runner._finish

    def conflicting(*args: object, **kwargs: object) -> ck.Run:
        raise ck.ConflictError("someone else wrote the campaign")

    monkeypatch.setattr(Runner, "_finish", conflicting)
    env.kit.tick()  # the conflict does not escape the tick
    assert env.run_of(campaign.id).status is not ck.RunStatus.FAILED
    monkeypatch.setattr(Runner, "_finish", original)
    env.kit.run_until(T0.add(minutes=5))  # past the lease: tried again
    assert env.run_of(campaign.id).status is ck.RunStatus.FAILED


def test_a_run_that_cannot_even_be_failed_is_set_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(T0)
    path = tmp_path / "kit.db"
    with ck.CampaignKit.sqlite(path, clock=clock, ids=SequentialIds()) as kit:
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        admin = kit.as_user("ada")
        surface = admin.create_surface(
            name="News", channel=EMAIL, settings=ck.EmailSettings(sender="n@example.com")
        )
        kit.profiles.upsert(person("a"))
        kit.audiences.define("crowd", ["a"])
        campaign = admin.create_campaign(
            name="C",
            audience="crowd",
            namespace="email",
            actions=[ck.Action(surface.id, ck.EmailContent(subject="Hi", html="<p>x</p>"))],
            schedule=ck.Schedule(start=T0.add(hours=1)),
        )
        admin.activate(campaign.id)
        kit.tick()
        clock.set(T0.add(hours=1))
        # the go-live step creates the run; corrupt it before the run is delivered
        with kit.store.unit_of_work() as uow:
            step = uow.campaigns.get(campaign.id)
            _, _ = kit.engine._step(uow, step, clock.now())
        with sqlite3.connect(path, timeout=10) as connection:
            connection.execute("UPDATE runs SET document = '{broken'")
        connection.close()
        with caplog.at_level(logging.WARNING, logger="campaignkit"):
            report = kit.run_until(T0.add(hours=2))
        assert report.next_due_at is None  # the broken run is not due work: no spinning
        assert any("set aside" in r.getMessage() for r in caplog.records)
        assert kit.channels[EMAIL].sent == []


def test_a_heartbeat_keeps_the_lease_of_a_shard_worked_in_a_slow_channel_call(
    tmp_path: Path,
) -> None:
    """A worker's call inside a shard outlasts the lease by the clock; its heartbeat renews
    the shard's lease; another worker asked to work that shard leaves it alone."""
    clock = ManualClock(T0)
    path = tmp_path / "kit.db"
    lease = pendulum.duration(milliseconds=300)  # a heartbeat every 0.1 s of real time
    kits: dict[str, ck.CampaignKit] = {}
    handed: list[tuple[str, str]] = []
    renewed: list[pendulum.DateTime] = []
    taken: list[bool] = []

    def slow(message: ck.Message) -> ck.SendResult:
        handed.append(("A", message.profile_id))
        if len(handed) == 1:
            clock.set(clock.now().add(minutes=5))  # far past the lease by the clock
            expected = clock.now() + lease
            shard = next(s for s in kits["A"].shards(message.run_id) if s.owner is not None)

            def renewed_by_now() -> bool:
                (now,) = [s for s in kits["A"].shards(message.run_id) if s.number == shard.number]
                if now.lease_expires_at is not None and now.lease_expires_at >= expected:
                    renewed.append(now.lease_expires_at)
                    return True
                return False

            _wait_until(renewed_by_now)
            taken.append(kits["B"].work_shard(message.run_id, shard.number))
        return ck.Accepted(f"mail-{message.idempotency_key}")

    def quick(message: ck.Message) -> ck.SendResult:
        handed.append(("B", message.profile_id))
        return ck.Accepted(f"mail-{message.idempotency_key}")

    settings = ck.DeliverySettings(batch_size=2, lease=lease, shard_size=2)
    for name, deliver in (("A", slow), ("B", quick)):
        kits[name] = ck.CampaignKit.sqlite(
            path, clock=clock, channels={EMAIL: CallbackChannel(deliver)}, delivery=settings
        )
    try:
        kit = kits["A"]
        admin, campaign = _activated_news(kit, FOUR, start=T0.add(minutes=1))
        kit.tick()
        clock.set(T0.add(minutes=1))
        kit.tick()
        assert renewed, "the heartbeat never renewed the shard's lease from the clock"
        assert taken == [False]  # the shard's lease was live: B did not work it
        assert sorted(pid for _, pid in handed) == FOUR  # each once
        assert {worker for worker, _ in handed} == {"A"}
        assert admin.report(campaign.id).sent == 4
    finally:
        for each in kits.values():
            each.close()
