"""Kits on files: reopening finds everything again, threads sharing file kits lose nothing,
and driver errors come out as StorageError (busy, closed, failed commit); instants are exact."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

import pendulum
import pytest

import campaignkit as ck
from campaignkit.adapters.sqlite import SQLiteStore
from campaignkit.testing import ManualClock, SequentialIds
from campaignkit.testing.factories import make_campaign
from tests.factories import T0, World
from tests.integration.sqlite_store.support import S, _add, read_all

# ---------------------------------------------------------------- reopening a kit


def open_world(path: Path, clock: ManualClock) -> World:
    """A kit on ``path`` with the test suite's usual users, surfaces and audience."""
    kit = ck.CampaignKit.sqlite(path, clock=clock, ids=SequentialIds())
    kit.audiences.define("vip", ["p1", "p2"])
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    admin = kit.as_user("ada")
    email = admin.create_surface(
        name="Newsletter",
        channel=ck.ChannelType.EMAIL,
        settings=ck.EmailSettings(sender="news@example.com"),
    )
    sms = admin.create_surface(
        name="Alerts", channel=ck.ChannelType.SMS, settings=ck.SmsSettings(sender_id="SHOP")
    )
    push = admin.create_surface(
        name="App", channel=ck.ChannelType.PUSH, settings=ck.PushSettings(app_id="com.shop")
    )
    return World(kit, clock, admin, email, sms, push, [])


def everything(kit: ck.CampaignKit) -> dict[str, object]:
    """Every fact a host can read back from a kit."""
    admin = kit.as_user("ada")
    campaigns: list[ck.Campaign] = []
    cursor: str | None = None
    while True:  # small pages: paging over a reopened file works too
        page = admin.list_campaigns(statuses=ck.ALL_STATUSES, limit=2, cursor=cursor)
        campaigns.extend(page)
        cursor = page.next_cursor
        if cursor is None:
            break
    users = ("ada", "max", "april", "olga", "vic")
    with kit.store.unit_of_work() as uow:
        due = list(uow.campaigns.due(T0.add(years=2), 100))
    return {
        "campaigns": campaigns,
        "each": {c.id: admin.get(c.id) for c in campaigns},
        "approval trails": {c.id: admin.approval_history(c.id) for c in campaigns},
        "surfaces": admin.list_surfaces(),
        "approval policies": admin.list_approval_policies(),
        "assignments": kit.access.assignments(),
        "groups": {user: kit.access.groups_of(user) for user in users},
        "members": {group: kit.access.members_of(group) for group in ("legal", "brand")},
        "profiles": {user: kit.access.profiles_of(user) for user in users},
        "audit log": admin.access_audit_log(),
        "due": due,
        "next due": kit.engine.next_due_at(),
    }


def test_reopening_a_kit_finds_everything_again(tmp_path: Path) -> None:
    path = tmp_path / "kit.db"
    clock = ManualClock(T0)
    world = open_world(path, clock)
    kit, ada = world.kit, world.admin
    kit.access.assign("max", ck.ProductProfile.MANAGER)
    ada.add_group_member("legal", "april")
    ada.add_group_member("legal", "olga")
    ada.assign_group_profile("legal", ck.ProductProfile.APPROVER)
    ada.assign_profile("vic", ck.ProductProfile.VIEWER)
    ada.add_group_member("brand", "vic")
    ada.remove_group_member("brand", "vic")
    ada.revoke_profile("vic", ck.ProductProfile.VIEWER)
    max_, april = kit.as_user("max"), kit.as_user("april")

    draft = world.draft("Plain draft", tags=["winter", "promo"])
    ada.update_draft(draft.id, description="kept as a draft")
    live = world.live("Live with versions", recurrence=ck.Recurrence.daily(at="10:00"))
    clock.advance(hours=1)
    ada.modify(live.id)
    ada.update_draft(live.id, actions=[world.email_action("Second subject")])
    ada.activate(live.id)  # version 2 replaces version 1 at once
    clock.advance(hours=1)
    ada.modify(live.id)
    ada.update_draft(live.id, actions=[world.sms_action("Third, still a draft")])
    scheduled = world.scheduled("Starts tomorrow", days=1)

    policy = ada.create_approval_policy(
        name="Legal review", reviewer_groups=["legal"], tags=["legal"]
    )
    ada.activate_approval_policy(policy.id)
    spare = ada.create_approval_policy(name="Spare", reviewers=["april"], name_equals="never")
    reviewed = world.draft("Reviewed", tags=["legal"], session=max_)
    max_.request_approval(reviewed.id, "please look")
    april.request_changes(reviewed.id, "fix the subject")
    max_.update_draft(reviewed.id, actions=[world.email_action("Fixed subject")])
    max_.request_approval(reviewed.id, "fixed")
    april.approve(reviewed.id, "fine now")
    kit.tick()
    pending = world.draft("Waiting for review", tags=["legal"], session=max_)
    max_.request_approval(pending.id, "when you can")
    stopped = world.live("Stopped early")
    ada.stop(stopped.id)

    before = everything(kit)
    by_id = before["each"]
    assert isinstance(by_id, dict)
    assert {c.status for c in by_id.values()} >= {S.DRAFT, S.LIVE, S.SCHEDULED, S.IN_REVIEW}
    assert by_id[live.id].has_open_draft
    assert len(by_id[live.id].superseded_versions) == 1
    assert by_id[reviewed.id].status is S.LIVE
    assert len(by_id[reviewed.id].approvals) == 4
    assert by_id[pending.id].review is not None
    assert by_id[scheduled.id].due_at is not None
    assert spare.id in {p.id for p in ada.list_approval_policies()}
    kit.close()

    with ck.CampaignKit.sqlite(path, clock=clock) as reopened:
        assert everything(reopened) == before
        # and it goes on working from the file: tomorrow's campaign goes live
        reopened.audiences.define("vip", ["p1", "p2"])
        reopened.run_until(clock.now().add(days=2))
        assert reopened.as_user("ada").get(scheduled.id).status is S.LIVE


