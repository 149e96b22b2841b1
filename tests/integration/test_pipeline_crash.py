"""Crashes and concurrency against issue 12's per-batch pipeline on SQLite.

- A worker process SIGKILLed at a send (before the batch reaches the provider,
  and after) and one SIGKILLed *from outside* at an arbitrary instant (maybe in
  the middle of an intent or outcome transaction, or while profiles decode),
  then a fresh kit resumes: every (run, action, profile) ends in exactly one
  SENT entry, every copy a provider got carries the one idempotency key of its
  (run, action, profile), and the counts add up. The helpers are those of
  ``tests/integration/delivery_crash/`` (same child process, channel and checks).
- Two kits (two workers) on one SQLite file ticking the same due runs at once
  from two threads: nobody is handed over twice.

Nothing sleeps: the test waits for children and threads with bounds.
"""

from __future__ import annotations

import collections
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pendulum
import pytest

import campaignkit as ck
from campaignkit.testing import CallbackChannel, ManualClock, SequentialIds
from tests.integration.delivery_crash.channel import EMAIL, SMS, record_path, size_of
from tests.integration.delivery_crash.support import (
    CHILD_BOOT,
    CHILD_TIMEOUT,
    RESTART_STEP,
    ROOT,
    T0,
    Seeded,
    check_outcome,
    crash_worker,
    run_worker,
    seed_store,
)

RECIPIENTS = 3_000
BATCH = 250


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    return seed_store(tmp_path_factory.mktemp("pipeline") / "campaigns.db", RECIPIENTS)


def _copy(seeded: Seeded, directory: Path) -> Seeded:
    from tests.integration.delivery_crash.support import copy_of

    return copy_of(seeded, directory)


def _newsletter_world(kit: ck.CampaignKit, size: int) -> tuple[ck.UserSession, ck.ChannelSurface]:
    """An administrator, an email surface and an audience "all" of ``size`` emailable profiles."""
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    admin = kit.as_user("ada")
    surface = admin.create_surface(
        name="News", channel=EMAIL, settings=ck.EmailSettings(sender="n@example.com")
    )
    people = [
        ck.Profile(f"p{i:04d}", identities={"email": f"p{i}@example.com"}, consents={EMAIL: True})
        for i in range(size)
    ]
    assert isinstance(kit.profiles, ck.SQLiteProfileStore)
    kit.profiles.upsert_many(people)
    kit.audiences.define("all", [p.id for p in people])
    return admin, surface


