"""kit.run_forever: the worker loop on a ManualClock driven from another thread.

Nothing sleeps: the worker waits through ``ManualClock.wait_until``, which
wakes as soon as the test thread moves the clock; the test learns that the
worker is idle again with ``ManualClock.wait_for_waiters`` and joins worker
threads with a timeout (a safety bound only). Stopping mid-run is driven by
a channel that sets the stop event (or raises a signal) while a batch is in
hand: the batch is recorded, the next one does not start, the lease is
released, and a restarted worker finishes the run at the same instant.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType

import pendulum
import pytest

import campaignkit as ck
from campaignkit.testing import ManualClock, RecordingChannel, SequentialIds
from tests.factories import T0, World

C = ck.ChannelType
JOIN = 10.0
"""Seconds a test waits at most for a worker thread (a safety bound, never reached)."""
EVERY = pendulum.duration(hours=6)
"""A poll interval longer than any test's clock moves, unless a test says otherwise."""


# ---------------------------------------------------------------- helpers


class StoppingChannel(RecordingChannel):
    """Records and accepts; calls ``on_send(n)`` during the n-th batch (1-based)."""

    def __init__(self, on_send: Callable[[int], None] | None = None) -> None:
        super().__init__("stop")
        self.on_send = on_send
        self.calls = 0

    def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
        self.calls += 1
        if self.on_send is not None:
            self.on_send(self.calls)
        return super().send(messages)


def make_kit(
    backend: str,
    tmp_path: Path,
    clock: ManualClock,
    channel: ck.Channel,
    *,
    batch_size: int = 2,
) -> ck.CampaignKit:
    """A kit on ``backend`` with every channel type wired to ``channel``."""
    channels = dict.fromkeys(C, channel)
    delivery = ck.DeliverySettings(batch_size=batch_size, heartbeat=False)
    if backend == "memory":
        return ck.CampaignKit.in_memory(
            clock=clock, channels=channels, delivery=delivery, ids=SequentialIds()
        )
    return ck.CampaignKit.sqlite(
        tmp_path / "kit.db", clock, channels, delivery=delivery, ids=SequentialIds()
    )


def restart(
    backend: str, tmp_path: Path, kit: ck.CampaignKit, channel: ck.Channel
) -> ck.CampaignKit:
    """Another worker (new worker id) on the same store, profiles and clock."""
    delivery = kit.delivery
    channels = dict.fromkeys(C, channel)
    if backend == "memory":
        return ck.CampaignKit(
            store=kit.store,
            clock=kit.clock,
            channels=channels,
            profiles=kit.profiles,
            delivery=delivery,
        )
    kit.close()
    return ck.CampaignKit.sqlite(tmp_path / "kit.db", kit.clock, channels, delivery=delivery)


def setup(kit: ck.CampaignKit, people: int) -> ck.UserSession:
    """An administrator, an email surface and an audience ``vip`` of ``people`` profiles."""
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    admin = kit.as_user("ada")
    admin.create_surface(
        name="Newsletter", channel=C.EMAIL, settings=ck.EmailSettings(sender="news@example.com")
    )
    ids = [f"p{n}" for n in range(1, people + 1)]
    for pid in ids:
        kit.profiles.upsert(
            ck.Profile(
                id=pid,
                identities={"email": f"{pid}@example.com"},
                attributes={"firstName": pid},
                consents={C.EMAIL: True},
            )
        )
    kit.audiences.define("vip", ids)
    return admin


def campaign(
    admin: ck.UserSession,
    *,
    name: str = "Winter sale",
    start: pendulum.DateTime | None = None,
    subject: str = "Hi {{ profile.firstName }}",
) -> ck.Campaign:
    """Create and activate a one-shot email campaign to ``vip`` (not ticked)."""
    surface = admin.list_surfaces()[0]
    created = admin.create_campaign(
        name=name,
        audience="vip",
        namespace="email",
        actions=[ck.Action(surface.id, ck.EmailContent(subject=subject, html="<p>Hi</p>"))],
        schedule=ck.Schedule(start=start),
    )
    admin.activate(created.id)
    return created