# ---------------------------------------------------------------- threads


def test_threads_sharing_file_kits_lose_nothing(tmp_path: Path) -> None:
    """Threads on two kits over one file (two connections) run session verbs at once."""
    path = tmp_path / "threads.db"
    clock = ManualClock(T0)
    kits = [ck.CampaignKit.sqlite(path, clock=clock) for _ in range(2)]
    try:
        kits[0].access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        shared = kits[0].as_user("ada").create_campaign(name="Shared", tags=["start"])
        workers, rounds = 6, 5
        barrier = threading.Barrier(workers)
        errors: list[BaseException] = []
        own: dict[int, str] = {}
        conflicts = [0]
        lock = threading.Lock()

        def work(worker: int) -> None:
            session = kits[worker % 2].as_user("ada")
            try:
                barrier.wait()
                mine = session.create_campaign(name=f"Worker {worker}", tags=[f"w{worker}"])
                own[worker] = mine.id
                for round_ in range(rounds):
                    session.update_draft(mine.id, description=f"round {round_}")
                    while True:  # read-modify-write on the shared campaign, retried
                        current = session.get(shared.id)
                        try:
                            session.update_draft(
                                shared.id,
                                tags=[*current.tags, f"w{worker}-{round_}"],
                                expected_revision=current.revision,
                            )
                            break
                        except ck.ConflictError:
                            with lock:
                                conflicts[0] += 1
                    session.list_campaigns(tag=f"w{worker}")
            except BaseException as exc:  # pragma: no cover - reported below
                with lock:
                    errors.append(exc)

        threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        ada = kits[1].as_user("ada")
        final = ada.get(shared.id)
        assert len(final.tags) == len(set(final.tags)) == 1 + workers * rounds
        assert final.revision == 1 + workers * rounds
        assert len(final.history) == 1 + workers * rounds
        for worker, campaign_id in own.items():
            campaign = ada.get(campaign_id)
            assert (campaign.revision, campaign.description) == (1 + rounds, f"round {rounds - 1}")
            assert [c.id for c in ada.list_campaigns(tag=f"w{worker}")] == [campaign_id]
        assert len(ada.list_campaigns(limit=500)) == 1 + workers
        with contextlib.closing(sqlite3.connect(path)) as raw:
            assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        for kit in kits:
            kit.close()


# ---------------------------------------------------------------- driver errors


def test_a_busy_file_raises_storage_error_not_a_driver_error(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    with SQLiteStore(path) as first, SQLiteStore(path, busy_timeout=0.05) as second:
        with first.unit_of_work() as uow:
            uow.campaigns.add(make_campaign("held"))
            with pytest.raises(ck.StorageError) as raised, second.unit_of_work():
                pytest.fail("the second connection must not get the write lock")
            # opening yet another store needs the lock too (for its migration check)
            with pytest.raises(ck.StorageError, match="locked"):
                SQLiteStore(path, busy_timeout=0.05)
        message = str(raised.value)
        for fragment in ("locked", "busy_timeout", str(path)):
            assert fragment in message
        assert not isinstance(raised.value, sqlite3.Error)
        assert isinstance(raised.value.__cause__, sqlite3.OperationalError)
        with second.unit_of_work() as uow:  # once the first unit commits, all is well
            assert uow.campaigns.get("held").revision == 1


def test_a_closed_store_raises_storage_error(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "closed.db")
    store.close()
    with pytest.raises(ck.StorageError, match="closed"), store.unit_of_work():
        pytest.fail("a closed store cannot open a unit of work")


def test_a_unit_that_fails_to_commit_is_rolled_back(tmp_path: Path) -> None:
    """A deferred foreign key violated at COMMIT is reported and rolled back."""
    path = tmp_path / "deferred.db"
    with SQLiteStore(path) as store:
        store._db.execute("PRAGMA defer_foreign_keys = ON")
        with pytest.raises(ck.StorageError, match="FOREIGN KEY"), store.unit_of_work() as uow:
            uow.campaigns.add(make_campaign("ok"))
            store._db.execute(
                "INSERT INTO campaign_tags VALUES ('t', 'no-such-campaign', 'DRAFT', 0)"
            )
        assert not store._db.connection.in_transaction
        with store.unit_of_work() as uow:
            assert uow.campaigns.find("ok") is None


def test_stored_instants_are_exact_microseconds(tmp_path: Path) -> None:
    odd = pendulum.datetime(2026, 3, 29, 1, 59, 59, 999_999, tz="UTC")
    [added] = _add(tmp_path / "instants.db", make_campaign("c", created_at=odd, due_at=odd))
    [again] = read_all(tmp_path / "instants.db")
    assert again == added
    assert again.due_at == odd
    assert again.created_at.microsecond == 999_999