@pytest.mark.parametrize("kind", ["plain", "lookup"])
def test_killed_at_a_send_twice_then_resumed_sends_everyone_once(
    seeded: Seeded, tmp_path: Path, kind: str
) -> None:
    store = _copy(seeded, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    crashes = [
        crash_worker(
            store,
            out,
            at=T0 + RESTART_STEP * n,
            kind=kind,  # type: ignore[arg-type]
            moment=moment,  # type: ignore[arg-type]
            seed=11 + n,
            max_send=8,
            batch_size=BATCH,
        )
        for n, moment in enumerate(("before", "after"))
    ]
    last = run_worker(
        store,
        out,
        at=T0 + RESTART_STEP * 2,
        kind=kind,  # type: ignore[arg-type]
        moment="never",
        batch_size=BATCH,
    )
    assert last.returncode == 0, last.stderr
    copies = check_outcome(store, out, at=T0 + RESTART_STEP * 3)
    if kind == "lookup":
        assert copies == {}
    else:  # a copy only of what a crash left in flight (both actions of its batch), same key
        in_flight = frozenset().union(*(c.pending for c in crashes))
        assert set(copies) <= in_flight
        assert all(n == 2 for n in copies.values())


def _kill_when(store: Seeded, out: Path, *, at: pendulum.DateTime, lines: int) -> bool:
    """Start a worker and SIGKILL it once its email record holds ``lines`` lines.

    Returns:
        True if it was killed, False if it ended first.
    """
    path = record_path(out, EMAIL)
    start = size_of(path)
    line = len("run_0001:act_0000:p00000\tact_0000\tp00000\n")  # about one line
    args = [str(store.path), str(out), at.isoformat(), "plain", "never", "0", "1", str(BATCH)]
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD_BOOT, str(ROOT), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    pause = threading.Event()
    try:
        for _ in range(int(CHILD_TIMEOUT * 1000)):
            if child.poll() is not None:
                return False
            if size_of(path) - start >= lines * line:
                child.send_signal(signal.SIGKILL)
                break
            pause.wait(0.001)
        child.wait(CHILD_TIMEOUT)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(CHILD_TIMEOUT)
        if child.stderr is not None:
            child.stderr.close()
    return child.returncode == -signal.SIGKILL


def test_killed_from_outside_at_any_instant_then_resumed_sends_everyone_once(
    seeded: Seeded, tmp_path: Path
) -> None:
    store = _copy(seeded, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    killed = 0
    for n, lines in enumerate((400, 1_300, 2_200)):
        killed += _kill_when(store, out, at=T0 + RESTART_STEP * n, lines=lines)
    assert killed >= 1, "no worker was killed mid-run: raise the thresholds' spread"
    last = run_worker(
        store, out, at=T0 + RESTART_STEP * 3, kind="plain", moment="never", batch_size=BATCH
    )
    assert last.returncode == 0, last.stderr
    copies = check_outcome(store, out, at=T0 + RESTART_STEP * 4)
    assert all(n == 2 for n in copies.values())  # a copy per crash at most, same key
    assert len(copies) <= killed * 2 * BATCH


# ---------------------------------------------------------------- two kits, one file


def test_two_kits_on_one_file_ticking_the_same_due_runs_send_nobody_twice(
    tmp_path: Path,
) -> None:
    path = tmp_path / "shared.db"
    clock = ManualClock(T0)
    handed: collections.Counter[tuple[str, str]] = collections.Counter()
    lock = threading.Lock()

    overlap = threading.Barrier(2, timeout=10)
    met: set[str] = set()

    def record(message: ck.Message) -> ck.SendResult:
        name = threading.current_thread().name
        with lock:
            handed[(name, message.idempotency_key)] += 1
            first = name not in met
            met.add(name)
        if first:  # both workers are inside a channel call at once
            overlap.wait()
        return ck.Accepted(f"id-{message.idempotency_key}")

    settings = ck.DeliverySettings(batch_size=40)
    ids = SequentialIds()
    kits = [
        ck.CampaignKit.sqlite(
            path,
            clock=clock,
            ids=ids,  # one factory: the two kits never make the same id
            channels={EMAIL: CallbackChannel(record), SMS: CallbackChannel(record)},
            delivery=settings,
        )
        for _ in range(2)
    ]
    try:
        kit = kits[0]
        admin, surface = _newsletter_world(kit, 400)
        campaigns = []
        for n in range(4):
            campaign = admin.create_campaign(
                name=f"News {n}",
                audience="all",
                namespace="email",
                actions=[ck.Action(surface.id, ck.EmailContent(subject="Hi", html="<p>x</p>"))],
            )
            admin.activate(campaign.id)
            campaigns.append(campaign.id)
        start = threading.Barrier(2, timeout=30)
        errors: list[BaseException] = []

        def work(each: ck.CampaignKit) -> None:
            try:
                start.wait()
                for _ in range(20):
                    each.tick()
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [
            threading.Thread(target=work, args=(k,), name=n)
            for k, n in zip(kits, "ab", strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not any(t.is_alive() for t in threads)
        conflicts = [e for e in errors if isinstance(e, ck.ConflictError)]
        assert errors == conflicts, errors  # a lost race may surface as a ConflictError
        clock.advance(pendulum.duration(minutes=5))  # past any lease a loser left behind
        kits[0].tick()
        per_key = collections.Counter(key for (_, key) in handed.elements())
        twice = sorted(k for k, n in per_key.items() if n > 1)
        assert not twice, f"{len(twice)} handed over twice: {twice[:3]}"
        assert len(per_key) == 4 * 400
        assert {name for (name, _) in handed} == {"a", "b"}  # both workers delivered
        for campaign_id in campaigns:
            report = admin.report(campaign_id)
            assert report.sent == 400, report
            assert [r.status for r in report.runs] == [ck.RunStatus.SUCCEEDED]
    finally:
        for each in kits:
            each.close()


def test_a_campaign_stopped_through_another_kit_during_the_last_batch_ends_stopped(
    tmp_path: Path,
) -> None:
    """The SQLite document caches never serve a campaign another connection changed."""
    path = tmp_path / "shared.db"
    clock = ManualClock(T0)
    ids = SequentialIds()
    other: list[ck.CampaignKit] = []

    def stop_elsewhere(message: ck.Message) -> ck.SendResult:
        if message.profile_id == "p0099":  # in the last batch
            other[0].as_user("ada").stop(message.campaign_id)
        return ck.Accepted(f"id-{message.idempotency_key}")

    kit = ck.CampaignKit.sqlite(
        path,
        clock=clock,
        ids=ids,
        channels={EMAIL: CallbackChannel(stop_elsewhere)},
        delivery=ck.DeliverySettings(batch_size=40),
    )
    other.append(ck.CampaignKit.sqlite(path, clock=clock, ids=ids))
    try:
        admin, surface = _newsletter_world(kit, 100)
        campaign = admin.create_campaign(
            name="News",
            audience="all",
            namespace="email",
            actions=[ck.Action(surface.id, ck.EmailContent(subject="Hi", html="<p>x</p>"))],
        )
        admin.activate(campaign.id)
        kit.tick()
        report = admin.report(campaign.id)
        assert [r.status for r in report.runs] == [ck.RunStatus.STOPPED], report
        assert admin.get(campaign.id).status is ck.CampaignStatus.STOPPED
        assert report.sent == 100  # the last batch had been handed over
    finally:
        kit.close()
        other[0].close()
