"""Migration 5: a ledger of whole documents becomes typed columns, in flight runs included.

The old file is built the way campaignkit wrote it before: migrations 1-4
only, runs and ledger entries as ``serialization.dumps`` documents, the rest
copied from a store that ran a campaign until its worker died mid-send. Opened
by today's campaignkit, every entry reads back equal, and a new worker ends
the run: the PENDING entries are re-sent with their stored message and key,
the QUEUED ones are released at their time, and nobody gets two messages.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import pendulum
import pytest

import campaignkit as ck
from campaignkit.adapters.sqlite import SQLiteStore
from campaignkit.adapters.sqlite.connection import Database, migrate, to_us
from campaignkit.adapters.sqlite.ledger_codec import decode_message, encode_message
from campaignkit.adapters.sqlite.schema import MIGRATIONS
from campaignkit.domain.delivery import LedgerEntry, Run
from campaignkit.serialization import dumps
from campaignkit.testing import ManualClock, RecordingChannel, SequentialIds
from campaignkit.testing.contracts._support import make_message

EMAIL: Final = ck.ChannelType.EMAIL
BEFORE_5: Final = [migration for migration in MIGRATIONS if migration[0] < 5]
START: Final = pendulum.datetime(2026, 12, 1, 22, tz="UTC")
ZONES: Final = {
    "ny": "America/New_York",  # 17:00: sent at once
    "la": "America/Los_Angeles",  # 14:00: sent at once
    "paris": "Europe/Paris",  # 23:00: queued until 08:00 Paris (07:00 UTC)
    "lon": "UTC",  # 22:00: queued until 08:00 UTC
}


class Crash(BaseException):
    """The worker process dies inside a send (nothing below catches it)."""


class DyingChannel(RecordingChannel):
    """Keeps the messages it was handed, then dies before the provider sees any."""

    def __init__(self) -> None:
        super().__init__("dead")
        self.handed: list[ck.Message] = []

    def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
        """Die with the batch in hand."""
        self.handed.extend(messages)
        raise Crash


class TimedChannel(RecordingChannel):
    """Records each message with the clock's time when it was sent."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__("second")
        self.clock = clock
        self.at: dict[str, list[pendulum.DateTime]] = {}

    def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
        """Send and note when."""
        for message in messages:
            self.at.setdefault(message.profile_id, []).append(self.clock.now())
        return super().send(messages)


def _crashed_store(path: Path, clock: ManualClock) -> tuple[str, DyingChannel]:
    """A store whose only run died mid-send: PENDING and QUEUED entries, each with a message."""
    dying = DyingChannel()
    settings = ck.DeliverySettings(batch_size=100, heartbeat=False)
    kit = ck.CampaignKit.sqlite(path, clock, {EMAIL: dying}, delivery=settings, ids=SequentialIds())
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    ada = kit.as_user("ada")
    surface = ada.create_surface(
        name="News",
        channel=EMAIL,
        settings=ck.EmailSettings(sender="news@example.com", sender_name="Shop"),
    )
    for pid, zone in ZONES.items():
        kit.profiles.upsert(
            ck.Profile(
                id=pid,
                identities={"email": f"{pid}@example.com"},
                attributes={"firstName": pid.title()},
                consents={EMAIL: True},
                timezone=zone,
            )
        )
    kit.audiences.define("all", list(ZONES))
    kit.rules.add_quiet_hours(
        EMAIL, ck.QuietHours(start="21:00", end="08:00", timezone="profile", mode="queue")
    )
    campaign = ada.create_campaign(
        name="Sale",
        audience="all",
        namespace="email",
        actions=[
            ck.Action(
                surface.id,
                ck.EmailContent(subject="Hi {{ profile.firstName }}", html="<p>Sale</p>"),
            )
        ],
        schedule=ck.Schedule(start=START),
    )
    ada.activate(campaign.id)
    with pytest.raises(Crash):
        kit.run_until(START)
    kit.close()
    return campaign.id, dying


def _read(path: Path) -> tuple[list[Run], dict[str, list[LedgerEntry]]]:
    with SQLiteStore(path) as store, store.unit_of_work() as uow:
        ids = [run_id for (run_id,) in store.database.all("SELECT id FROM runs ORDER BY id")]
        runs = [uow.runs.get(run_id) for run_id in ids]
        return runs, {run_id: list(uow.ledger.entries(run_id)) for run_id in ids}


