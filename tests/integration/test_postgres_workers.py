"""Two worker processes on one PostgreSQL schema: a 20,000-recipient, two-action run.

The issue's acceptance point for several processes sharing a PostgreSQL
store. A campaign with an email and an SMS action goes to a static audience
of 20,000 profiles (40,000 messages). Worker processes (real interpreters,
each with its own ``CampaignKit.postgres`` and connection pool) tick the same
schema until the run is final.

A run is delivered under a lease by one worker at a time, so two workers
left alone would not share it: the first to claim it would deliver it all.
To make both deliver part of the *same* run, each worker hands the run back
after ``QUANTUM`` batches, through the runner's ``stop_requested`` (the path
``run_forever`` takes on SIGTERM: the batch in hand is recorded, the lease is
released, the tick returns), and ticks again. A worker that has just handed
the run back waits (bounded) until another claims it, so they take turns:
every claim races the other process's ticks for the advisory lock and the
lease, which is what this test is after.

Each child writes every message it hands to its channels to its own record
file (``O_APPEND``, one ``write`` per batch; one line
``key<TAB>action_id<TAB>profile_id`` per message): the provider's record,
outside the store. Each child's clock is a :class:`FileClock`, a
``ManualClock`` that the test moves by rewriting a file.

- ``test_two_workers_share_a_run_and_send_each_message_once``: both workers
  deliver part of the run; every (action, profile) has one SENT ledger entry
  and is in exactly one record once (no lease ever lapses: the clock stands
  still, so there is no crash window and no copy at all).
- ``test_a_worker_killed_mid_run_is_replaced_and_nothing_is_lost``: one worker
  is SIGKILLed once its record has grown (it has handed messages over); the
  test reads which entries it left PENDING, moves every clock past its lease
  and starts a replacement. The survivor and the replacement finish the run:
  every message in a record, copies only of entries PENDING at the kill, each
  with its one idempotency key. Twice: killed just after its batch's sends
  (the whole batch is copied), and stuck inside the batch's second send
  (:class:`Record`'s ``stall_at``), so exactly the first action's half is
  copied and the second's is sent once.

Nothing sleeps: the test waits on the processes (``wait`` with a timeout)
and on the records' sizes.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Final, NamedTuple

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit.adapters.postgres import PostgresProfileStore
from campaignkit.domain.delivery import idempotency_key
from campaignkit.testing import ManualClock

ROOT: Final = Path(__file__).resolve().parents[2]
T0: Final = pendulum.datetime(2027, 3, 1, 9, tz="UTC")
RECIPIENTS: Final = 20_000
BATCH: Final = 500
QUANTUM: Final = 3
"""Batches a worker delivers before it hands the run back (the run has 40)."""
TURN_WAIT: Final = 1.0
"""Seconds a worker that handed the run back waits for another to claim it."""
RESTART_STEP: Final = pendulum.duration(minutes=2)
"""How far the clocks move after a kill: past the dead worker's lease (one minute)."""
CHILD_DEADLINE: Final = 50.0
"""Seconds a child ticks before giving up (exit code 3); the test's bound is a bit more."""
KILL_AFTER: Final = 2 * BATCH
"""Lines the doomed worker's record must hold before the test kills it at its next growth."""
CHILD_BOOT: Final = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from tests.integration.test_postgres_workers import child_main; child_main(sys.argv[2:])"
)

EMAIL = ck.ChannelType.EMAIL
SMS = ck.ChannelType.SMS


# ---------------------------------------------------------------- the worker (child side)


