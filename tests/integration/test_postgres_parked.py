"""Parked outcomes on PostgreSQL: a batch's outcomes are written while the next batch is decided.

The runner parks the outcome transaction of every batch but a run's last
(:func:`campaignkit.concurrency.parked_commits`): its statements and its
``COMMIT`` go to the server unanswered, and the store reads the answer when
its next unit begins (a unit opened in ``reads_ahead`` leaves it parked).
These tests check that it happens, that what it writes is what writing in
line writes, and what becomes of a parked unit whose check fails (its run
saved meanwhile, a provider id taken: it is written again, in line) or that
fails otherwise (the error is raised, the connection goes back to the pool).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final

import pendulum
import psycopg
import pytest
from psycopg import sql

import campaignkit as ck
from campaignkit.adapters.memory.store import InMemoryStore
from campaignkit.adapters.postgres import PostgresProfileStore, PostgresStore
from campaignkit.adapters.postgres.connection import PostgresDatabase, _Held
from campaignkit.concurrency import (
    can_park,
    finish_parked,
    parked_commits,
    parking,
    reading_ahead,
    reads_ahead,
)
from campaignkit.delivery.recording import Recorder
from campaignkit.testing import ManualClock

T0: Final = pendulum.datetime(2027, 3, 1, 9, tz="UTC")
EMAIL: Final = ck.ChannelType.EMAIL
PEOPLE: Final = 23


class Recording:
    """An email channel that keeps what it was handed; provider ids from ``ids``."""

    def __init__(self, ids: Callable[[ck.Message], str] | None = None) -> None:
        self.sent: list[ck.Message] = []
        self._ids = ids or (lambda m: f"id-{m.idempotency_key}")

    def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
        self.sent.extend(messages)
        return [ck.Accepted(self._ids(m)) for m in messages]


@pytest.fixture
def parks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the units parked (one entry each: the pid of the parked connection's backend)."""
    seen: list[int] = []
    original = PostgresDatabase._park

    def counting(self: PostgresDatabase, connection: Any, redo: Callable[[], object]) -> None:
        seen.append(connection.info.backend_pid)
        original(self, connection, redo)

    monkeypatch.setattr(PostgresDatabase, "_park", counting)
    return seen


def deliver(
    dsn: str,
    schema: str,
    channel: Recording,
    *,
    pool_size: int = 4,
    before: Callable[[ck.CampaignKit], None] | None = None,
) -> tuple[ck.Run, ck.CampaignReport]:
    """One email campaign to ``PEOPLE`` profiles in batches of 5, ticked until it ends."""
    store = PostgresStore(dsn, schema=schema, pool_size=pool_size)
    kit = ck.CampaignKit(
        store=store,
        profiles=PostgresProfileStore(store),
        clock=ManualClock(T0),
        channels={EMAIL: channel},
        delivery=ck.DeliverySettings(batch_size=5),
    )
    try:
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        admin = kit.as_user("ada")
        surface = admin.create_surface(
            name="News", channel=EMAIL, settings=ck.EmailSettings(sender="news@example.com")
        )
        assert isinstance(kit.profiles, PostgresProfileStore)
        kit.profiles.upsert_many(
            [
                ck.Profile(
                    id=f"p{i:03d}",
                    identities={"email": f"p{i:03d}@example.com"},
                    consents={EMAIL: True},
                )
                for i in range(PEOPLE)
            ]
        )
        kit.audiences.define("everyone", [f"p{i:03d}" for i in range(PEOPLE)])
        campaign = admin.create_campaign(
            name="Parked",
            audience="everyone",
            namespace="email",
            actions=[ck.Action(surface.id, ck.EmailContent(subject="Hi", html="<p>Hi</p>"))],
        )
        admin.activate(campaign.id)
        if before is not None:
            before(kit)
        for _ in range(10):
            kit.tick()
            with kit.store.unit_of_work() as uow:
                (run,) = uow.runs.for_campaign(campaign.id)
            if run.status.is_final:
                break
        return run, admin.report(campaign.id)
    finally:
        kit.close()


def check_delivered(run: ck.Run, report: ck.CampaignReport, channel: Recording) -> None:
    """Every profile sent exactly once (by key), the run SUCCEEDED, counts agree."""
    assert run.status is ck.RunStatus.SUCCEEDED
    assert run.total().sent == PEOPLE
    assert run.total().pending == 0
    assert report.sent == PEOPLE
    keys = {m.idempotency_key for m in channel.sent}
    assert sorted({m.profile_id for m in channel.sent}) == [f"p{i:03d}" for i in range(PEOPLE)]
    assert len(keys) == PEOPLE


