"""``copy_store`` between memory, SQLite and PostgreSQL, with a run interrupted mid-way.

A SQLite kit holds something in every table and a two-action campaign whose
run died at its second email batch (the channel raised before the provider
saw it). The store is copied SQLite -> memory -> SQLite (and SQLite ->
PostgreSQL -> SQLite when a server answers): every table reads back equal,
the campaigns export equal, and the last copy, ticked after the dead
worker's lease, finishes the run with exactly one outcome per (action,
profile) and nobody sent twice.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit.adapters import CopyReport, copy_store
from campaignkit.adapters.copying import TABLES, count_store
from campaignkit.domain.delivery import FeedbackEvent, LedgerState
from campaignkit.domain.triggers import ExecutionKind, ExecutionRecord
from campaignkit.ports import ScanningProfileStore
from campaignkit.testing import ManualClock, RecordingChannel, SequentialIds
from tests.cli_store import make_store
from tests.integration.test_cli_entry_point import campaignkit

T0: Final = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
RECIPIENTS: Final = 250
EMAIL, SMS = ck.ChannelType.EMAIL, ck.ChannelType.SMS
SETTINGS: Final = ck.DeliverySettings(batch_size=100, heartbeat=False)


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


@attrs.define
class Source:
    """The crashed kit, what its channels got, and its campaign."""

    kit: ck.CampaignKit
    clock: ManualClock
    email: CrashingChannel
    sms: RecordingChannel
    campaign_id: str


def crashed_source(path: Path) -> Source:
    """A SQLite kit with every table filled and a run that died at its second email batch."""
    clock = ManualClock(T0)
    email, sms = CrashingChannel(crash_at=2), RecordingChannel("first-sms")
    kit = ck.CampaignKit.sqlite(
        path, clock, {EMAIL: email, SMS: sms}, delivery=SETTINGS, ids=SequentialIds()
    )
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    kit.access.assign_group("legal", ck.ProductProfile.APPROVER)
    kit.access.add_member("legal", "lea")
    kit.rules.add_frequency_cap(
        ck.ChannelType.PUSH, ck.FrequencyCap(max=3, per=pendulum.duration(days=1))
    )
    ada = kit.as_user("ada")
    news = ada.create_surface(
        name="News", channel=EMAIL, settings=ck.EmailSettings(sender="news@example.com")
    )
    alerts = ada.create_surface(
        name="Alerts", channel=SMS, settings=ck.SmsSettings(sender_id="SHOP")
    )
    ada.create_approval_policy(name="Legal", reviewer_groups=["legal"], tags=["legal"])
    profiles = [
        ck.Profile(
            id=f"p{i:03d}",
            identities={"email": f"p{i:03d}@example.com"},
            consents={EMAIL: True, SMS: True},
            channel_data={SMS: f"+3361200{i:04d}"},
            attributes={"firstName": f"P{i}"},
        )
        for i in range(RECIPIENTS)
    ]
    assert isinstance(kit.profiles, ck.SQLiteProfileStore)
    kit.profiles.upsert_many(profiles)
    kit.audiences.define("everyone", [p.id for p in profiles])
    kit.audiences.define("few", ["p001", "p002", "nobody"])
    campaign = ada.create_campaign(
        name="Winter sale",
        audience="everyone",
        namespace="email",
        tags=["promo"],
        actions=[
            ck.Action(
                news.id, ck.EmailContent(subject="Hi {{ profile.firstName }}", html="<p>Hi</p>")
            ),
            ck.Action(alerts.id, ck.SmsContent(text="Sale!")),
        ],
    )
    ada.create_campaign(
        name="Spring draft",
        audience="few",
        namespace="email",
        actions=[ck.Action(news.id, ck.EmailContent(subject="Soon", html="<p>Soon</p>"))],
    )
    ada.activate(campaign.id)
    with pytest.raises(Crash):
        kit.tick()
    assert len(email.sent) == SETTINGS.batch_size  # the second batch died in flight
    kit.record_feedback(email.provider_ids[email.sent[0].idempotency_key], FeedbackEvent.OPENED)
    with kit.store.unit_of_work() as uow:
        uow.suppressions.add(EMAIL, "gone@example.com")
        uow.executions.add(
            ExecutionRecord(
                id="exe_1",
                campaign_id=campaign.id,
                request_id="req-1",
                kind=ExecutionKind.AUDIENCE,
                created_at=T0,
                created_by="api",
                run_id="run_none",
                payload_hash="sha256:abc",
                execute_at=T0,
            )
        )
    return Source(kit, clock, email, sms, campaign.id)


def dump(kit: ck.CampaignKit) -> dict[str, Any]:
    """Everything ``kit`` holds, table by table, in a comparable form."""
    out: dict[str, Any] = {}
    with kit.store.unit_of_work() as uow:
        out["rules"] = uow.rules.get()
        out["surfaces"] = list(uow.surfaces.list())
        out["approval_policies"] = list(uow.approval_policies.list())
        out["access"] = dict(uow.access.all())
        out["groups"] = list(uow.access.memberships())
        out["access_log"] = list(uow.access.log())
        out["campaigns"] = [c for batch in uow.campaigns.scan(7) for c in batch]
        out["runs"] = [r for batch in uow.runs.scan(7) for r in batch]
        out["ledger"] = [
            e for run in out["runs"] for batch in uow.ledger.scan(run.id, 7) for e in batch
        ]
        out["executions"] = [e for batch in uow.executions.scan(7) for e in batch]
        out["feedback"] = [f for batch in uow.feedback.scan(7) for f in batch]
        out["contacts"] = sorted(
            (c for batch in uow.contacts.scan(7) for c in batch),
            key=lambda c: (c[0].value, c[1], c[2], c[3] or ""),
        )
        out["suppressions"] = [s for batch in uow.suppressions.scan(7) for s in batch]
        out["audiences"] = {
            name: list(uow.audiences.members(name, 0, 10_000)) for name in uow.audiences.names()
        }
    assert isinstance(kit.profiles, ScanningProfileStore)
    out["profiles"] = [p for batch in kit.profiles.scan(7) for p in batch]
    return out


def exported(kit: ck.CampaignKit, campaign_ids: Sequence[str]) -> str:
    """The campaigns' export package as JSON text."""
    return json.dumps(kit.as_user("ada").export(campaign_ids), sort_keys=True)


