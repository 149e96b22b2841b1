"""Isolation: one bad recipient, run or campaign never stops delivery for the others.

Data from host adapters is never validated by campaignkit's constructors, so
these tests build bad profiles by bypassing them (``object.__setattr__``), as
a host ``AudienceSource`` could hand them over. Every test runs on the
in-memory store and on a SQLite file.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit.adapters.memory import InMemoryStore
from campaignkit.adapters.sqlite import SQLiteStore
from campaignkit.delivery.lease import Leases
from campaignkit.delivery.runner import Runner
from campaignkit.engine import LifecycleEngine
from campaignkit.testing import CallbackChannel, ManualClock, RecordingChannel, SequentialIds
from tests.factories import bypass, person

T0 = pendulum.datetime(2027, 3, 1, 9, tz="UTC")
EMAIL = ck.ChannelType.EMAIL


class Unprintable(str):
    """An attribute value (text, so templates may print it) whose text cannot be produced."""

    def __str__(self) -> str:
        raise RuntimeError("cannot print me")


class HostAudiences:
    """A host audience source handing over whatever profiles it was given."""

    def __init__(self, audiences: Mapping[str, Sequence[ck.Profile]]) -> None:
        self.audiences = dict(audiences)
        self.broken: set[str] = set()

    def status(self, name: str) -> ck.AudienceStatus | None:
        return ck.AudienceStatus.READY if name in self.audiences else None

    def count(self, name: str) -> int | None:
        return len(self.audiences[name]) if name in self.audiences else None

    def members(
        self, name: str, *, namespace: str, batch_size: int
    ) -> Iterator[Sequence[ck.Profile]]:
        if name in self.broken:
            raise RuntimeError(f"audience service down for {name}")
        members = self.audiences[name]
        for start in range(0, len(members), batch_size):
            yield members[start : start + batch_size]


@attrs.define
class Env:
    kit: ck.CampaignKit
    clock: ManualClock
    admin: ck.UserSession
    surface: ck.ChannelSurface
    path: Path | None

    def campaign(self, name: str, audience: str, subject: str = "Hi") -> ck.Campaign:
        return self.admin.create_campaign(
            name=name,
            audience=audience,
            namespace="email",
            actions=[ck.Action(self.surface.id, ck.EmailContent(subject=subject, html="<p>x</p>"))],
        )

    def run_of(self, campaign_id: str) -> ck.Run:
        with self.kit.store.unit_of_work() as uow:
            (run,) = uow.runs.for_campaign(campaign_id)
        return run

    def entries(self, run_id: str) -> list[ck.LedgerEntry]:
        with self.kit.store.unit_of_work() as uow:
            return list(uow.ledger.entries(run_id))


@pytest.fixture(params=["memory", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_env(backend: str, tmp_path: Path) -> Iterator[object]:
    kits: list[ck.CampaignKit] = []

    def make(
        audiences: HostAudiences | None = None,
        channel: ck.Channel | None = None,
        delivery: ck.DeliverySettings | None = None,
    ) -> Env:
        clock = ManualClock(T0)
        path = tmp_path / "kit.db" if backend == "sqlite" else None
        options: dict[str, object] = {
            "clock": clock,
            "ids": SequentialIds(),
            "audiences": audiences,
            "delivery": delivery or ck.DeliverySettings(batch_size=100),
            "channels": {EMAIL: channel or RecordingChannel("email")},
        }
        kit = (
            ck.CampaignKit.sqlite(path, **options)  # type: ignore[arg-type]
            if path is not None
            else ck.CampaignKit.in_memory(**options)  # type: ignore[arg-type]
        )
        kits.append(kit)
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        admin = kit.as_user("ada")
        surface = admin.create_surface(
            name="News", channel=EMAIL, settings=ck.EmailSettings(sender="n@example.com")
        )
        return Env(kit, clock, admin, surface, path)

    yield make
    for kit in kits:
        kit.close()


# ---------------------------------------------------------------- one bad recipient


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (bypass(person("bad", firstName="B"), timezone=5), "AttributeError"),
        (bypass(person("bad", firstName="B"), timezone=b"Europe/Paris"), "TypeError"),
        (bypass(person("bad"), attributes={"firstName": Unprintable()}), "cannot print me"),
        (bypass(person("bad", firstName="B"), channel_data=None), "AttributeError"),
    ],
    ids=["int-zone", "bytes-zone", "unprintable-value", "no-channel-data"],
)
def test_one_bad_profile_among_a_thousand_fails_alone(
    make_env: object, bad: ck.Profile, why: str
) -> None:
    crowd = [person(f"p{i}", firstName=f"P{i}") for i in range(999)]
    crowd.insert(500, bad)
    env = make_env(audiences=HostAudiences({"crowd": crowd}))  # type: ignore[operator]
    campaign = env.campaign("Crowd", "crowd", subject="Hi {{ profile.firstName }}")
    env.admin.activate(campaign.id)
    env.kit.tick()

    run = env.run_of(campaign.id)
    assert run.status is ck.RunStatus.SUCCEEDED
    report = env.admin.report(campaign.id)
    assert (report.sent, report.counts.failed, report.counts.pending) == (999, 1, 0), report
    (failed,) = [e for e in env.entries(run.id) if e.state is not ck.LedgerState.SENT]
    assert failed.profile_id == "bad"
    assert failed.state is ck.LedgerState.FAILED
    assert failed.error is not None
    assert "profile data cannot be used" in failed.error
    assert why in failed.error
    assert len(env.kit.channels[EMAIL].sent) == 999


def test_an_over_long_time_zone_falls_back_and_is_delivered(make_env: object) -> None:
    crowd = [person("a"), bypass(person("b"), timezone="X" * 300)]
    env = make_env(audiences=HostAudiences({"crowd": crowd}))  # type: ignore[operator]
    campaign = env.campaign("Crowd", "crowd")
    env.admin.activate(campaign.id)
    env.kit.tick()
    assert env.admin.report(campaign.id).sent == 2


# ---------------------------------------------------------------- one bad run


def test_a_run_whose_audience_source_raises_fails_and_the_others_deliver(
    make_env: object, caplog: pytest.LogCaptureFixture
) -> None:
    host = HostAudiences({"good": [person("a"), person("b")], "down": [person("c")]})
    host.broken.add("down")
    env = make_env(audiences=host)  # type: ignore[operator]
    first = env.campaign("Down", "down")
    second = env.campaign("Good", "good")
    for campaign in (first, second):
        env.admin.activate(campaign.id)
    with caplog.at_level(logging.WARNING, logger="campaignkit"):
        env.kit.tick()

    failed = env.run_of(first.id)
    assert failed.status is ck.RunStatus.FAILED
    assert failed.error == "RuntimeError: audience service down for down"
    assert env.run_of(second.id).status is ck.RunStatus.SUCCEEDED
    assert env.admin.report(second.id).sent == 2
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        failed.id in r.getMessage() and "audience service down" in r.getMessage() for r in warned
    )
    with env.kit.store.unit_of_work() as uow:
        assert uow.runs.next_due_at() is None  # the failed run is not retried


def test_a_progress_callback_that_raises_does_not_fail_the_run(
    make_env: object, caplog: pytest.LogCaptureFixture
) -> None:
    env = make_env(audiences=HostAudiences({"crowd": [person("a")]}))  # type: ignore[operator]

    def broken(progress: ck.RunProgress) -> None:
        raise ValueError("progress bar bug")

    env.kit.runner.progress = broken
    campaign = env.campaign("Crowd", "crowd")
    env.admin.activate(campaign.id)
    with caplog.at_level(logging.ERROR, logger="campaignkit"):
        env.kit.tick()
    assert env.run_of(campaign.id).status is ck.RunStatus.SUCCEEDED
    assert any("progress callback" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------- one bad campaign


def test_a_lifecycle_step_that_raises_is_set_aside_and_the_others_progress(
    make_env: object, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    env = make_env(audiences=HostAudiences({"crowd": [person("a")]}))  # type: ignore[operator]
    campaigns = [env.campaign(f"C{i}", "crowd") for i in range(10)]
    bad = campaigns[3]
    original = LifecycleEngine._due_command
    calls: list[str] = []

    def failing(
        self: LifecycleEngine, uow: object, campaign: ck.Campaign, due_at: object
    ) -> object:
        if campaign.id == bad.id:
            calls.append(campaign.id)
            raise RuntimeError("a bug in one step")
        return original(self, uow, campaign, due_at)  # type: ignore[arg-type]

    monkeypatch.setattr(LifecycleEngine, "_due_command", failing)
    for campaign in campaigns:
        env.admin.activate(campaign.id)
    with caplog.at_level(logging.WARNING, logger="campaignkit"):
        env.kit.tick()
        env.kit.tick()  # a later tick at the same instant: no retry, no starvation
        env.kit.run_until(T0.add(hours=1))  # terminates: the bad item is not due work

    statuses = {c.id: env.admin.get(c.id).status for c in campaigns}
    assert statuses.pop(bad.id) is ck.CampaignStatus.ACTIVATING
    assert set(statuses.values()) == {ck.CampaignStatus.LIVE}
    assert all(env.admin.report(cid).sent == 1 for cid in statuses)
    assert calls == [bad.id]  # tried once, then set aside
    assert any(
        bad.id in r.getMessage() and "a bug in one step" in r.getMessage() for r in caplog.records
    )

    # once its due time changes (here: re-indexed by hand), it is tried again
    monkeypatch.setattr(LifecycleEngine, "_due_command", original)
    with env.kit.store.unit_of_work() as uow:
        stored = uow.campaigns.get(bad.id)
        uow.campaigns.save(attrs.evolve(stored, due_at=env.clock.now().add(minutes=1)))
    env.clock.set(env.clock.now().add(minutes=1))
    env.kit.tick()
    assert env.admin.get(bad.id).status is ck.CampaignStatus.LIVE
    assert env.admin.report(bad.id).sent == 1


def test_a_conflict_when_claiming_or_delivering_skips_the_run_for_this_tick(
    make_env: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = make_env(audiences=HostAudiences({"crowd": [person("a")]}))  # type: ignore[operator]
    campaign = env.campaign("Crowd", "crowd")
    env.admin.activate(campaign.id)

    def conflict(*args: object, **kwargs: object) -> object:
        raise ck.ConflictError("another worker wrote the run")

    for method in ("_claim", "_deliver_run"):
        with monkeypatch.context() as patch:
            patch.setattr(Runner, method, conflict)
            env.kit.tick()  # the conflict does not escape, and the tick ends
        run = env.run_of(campaign.id)
        assert run.status is not ck.RunStatus.SUCCEEDED
        assert run.lease_owner is None  # handed back, not held for a lease
    env.kit.tick()
    assert env.admin.report(campaign.id).sent == 1


def _corrupt(path: Path, campaign_id: str) -> None:
    """Overwrite a campaign's stored document with text that is not JSON."""
    with sqlite3.connect(path, timeout=10) as connection:
        connection.execute(
            "UPDATE campaigns SET document = ? WHERE id = ?", ("{not json", campaign_id)
        )
    connection.close()


