"""Crash test on SQLite: SIGKILL a delivering worker five times; nobody lost, nobody doubled.

A campaign with an email and an SMS action goes to a static audience of
20,000 profiles kept in one SQLite file. Child processes (real interpreters)
deliver it through :class:`FileChannel`, a channel that appends one line per
message (``idempotency_key<TAB>action_id<TAB>profile_id``) to an append-only
file per channel, fsynced per batch: the provider's own record, outside the
store. Each child SIGKILLs itself at a send chosen by a seeded generator,
alternately just *before* the batch reaches the file (intent recorded, the
provider saw nothing) and just *after* it (the provider has it, the outcome is
not recorded). Every restart moves the clock past the dead worker's lease; a
last child completes the run. Then:

- the run SUCCEEDED; the report counts 20,000 targeted and sent per action,
  nothing pending, failed or excluded;
- every (action, profile) is in the channel's record, none is missing, and
  every copy carries the one idempotency key of its (run, action, profile);
- without ``lookup``, copies exist only for messages in flight at a crash (at
  most one batch per action per crash); with ``lookup`` there is no copy;
- the ledger holds 40,000 entries, each SENT once, with the provider's id.

Two small scenarios check the lease itself: a second worker leaves a dead
worker's run alone until its lease lapses, and ``run_until`` resumes it right
then (instead of spinning on it).

The children import this module, so their channel and main function are
type-checked and linted like the rest of the suite. Nothing sleeps: the test
waits for children to exit.
"""

from __future__ import annotations

import collections
import json
import os
import random
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Final, Literal, NamedTuple

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit.adapters.sqlite import SQLiteStore
from campaignkit.domain.delivery import idempotency_key
from campaignkit.ports import UnitOfWork
from campaignkit.testing import ManualClock, SequentialIds

Moment = Literal["before", "after", "never"]
"""When a child kills itself: before the batch reaches the file, after, or not at all."""
Kind = Literal["plain", "lookup"]
"""Which channel a worker uses: without or with ``lookup``."""
MOMENTS: Final[Mapping[str, Moment]] = {"before": "before", "after": "after", "never": "never"}
KINDS: Final[Mapping[str, Kind]] = {"plain": "plain", "lookup": "lookup"}

ROOT: Final = Path(__file__).resolve().parents[2]
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
    "from tests.integration.test_delivery_crash import child_main; child_main(sys.argv[2:])"
)

EMAIL = ck.ChannelType.EMAIL
SMS = ck.ChannelType.SMS


# ---------------------------------------------------------------- the channel (child side)


class KillSwitch:
    """Counts the sends of a worker over all its channels; SIGKILLs it at the chosen one.

    Just before dying it writes the batch in flight to ``report`` (fsynced),
    so the test knows exactly which messages the crash caught.

    Args:
        kill_at: The send (1-based) to die at, or None to never die.
        moment: Die before the batch reaches the file, or after.
        report: Where to write the batch in flight.
    """

    def __init__(self, kill_at: int | None, moment: Moment, report: Path | None) -> None:
        self.sends = 0
        self._kill_at = kill_at
        self._moment = moment
        self._report = report

    def check(self, moment: Moment, channel: str, messages: Sequence[ck.Message]) -> None:
        """Called before and after each batch is written; dies if this is the moment."""
        if moment == "before":
            self.sends += 1
        if self.sends != self._kill_at or moment != self._moment:
            return
        if self._report is not None:
            crash = {
                "send": self.sends,
                "moment": moment,
                "channel": channel,
                "keys": [m.idempotency_key for m in messages],
            }
            with self._report.open("w", encoding="utf-8") as handle:
                handle.write(json.dumps(crash))
                handle.flush()
                os.fsync(handle.fileno())
        os.kill(os.getpid(), signal.SIGKILL)


class FileChannel:
    """Appends one line per message to an append-only file and accepts it.

    The provider id is ``<name>-<idempotency key>``: the same for a copy.

    Args:
        path: The channel's record (created if missing).
        name: The channel's name (``email``, ``sms``).
        switch: Decides when the worker dies.
    """

    def __init__(self, path: Path, name: str, switch: KillSwitch) -> None:
        self.name = name
        self._switch = switch
        self._file = path.open("a", encoding="utf-8", buffering=1)

    def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
        """Write the batch (one fsync), then accept every message."""
        self._switch.check("before", self.name, messages)
        self._file.write(
            "".join(f"{m.idempotency_key}\t{m.action_id}\t{m.profile_id}\n" for m in messages)
        )
        self._file.flush()
        os.fsync(self._file.fileno())
        self._switch.check("after", self.name, messages)
        return [self.accepted(m.idempotency_key) for m in messages]

    def accepted(self, key: str) -> ck.Accepted:
        """What the provider answers for the message with this key."""
        return ck.Accepted(f"{self.name}-{key}")

    def close(self) -> None:
        """Close the record."""
        self._file.close()