def only_run(kit: ck.CampaignKit, campaign_id: str) -> ck.Run:
    with kit.store.unit_of_work() as uow:
        runs = list(uow.runs.for_campaign(campaign_id))
    assert len(runs) == 1
    return runs[0]


def ledger(kit: ck.CampaignKit, run_id: str) -> list[ck.LedgerEntry]:
    with kit.store.unit_of_work() as uow:
        return list(uow.ledger.entries(run_id))


@pytest.fixture
def worker() -> Iterator[Callable[..., tuple[threading.Thread, threading.Event]]]:
    """Starts ``kit.run_forever`` in threads; stops and joins them at the end."""
    started: list[tuple[threading.Thread, threading.Event]] = []

    def start(
        kit: ck.CampaignKit, poll: pendulum.Duration | float = EVERY
    ) -> tuple[threading.Thread, threading.Event]:
        stop = threading.Event()
        thread = threading.Thread(
            target=kit.run_forever, args=(stop,), kwargs={"poll": poll}, daemon=True
        )
        thread.start()
        started.append((thread, stop))
        return thread, stop

    yield start
    for thread, stop in started:
        stop.set()
        thread.join(JOIN)
        assert not thread.is_alive()


Worker = Callable[..., tuple[threading.Thread, threading.Event]]


# ---------------------------------------------------------------- waiting and waking


def test_the_worker_sleeps_until_the_due_instant_and_wakes_when_the_clock_moves(
    world: World, worker: Worker
) -> None:
    kit, clock = world.kit, world.clock
    for pid in ("p1", "p2"):
        kit.profiles.upsert(
            ck.Profile(
                id=pid,
                identities={"email": f"{pid}@example.com"},
                attributes={"firstName": pid},
                consents={C.EMAIL: True},
            )
        )
    created = world.draft(start=T0.add(hours=1))
    world.admin.activate(created.id)
    thread, stop = worker(kit)

    assert clock.wait_for_waiters()  # ticked once: activation prepared, start one hour ahead
    assert world.admin.get(created.id).status is ck.CampaignStatus.SCHEDULED
    assert kit.channels[C.EMAIL].sent == []

    clock.advance(minutes=59)  # not yet due: the worker keeps waiting for the start
    assert clock.wait_for_waiters()
    assert kit.channels[C.EMAIL].sent == []

    clock.advance(minutes=1)  # the start: the worker wakes at once, goes live and delivers
    assert clock.wait_for_waiters()
    assert sorted(m.address for m in kit.channels[C.EMAIL].sent) == [
        "p1@example.com",
        "p2@example.com",
    ]
    assert only_run(kit, created.id).status is ck.RunStatus.SUCCEEDED
    assert world.admin.get(created.id).status is ck.CampaignStatus.LIVE

    stop.set()  # returns promptly, from another thread (no signal handlers there)
    thread.join(JOIN)
    assert not thread.is_alive()


def test_work_added_while_the_worker_waits_is_picked_up_within_the_poll_interval(
    world: World, worker: Worker
) -> None:
    kit, clock = world.kit, world.clock
    kit.profiles.upsert(
        ck.Profile(
            id="p1",
            identities={"email": "p1@example.com"},
            attributes={"firstName": "Ann"},
            consents={C.EMAIL: True},
        )
    )
    worker(kit, poll=pendulum.duration(minutes=5))
    assert clock.wait_for_waiters()  # nothing scheduled: it waits one poll interval

    created = world.draft()  # starts on activation, while the worker waits
    world.admin.activate(created.id)
    clock.advance(minutes=4)
    assert clock.wait_for_waiters()
    assert kit.channels[C.EMAIL].sent == []  # the worker did not look yet

    clock.advance(minutes=1)  # one poll interval after its last tick
    assert clock.wait_for_waiters()
    assert [m.address for m in kit.channels[C.EMAIL].sent] == ["p1@example.com"]


