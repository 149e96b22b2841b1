"""SQLite runs with hot columns (migration 6) and the decoded-document caches.

- Migration 6 moves the state of runs stored as whole documents into columns:
  every field reads back equal, and a run caught in flight by a crash
  resumes after the upgrade and ends with each recipient sent once.
- The caches are keyed on the document text a ``SELECT`` returns, so a
  campaign, surface, rule book or run changed by another ``SQLiteStore`` on
  the same file (or rolled back) is never served stale.
- An idle tick is one transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit.adapters.sqlite import SQLiteStore
from campaignkit.adapters.sqlite.caches import DocumentCache
from campaignkit.adapters.sqlite.connection import Database, migrate, to_us
from campaignkit.adapters.sqlite.runs import (
    COLD_FIELDS,
    HOT_FIELDS,
    decode_counts,
    encode_counts,
)
from campaignkit.adapters.sqlite.schema import MIGRATIONS
from campaignkit.domain.delivery import ActionCounts, ExclusionReason, FeedbackEvent, Run, RunStatus
from campaignkit.domain.rules import BusinessRules, FrequencyCap, RuleBook
from campaignkit.errors import NotFound
from campaignkit.serialization import dumps
from campaignkit.testing import ManualClock, RecordingChannel, SequentialIds
from campaignkit.testing.contracts._support import _full_run, _run, _scheduled_run
from campaignkit.testing.factories import EPOCH, make_campaign, make_surface

T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
HOT_COLUMNS = (
    "status",
    "position",
    "streamed",
    "counts",
    "lease_owner",
    "lease_expires_us",
    "started_us",
    "finished_us",
    "error",
    "wave_filled",
    "rate_sent",
    "rate_origin",
)
BEFORE_6 = [migration for migration in MIGRATIONS if migration[0] < 6]


def _old_file(path: Path, runs: Sequence[Run]) -> None:
    """A store file as campaignkit wrote it before migration 6: runs as whole documents."""
    connection = sqlite3.connect(path, isolation_level=None)
    db = Database(connection, str(path))
    migrate(db, BEFORE_6)
    for run in runs:
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
    connection.close()


def _instants() -> list[pendulum.DateTime]:
    return [
        EPOCH,
        EPOCH.add(microseconds=1),
        EPOCH.add(seconds=59, microseconds=999_999),
        pendulum.datetime(2099, 12, 31, 23, 59, 59, 123_450, tz="UTC"),
        pendulum.datetime(1970, 1, 1, 0, 0, 1, 500_000, tz="UTC"),
        pendulum.datetime(2026, 3, 29, 1, 30, 0, 7, tz="Europe/Paris"),  # stored in UTC
    ]


def test_migration_6_moves_every_run_field_into_columns(tmp_path: Path) -> None:
    """Runs stored as documents read back equal after the upgrade, revision included."""
    finished = attrs.evolve(
        _run("r_done", status=RunStatus.FAILED),
        started_at=_instants()[1],
        finished_at=_instants()[2],
        error="channel down: 503 ü",
        counts={"act_email": ActionCounts(targeted=3, failed=3)},
    )
    runs = [
        attrs.evolve(_full_run(), revision=7),
        attrs.evolve(_scheduled_run(), revision=3),
        attrs.evolve(finished, revision=2),
        *(
            attrs.evolve(
                _run(f"r_{i}", due_at=at),
                revision=1,
                lease_expires_at=at,
                rate_origin={"act_email": at, "act_sms": at.add(microseconds=3)},
            )
            for i, at in enumerate(_instants())
        ),
    ]
    path = tmp_path / "old.db"
    _old_file(path, runs)
    with SQLiteStore(path) as store, store.unit_of_work() as uow:
        for run in runs:
            assert uow.runs.get(run.id) == run
        assert uow.runs.due(T0.add(years=100), 1) == [(_instants()[4], "r_4")]  # 1970 first
        saved = uow.runs.save(attrs.evolve(runs[0], position=1300))
        assert uow.runs.get(runs[0].id) == saved
        assert saved.revision == 8


def test_every_run_field_is_either_saved_in_a_column_or_fixed_at_add() -> None:
    """A field added to ``Run`` without a column would be silently frozen at ``add``."""
    names = [field.name for field in attrs.fields(Run)]
    assert sorted(names) == sorted((*HOT_FIELDS, *COLD_FIELDS))
    assert not set(HOT_FIELDS) & set(COLD_FIELDS)


def test_the_columns_hold_the_state_after_a_save(tmp_path: Path) -> None:
    """A save writes the columns only; the document keeps the run as added."""
    with SQLiteStore(tmp_path / "s.db") as store:
        with store.unit_of_work() as uow:
            added = uow.runs.add(_full_run())
            uow.runs.save(attrs.evolve(added, status=RunStatus.SUCCEEDED, position=9))
        row = store.database.one(
            f"SELECT document, {', '.join(HOT_COLUMNS)} FROM runs WHERE id = ?", (added.id,)
        )
    assert row is not None
    assert row[0] == dumps(added)
    assert row[1:3] == ("succeeded", 9)
    assert row[4] == encode_counts(added.counts)


def test_counts_round_trip_compactly_and_read_the_document_form() -> None:
    """Only non-zero fields are written; the full form of the old documents reads too."""
    counts = {
        "a": ActionCounts(
            targeted=5,
            sent=1,
            excluded={ExclusionReason.NO_CONSENT: 2},
            feedback={FeedbackEvent.OPENED: 1},
            pending=2,
        ),
        "b": ActionCounts(),
    }
    text = encode_counts(counts)
    assert text == (
        '{"a":{"targeted":5,"sent":1,"pending":2,"excluded":{"no_consent":2},'
        '"feedback":{"opened":1}},"b":{}}'
    )
    assert decode_counts(text) == counts
    full = (
        '{"a":{"targeted":1,"sent":1,"failed":0,"excluded":{},"retries":0,"pending":0,'
        '"feedback":{},"late":0,"timezone_fallbacks":0}}'
    )
    assert decode_counts(full) == {"a": ActionCounts(targeted=1, sent=1)}
    assert encode_counts({}) == "{}"


def test_bad_state_columns_are_a_storage_error_naming_the_run(tmp_path: Path) -> None:
    """A column edited outside campaignkit fails the read with the run named."""
    with SQLiteStore(tmp_path / "s.db") as store:
        with store.unit_of_work() as uow:
            uow.runs.add(_run("r1"))
        store.database.execute('UPDATE runs SET counts = \'{"a": {"nope": 1}}\'')
        with pytest.raises(ck.StorageError, match="r1"), store.unit_of_work() as uow:
            uow.runs.get("r1")


# ---------------------------------------------------------------- a run in flight


class Crash(BaseException):
    """The process dies in the middle of a send (nothing below catches it)."""


class CrashingChannel(RecordingChannel):
    """Records sends; the ``crash_at``-th send dies before the provider sees it."""

    def __init__(self, crash_at: int) -> None:
        super().__init__("first")
        self.calls = 0
        self.crash_at = crash_at

    def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
        """Send, or die at the chosen call."""
        self.calls += 1
        if self.calls == self.crash_at:
            raise Crash
        return super().send(messages)


def _downgrade_runs(path: Path) -> None:
    """Put the runs back in the layout before migration 6, their current state in the document."""
    with SQLiteStore(path) as store, store.unit_of_work() as uow:
        runs = [uow.runs.get(run_id) for (run_id,) in store.database.all("SELECT id FROM runs")]
    connection = sqlite3.connect(path, isolation_level=None)
    for column in HOT_COLUMNS:
        connection.execute(f"ALTER TABLE runs DROP COLUMN {column}")
    for run in runs:
        connection.execute("UPDATE runs SET document = ? WHERE id = ?", (dumps(run), run.id))
    connection.execute("DELETE FROM schema_migrations WHERE version = 6")
    connection.close()


def test_a_run_in_flight_before_the_upgrade_resumes_after_it(tmp_path: Path) -> None:
    """A crash mid-run, an upgrade, a restart: every recipient is sent once and the run ends."""
    path = tmp_path / "kit.db"
    email = ck.ChannelType.EMAIL
    first = CrashingChannel(crash_at=2)
    settings = ck.DeliverySettings(batch_size=100, heartbeat=False)
    clock = ManualClock(T0)
    kit = ck.CampaignKit.sqlite(path, clock, {email: first}, delivery=settings, ids=SequentialIds())
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    ada = kit.as_user("ada")
    surface = ada.create_surface(
        name="News", channel=email, settings=ck.EmailSettings(sender="news@example.com")
    )
    profiles = [
        ck.Profile(
            id=f"p{i:03d}", identities={"email": f"p{i:03d}@example.com"}, consents={email: True}
        )
        for i in range(250)
    ]
    assert isinstance(kit.profiles, ck.SQLiteProfileStore)
    kit.profiles.upsert_many(profiles)
    kit.audiences.define("everyone", [p.id for p in profiles])
    campaign = ada.create_campaign(
        name="News",
        audience="everyone",
        namespace="email",
        actions=[ck.Action(surface.id, ck.EmailContent(subject="Hi", html="<p>Hi</p>"))],
    )
    ada.activate(campaign.id)
    with pytest.raises(Crash):
        kit.tick()
    assert isinstance(kit.store, SQLiteStore)
    kit.store.close()
    assert len(first.sent) == 100  # the first batch went out; the second died in flight

    _downgrade_runs(path)
    second = RecordingChannel("second")
    clock.set(T0.add(hours=1))  # past the dead worker's lease
    with ck.CampaignKit.sqlite(path, clock, {email: second}, delivery=settings) as kit:
        kit.run_until(T0.add(hours=2))
        report = kit.as_user("ada").report(campaign.id)
    assert (report.targeted, report.sent, report.counts.pending) == (250, 250, 0)
    assert [run.status for run in report.runs] == [ck.RunStatus.SUCCEEDED]
    first_ids = [m.profile_id for m in first.sent]
    second_ids = [m.profile_id for m in second.sent]
    assert sorted(first_ids + second_ids) == [p.id for p in profiles]


# ---------------------------------------------------------------- caches


def test_a_campaign_surface_or_rule_book_changed_by_another_store_is_seen(tmp_path: Path) -> None:
    """Two stores on one file: each read after the other's write sees the write."""
    path = tmp_path / "shared.db"
    with SQLiteStore(path) as a, SQLiteStore(path) as b:
        with a.unit_of_work() as uow:
            uow.campaigns.add(make_campaign("c1", name="First"))
            uow.surfaces.add(make_surface("s1", name="Mail"))
            uow.rules.save(RuleBook())
        with b.unit_of_work() as uow:  # b decodes and caches all three
            campaign = uow.campaigns.get("c1")
            surface = uow.surfaces.get("s1")
            rules = uow.rules.get()
            assert uow.surfaces.find_by_name("Mail") == surface
        with a.unit_of_work() as uow:
            uow.campaigns.save(attrs.evolve(uow.campaigns.get("c1"), name="Second"))
            uow.surfaces.save(attrs.evolve(uow.surfaces.get("s1"), name="Post"))
            caps = BusinessRules(caps=(FrequencyCap(max=1, per=pendulum.duration(days=1)),))
            uow.rules.save(attrs.evolve(uow.rules.get(), channels={ck.ChannelType.SMS: caps}))
        with b.unit_of_work() as uow:
            assert uow.campaigns.get("c1").name == "Second"
            assert uow.campaigns.get("c1").revision == campaign.revision + 1
            assert uow.surfaces.get("s1").name == "Post"
            assert uow.surfaces.find_by_name("Post") == uow.surfaces.get("s1")
            assert [s.name for s in uow.surfaces.list()] == ["Post"]
            assert uow.rules.get().revision == rules.revision + 1
            assert ck.ChannelType.SMS in uow.rules.get().channels
            assert surface.name == "Mail"  # what b read before is unchanged