def test_outcomes_of_every_batch_but_the_last_are_parked(
    postgres_dsn: str, postgres_schema: str, parks: list[int]
) -> None:
    channel = Recording()
    run, report = deliver(postgres_dsn, postgres_schema, channel)
    check_delivered(run, report, channel)
    assert len(channel.sent) == PEOPLE
    assert len(parks) == PEOPLE // 5  # 5 batches: the first 4 parked, the last in line


def test_a_pool_of_one_parks_nothing(
    postgres_dsn: str, postgres_schema: str, parks: list[int]
) -> None:
    channel = Recording()
    run, report = deliver(postgres_dsn, postgres_schema, channel, pool_size=1)
    check_delivered(run, report, channel)
    assert parks == []


def test_a_parked_unit_whose_run_moved_on_is_written_again(
    postgres_dsn: str, postgres_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer saves the run before a parked unit reaches it (as a lease renewal
    would): the parked save fails its revision check, the unit rolls back whole, and the
    batch's outcomes are recorded again, reading the run: when the store's next unit
    finishes the parked one (its ``redo``), or at once if the server answered the failed
    check while the unit was still being sent (as in line)."""
    original = PostgresDatabase._park
    bumped: list[str] = []

    def bumping(self: PostgresDatabase, connection: Any, redo: Callable[[], object]) -> None:
        if len(bumped) < 2:  # the first two parked units find their run moved on
            with psycopg.connect(postgres_dsn, autocommit=True) as other:
                other.execute(
                    sql.SQL("UPDATE {}.runs SET revision = revision + 1").format(
                        sql.Identifier(postgres_schema)
                    )
                )
            bumped.append("run")
        original(self, connection, redo)

    again: list[str] = []
    original_settled = Recorder._settled

    def settled(self: Recorder, run_id: str, held: ck.Run | None, *args: Any) -> ck.Run:
        if held is None:  # written reading the run: a parked unit's redo, or in line
            again.append(run_id)
        return original_settled(self, run_id, held, *args)

    monkeypatch.setattr(PostgresDatabase, "_park", bumping)
    monkeypatch.setattr(Recorder, "_settled", settled)
    channel = Recording()
    run, report = deliver(postgres_dsn, postgres_schema, channel)
    check_delivered(run, report, channel)
    assert len(channel.sent) == PEOPLE  # written again, never sent again
    assert bumped == ["run", "run"]
    assert len(again) >= 2  # and once more for each lease renewal that beat a parked unit


def test_a_parked_settle_finding_its_provider_id_taken_is_written_again(
    postgres_dsn: str, postgres_schema: str
) -> None:
    """The provider answers one id twice, in two batches: the second batch's parked
    settle fails its check, and written again in line the second message keeps no
    provider id (as in line), sent all the same."""
    channel = Recording(lambda m: "same" if m.profile_id in ("p001", "p007") else m.idempotency_key)
    run, report = deliver(postgres_dsn, postgres_schema, channel)
    check_delivered(run, report, channel)
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        rows = conn.execute(
            sql.SQL(
                "SELECT profile_id, state, provider_message_id FROM {}.ledger "
                "WHERE profile_id IN ('p001', 'p007') ORDER BY profile_id"
            ).format(sql.Identifier(postgres_schema))
        ).fetchall()
    assert [(p, s) for p, s, _ in rows] == [("p001", "sent"), ("p007", "sent")]
    assert sorted(str(provider) for _, _, provider in rows).count("same") == 1


@pytest.fixture
def store(postgres_dsn: str, postgres_schema: str) -> Iterator[PostgresStore]:
    with PostgresStore(postgres_dsn, schema=postgres_schema) as opened:
        yield opened


def is_parked(store: PostgresStore) -> bool:
    return store.database._parked is not None


def _write_rules(uow: Any, revision: int) -> None:
    uow.db.execute(
        "INSERT INTO rules (id, revision, document) VALUES (1, ?, '{}') "
        "ON CONFLICT (id) DO UPDATE SET revision = excluded.revision",
        (revision,),
    )


def _rules_revision(dsn: str, schema: str) -> int | None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            sql.SQL("SELECT revision FROM {}.rules").format(sql.Identifier(schema))
        ).fetchone()
    return None if row is None else int(row[0])


def test_a_unit_reading_ahead_leaves_the_parked_unit_and_the_next_one_finishes_it(
    store: PostgresStore, postgres_dsn: str, postgres_schema: str
) -> None:
    assert can_park(store)
    assert parking() is None
    assert not reading_ahead()
    with parked_commits(lambda: pytest.fail("nothing failed: nothing is redone")):
        assert parking() is not None
        with store.unit_of_work() as uow:
            _write_rules(uow, 7)
    assert is_parked(store)
    with reads_ahead():
        assert reading_ahead()
        with store.unit_of_work() as uow:
            uow.db.one("SELECT 1")
    assert is_parked(store)  # still parked
    with store.unit_of_work() as uow:
        assert uow.db.one("SELECT revision FROM rules") == (7,)
    assert not is_parked(store)
    assert _rules_revision(postgres_dsn, postgres_schema) == 7
    finish_parked(store)  # nothing parked: nothing to do


def test_a_unit_of_another_thread_leaves_the_parked_unit_to_the_thread_that_parked_it(
    store: PostgresStore, postgres_dsn: str, postgres_schema: str
) -> None:
    """A heartbeat's renewal or a host's call on another thread runs beside a parked unit
    (on another connection) and does not finish it: only the parking thread's next unit
    does, where what it raises or redoes belongs."""
    with parked_commits(lambda: pytest.fail("nothing failed")), store.unit_of_work() as uow:
        _write_rules(uow, 9)
    seen: list[object] = []

    def elsewhere() -> None:
        with store.unit_of_work() as other:
            seen.append(other.db.one("SELECT 1"))

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join(30)
    assert seen == [(1,)]
    assert is_parked(store)
    finish_parked(store)
    assert not is_parked(store)
    assert _rules_revision(postgres_dsn, postgres_schema) == 9


def test_a_parked_unit_that_fails_otherwise_raises_and_gives_its_connection_back(
    store: PostgresStore,
) -> None:
    """A statement of a parked unit fails (not a check): ``StorageError``, raised when the
    store reads the parked unit's answer, or at once if the server answered it while the
    unit was still being sent; either way nothing is redone and the pool is whole."""
    raised: ck.StorageError | None = None
    try:
        with parked_commits(lambda: pytest.fail("not redone")), store.unit_of_work() as uow:
            uow.db.defer("SELECT CAST('x' AS INTEGER)", (), "never")  # fails on the server
    except ck.StorageError as exc:  # answered while being sent
        raised = exc
    if raised is None:
        with pytest.raises(ck.StorageError) as info:
            store.finish_parked()
        raised = info.value
    assert "invalid input syntax" in str(raised)
    assert not is_parked(store)
    with store.unit_of_work() as uow:  # the pool is whole again
        assert uow.db.one("SELECT 1") == (1,)


def test_closing_a_store_finishes_its_parked_unit(postgres_dsn: str, postgres_schema: str) -> None:
    store = PostgresStore(postgres_dsn, schema=postgres_schema)
    with parked_commits(lambda: None), store.unit_of_work() as uow:
        assert uow.db.one("SELECT 1") == (1,)  # the unit has begun: parked as it stands
        _write_rules(uow, 3)
    store.close()
    assert _rules_revision(postgres_dsn, postgres_schema) == 3


def test_a_unit_that_cannot_be_parked_raises_at_once_and_writes_nothing(
    store: PostgresStore, postgres_dsn: str, postgres_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = _Held.send

    def failing(self: _Held, connection: Any) -> None:
        if self.query == "COMMIT":
            raise psycopg.OperationalError("the connection went away")
        original(self, connection)

    monkeypatch.setattr(_Held, "send", failing)
    with (
        pytest.raises(ck.StorageUnavailable, match="went away"),
        parked_commits(lambda: None),
        store.unit_of_work() as uow,
    ):
        _write_rules(uow, 5)
    monkeypatch.undo()
    assert not is_parked(store)
    with store.unit_of_work() as uow:
        assert uow.db.one("SELECT count(*) FROM rules") == (0,)
    assert _rules_revision(postgres_dsn, postgres_schema) is None


def test_stores_that_cannot_park_commit_in_line() -> None:
    memory = InMemoryStore()
    assert not can_park(memory)
    finish_parked(memory)  # nothing to do
    with parked_commits(lambda: None), memory.unit_of_work():
        pass
