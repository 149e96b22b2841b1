"""The lease itself: a second worker leaves a dead worker's run alone until its lease lapses,
and ``run_until`` resumes it right then instead of spinning on it."""

from __future__ import annotations

from pathlib import Path

import pendulum

import campaignkit as ck
from campaignkit.testing import ManualClock, SequentialIds
from tests.integration.delivery_crash.channel import (
    EMAIL,
    SMS,
    KillSwitch,
    file_channels,
    read_lines,
    record_path,
)
from tests.integration.delivery_crash.support import (
    LEASE,
    SPIN_LIMIT,
    T0,
    Seeded,
    check_outcome,
    copy_of,
    crash_worker,
    the_run,
)


def test_a_live_lease_keeps_a_second_worker_out_until_it_expires(
    small_store: Seeded, tmp_path: Path
) -> None:
    seeded = copy_of(small_store, tmp_path)
    crash = crash_worker(
        seeded, tmp_path, at=T0, kind="plain", moment="after", seed=1, max_send=1, batch_size=10
    )
    assert crash.send == 1
    records = {c: read_lines(record_path(tmp_path, c)) for c in (EMAIL, SMS)}
    clock = ManualClock(T0)
    with (
        file_channels(tmp_path, "plain", KillSwitch(None, "never", None)) as channels,
        ck.CampaignKit.sqlite(
            seeded.path,
            clock=clock,
            channels=channels,
            delivery=ck.DeliverySettings(batch_size=10),
            ids=SequentialIds(),
        ) as kit,
    ):
        with kit.store.unit_of_work() as uow:
            held = the_run(uow, seeded.campaign_id)
        assert held.lease_owner not in (None, kit.worker_id)
        for instant in (T0, T0 + LEASE - pendulum.duration(seconds=1)):
            clock.set(instant)
            kit.tick()
            with kit.store.unit_of_work() as uow:
                run = the_run(uow, seeded.campaign_id)
            assert (run.status, run.lease_owner, run.lease_expires_at) == (
                held.status,
                held.lease_owner,
                held.lease_expires_at,
            ), instant
            assert (run.position, run.counts) == (held.position, held.counts), instant
            assert {c: read_lines(record_path(tmp_path, c)) for c in (EMAIL, SMS)} == records
        clock.set(T0 + LEASE + pendulum.duration(seconds=1))
        kit.tick()
    repeated = check_outcome(seeded, tmp_path, at=clock.now())
    assert set(repeated) == set(crash.keys)


class RunUntilSpun(Exception):
    """``run_until`` kept setting the clock to the same instant without progress."""


class SpinGuardClock(ManualClock):
    """A :class:`ManualClock` that raises :class:`RunUntilSpun` instead of spinning forever."""

    def __init__(self, start: pendulum.DateTime) -> None:
        super().__init__(start)
        self.idle_sets = 0

    def set(self, when: pendulum.DateTime) -> None:
        """Move the clock; raise when told too often to stay where it is."""
        if when <= self.now():
            self.idle_sets += 1
            if self.idle_sets > SPIN_LIMIT:
                raise RunUntilSpun(f"run_until set the clock to {when} {self.idle_sets} times")
        else:
            self.idle_sets = 0
        super().set(when)


def test_run_until_resumes_a_dead_workers_run_when_its_lease_expires(
    small_store: Seeded, tmp_path: Path
) -> None:
    seeded = copy_of(small_store, tmp_path)
    crash_worker(
        seeded, tmp_path, at=T0, kind="plain", moment="before", seed=2, max_send=1, batch_size=10
    )
    clock = SpinGuardClock(T0)
    with (
        file_channels(tmp_path, "plain", KillSwitch(None, "never", None)) as channels,
        ck.CampaignKit.sqlite(
            seeded.path,
            clock=clock,
            channels=channels,
            delivery=ck.DeliverySettings(batch_size=10),
            ids=SequentialIds(),
        ) as kit,
    ):
        # the dead worker's run is next due when its lease lapses, not now
        assert kit.engine.next_due_at() == T0 + LEASE
        kit.run_until(T0 + pendulum.duration(minutes=5))
        with kit.store.unit_of_work() as uow:
            run = the_run(uow, seeded.campaign_id)
    assert run.status is ck.RunStatus.SUCCEEDED
    assert run.finished_at == T0 + LEASE
    assert check_outcome(seeded, tmp_path, at=clock.now()) == {}
