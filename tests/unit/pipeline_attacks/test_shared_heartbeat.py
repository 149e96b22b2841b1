"""The shared heartbeat thread: runs kept from two threads share it, blocks that raise stop
their renewals, and a store that raises in renew does not stop the other runs."""

from __future__ import annotations

import threading

import pendulum
import pytest

import campaignkit as ck
from campaignkit.adapters.memory import InMemoryStore
from campaignkit.delivery.lease import Leases
from campaignkit.testing import ManualClock
from tests.unit.pipeline_attacks.support import T0, _wait_until

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