def finish(kit: ck.CampaignKit, source: Source) -> tuple[RecordingChannel, RecordingChannel]:
    """Tick ``kit`` past the dead worker's lease until the run ends; return its channels."""
    source.clock.set(T0.add(hours=1))
    kit.run_until(T0.add(hours=2))
    return kit.channels[EMAIL], kit.channels[SMS]


def check_finished(
    kit: ck.CampaignKit, source: Source, email: RecordingChannel, sms: RecordingChannel
) -> None:
    """One outcome per (action, profile) in the ledger; nobody handed over twice."""
    report = kit.as_user("ada").report(source.campaign_id)
    assert (report.targeted, report.counts.pending) == (2 * RECIPIENTS, 0)
    assert report.sent == 2 * RECIPIENTS
    with kit.store.unit_of_work() as uow:
        (run,) = uow.runs.for_campaign(source.campaign_id)
        entries = [e for batch in uow.ledger.scan(run.id, 100) for e in batch]
    keys = collections.Counter((e.action_id, e.profile_id) for e in entries)
    assert len(keys) == 2 * RECIPIENTS
    assert set(keys.values()) == {1}
    assert {e.state for e in entries} == {LedgerState.SENT}
    for before, after in ((source.email, email), (source.sms, sms)):
        handed = collections.Counter(m.profile_id for m in [*before.sent, *after.sent])
        assert len(handed) == RECIPIENTS
        assert set(handed.values()) == {1}


def sqlite_kit(path: Path, clock: ManualClock) -> ck.CampaignKit:
    return ck.CampaignKit.sqlite(
        path,
        clock,
        {EMAIL: RecordingChannel("second"), SMS: RecordingChannel("second-sms")},
        delivery=SETTINGS,
    )


# ---------------------------------------------------------------- round trips


