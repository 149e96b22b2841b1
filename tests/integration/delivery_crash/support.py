"""The test side of the delivery crash tests: seeding and copying stores, running and crashing
worker processes, reading the provider's record and checking the outcome of a run."""

from __future__ import annotations

import collections
import json
import random
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import attrs
import pendulum

import campaignkit as ck
from campaignkit.adapters.sqlite import SQLiteStore
from campaignkit.domain.delivery import idempotency_key
from campaignkit.ports import UnitOfWork
from campaignkit.testing import ManualClock, SequentialIds
from tests.integration.delivery_crash.channel import (
    EMAIL,
    SMS,
    Kind,
    Moment,
    read_lines,
    record_path,
    size_of,
)

ROOT: Final = Path(__file__).resolve().parents[3]
T0: Final = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
RECIPIENTS: Final = 20_000
BATCH: Final = 500
CRASHES: Final = 5
LEASE: Final = ck.DeliverySettings().lease
RESTART_STEP: Final = pendulum.duration(minutes=2)
"""How far the clock moves between workers: past the dead worker's lease."""
MAX_KILL_SEND: Final = 16
"""Each crashing child dies at a send in ``1..16``, counted over both channels.

A full run makes 80 sends of audience batches (40 batches, one send per
action each). Every resumed child first re-sends or looks up what was in
flight (at least one send), so five children consume at most
``16 + 4 * 15 = 76`` audience sends: each of them is sure to reach its
chosen send, and the run is never finished before the last crash.
"""
CHILD_TIMEOUT: Final = 120.0
"""Seconds a child may take before the test fails (a bound, never slept)."""
SPIN_LIMIT: Final = 50
"""``run_until`` setting the clock this often without moving it is spinning."""
CHILD_BOOT: Final = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from tests.integration.delivery_crash.channel import child_main; child_main(sys.argv[2:])"
)


# ---------------------------------------------------------------- the test side


@attrs.frozen
class Seeded:
    """A store file ready to deliver: profiles, audience, an activated campaign.

    Attributes:
        path: The store file (closed).
        campaign_id: The campaign.
        actions: Its action id per channel.
        profile_ids: The audience, in order.
    """

    path: Path
    campaign_id: str
    actions: Mapping[ck.ChannelType, str]
    profile_ids: tuple[str, ...]


def seed_store(path: Path, count: int) -> Seeded:
    """Create a store with ``count`` consenting profiles and an activated two-action campaign.

    Nothing is ticked: the campaign goes live, and its run starts, in the
    first worker.
    """
    with ck.CampaignKit.sqlite(path, clock=ManualClock(T0), ids=SequentialIds()) as kit:
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        admin = kit.as_user("ada")
        email = admin.create_surface(
            name="Newsletter", channel=EMAIL, settings=ck.EmailSettings(sender="news@example.com")
        )
        sms = admin.create_surface(
            name="Alerts", channel=SMS, settings=ck.SmsSettings(sender_id="SHOP")
        )
        profiles = [
            ck.Profile(
                id=f"p{i:05d}",
                identities={"email": f"p{i:05d}@example.com"},
                attributes={"firstName": f"Ann {i}"},
                consents={EMAIL: True, SMS: True},
                channel_data={SMS: f"+1555{i:07d}"},
            )
            for i in range(count)
        ]
        assert isinstance(kit.profiles, ck.SQLiteProfileStore)
        kit.profiles.upsert_many(profiles)
        profile_ids = tuple(p.id for p in profiles)
        kit.audiences.define("everyone", profile_ids)
        campaign = admin.create_campaign(
            name="Crash test",
            audience="everyone",
            namespace="email",
            actions=[
                ck.Action(
                    email.id,
                    ck.EmailContent(subject="Hi {{ profile.firstName }}", html="<p>Sale</p>"),
                ),
                ck.Action(sms.id, ck.SmsContent(text="Sale for {{ profile.firstName }}!")),
            ],
        )
        activated = admin.activate(campaign.id)
        assert activated.status is ck.CampaignStatus.ACTIVATING
        version = activated.live_version
        assert version is not None
        actions = {action.channel: action.id for action in version.actions}
        assert kit.channels[EMAIL].sent == []
        assert kit.channels[SMS].sent == []
    return Seeded(path, campaign.id, actions, profile_ids)


def copy_of(seeded: Seeded, directory: Path) -> Seeded:
    """A private copy of a seeded store (a test may crash workers on it)."""
    path = directory / "campaigns.db"
    for suffix in ("", "-wal"):
        source = Path(f"{seeded.path}{suffix}")
        if source.exists():
            shutil.copyfile(source, f"{path}{suffix}")
    return attrs.evolve(seeded, path=path)


def run_worker(
    seeded: Seeded,
    out: Path,
    *,
    at: pendulum.DateTime,
    kind: Kind,
    moment: Moment,
    seed: int = 0,
    max_send: int = MAX_KILL_SEND,
    batch_size: int = BATCH,
) -> subprocess.CompletedProcess[str]:
    """Run one worker process to its end (or its death)."""
    args = [str(seeded.path), str(out), at.isoformat(), kind, moment, str(seed), str(max_send)]
    return subprocess.run(
        [sys.executable, "-c", CHILD_BOOT, str(ROOT), *args, str(batch_size)],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )


@attrs.frozen
class Crash:
    """What one killed worker left behind.

    Attributes:
        moment: Killed before or after the batch reached the record.
        send: The send it died at.
        channel: The channel of that send.
        keys: The idempotency keys of the batch in flight.
        pending: Every idempotency key with an intent but no outcome after the crash.
    """

    moment: Moment
    send: int
    channel: str
    keys: tuple[str, ...]
    pending: frozenset[str]