def test_a_run_changed_by_another_store_or_rolled_back_is_seen(tmp_path: Path) -> None:
    """Run reads follow other stores' saves; a rolled-back add leaves nothing cached behind."""
    path = tmp_path / "shared.db"
    with SQLiteStore(path) as a, SQLiteStore(path) as b:
        with a.unit_of_work() as uow:
            added = uow.runs.add(_full_run())
        with b.unit_of_work() as uow:
            assert uow.runs.get(added.id) == added
        with a.unit_of_work() as uow:
            saved = uow.runs.save(attrs.evolve(added, position=5, status=RunStatus.STOPPED))
        with b.unit_of_work() as uow:
            assert uow.runs.get(added.id) == saved

        class Boom(Exception):
            pass

        with pytest.raises(Boom), a.unit_of_work() as uow:
            uow.runs.add(_run("gone", campaign_id="cmp_old"))
            raise Boom
        with a.unit_of_work() as uow:
            with pytest.raises(NotFound):
                uow.runs.get("gone")
            uow.runs.add(_run("gone", campaign_id="cmp_new"))
        with a.unit_of_work() as uow:
            assert uow.runs.get("gone").campaign_id == "cmp_new"


def test_a_save_keeping_the_due_time_still_writes_right_after_a_stale_hint(
    tmp_path: Path,
) -> None:
    """The narrower UPDATE re-checks the stored due time; when it differs, the full one runs."""
    path = tmp_path / "shared.db"
    t = EPOCH

    class Boom(Exception):
        pass

    with SQLiteStore(path) as a, SQLiteStore(path) as b:
        with a.unit_of_work() as uow:
            added = uow.runs.add(_run("r1", due_at=t))
        with pytest.raises(Boom), a.unit_of_work() as uow:
            undone = uow.runs.save(attrs.evolve(added, due_at=t.add(hours=1)))
            raise Boom  # a remembers revision 2 with the new due time; the file does not
        with b.unit_of_work() as uow:
            uow.runs.save(attrs.evolve(uow.runs.get("r1"), due_at=t.add(hours=2)))
        with a.unit_of_work() as uow:
            saved = uow.runs.save(attrs.evolve(undone, position=9))
        with b.unit_of_work() as uow:
            assert uow.runs.get("r1") == saved
            assert (saved.revision, saved.due_at, saved.position) == (3, t.add(hours=1), 9)
            assert uow.runs.due(t.add(days=1), 5) == [(t.add(hours=1), "r1")]
            kept = uow.runs.save(attrs.evolve(uow.runs.get("r1"), position=10))
        with a.unit_of_work() as uow:
            assert uow.runs.get("r1") == kept
            assert uow.runs.due(t.add(days=1), 5) == [(t.add(hours=1), "r1")]