def test_sqlite_memory_sqlite_round_trip_keeps_everything_and_the_run_resumes(
    tmp_path: Path,
) -> None:
    source = crashed_source(tmp_path / "a.db")
    original = dump(source.kit)
    assert all(original[table] for table in original), "every table holds something"
    middle = ck.CampaignKit.in_memory(
        clock=source.clock, channels={EMAIL: RecordingChannel(), SMS: RecordingChannel()}
    )
    report = copy_store(source.kit, middle, batch_size=64)
    assert report == CopyReport(count_store(source.kit), merged=False)
    assert report.counts["ledger"] == len(original["ledger"]) > 0
    assert dump(middle) == original
    with sqlite_kit(tmp_path / "b.db", source.clock) as last:
        assert copy_store(middle, last).counts == report.counts
        assert dump(last) == original
        ids = [c.id for c in original["campaigns"]]
        assert exported(last, ids) == exported(source.kit, ids)
        email, sms = finish(last, source)
        check_finished(last, source, email, sms)


def test_sqlite_postgres_sqlite_round_trip(
    tmp_path: Path, postgres_dsn: str, postgres_schema: str
) -> None:
    source = crashed_source(tmp_path / "a.db")
    original = dump(source.kit)
    middle = ck.CampaignKit.postgres(postgres_dsn, clock=source.clock, schema=postgres_schema)
    try:
        report = copy_store(source.kit, middle, batch_size=64)
        assert dump(middle) == original
        with sqlite_kit(tmp_path / "b.db", source.clock) as last:
            assert copy_store(middle, last).counts == report.counts
            assert dump(last) == original
            ids = [c.id for c in original["campaigns"]]
            assert exported(last, ids) == exported(source.kit, ids)
            email, sms = finish(last, source)
            check_finished(last, source, email, sms)
    finally:
        middle.close()


def test_a_copy_in_memory_finishes_the_run_too(tmp_path: Path) -> None:
    """The destination may be any adapter: here the memory kit itself finishes the run."""
    source = crashed_source(tmp_path / "a.db")
    copy = ck.CampaignKit.in_memory(
        clock=source.clock,
        channels={EMAIL: RecordingChannel("m"), SMS: RecordingChannel("m-sms")},
        delivery=SETTINGS,
    )
    copy_store(source.kit, copy)
    email, sms = finish(copy, source)
    check_finished(copy, source, email, sms)


# ---------------------------------------------------------------- refusals and merging


def memory_kit(clock: ManualClock | None = None) -> ck.CampaignKit:
    return ck.CampaignKit.in_memory(clock=clock or ManualClock(T0), ids=SequentialIds())


def small_kit(*, user: str = "ada", surface: str = "News") -> ck.CampaignKit:
    """A kit with an administrator, a surface and a profile; its ids are random (no clash)."""
    kit = ck.CampaignKit.in_memory(clock=ManualClock(T0))
    kit.access.assign(user, ck.ProductProfile.ADMINISTRATOR)
    kit.as_user(user).create_surface(
        name=surface, channel=EMAIL, settings=ck.EmailSettings(sender="n@example.com")
    )
    kit.profiles.upsert(ck.Profile(id=f"{user}-p", identities={"email": f"{user}@example.com"}))
    return kit


@pytest.mark.parametrize(
    "fill",
    [
        lambda kit: kit.access.add_member("g", "u"),
        lambda kit: kit.audiences.define("a", ["p"]),
        lambda kit: kit.profiles.upsert(ck.Profile(id="p", identities={"email": "p@x.org"})),
        lambda kit: kit.rules.add_frequency_cap(
            EMAIL, ck.FrequencyCap(max=1, per=pendulum.duration(days=1))
        ),
    ],
    ids=["group", "audience", "profile", "rules"],
)
def test_a_destination_holding_anything_is_refused(
    fill: Callable[[ck.CampaignKit], object],
) -> None:
    dst = memory_kit()
    fill(dst)
    with pytest.raises(ck.ValidationError, match=r"dst is not empty .*pass merge=True"):
        copy_store(small_kit(), dst)


def test_merge_adds_to_a_destination_and_source_records_win() -> None:
    src, dst = small_kit(user="ada"), small_kit(user="bob", surface="Other")
    dst.access.assign("ada", ck.ProductProfile.VIEWER)
    report = copy_store(src, dst, merge=True)
    assert report.merged
    assert report.counts["surfaces"] == 1
    assert dst.access.profiles_of("ada") == {
        ck.ProductProfile.ADMINISTRATOR,
        ck.ProductProfile.VIEWER,
    }
    assert {s.name for s in dst.as_user("bob").list_surfaces()} == {"News", "Other"}
    assert dst.profiles.get("ada-p") is not None
    assert dst.profiles.get("bob-p") is not None
    with pytest.raises(ck.ConflictError, match="News"):  # the same name under another id
        copy_store(small_kit(user="cid"), dst, merge=True)