def test_an_unloadable_campaign_among_ten_lets_the_nine_progress(
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
        ids = []
        for number in range(10):
            campaign = admin.create_campaign(
                name=f"C{number}",
                audience="crowd",
                namespace="email",
                actions=[ck.Action(surface.id, ck.EmailContent(subject="Hi", html="<p>x</p>"))],
                schedule=ck.Schedule(start=T0.add(hours=1)),
            )
            admin.activate(campaign.id)
            ids.append(campaign.id)
        kit.tick()  # all ten SCHEDULED
        _corrupt(path, ids[4])
        with caplog.at_level(logging.WARNING, logger="campaignkit"):
            report = kit.run_until(T0.add(hours=2))
        assert report.next_due_at is not None  # the nine complete three days later
        for campaign_id in ids[:4] + ids[5:]:
            assert admin.report(campaign_id).sent == 1
        assert any(ids[4] in r.getMessage() for r in caplog.records)
        assert len(kit.channels[EMAIL].sent) == 9


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        # cattrs alone read the text as tags ("z", "z", "z"): saving them broke a UNIQUE index
        ("tags", "zzz", "expected tuple @ $.tags"),
        # an ACTIVATING campaign without a version: its due step failed an assert
        ("live_version", None, "cannot be brought up to date: its due step raised"),
    ],
)
def test_a_document_that_loads_but_does_not_hold_together_is_a_storage_error(
    tmp_path: Path, field: str, value: object, problem: str
) -> None:
    clock = ManualClock(T0)
    path = tmp_path / "kit.db"
    with ck.CampaignKit.sqlite(path, clock=clock, ids=SequentialIds()) as kit:
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        admin = kit.as_user("ada")
        surface = admin.create_surface(
            name="News", channel=EMAIL, settings=ck.EmailSettings(sender="n@example.com")
        )
        kit.audiences.define("crowd", ["a"])
        campaign = admin.create_campaign(
            name="C",
            audience="crowd",
            namespace="email",
            tags=["t"],
            actions=[ck.Action(surface.id, ck.EmailContent(subject="Hi", html="<p>x</p>"))],
        )
        admin.activate(campaign.id)  # ACTIVATING: its prepare step is due
    with sqlite3.connect(path, timeout=10) as connection:
        (text,) = connection.execute(
            "SELECT document FROM campaigns WHERE id = ?", (campaign.id,)
        ).fetchone()
        document = json.loads(text)
        document["data"][field] = value
        connection.execute(
            "UPDATE campaigns SET document = ? WHERE id = ?", (json.dumps(document), campaign.id)
        )
    connection.close()
    with ck.CampaignKit.sqlite(path, clock=clock, ids=SequentialIds()) as kit:
        admin = kit.as_user("ada")
        for verb in (admin.delete, admin.stop):
            with pytest.raises(ck.StorageError, match=re.escape(problem)):
                verb(campaign.id)
        kit.tick()  # set aside with a warning, never raised
        with sqlite3.connect(path, timeout=10) as connection:
            (after,) = connection.execute(
                "SELECT document FROM campaigns WHERE id = ?", (campaign.id,)
            ).fetchone()
        connection.close()
        assert json.loads(after) == document  # nothing was written