def _old_file(source: Path, path: Path) -> None:
    """``source`` rewritten as campaignkit wrote it before migration 5 (and 6)."""
    runs, ledgers = _read(source)
    connection = sqlite3.connect(path, isolation_level=None)
    migrate(Database(connection, str(path)), BEFORE_5)
    connection.execute("ATTACH DATABASE ? AS source", (str(source),))
    connection.execute("BEGIN")
    tables = connection.execute(
        "SELECT name FROM main.sqlite_master WHERE type = 'table' AND name NOT IN "
        "('runs', 'ledger', 'schema_migrations', 'sqlite_sequence')"
    ).fetchall()
    for (table,) in tables:
        columns = ", ".join(
            row[1] for row in connection.execute(f"PRAGMA main.table_info({table})")
        )
        connection.execute(
            f"INSERT INTO main.{table} ({columns}) SELECT {columns} FROM source.{table}"
        )
    for run in runs:  # the runs table of migration 2: the whole run as a document
        connection.execute(
            "INSERT INTO runs (id, campaign_id, revision, created_us, due_us, document) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                run.id,
                run.campaign_id,
                run.revision,
                to_us(run.created_at),
                None if run.due_at is None else to_us(run.due_at),
                dumps(run),
            ),
        )
    for entries in ledgers.values():  # what the document ledger's put wrote
        connection.executemany(
            "INSERT INTO ledger (run_id, action_id, profile_id, state, next_attempt_us, "
            "provider_message_id, document) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    e.run_id,
                    e.action_id,
                    e.profile_id,
                    e.state.value,
                    None if e.next_attempt_at is None else to_us(e.next_attempt_at),
                    e.provider_message_id,
                    dumps(e),
                )
                for e in entries
            ],
        )
    connection.execute("COMMIT")
    connection.execute("DETACH DATABASE source")
    connection.close()


def test_a_run_in_flight_in_a_document_ledger_resumes_after_the_upgrade(tmp_path: Path) -> None:
    clock = ManualClock(START)
    crashed = tmp_path / "crashed.db"
    campaign_id, dying = _crashed_store(crashed, clock)
    runs, ledgers = _read(crashed)
    [run] = runs
    states = {e.profile_id: e.state for e in ledgers[run.id]}
    assert states == {
        "ny": ck.LedgerState.PENDING,
        "la": ck.LedgerState.PENDING,
        "paris": ck.LedgerState.QUEUED,
        "lon": ck.LedgerState.QUEUED,
    }
    assert all(e.message is not None for e in ledgers[run.id])
    assert sorted(m.profile_id for m in dying.handed) == ["la", "ny"]

    old = tmp_path / "old.db"
    _old_file(crashed, old)
    with SQLiteStore(old) as store:  # the upgrade: migration 5 (and any later ones)
        versions = [v for (v,) in store.database.all("SELECT version FROM schema_migrations")]
        assert versions == [version for version, _, _ in MIGRATIONS]
        assert store.database.all("PRAGMA integrity_check") == [("ok",)]
    assert _read(old) == (runs, ledgers)  # every run and entry field, messages included

    second = TimedChannel(clock)
    clock.set(START.add(hours=1))  # past the dead worker's lease
    settings = ck.DeliverySettings(batch_size=100, heartbeat=False)
    with ck.CampaignKit.sqlite(old, clock, {EMAIL: second}, delivery=settings) as kit:
        kit.run_until(START.add(days=1))
        report = kit.as_user("ada").report(campaign_id)
    assert second.at == {
        "ny": [START.add(hours=1)],  # reconciled: re-sent once
        "la": [START.add(hours=1)],
        "paris": [pendulum.datetime(2026, 12, 2, 7, tz="UTC")],  # released: 08:00 in Paris
        "lon": [pendulum.datetime(2026, 12, 2, 8, tz="UTC")],  # 08:00 in London
    }
    handed = {m.profile_id: m for m in dying.handed}
    for message in second.sent:  # exactly what the dead worker had rendered, same key
        if message.profile_id in handed:
            assert message == handed[message.profile_id]
    assert {m.profile_id: m.fields["subject"] for m in second.sent} == {
        pid: f"Hi {pid.title()}" for pid in ZONES
    }
    assert (report.targeted, report.sent, report.counts.pending) == (4, 4, 0)
    assert [r.status for r in report.runs] == [ck.RunStatus.SUCCEEDED]
    _, after = _read(old)
    assert {e.state for e in after[run.id]} == {ck.LedgerState.SENT}
    assert {e.message for e in after[run.id]} == {None}  # final entries drop their message


def test_a_message_differing_from_its_row_round_trips(tmp_path: Path) -> None:
    """Values the row does not share (another channel, key, address ...) are kept in the text."""
    message = make_message(
        "p1", channel=ck.ChannelType.PUSH, proof=True, transactional=True, fields={"title": "ü"}
    )
    basis = ("run_9", "cmp_9", "act_9", "p9", "email", None)
    text = encode_message(message, basis)
    assert decode_message(text, basis) == message
    own = (
        message.run_id,
        message.campaign_id,
        message.action_id,
        message.profile_id,
        "push",
        message.address,
    )
    short = encode_message(message, own)
    assert decode_message(short, own) == message
    assert len(short) < len(text)
    assert short.count("\n") == 1