def test_the_same_store_or_file_is_refused(tmp_path: Path) -> None:
    kit = memory_kit()
    with pytest.raises(ck.ValidationError, match="same store"):
        copy_store(kit, kit)
    clock = ManualClock(T0)
    with (
        ck.CampaignKit.sqlite(tmp_path / "x.db", clock) as a,
        ck.CampaignKit.sqlite(tmp_path / "x.db", clock) as b,
        pytest.raises(ck.ValidationError, match="same store"),
    ):
        copy_store(a, b)


def test_the_same_postgresql_schema_is_refused(postgres_dsn: str, postgres_schema: str) -> None:
    with (
        ck.CampaignKit.postgres(postgres_dsn, schema=postgres_schema) as a,
        ck.CampaignKit.postgres(postgres_dsn, schema=postgres_schema) as b,
        pytest.raises(ck.ValidationError, match="same store"),
    ):
        copy_store(a, b, merge=True)


@pytest.mark.parametrize("size", [0, 10_001, True, "5"])
def test_a_bad_batch_size_is_refused(size: Any) -> None:
    with pytest.raises(ck.ValidationError, match="batch_size"):
        copy_store(memory_kit(), memory_kit(), batch_size=size)


class BlindProfiles:
    """A profile store that cannot list its profiles."""

    def get(self, profile_id: str) -> ck.Profile | None:
        return None

    def get_many(self, profile_ids: Sequence[str]) -> dict[str, ck.Profile]:
        return {}

    def upsert(self, profile: ck.Profile) -> None:
        return None

    def find_by_identity(self, namespace: str, value: str) -> ck.Profile | None:
        return None


class LosingProfiles(BlindProfiles):
    """A profile store that lists nothing: every profile written to it is lost."""

    def scan(self, batch_size: int) -> list[list[ck.Profile]]:
        return []


@pytest.mark.parametrize("side", ["src", "dst"])
def test_a_profile_store_that_cannot_scan_is_refused(side: str) -> None:
    blind = ck.CampaignKit(
        store=ck.InMemoryStore(), clock=ManualClock(T0), profiles=BlindProfiles()
    )
    src, dst = (blind, memory_kit()) if side == "src" else (memory_kit(), blind)
    with pytest.raises(ck.ValidationError, match=f"profile store of {side} .*scan"):
        copy_store(src, dst)


def test_writes_the_destination_loses_fail_the_check() -> None:
    dst = ck.CampaignKit(store=ck.InMemoryStore(), clock=ManualClock(T0), profiles=LosingProfiles())
    with pytest.raises(ck.StorageError, match=r"profiles: 0 in dst, 1 copied.*copy again"):
        copy_store(small_kit(), dst)
    with pytest.raises(ck.StorageError, match=r"1 copied to 0 there before"):
        copy_store(small_kit(user="eve", surface="Eve"), dst, merge=True)


def test_the_report_reads_as_a_table() -> None:
    report = copy_store(small_kit(), memory_kit())
    assert list(report.counts) == list(TABLES)
    text = str(report)
    assert text.splitlines()[0].split() == ["rules", "0"]
    assert text.splitlines()[-1].split() == ["total", str(report.total)]
    assert report.total == 1 + 1 + 1 + 1  # surface, grant, its audit entry, profile


def test_the_installed_script_copies_a_store(tmp_path: Path) -> None:
    """``campaignkit copy-store`` in a real process: the copy lists the same campaigns."""
    source = make_store(tmp_path / "kit.db")
    done = campaignkit("copy-store", "kit.db", "copy.db", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    clock = ManualClock(T0)
    with (
        ck.CampaignKit.sqlite(source, clock) as a,
        ck.CampaignKit.sqlite(tmp_path / "copy.db", clock) as b,
    ):
        assert json.loads(done.stdout)["counts"] == count_store(a)
        assert dump(b) == dump(a)