def test_a_run_whose_campaign_became_unloadable_fails_with_the_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Mid-tick, one campaign's document is corrupted: its run FAILS, the others deliver."""
    clock = ManualClock(T0)
    path = tmp_path / "kit.db"
    ids: list[str] = []

    def corrupting(message: ck.Message) -> ck.SendResult:
        if message.campaign_id == ids[0]:
            _corrupt(path, ids[-1])
        return ck.Accepted(f"mail-{message.idempotency_key}")

    with ck.CampaignKit.sqlite(
        path, clock=clock, ids=SequentialIds(), channels={EMAIL: CallbackChannel(corrupting)}
    ) as kit:
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        admin = kit.as_user("ada")
        surface = admin.create_surface(
            name="News", channel=EMAIL, settings=ck.EmailSettings(sender="n@example.com")
        )
        kit.profiles.upsert(person("a"))
        kit.audiences.define("crowd", ["a"])
        for number in range(3):
            campaign = admin.create_campaign(
                name=f"C{number}",
                audience="crowd",
                namespace="email",
                actions=[ck.Action(surface.id, ck.EmailContent(subject="Hi", html="<p>x</p>"))],
            )
            admin.activate(campaign.id)
            ids.append(campaign.id)
        with caplog.at_level(logging.WARNING, logger="campaignkit"):
            kit.tick()
        with kit.store.unit_of_work() as uow:
            runs = {cid: uow.runs.for_campaign(cid)[0] for cid in ids}
        assert [runs[cid].status for cid in ids] == [
            ck.RunStatus.SUCCEEDED,
            ck.RunStatus.SUCCEEDED,
            ck.RunStatus.FAILED,
        ]
        error = runs[ids[-1]].error
        assert error is not None
        assert "StorageError" in error
        assert "could not be updated" in error  # its campaign could not be told
        assert any(runs[ids[-1]].id in r.getMessage() for r in caplog.records)
        with kit.store.unit_of_work() as uow:
            assert uow.runs.next_due_at() is None  # the failed run is not retried


