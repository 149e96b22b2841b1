"""PostgreSQL units of work send lazily: what is held back, when it goes, and its errors.

``PostgresDatabase`` holds ``BEGIN``, the advisory lock and every write
whose result nobody reads, and sends them in one pipeline with the next
read or the unit's ``COMMIT``; a run saved at the revision its unit read is
one of them (its check runs on the server); a static audience page is one
read without a transaction; a run is read with its campaign's status and the
channels holding suppressions. These tests hold each to the behaviour of a
unit that sent every statement at once: same rows, same errors, nothing
written by a unit that failed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

import campaignkit as ck
from campaignkit.adapters.postgres import PostgresProfileStore, PostgresStore
from campaignkit.concurrency import shared_units
from campaignkit.domain.copying import evolve
from campaignkit.domain.delivery import RunStatus
from campaignkit.errors import ConflictError, StorageError
from campaignkit.testing.contracts._support import _run, make_message
from campaignkit.testing.factories import EPOCH, make_campaign


@pytest.fixture
def store(postgres_dsn: str, postgres_schema: str) -> Iterator[PostgresStore]:
    with PostgresStore(postgres_dsn, schema=postgres_schema) as opened:
        yield opened


def _connect(dsn: str, schema: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(dsn, autocommit=True)
    conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
    return conn


def _sends(store: PostgresStore, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Record each send of the store's connections: the statements of one round trip."""
    sends: list[list[str]] = []
    original = type(store.database)._pipeline

    def recording(connection: psycopg.Connection[Any], held: list[Any]) -> None:
        sends.append([str(h.query).split(" ", 1)[0] for h in held])
        original(connection, held)

    monkeypatch.setattr(type(store.database), "_pipeline", staticmethod(recording))
    return sends