def the_run(uow: UnitOfWork, campaign_id: str) -> ck.Run:
    """The one run of the campaign (inside a unit of work)."""
    runs = uow.runs.for_campaign(campaign_id)
    assert len(runs) == 1, runs
    return runs[0]


def crash_worker(
    seeded: Seeded,
    out: Path,
    *,
    at: pendulum.DateTime,
    kind: Kind,
    moment: Moment,
    seed: int,
    max_send: int = MAX_KILL_SEND,
    batch_size: int = BATCH,
) -> Crash:
    """Run a worker that kills itself; check and return what the crash left behind."""
    paths = {c: record_path(out, c) for c in (EMAIL, SMS)}
    sizes = {c: size_of(p) for c, p in paths.items()}
    worker = run_worker(
        seeded,
        out,
        at=at,
        kind=kind,
        moment=moment,
        seed=seed,
        max_send=max_send,
        batch_size=batch_size,
    )
    assert worker.returncode == -signal.SIGKILL, (
        f"the worker at {at} should have died at its chosen send: "
        f"rc={worker.returncode}\n{worker.stderr}"
    )
    report = json.loads((out / "crash.json").read_text(encoding="utf-8"))
    (out / "crash.json").unlink()
    keys = tuple(str(k) for k in report["keys"])
    with SQLiteStore(seeded.path) as store, store.unit_of_work() as uow:
        run = the_run(uow, seeded.campaign_id)
        pending = frozenset(idempotency_key(*e.key) for e in uow.ledger.pending(run.id, 10**6))
    # the dead worker still holds the run, but only until before the next restart
    assert run.status is ck.RunStatus.RUNNING
    assert run.lease_owner is not None
    assert run.lease_expires_at is not None
    assert run.lease_expires_at <= at + RESTART_STEP
    # the crash caught the batch between its intent and its outcome, as chosen
    assert keys
    assert set(keys) <= pending
    assert len(pending) <= 2 * batch_size
    channel = ck.ChannelType(report["channel"])
    written = [line.key for line in read_lines(paths[channel], sizes[channel])]
    if moment == "after":
        assert tuple(written[-len(keys) :]) == keys, "the provider should have the batch"
    else:
        assert not set(keys) & set(written), "the provider should not have seen the batch"
    return Crash(moment, int(report["send"]), channel.value, keys, pending)


def crash_five_times_then_finish(
    seeded: Seeded, out: Path, *, kind: Kind, seed: int
) -> list[Crash]:
    """Kill five workers (before, after, before, after, before), then let a sixth finish."""
    rng = random.Random(seed)
    crashes = []
    for n in range(CRASHES):
        moment: Moment = "before" if n % 2 == 0 else "after"
        crashes.append(
            crash_worker(
                seeded,
                out,
                at=T0 + RESTART_STEP * n,
                kind=kind,
                moment=moment,
                seed=rng.randrange(2**32),
            )
        )
    last = run_worker(seeded, out, at=T0 + RESTART_STEP * CRASHES, kind=kind, moment="never")
    assert last.returncode == 0, last.stderr
    return crashes


def check_outcome(seeded: Seeded, out: Path, *, at: pendulum.DateTime) -> dict[str, int]:
    """Check the run, the report, the ledger and the records; return copies per key."""
    total = len(seeded.profile_ids)
    with ck.CampaignKit.sqlite(seeded.path, clock=ManualClock(at)) as kit:
        with kit.store.unit_of_work() as uow:
            run = the_run(uow, seeded.campaign_id)
            entries = list(uow.ledger.entries(run.id))
        report = kit.as_user("ada").report(seeded.campaign_id)
    assert run.status is ck.RunStatus.SUCCEEDED, run.error
    assert run.lease_owner is None
    assert [r.status for r in report.runs] == [ck.RunStatus.SUCCEEDED]
    assert set(report.by_action) == set(seeded.actions.values())
    for action_id, counts in report.by_action.items():
        assert (counts.targeted, counts.sent, counts.pending) == (total, total, 0), action_id
        assert (counts.failed, counts.excluded_total, counts.retries) == (0, 0, 0), action_id

    expected = {
        (action_id, pid): idempotency_key(run.id, action_id, pid)
        for action_id in seeded.actions.values()
        for pid in seeded.profile_ids
    }
    # the ledger: one entry per (action, profile), each SENT with the provider's id
    assert len(entries) == 2 * total
    assert {(e.action_id, e.profile_id) for e in entries} == set(expected)
    channel_names = {action_id: c.value for c, action_id in seeded.actions.items()}
    for entry in entries:
        assert entry.state is ck.LedgerState.SENT, entry
        key = expected[entry.action_id, entry.profile_id]
        assert entry.provider_message_id == f"{channel_names[entry.action_id]}-{key}"

    # the records: everyone got each message, every copy with the one key
    copies: collections.Counter[str] = collections.Counter()
    for channel, action_id in seeded.actions.items():
        for line in read_lines(record_path(out, channel)):
            assert line.action_id == action_id, line
            assert line.key == expected.get((line.action_id, line.profile_id)), line
            copies[line.key] += 1
    missing = set(expected.values()) - set(copies)
    assert not missing, f"{len(missing)} messages never reached the channel: {sorted(missing)[:5]}"
    assert len(copies) == 2 * total
    return {key: n for key, n in copies.items() if n > 1}