def test_a_channel_reusing_provider_ids_sends_each_message_once(
    make_env: object, caplog: pytest.LogCaptureFixture
) -> None:
    """A provider answering one id per batch (or reusing ids) must not make a run spin.

    The ledger refuses a provider id another message holds; the messages were
    accepted all the same, so they are SENT without that id, with a WARNING,
    and never handed over again.
    """
    calls: list[str] = []

    def one_id_per_batch(message: ck.Message) -> ck.SendResult:
        calls.append(message.idempotency_key)
        return ck.Accepted("batch-1")

    env = make_env(channel=CallbackChannel(one_id_per_batch))  # type: ignore[operator]
    for pid in ("a", "b", "c"):
        env.kit.profiles.upsert(person(pid))
    env.kit.audiences.define("crowd", ["a", "b", "c"])
    first = env.campaign("First", "crowd")
    second = env.campaign("Second", "crowd")
    env.admin.activate(first.id)
    env.admin.activate(second.id)
    with caplog.at_level(logging.WARNING, logger="campaignkit"):
        env.kit.run_until(env.clock.now().add(days=4))

    assert len(calls) == len(set(calls)) == 6  # each message handed over exactly once
    for campaign in (first, second):
        run = env.run_of(campaign.id)
        assert run.status is ck.RunStatus.SUCCEEDED
        entries = env.entries(run.id)
        assert {e.state for e in entries} == {ck.LedgerState.SENT}
    holders = [
        e
        for c in (first, second)
        for e in env.entries(env.run_of(c.id).id)
        if e.provider_message_id == "batch-1"
    ]
    assert len(holders) == 1  # the id stays unique; feedback finds exactly one message
    assert any("provider message id" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("answer", [None, "ok", 200], ids=["none", "str", "int"])
def test_a_channel_answering_no_send_result_leaves_no_entry_without_an_outcome(
    make_env: object, answer: object
) -> None:
    """A result that is not a SendResult is a failed hand-over: retried, then FAILED."""

    class Garbage:
        def send(self, messages: Sequence[ck.Message]) -> list[object]:
            return [answer for _ in messages]

    env = make_env(channel=Garbage())  # type: ignore[operator]
    for pid in ("a", "b"):
        env.kit.profiles.upsert(person(pid))
    env.kit.audiences.define("crowd", ["a", "b"])
    campaign = env.campaign("C", "crowd")
    env.admin.activate(campaign.id)
    env.kit.run_until(env.clock.now().add(days=4))

    run = env.run_of(campaign.id)
    assert run.status.is_final
    entries = env.entries(run.id)
    assert [e.state for e in entries] == [ck.LedgerState.FAILED] * 2
    assert all("not Accepted" in (e.error or "") for e in entries)
    report = env.admin.report(campaign.id)
    assert (report.counts.failed, report.counts.pending) == (2, 0)


# ---------------------------------------------------------------- no silent zero


def test_unknown_profiles_and_missing_attributes_are_reasons_and_warnings(
    make_env: object, caplog: pytest.LogCaptureFixture
) -> None:
    env = make_env()  # type: ignore[operator]
    env.kit.profiles.upsert(person("known", firstName="Kim"))
    env.kit.profiles.upsert(person("nameless"))
    env.kit.audiences.define("mixed", ["known", "nameless", "ghost"])
    campaign = env.campaign("Mixed", "mixed", subject="Hi {{ profile.firstName }}")
    env.admin.activate(campaign.id)
    with caplog.at_level(logging.WARNING, logger="campaignkit"):
        env.kit.tick()
    report = env.admin.report(campaign.id)
    assert report.sent == 1
    assert dict(report.excluded) == {
        ck.ExclusionReason.UNKNOWN_PROFILE: 1,
        ck.ExclusionReason.MISSING_ATTRIBUTE: 1,
    }
    # reported in precedence order, not in the order they were met or by name
    assert list(report.excluded) == [
        ck.ExclusionReason.UNKNOWN_PROFILE,
        ck.ExclusionReason.MISSING_ATTRIBUTE,
    ]
    assert "unknown_profile: 1, missing_attribute: 1" in report._repr_html_()
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "1 for unknown_profile" in warning
    assert "1 for missing_attribute" in warning
    assert campaign.id in warning


def test_a_clean_run_logs_no_warning(make_env: object, caplog: pytest.LogCaptureFixture) -> None:
    env = make_env()  # type: ignore[operator]
    env.kit.profiles.upsert(person("known", firstName="Kim"))
    env.kit.audiences.define("one", ["known"])
    campaign = env.campaign("One", "one", subject="Hi {{ profile.firstName }}")
    env.admin.activate(campaign.id)
    with caplog.at_level(logging.WARNING, logger="campaignkit"):
        env.kit.tick()
    assert env.admin.report(campaign.id).sent == 1
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_unknown_profile_comes_right_after_duplicate() -> None:
    order = list(ck.ExclusionReason)
    assert order[:3] == [
        ck.ExclusionReason.DUPLICATE,
        ck.ExclusionReason.UNKNOWN_PROFILE,
        ck.ExclusionReason.MISSING_IDENTITY,
    ]


# ---------------------------------------------------------------- leases


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
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        admin = kit.as_user("ada")
        surface = admin.create_surface(
            name="News", channel=EMAIL, settings=ck.EmailSettings(sender="n@example.com")
        )
        people = [f"p{i}" for i in range(4)]
        for pid in people:
            kit.profiles.upsert(person(pid))
        kit.audiences.define("all", people)
        campaign = admin.create_campaign(
            name="News",
            audience="all",
            namespace="email",
            actions=[ck.Action(surface.id, ck.EmailContent(subject="Hi", html="<p>x</p>"))],
        )
        admin.activate(campaign.id)
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