class LookupFileChannel(FileChannel):
    """A :class:`FileChannel` that answers ``lookup`` from its record.

    It reads what earlier workers wrote when it opens, and remembers what it
    writes itself.
    """

    def __init__(self, path: Path, name: str, switch: KillSwitch) -> None:
        self._seen = {line.key for line in read_lines(path)}
        super().__init__(path, name, switch)

    def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
        """Write and accept the batch, and remember its keys."""
        results = super().send(messages)
        self._seen.update(m.idempotency_key for m in messages)
        return results

    def lookup(self, idempotency_key: str) -> ck.SendResult | None:
        """``Accepted`` if the record has a message with this key, else None."""
        return self.accepted(idempotency_key) if idempotency_key in self._seen else None


def record_path(out: Path, channel: ck.ChannelType) -> Path:
    """The record of one channel in ``out``."""
    return out / f"{channel.value}.tsv"


@contextmanager
def file_channels(
    out: Path, kind: Kind, switch: KillSwitch
) -> Iterator[dict[ck.ChannelType, ck.Channel]]:
    """An email and an SMS :class:`FileChannel` writing to ``out``, closed afterwards."""
    factory = LookupFileChannel if kind == "lookup" else FileChannel
    channels = {c: factory(record_path(out, c), c.value, switch) for c in (EMAIL, SMS)}
    try:
        yield dict(channels)
    finally:
        for channel in channels.values():
            channel.close()


def child_main(argv: Sequence[str]) -> None:
    """A worker: reopen the kit at a given instant and tick; maybe die at a send.

    Arguments: store path, output directory, ISO instant, channel kind,
    moment, seed, largest kill send, batch size.
    """
    store, out, at, kind_name, moment_name, seed, max_send, batch_size = argv
    kind = KINDS[kind_name]
    moment = MOMENTS[moment_name]
    kill_at = None if moment == "never" else random.Random(int(seed)).randint(1, int(max_send))
    switch = KillSwitch(kill_at, moment, Path(out) / "crash.json")
    instant = pendulum.parse(at)
    assert isinstance(instant, pendulum.DateTime)
    with (
        file_channels(Path(out), kind, switch) as channels,
        ck.CampaignKit.sqlite(
            store,
            clock=ManualClock(instant),
            channels=channels,
            delivery=ck.DeliverySettings(batch_size=int(batch_size)),
            ids=SequentialIds(),
        ) as kit,
    ):
        kit.tick()


# ---------------------------------------------------------------- the test side


class Line(NamedTuple):
    """One line of a channel's record."""

    key: str
    action_id: str
    profile_id: str


def read_lines(path: Path, offset: int = 0) -> list[Line]:
    """The lines of a record from byte ``offset``; every line must be whole."""
    if not path.exists():
        return []
    with path.open("rb") as handle:
        handle.seek(offset)
        data = handle.read().decode("utf-8")
    assert data == "" or data.endswith("\n"), f"torn last line in {path}: {data[-80:]!r}"
    lines = []
    for text in data.splitlines():
        fields = text.split("\t")
        assert len(fields) == 3, f"malformed line in {path}: {text!r}"
        lines.append(Line(*fields))
    return lines


def size_of(path: Path) -> int:
    """The size of a record in bytes (0 if it does not exist yet)."""
    return path.stat().st_size if path.exists() else 0


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


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    return seed_store(tmp_path_factory.mktemp("big") / "campaigns.db", RECIPIENTS)


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    return seed_store(tmp_path_factory.mktemp("small") / "campaigns.db", 60)


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


def test_five_sigkills_without_lookup_lose_nobody_and_resend_only_with_the_same_key(
    big_store: Seeded, tmp_path: Path
) -> None:
    seeded = copy_of(big_store, tmp_path)
    crashes = crash_five_times_then_finish(seeded, tmp_path, kind="plain", seed=20261201)
    assert [c.moment for c in crashes] == ["before", "after", "before", "after", "before"]

    repeated = check_outcome(seeded, tmp_path, at=T0 + RESTART_STEP * CRASHES)
    # copies only of messages in flight at a crash: at most a batch per action per crash
    in_flight = frozenset().union(*(c.pending for c in crashes))
    assert set(repeated) <= in_flight
    extra = sum(n - 1 for n in repeated.values())
    assert extra <= CRASHES * 2 * BATCH
    # a batch the provider got before its outcome was recorded is re-sent, same key
    for crash in crashes:
        if crash.moment == "after":
            assert all(repeated.get(key, 1) >= 2 for key in crash.keys), crash.send
    assert extra > 0


def test_five_sigkills_with_lookup_send_everyone_exactly_once(
    big_store: Seeded, tmp_path: Path
) -> None:
    seeded = copy_of(big_store, tmp_path)
    crashes = crash_five_times_then_finish(seeded, tmp_path, kind="lookup", seed=3)
    assert [c.moment for c in crashes] == ["before", "after", "before", "after", "before"]

    repeated = check_outcome(seeded, tmp_path, at=T0 + RESTART_STEP * CRASHES)
    # not vacuous: each "after" crash left the provider holding a batch whose outcome
    # was not recorded (crash_worker checked it); only the lookup kept it from a copy
    assert repeated == {}


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