def test_writes_wait_for_the_next_read_or_the_commit(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    sends = _sends(store, monkeypatch)
    with store.unit_of_work() as uow:
        cursor = store.database.execute(
            "INSERT INTO contacts (channel, profile_id, sent_us) VALUES (?, ?, ?)",
            ("email", "p1", 1),
        )
        assert sends == []  # nothing has gone yet, not even BEGIN
        assert uow.campaigns.status("c1") is None  # a read: everything held goes with it
        assert sends == [["BEGIN", "SELECT", "INSERT", "SELECT"]]
        assert cursor.rowcount == 1  # sent already: no round trip
        store.database.execute("DELETE FROM contacts WHERE profile_id = ?", ("p1",))
        assert len(sends) == 1
    assert sends[-1] == ["DELETE", "COMMIT"]
    assert store.database.current is None


def test_reading_a_held_write_s_cursor_sends_it(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    sends = _sends(store, monkeypatch)
    with store.unit_of_work():
        insert = "INSERT INTO contacts (channel, profile_id, sent_us) VALUES (?, ?, ?)"
        store.database.execute(insert, ("email", "p1", 1))
        cursor = store.database.execute("DELETE FROM contacts WHERE profile_id = ?", ("p1",))
        assert sends == []
        assert cursor.rowcount == 1
        assert sends == [["BEGIN", "SELECT", "INSERT", "DELETE"]]
        returning = store.database.execute(
            "INSERT INTO contacts (channel, profile_id, sent_us) VALUES (?, ?, ?) "
            "RETURNING profile_id",
            ("email", "p2", 1),
        )
        assert returning.fetchall() == [("p2",)]


def test_code_that_takes_the_connection_gets_the_held_statements_sent_first(
    store: PostgresStore,
) -> None:
    with store.unit_of_work():
        store.database.execute(
            "INSERT INTO contacts (channel, profile_id, sent_us) VALUES (?, ?, ?)",
            ("email", "p1", 1),
        )
        connection = store.database.current
        assert connection is not None
        row = connection.execute("SELECT count(*) FROM contacts").fetchone()
        assert row == (1,)


def test_a_held_write_that_fails_fails_the_unit_and_writes_nothing(store: PostgresStore) -> None:
    with pytest.raises(StorageError, match="no_such_table"), store.unit_of_work() as uow:
        uow.campaigns.add(make_campaign("c1"))
        store.database.execute("DELETE FROM no_such_table WHERE a = ?", (1,))  # held
    with store.unit_of_work() as uow:
        assert uow.campaigns.find("c1") is None


def test_a_read_dividing_by_zero_is_a_storage_error_not_a_conflict(store: PostgresStore) -> None:
    with pytest.raises(StorageError, match="division by zero"), store.unit_of_work():
        store.database.one("SELECT 1 / 0")


def test_a_held_unique_violation_before_a_guarded_statement_loses_the_unit(
    store: PostgresStore,
) -> None:
    """The savepoint of the guarded statement never ran: the unit is lost, not kept."""
    insert = "INSERT INTO contacts (rowid, channel, profile_id, sent_us) VALUES (?, ?, ?, ?)"
    with pytest.raises(StorageError), store.unit_of_work() as uow:
        store.database.execute(insert, (1, "email", "p1", 1))
        store.database.execute(insert, (1, "email", "p2", 1))  # held: breaks the key
        uow.campaigns.add(make_campaign("c1"))  # guarded: sent now, with both
    with store.unit_of_work() as uow:
        assert uow.campaigns.find("c1") is None
        assert store.database.all("SELECT * FROM contacts") == []


def test_a_guarded_statement_s_conflict_keeps_the_unit_and_its_held_writes(
    store: PostgresStore,
) -> None:
    with store.unit_of_work() as uow:
        uow.campaigns.add(make_campaign("c1"))
    with store.unit_of_work() as uow:
        store.database.execute(
            "INSERT INTO contacts (channel, profile_id, sent_us) VALUES (?, ?, ?)",
            ("email", "p1", 1),
        )
        with pytest.raises(ConflictError):
            uow.campaigns.add(make_campaign("c1"))
    with store.unit_of_work():
        assert store.database.all("SELECT profile_id FROM contacts") == [("p1",)]


def test_a_duplicate_intent_copied_is_a_conflict_and_the_unit_goes_on(
    store: PostgresStore,
) -> None:
    intent = [(make_message("p1", action_id="a1", run_id="run_1"), EPOCH, None)]
    with store.unit_of_work() as uow:
        uow.ledger.add_pending(intent)
    with store.unit_of_work() as uow:
        uow.campaigns.add(make_campaign("c1"))
        with pytest.raises(ConflictError):
            uow.ledger.add_pending(intent)
    with store.unit_of_work() as uow:
        assert uow.campaigns.find("c1") is not None
        assert len(store.database.all("SELECT * FROM ledger")) == 1


def test_a_copy_that_fails_otherwise_is_a_storage_error(store: PostgresStore) -> None:
    with pytest.raises(StorageError, match="PostgreSQL error"), store.unit_of_work():
        store.database.copy("ledger", ("run_id", "due_us"), [("run_1", "not a number")])


def test_a_run_saved_at_the_revision_read_goes_with_the_commit(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    with store.unit_of_work() as uow:
        uow.runs.add(_run())
    sends = _sends(store, monkeypatch)
    with shared_units(), store.unit_of_work() as uow:
        run = uow.runs.get("run_1")
        saved = uow.runs.save(evolve(run, status=RunStatus.RUNNING))
        again = uow.runs.save(evolve(saved, status=RunStatus.STOPPED))  # a second one too
        assert len(sends) == 1
    assert sends[-1] == ["WITH", "WITH", "COMMIT"]
    with store.unit_of_work() as uow:
        stored = uow.runs.get("run_1")
    assert (stored.revision, stored.status) == (again.revision, RunStatus.STOPPED)


def test_a_run_not_read_in_the_unit_is_saved_at_once_with_its_check(
    store: PostgresStore,
) -> None:
    with store.unit_of_work() as uow:
        run = uow.runs.add(_run())
    with pytest.raises(ConflictError), store.unit_of_work() as uow:
        uow.runs.save(evolve(run, revision=5))


def test_a_held_save_whose_row_changed_after_all_fails_the_unit_with_a_conflict(
    store: PostgresStore, postgres_dsn: str, postgres_schema: str
) -> None:
    """Outside campaignkit's locks (a hand edit), the server's check still refuses it."""
    with store.unit_of_work() as uow:
        uow.runs.add(_run())
    with (
        _connect(postgres_dsn, postgres_schema) as other,
        pytest.raises(ConflictError, match="changed meanwhile"),
        store.unit_of_work() as uow,
    ):
        run = uow.runs.get("run_1")
        other.execute("UPDATE runs SET revision = revision + 1")  # no row lock: a unit alone
        uow.runs.save(evolve(run, status=RunStatus.RUNNING))
        uow.campaigns.add(make_campaign("c1"))  # guarded: the held save goes with it
    with store.unit_of_work() as uow:
        assert uow.campaigns.find("c1") is None
        assert uow.runs.get("run_1").status is RunStatus.PENDING


def test_a_run_read_brings_its_campaign_status_and_the_suppressed_channels(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    with store.unit_of_work() as uow:
        uow.campaigns.add(make_campaign("cmp_1", status=ck.CampaignStatus.LIVE))
        uow.runs.add(_run())
        uow.suppressions.add(ck.ChannelType.SMS, "+33600000000")
    sends = _sends(store, monkeypatch)
    with store.unit_of_work() as uow:
        uow.runs.get("run_1")
        assert uow.campaigns.status("cmp_1") is ck.CampaignStatus.LIVE
        assert uow.suppressions.suppressed(ck.ChannelType.EMAIL, ["a@example.com"]) == set()
        assert len(sends) == 1  # both answered from the run's read
        assert uow.suppressions.suppressed(ck.ChannelType.SMS, ["+33600000000"]) == {
            "+33600000000"
        }  # a channel with suppressions is looked up
        assert uow.campaigns.status("other") is None  # another campaign is read
        uow.campaigns.save(evolve(uow.campaigns.get("cmp_1"), name="Renamed"))
        uow.suppressions.add(ck.ChannelType.EMAIL, "a@example.com")
        assert uow.suppressions.suppressed(ck.ChannelType.EMAIL, ["a@example.com"]) == {
            "a@example.com"
        }  # a write since: read again
        assert uow.campaigns.status("cmp_1") is ck.CampaignStatus.LIVE


def test_a_run_of_a_missing_campaign_has_no_status(store: PostgresStore) -> None:
    with store.unit_of_work() as uow:
        uow.runs.add(_run(campaign_id="gone"))
    with store.unit_of_work() as uow:
        uow.runs.get("run_1")
        assert uow.campaigns.status("gone") is None


def test_an_audience_page_is_one_read_without_a_transaction(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    profiles = PostgresProfileStore(store)
    profiles.upsert(ck.Profile(id="p1", identities={"email": "p1@example.com"}))
    with store.unit_of_work() as uow:
        uow.audiences.define("all", ["p1", "p2"])
    sends = _sends(store, monkeypatch)
    page = profiles.static_members("all", 0, 10)
    assert [p.id for p in page] == ["p1", "p2"]
    assert sends == [["SELECT"]]  # no BEGIN, no lock, no COMMIT
    with store.unit_of_work():  # nested in a unit, the page joins it
        assert [p.id for p in profiles.static_members("all", 1, 10)] == ["p2"]


def test_a_unit_opened_as_one_read_refuses_a_second_statement(store: PostgresStore) -> None:
    with (
        pytest.raises(StorageError, match="one read"),
        store.database.one_read(),
        store.unit_of_work(),
    ):
        store.database.one("SELECT 1")
        store.database.one("SELECT 2")
    with (
        pytest.raises(StorageError, match="one read"),
        store.database.one_read(),
        store.unit_of_work(),
    ):
        store.database.execute("DELETE FROM contacts")


def _intent(profile_id: str) -> list[Any]:
    return [(make_message(profile_id, action_id="a1", run_id="run_1"), EPOCH, None)]


def test_the_probe_before_a_batch_s_intents_carries_their_savepoint(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    with store.unit_of_work() as uow:
        uow.ledger.add_pending(_intent("p1"))
    sends = _sends(store, monkeypatch)
    with store.unit_of_work() as uow:
        uow.campaigns.add(make_campaign("c1"))
        assert uow.ledger.recorded("run_1", ["p1"]) == {("a1", "p1")}
        assert sends[-2:] == [["RELEASE", "SAVEPOINT", "SELECT"], ["SELECT"]]
        with pytest.raises(ConflictError):  # copied with no savepoint of its own
            uow.ledger.add_pending(_intent("p1"))
        assert sends[-1] == ["SELECT"]
        uow.ledger.add_pending(_intent("p2"))  # the next copy takes its own
        assert sends[-1] == ["SAVEPOINT"]
    with store.unit_of_work() as uow:
        assert uow.campaigns.find("c1") is not None
        assert len(store.database.all("SELECT * FROM ledger")) == 2


def test_a_write_after_the_probe_gets_a_savepoint_of_its_own_before_the_copy(
    store: PostgresStore,
) -> None:
    with store.unit_of_work() as uow:
        uow.ledger.add_pending(_intent("p1"))
    with store.unit_of_work() as uow:
        uow.ledger.recorded("run_1", ["p1"])
        store.database.execute(
            "INSERT INTO contacts (channel, profile_id, sent_us) VALUES (?, ?, ?)",
            ("email", "p1", 1),
        )
        with pytest.raises(ConflictError):
            uow.ledger.add_pending(_intent("p1"))  # undoes the copy, not the contact
    with store.unit_of_work():
        assert store.database.all("SELECT profile_id FROM contacts") == [("p1",)]


def test_a_row_locked_after_the_probe_stays_locked_when_the_copy_is_undone(
    store: PostgresStore, postgres_dsn: str, postgres_schema: str
) -> None:
    with store.unit_of_work() as uow:
        uow.runs.add(_run())
        uow.ledger.add_pending(_intent("p1"))
    with (
        _connect(postgres_dsn, postgres_schema) as other,
        shared_units(),
        store.unit_of_work() as uow,
    ):
        uow.ledger.recorded("run_1", ["p1"])  # held: goes with the run's read
        uow.runs.get("run_1")  # FOR UPDATE, after the savepoint held ahead
        with pytest.raises(ConflictError):
            uow.ledger.add_pending(_intent("p1"))
        with pytest.raises(psycopg.errors.LockNotAvailable):
            other.execute("SELECT 1 FROM runs WHERE id = 'run_1' FOR UPDATE NOWAIT")


def test_a_full_page_reads_itself_only_and_sees_this_processs_writes(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    profiles = PostgresProfileStore(store)
    with store.unit_of_work() as uow:
        uow.audiences.define("all", [f"p{i}" for i in range(5)])
    sends = _sends(store, monkeypatch)
    assert [p.id for p in profiles.static_members("all", 0, 2)] == ["p0", "p1"]
    with store.unit_of_work() as uow:  # this process redefines it between two pages
        uow.audiences.define("all", ["p0", "p2", "p3"])
    assert [p.id for p in profiles.static_members("all", 2, 2)] == ["p3"]  # never a page read
    assert sends[-1] == ["SELECT"]  # earlier (a read-ahead served ["p2", "p3"] here)