def test_the_document_cache_is_bounded_and_keyed_on_the_text() -> None:
    """Least recently used entries go first; another text for a key is decoded again."""
    decoded: list[str] = []

    def decode(text: str) -> str:
        decoded.append(text)
        return text.upper()

    cache: DocumentCache[str] = DocumentCache(2)
    assert cache.load("a", "x", decode) == "X"
    assert cache.load("a", "x", decode) == "X"
    assert cache.load("a", "y", decode) == "Y"
    cache.load("b", "z", decode)
    cache.load("a", "y", decode)  # a is now the most recent
    cache.load("c", "w", decode)  # b goes
    assert len(cache) == 2
    cache.load("b", "z", decode)
    assert decoded == ["x", "y", "z", "w", "z"]
    with pytest.raises(ValueError, match="limit"):
        DocumentCache(0)
    with pytest.raises(ValueError, match="max_chars"):
        DocumentCache(2, max_chars=0)


def test_the_document_cache_is_bounded_by_characters_too() -> None:
    """Long texts push older ones out; a text longer than the bound alone is never kept."""
    decoded: list[str] = []

    def decode(text: str) -> str:
        decoded.append(text)
        return text

    cache: DocumentCache[str] = DocumentCache(10, max_chars=10)
    cache.load("a", "aaaa", decode)
    cache.load("b", "bbbb", decode)
    cache.load("c", "cccc", decode)  # 12 characters: a goes
    assert len(cache) == 2
    cache.load("b", "bbbb", decode)
    cache.load("big", "x" * 11, decode)  # never kept, and evicts nothing
    cache.load("big", "x" * 11, decode)
    assert len(cache) == 2
    cache.load("b", "bb", decode)  # a new text for b replaces the old one's weight
    cache.load("d", "dddd", decode)  # 4 + 2 + 4 = 10: all kept
    assert len(cache) == 3
    cache.clear()
    assert len(cache) == 0
    assert decoded == ["aaaa", "bbbb", "cccc", "x" * 11, "x" * 11, "bb", "dddd"]


def test_an_idle_tick_is_one_transaction(tmp_path: Path) -> None:
    """Nothing due: one transaction reads the due indexes and when work is next due."""
    with ck.CampaignKit.sqlite(tmp_path / "kit.db", ManualClock(T0)) as kit:
        assert isinstance(kit.store, SQLiteStore)
        connection = kit.store.database.connection
        statements: list[str] = []
        connection.set_trace_callback(statements.append)
        report = kit.tick()
        connection.set_trace_callback(None)
    assert report.next_due_at is None
    assert [s for s in statements if s.startswith(("BEGIN", "COMMIT"))] == [
        "BEGIN IMMEDIATE",
        "COMMIT",
    ]