def test_a_clock_that_cannot_be_waited_on_is_polled_in_real_time(tmp_path: Path) -> None:
    class BareClock:
        """Reads a ManualClock; has no wait_until."""

        def __init__(self) -> None:
            self.inner = ManualClock(T0)

        def now(self) -> pendulum.DateTime:
            return self.inner.now()

    clock = BareClock()
    assert not isinstance(clock, ck.WaitableClock)
    delivered = threading.Event()
    channel = StoppingChannel(lambda _: delivered.set())
    kit = ck.CampaignKit.in_memory(clock=clock, channels=dict.fromkeys(C, channel))
    admin = setup(kit, 1)
    stop = threading.Event()
    thread = threading.Thread(target=kit.run_forever, args=(stop,), kwargs={"poll": 0.001})
    thread.start()
    campaign(admin)  # added while the worker polls: seen within a millisecond or so
    assert delivered.wait(JOIN)
    stop.set()
    thread.join(JOIN)
    assert not thread.is_alive()
    assert [m.address for m in channel.sent] == ["p1@example.com"]


def test_a_tick_that_raises_is_logged_and_tried_again_one_poll_later(
    world: World, worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    kit, clock = world.kit, world.clock
    kit.profiles.upsert(
        ck.Profile(
            id="p1",
            identities={"email": "p1@example.com"},
            attributes={"firstName": "Ann"},
            consents={C.EMAIL: True},
        )
    )
    created = world.draft()
    world.admin.activate(created.id)
    real = kit.engine.tick
    failures = iter([ck.StorageError("database is locked")])

    def flaky() -> ck.TickReport:
        for error in failures:
            raise error
        return real()

    kit.engine.tick = flaky  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="campaignkit.worker"):
        worker(kit, poll=pendulum.duration(minutes=1))
        assert clock.wait_for_waiters()
    (record,) = caplog.records
    assert "the tick failed; trying again in 60s" in record.getMessage()
    assert record.exc_info is not None
    assert kit.channels[C.EMAIL].sent == []

    clock.advance(minutes=1)
    assert clock.wait_for_waiters()
    assert [m.address for m in kit.channels[C.EMAIL].sent] == ["p1@example.com"]