class FileClock(ManualClock):
    """A :class:`ManualClock` that the test moves from another process, through a file.

    The file holds one ISO instant; the test replaces it whole (``os.replace``),
    so a new inode means a new instant, read at the next :meth:`now`.

    Args:
        path: The file (it must exist).
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._inode = -1
        super().__init__(self._read())

    def _read(self) -> pendulum.DateTime:
        self._inode = os.stat(self._path).st_ino
        instant = pendulum.parse(self._path.read_text(encoding="utf-8"))
        assert isinstance(instant, pendulum.DateTime)
        return instant

    def now(self) -> pendulum.DateTime:
        """The instant in the file (read again only when the file was replaced)."""
        if os.stat(self._path).st_ino != self._inode:
            self.set(self._read())
        return super().now()


def set_clock(path: Path, instant: pendulum.DateTime) -> None:
    """Move every :class:`FileClock` reading ``path`` to ``instant`` (one atomic replace)."""
    new = path.with_suffix(".new")
    new.write_text(instant.isoformat(), encoding="utf-8")
    os.replace(new, path)


class Record:
    """A worker's record: an ``O_APPEND`` file shared by its channels, one line per message.

    Args:
        path: The file (created if missing).
        stall_at: Once the record holds this many lines, the second send of a
            batch (its second action's) never returns: the worker stalls with
            half of the batch handed over, for the test to kill it. 0: never.
    """

    def __init__(self, path: str, stall_at: int) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._stall_at = stall_at
        self.lines = 0
        self.sends = 0

    def append(self, messages: Sequence[ck.Message]) -> None:
        """Write one line per message, in one ``write`` where the kernel allows."""
        self.sends += 1
        if self._stall_at and self.lines >= self._stall_at and self.sends % 2 == 0:
            threading.Event().wait(CHILD_DEADLINE)  # until the test kills this worker
        data = "".join(
            f"{m.idempotency_key}\t{m.action_id}\t{m.profile_id}\n" for m in messages
        ).encode()
        while data:
            data = data[os.write(self._fd, data) :]
        self.lines += len(messages)


class RecordChannel:
    """Appends each message to the worker's :class:`Record` and accepts it.

    The provider id is ``<name>-<idempotency key>``: the same for a copy.

    Args:
        record: The worker's record.
        name: The channel's name (``email``, ``sms``).
    """

    def __init__(self, record: Record, name: str) -> None:
        self._record = record
        self.name = name

    def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
        """Record the batch, then accept every message."""
        self._record.append(messages)
        return [ck.Accepted(f"{self.name}-{m.idempotency_key}") for m in messages]


class Turns:
    """Counts a worker's batches since its last claim; asks the runner to hand the run back."""

    def __init__(self) -> None:
        self.batches = 0
        self.holds = 0

    def __call__(self, progress: ck.RunProgress) -> None:
        """The kit's progress callback: one more batch delivered."""
        if self.batches == 0:
            self.holds += 1
        self.batches += 1

    def hand_back(self) -> bool:
        """The runner's ``stop_requested``: True once this worker had its quantum."""
        return self.batches >= QUANTUM


def _the_run(kit: ck.CampaignKit, campaign_id: str) -> ck.Run | None:
    with kit.store.unit_of_work() as uow:
        runs = uow.runs.for_campaign(campaign_id)
    assert len(runs) <= 1, runs
    return runs[0] if runs else None


def child_main(argv: Sequence[str]) -> None:
    """A worker: tick the schema, handing the run back every ``QUANTUM`` batches, until it ends.

    Arguments: DSN, schema, record path, clock path, campaign id, ``stall_at``
    (see :class:`Record`). Exits 0 when the run is final (printing what it did
    as JSON), 3 if it gives up.
    """
    dsn, schema, record_path, clock_path, campaign_id, stall_at = argv
    clock = FileClock(Path(clock_path))
    record = Record(record_path, int(stall_at))
    channels = {c: RecordChannel(record, c.value) for c in (EMAIL, SMS)}
    turns = Turns()
    pause = threading.Event()
    deadline = time.monotonic() + CHILD_DEADLINE
    with ck.CampaignKit.postgres(
        dsn,
        clock=clock,
        channels=channels,
        schema=schema,
        delivery=ck.DeliverySettings(batch_size=BATCH),
        progress=turns,
    ) as kit:
        kit.runner.stop_requested = turns.hand_back
        while time.monotonic() < deadline:
            turns.batches = 0
            kit.tick()
            run = _the_run(kit, campaign_id)
            if run is not None and run.status.is_final:
                print(json.dumps({"worker": kit.worker_id, "holds": turns.holds}))
                sys.exit(0)
            if not turns.hand_back():
                pause.wait(0.01)
                continue
            # handed back: give the other workers a turn (bounded: there may be none)
            until = time.monotonic() + TURN_WAIT
            while time.monotonic() < until:
                run = _the_run(kit, campaign_id)
                if (
                    run is None
                    or run.status.is_final
                    or run.lease_owner not in {None, kit.worker_id}
                ):
                    break
                pause.wait(0.005)
    sys.exit(3)


# ---------------------------------------------------------------- the test side


class Line(NamedTuple):
    """One line of a worker's record."""

    key: str
    action_id: str
    profile_id: str


def read_record(path: Path, *, killed: bool = False) -> list[Line]:
    """The whole lines of a worker's record.

    A killed worker may have died inside a ``write``: its torn last line is
    dropped (the provider never got that message whole; its entry is PENDING).
    """
    if not path.exists():
        return []
    data = path.read_bytes().decode("utf-8")
    if not data.endswith("\n") and data:
        assert killed, f"torn last line in {path}: {data[-80:]!r}"
        data = data[: data.rfind("\n") + 1]
    lines = []
    for text in data.splitlines():
        fields = text.split("\t")
        assert len(fields) == 3, f"malformed line in {path}: {text!r}"
        lines.append(Line(*fields))
    return lines


@attrs.frozen
class Seeded:
    """A schema ready to deliver: profiles, audience, an activated two-action campaign.

    Attributes:
        dsn: The server.
        schema: The schema.
        campaign_id: The campaign.
        actions: Its action id per channel.
        profile_ids: The audience.
    """

    dsn: str
    schema: str
    campaign_id: str
    actions: Mapping[ck.ChannelType, str]
    profile_ids: tuple[str, ...]


def seed(dsn: str, schema: str, count: int) -> Seeded:
    """``count`` consenting profiles and an activated email + SMS campaign (nothing ticked)."""
    with ck.CampaignKit.postgres(dsn, clock=ManualClock(T0), schema=schema) as kit:
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
        assert isinstance(kit.profiles, PostgresProfileStore)
        kit.profiles.upsert_many(profiles)
        kit.audiences.define("everyone", [p.id for p in profiles])
        campaign = admin.create_campaign(
            name="Two workers",
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
        version = admin.activate(campaign.id).live_version
        assert version is not None
        actions = {action.channel: action.id for action in version.actions}
    return Seeded(dsn, schema, campaign.id, actions, tuple(p.id for p in profiles))


@attrs.define
class Workers:
    """The worker processes of one test, by name, with their records and outputs."""

    seeded: Seeded
    directory: Path
    clock: Path
    processes: dict[str, subprocess.Popen[bytes]] = attrs.field(factory=dict)

    def record(self, name: str) -> Path:
        """The record file of worker ``name``."""
        return self.directory / f"{name}.tsv"

    def output(self, name: str) -> Path:
        """Where worker ``name``'s stdout and stderr go."""
        return self.directory / f"{name}.out"

    def start(self, name: str, *, stall_at: int = 0) -> subprocess.Popen[bytes]:
        """Start worker ``name`` (stalling as :class:`Record` says)."""
        args = [self.seeded.dsn, self.seeded.schema, str(self.record(name)), str(self.clock)]
        args += [self.seeded.campaign_id, str(stall_at)]
        with self.output(name).open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-c", CHILD_BOOT, str(ROOT), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.processes[name] = process
        return process

    def finish(self, *names: str) -> dict[str, dict[str, object]]:
        """Wait for the named workers to end; each must exit 0. What each printed, by name."""
        for name in names:
            code = self.processes[name].wait(timeout=CHILD_DEADLINE + 10)
            assert code == 0, f"worker {name} ended with {code}:\n{self.output(name).read_text()}"
        return {name: json.loads(self.output(name).read_text().splitlines()[-1]) for name in names}

    def kill_all(self) -> None:
        """SIGKILL every worker still running (after a failed assertion)."""
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()


@contextmanager
def workers(seeded: Seeded, directory: Path) -> Iterator[Workers]:
    """A :class:`Workers` whose clock file stands at ``T0``; every worker is gone afterwards."""
    clock = directory / "clock.txt"
    set_clock(clock, T0)
    group = Workers(seeded, directory, clock)
    try:
        yield group
    finally:
        group.kill_all()


def check_delivered(seeded: Seeded, records: Mapping[str, Sequence[Line]]) -> dict[str, int]:
    """The run SUCCEEDED with one SENT entry per (action, profile), each message in a record.

    Returns:
        The keys handed over more than once (over all records), with their counts.
    """
    total = len(seeded.profile_ids)
    with ck.CampaignKit.postgres(
        seeded.dsn, clock=ManualClock(T0 + RESTART_STEP), schema=seeded.schema
    ) as kit:
        run = _the_run(kit, seeded.campaign_id)
        assert run is not None
        with kit.store.unit_of_work() as uow:
            entries = list(uow.ledger.entries(run.id))
        report = kit.as_user("ada").report(seeded.campaign_id)
    assert run.status is ck.RunStatus.SUCCEEDED, run.error
    assert run.lease_owner is None
    for action_id, counts in report.by_action.items():
        assert (counts.targeted, counts.sent, counts.pending) == (total, total, 0), action_id
        assert (counts.failed, counts.excluded_total) == (0, 0), action_id

    expected = {
        (action_id, pid): idempotency_key(run.id, action_id, pid)
        for action_id in seeded.actions.values()
        for pid in seeded.profile_ids
    }
    names = {action_id: c.value for c, action_id in seeded.actions.items()}
    # the ledger: exactly one outcome per (action, profile), SENT with the provider's id
    assert len(entries) == len(expected)
    assert {(e.action_id, e.profile_id) for e in entries} == set(expected)
    for entry in entries:
        assert entry.state is ck.LedgerState.SENT, entry
        key = expected[entry.action_id, entry.profile_id]
        assert entry.provider_message_id == f"{names[entry.action_id]}-{key}"

    # the records: every message handed over, every copy with the one key of its message
    copies: collections.Counter[str] = collections.Counter()
    for lines in records.values():
        for line in lines:
            assert line.key == expected.get((line.action_id, line.profile_id)), line
            copies[line.key] += 1
    missing = set(expected.values()) - set(copies)
    assert not missing, f"{len(missing)} messages never reached a channel: {sorted(missing)[:5]}"
    return {key: n for key, n in copies.items() if n > 1}


def wait_for_growth(process: subprocess.Popen[bytes], record: Path, lines: int) -> None:
    """Return when ``record`` grows after holding ``lines`` lines (``process`` still running)."""
    deadline = time.monotonic() + CHILD_DEADLINE
    seen = 0
    while time.monotonic() < deadline:
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=0.005)
        assert process.returncode is None, "the worker ended before it could be killed"
        size = record.stat().st_size if record.exists() else 0
        if size > seen and len(read_record(record, killed=True)) >= lines:
            if seen:
                return
            seen = size
    raise AssertionError(f"{record} did not reach {lines} lines within {CHILD_DEADLINE} s")


def test_two_workers_share_a_run_and_send_each_message_once(
    postgres_dsn: str, postgres_schema: str, tmp_path: Path
) -> None:
    seeded = seed(postgres_dsn, postgres_schema, RECIPIENTS)
    with workers(seeded, tmp_path) as group:
        group.start("a")
        group.start("b")
        printed = group.finish("a", "b")
        records = {name: read_record(group.record(name)) for name in ("a", "b")}

    repeated = check_delivered(seeded, records)
    assert repeated == {}  # no lease lapsed (the clock stood still): no message twice
    sent = {name: len(lines) for name, lines in records.items()}
    assert sum(sent.values()) == 2 * RECIPIENTS
    # both delivered a real share of the one run, taking turns at it
    assert min(sent.values()) >= 2 * RECIPIENTS // 4, sent
    holds = {name: int(str(out["holds"])) for name, out in printed.items()}
    print(f"messages handed over per worker: {sent}; turns at the run: {holds}")
    assert min(holds.values()) >= 2, holds


@pytest.mark.parametrize("stall", [False, True], ids=["after-its-sends", "between-its-sends"])
def test_a_worker_killed_mid_run_is_replaced_and_nothing_is_lost(
    postgres_dsn: str, postgres_schema: str, tmp_path: Path, stall: bool
) -> None:
    seeded = seed(postgres_dsn, postgres_schema, RECIPIENTS)
    with workers(seeded, tmp_path) as group:
        doomed = group.start("a", stall_at=KILL_AFTER if stall else 0)
        group.start("b")
        # kill "a" as soon as its record grows again once it holds KILL_AFTER lines:
        # it is then in the middle of one of its turns at the run (with ``stall``, it
        # is stuck in its batch's second send, the first action's half handed over)
        wait_for_growth(doomed, group.record("a"), KILL_AFTER)
        doomed.send_signal(signal.SIGKILL)
        assert doomed.wait(timeout=10) == -signal.SIGKILL
        killed_lines = read_record(group.record("a"), killed=True)

        # what the dead worker left in flight: the only messages that may be sent twice
        with ck.CampaignKit.postgres(
            postgres_dsn, clock=ManualClock(T0), schema=postgres_schema
        ) as kit:
            run = _the_run(kit, seeded.campaign_id)
            assert run is not None
            with kit.store.unit_of_work() as uow:
                pending = {idempotency_key(*e.key) for e in uow.ledger.pending(run.id, 10**6)}
        set_clock(group.clock, T0 + RESTART_STEP)  # the dead worker's lease lapses
        group.start("c")
        printed = group.finish("b", "c")
        records = {
            "a": killed_lines,
            "b": read_record(group.record("b")),
            "c": read_record(group.record("c")),
        }

    repeated = check_delivered(seeded, records)
    assert set(repeated) <= pending, sorted(set(repeated) - pending)[:5]
    assert set(repeated.values()) <= {2}
    assert len(repeated) <= 2 * BATCH  # at most a batch in flight per action
    sent = {name: len(lines) for name, lines in records.items()}
    print(
        f"messages handed over per worker: {sent} (a killed); PENDING at the kill: "
        f"{len(pending)}; handed over twice: {len(repeated)}; turns: {printed}"
    )
    assert sent["a"] >= KILL_AFTER
    assert sent["c"] > 0, (sent, printed)  # the replacement took part
    if stall:  # exactly the half of the batch in flight that the provider had is copied
        assert len(pending) == 2 * BATCH
        assert sent["a"] == KILL_AFTER + BATCH
        assert set(repeated) == {line.key for line in records["a"][KILL_AFTER:]}