# ---------------------------------------------------------------- stopping


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_a_stop_mid_run_records_the_batch_in_hand_releases_the_lease_and_a_restart_finishes(
    backend: str, tmp_path: Path, worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(T0)
    stop = threading.Event()
    first = StoppingChannel(lambda n: stop.set() if n == 2 else None)
    kit = make_kit(backend, tmp_path, clock, first)
    admin = setup(kit, 6)  # three batches of two
    created = campaign(admin)

    with caplog.at_level(logging.INFO, logger="campaignkit"):
        kit.run_forever(stop, handle_signals=False)  # returns once batch 2 is recorded

    run = only_run(kit, created.id)
    assert first.batches == [2, 2]  # batch 3 never started
    assert run.status is ck.RunStatus.RUNNING
    assert run.position == 4
    assert (run.lease_owner, run.lease_expires_at) == (None, None)  # released, not left to lapse
    assert run.due_at == clock.now()  # due again at once
    entries = ledger(kit, run.id)
    assert sorted(e.profile_id for e in entries) == ["p1", "p2", "p3", "p4"]
    assert {e.state for e in entries} == {ck.LedgerState.SENT}
    paused = [r for r in caplog.records if "paused at audience position 4" in r.getMessage()]
    assert len(paused) == 1
    assert paused[0].run_id == run.id  # type: ignore[attr-defined]
    assert any(r.getMessage().endswith("stopped") for r in caplog.records)

    second = StoppingChannel()
    kit = restart(backend, tmp_path, kit, second)
    thread, again = worker(kit)
    assert clock.wait_for_waiters()  # same instant: no lease to wait out
    run = only_run(kit, created.id)
    assert run.status is ck.RunStatus.SUCCEEDED
    assert second.batches == [2]
    entries = ledger(kit, run.id)
    assert Counter(e.profile_id for e in entries) == Counter(f"p{n}" for n in range(1, 7))
    assert {e.state for e in entries} == {ck.LedgerState.SENT}
    sent = [m.idempotency_key for m in (*first.sent, *second.sent)]
    assert len(sent) == len(set(sent)) == 6  # nobody twice, nobody lost
    again.set()
    thread.join(JOIN)
    kit.close()


def test_a_stopping_tick_starts_no_further_run(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    stop = threading.Event()
    channel = StoppingChannel(lambda _: stop.set())
    kit = make_kit("memory", tmp_path, clock, channel, batch_size=10)
    admin = setup(kit, 2)
    one = campaign(admin, name="One")
    two = campaign(admin, name="Two")

    kit.run_forever(stop, handle_signals=False)

    runs = [only_run(kit, one.id), only_run(kit, two.id)]
    started = [r for r in runs if r.started_at is not None]
    waiting = [r for r in runs if r.started_at is None]
    assert len(started) == len(waiting) == 1
    assert started[0].status is ck.RunStatus.RUNNING  # its one batch recorded, not settled
    assert waiting[0].status is ck.RunStatus.PENDING
    assert channel.batches == [2]
    assert kit.runner.stop_requested() is False  # the runner is back to normal
    kit.tick()
    assert {r.status for r in (only_run(kit, one.id), only_run(kit, two.id))} == {
        ck.RunStatus.SUCCEEDED
    }


def test_a_stop_during_retries_leaves_the_rest_for_the_next_worker(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    stop = threading.Event()
    calls: list[int] = []

    class FlakyChannel(StoppingChannel):
        def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
            calls.append(len(messages))
            if len(calls) <= 2:  # the first pass: both batches fail for now
                return [ck.TransientFailure("busy", retry_after=60)] * len(messages)
            stop.set()  # the first retry chunk: stop there
            return super().send(messages)

    channel = FlakyChannel()
    kit = make_kit("memory", tmp_path, clock, channel)
    admin = setup(kit, 4)
    created = campaign(admin)
    kit.tick()
    assert calls == [2, 2]
    clock.advance(minutes=1)

    kit.run_forever(stop, handle_signals=False)

    assert calls == [2, 2, 2]  # one retry chunk, then the worker stopped
    run = only_run(kit, created.id)
    states = Counter(e.state for e in ledger(kit, run.id))
    assert states == {ck.LedgerState.SENT: 2, ck.LedgerState.RETRY: 2}
    assert run.lease_owner is None
    kit.tick()
    assert only_run(kit, created.id).status is ck.RunStatus.SUCCEEDED
    assert calls == [2, 2, 2, 2]


def test_a_stop_while_settling_a_crashed_batch_keeps_the_rest_pending(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(T0)

    class Crash(BaseException):
        """The process dies while the batch is in flight."""

    def crash(_: int) -> None:
        raise Crash

    kit = make_kit("sqlite", tmp_path, clock, StoppingChannel(crash))
    admin = setup(kit, 4)
    created = campaign(admin)
    with pytest.raises(Crash):
        kit.tick()
    run = only_run(kit, created.id)
    assert Counter(e.state for e in ledger(kit, run.id)) == {ck.LedgerState.PENDING: 2}

    stop = threading.Event()

    class Gone(StoppingChannel):
        """Knows the first message it is asked about: the provider refused it for good."""

        def lookup(self, idempotency_key: str) -> ck.SendResult | None:
            if idempotency_key.endswith("p1"):
                return ck.PermanentFailure("550 no such mailbox")
            return None

    channel = Gone(lambda _: stop.set())
    kit = restart("sqlite", tmp_path, kit, channel)
    with caplog.at_level(logging.WARNING, logger="campaignkit"):
        kit.run_forever(stop, handle_signals=False)

    run = only_run(kit, created.id)
    assert channel.batches == [1]  # p2 re-sent; then the worker stopped before streaming on
    states = {e.profile_id: e.state for e in ledger(kit, run.id)}
    assert states == {"p1": ck.LedgerState.FAILED, "p2": ck.LedgerState.SENT}
    assert run.position == 2
    assert run.lease_owner is None
    failed = [r for r in caplog.records if "failed permanently" in r.getMessage()]
    assert len(failed) == 1
    assert "p1: 550 no such mailbox" in failed[0].getMessage()
    kit.tick()
    assert only_run(kit, created.id).status is ck.RunStatus.SUCCEEDED
    kit.close()


# ---------------------------------------------------------------- signals


@pytest.fixture
def sentinel_handlers() -> Iterator[Callable[[int, FrameType | None], None]]:
    """Installs a recognisable handler for SIGTERM and SIGINT; restores the originals."""

    def sentinel(signum: int, frame: FrameType | None) -> None:
        raise AssertionError(f"the worker's handler should have run for {signum}")

    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    for number in saved:
        signal.signal(number, sentinel)
    yield sentinel
    for number, handler in saved.items():
        signal.signal(number, handler)


def test_sigterm_in_the_main_thread_stops_after_the_batch_and_restores_the_handlers(
    tmp_path: Path, sentinel_handlers: Callable[[int, FrameType | None], None]
) -> None:
    clock = ManualClock(T0)
    channel = StoppingChannel(lambda n: signal.raise_signal(signal.SIGTERM) if n == 1 else None)
    kit = make_kit("memory", tmp_path, clock, channel)
    admin = setup(kit, 4)
    created = campaign(admin)

    kit.run_forever()  # no stop event: the signal is the only way out

    assert channel.batches == [2]
    run = only_run(kit, created.id)
    assert (run.status, run.position, run.lease_owner) == (ck.RunStatus.RUNNING, 2, None)
    assert signal.getsignal(signal.SIGTERM) is sentinel_handlers
    assert signal.getsignal(signal.SIGINT) is sentinel_handlers


def test_a_second_sigint_interrupts_at_once_and_still_hands_the_run_back(
    tmp_path: Path, sentinel_handlers: Callable[[int, FrameType | None], None]
) -> None:
    clock = ManualClock(T0)

    def twice(_: int) -> None:
        signal.raise_signal(signal.SIGINT)  # stop after this batch ...
        signal.raise_signal(signal.SIGINT)  # ... no: now

    channel = StoppingChannel(twice)
    kit = make_kit("memory", tmp_path, clock, channel)
    admin = setup(kit, 4)
    created = campaign(admin)

    with pytest.raises(KeyboardInterrupt):
        kit.run_forever()

    run = only_run(kit, created.id)
    assert run.lease_owner is None  # handed back: the next worker resumes it at once
    assert Counter(e.state for e in ledger(kit, run.id)) == {ck.LedgerState.PENDING: 2}
    assert signal.getsignal(signal.SIGINT) is sentinel_handlers


def test_without_signal_handling_the_handlers_stay_as_they_are(
    tmp_path: Path, sentinel_handlers: Callable[[int, FrameType | None], None]
) -> None:
    clock = ManualClock(T0)
    stop = threading.Event()
    seen: list[object] = []

    def look(_: int) -> None:
        seen.append(signal.getsignal(signal.SIGTERM))
        stop.set()

    kit = make_kit("memory", tmp_path, clock, StoppingChannel(look))
    campaign(setup(kit, 1))
    kit.run_forever(stop, handle_signals=False)
    assert seen == [sentinel_handlers]


def test_a_handler_installed_outside_python_is_restored_as_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[int, object]] = []
    real = signal.signal

    def recording(number: int, handler: object) -> object:
        calls.append((number, handler))
        previous = real(number, handler)  # type: ignore[arg-type]
        return None if number == signal.SIGTERM else previous

    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    monkeypatch.setattr(signal, "signal", recording)
    try:
        kit = make_kit("memory", tmp_path, ManualClock(T0), StoppingChannel())
        stop = threading.Event()
        stop.set()
        kit.run_forever(stop)
    finally:
        for number, handler in saved.items():
            real(number, handler)
    assert calls[-2:] == [(signal.SIGTERM, signal.SIG_DFL), (signal.SIGINT, saved[signal.SIGINT])]


# ---------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    "poll", [0, -1, math.nan, math.inf, True, "30", pendulum.duration(seconds=0)]
)
def test_poll_must_be_a_positive_duration(world: World, poll: object) -> None:
    with pytest.raises(ck.ValidationError, match="poll must be a positive"):
        world.kit.run_forever(threading.Event(), poll=poll)  # type: ignore[arg-type]


def test_stop_must_be_an_event(world: World) -> None:
    with pytest.raises(ck.ValidationError, match=r"stop must be a threading\.Event"):
        world.kit.run_forever(stop=True)  # type: ignore[arg-type]


def test_a_stop_set_before_the_start_returns_without_ticking(world: World) -> None:
    created = world.draft()
    world.admin.activate(created.id)
    stop = threading.Event()
    stop.set()
    world.kit.run_forever(stop, poll=1)
    assert world.admin.get(created.id).status is ck.CampaignStatus.ACTIVATING
