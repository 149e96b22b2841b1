"""Two real processes on one file (a stale writer gets a conflict, a writer waits for the
lock or says it is locked) and processes killed inside or after a unit of work."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Final

import attrs
import pytest

import campaignkit as ck
from campaignkit.adapters.sqlite import SQLiteStore
from campaignkit.domain.listing import CampaignQuery
from campaignkit.testing.factories import make_campaign
from tests.integration.sqlite_store.support import Child, _add, read_all, rows

# ---------------------------------------------------------------- two processes

CONFLICT_CHILD: Final = """
import sys
import attrs
from campaignkit.adapters.sqlite import SQLiteStore
from campaignkit.errors import ConflictError

with SQLiteStore(sys.argv[1]) as store:
    with store.unit_of_work() as uow:
        stale = uow.campaigns.get("shared")
    print("loaded", stale.revision, flush=True)
    sys.stdin.readline()  # the parent saves meanwhile
    try:
        with store.unit_of_work() as uow:
            uow.campaigns.save(attrs.evolve(stale, name="child"))
    except ConflictError as exc:
        print("CONFLICT", exc, flush=True)
    else:
        print("SAVED", flush=True)
"""


def test_two_processes_the_stale_writer_gets_a_conflict_and_no_update_is_lost(
    tmp_path: Path,
) -> None:
    path = tmp_path / "shared.db"
    with SQLiteStore(path) as store, store.unit_of_work() as uow:
        uow.campaigns.add(make_campaign("shared", name="original"))
    with Child(CONFLICT_CHILD, str(path)) as child:
        assert child.expect("loaded") == "loaded 1"
        with SQLiteStore(path) as store:
            with store.unit_of_work() as uow:
                mine = uow.campaigns.save(attrs.evolve(uow.campaigns.get("shared"), name="parent"))
            assert mine.revision == 2
            child.send("save now")
            line = child.expect("CONFLICT")
            child.finish()
        assert "revision 2, yours 1" in line
    [final] = read_all(path)
    assert (final.name, final.revision) == ("parent", 2)


HOLDING_CHILD: Final = """
import sys
import attrs
from campaignkit.adapters.sqlite import SQLiteStore

with SQLiteStore(sys.argv[1]) as store:
    with store.unit_of_work() as uow:
        current = uow.campaigns.get("shared")
        print("holding", flush=True)  # the write lock is ours until the unit ends
        sys.stdin.readline()
        uow.campaigns.save(attrs.evolve(current, tags=(*current.tags, "child")))
    print("committed", flush=True)
"""


def test_a_writer_in_another_process_waits_for_the_lock_or_says_it_is_locked(
    tmp_path: Path,
) -> None:
    path = tmp_path / "locked.db"
    with SQLiteStore(path) as store, store.unit_of_work() as uow:
        uow.campaigns.add(make_campaign("shared"))
    with (
        Child(HOLDING_CHILD, str(path)) as child,
        SQLiteStore(path, busy_timeout=10.0) as patient,
        SQLiteStore(path, busy_timeout=0.05) as hasty,
    ):
        child.expect("holding")
        with pytest.raises(ck.StorageError, match="locked") as raised, hasty.unit_of_work():
            pytest.fail("the unit must not start while another process holds the lock")
        assert isinstance(raised.value.__cause__, sqlite3.OperationalError)
        child.send("commit")
        # whether the child commits before or while we wait, ours starts after
        with patient.unit_of_work() as uow:
            current = uow.campaigns.get("shared")
            uow.campaigns.save(attrs.evolve(current, tags=(*current.tags, "parent")))
        child.expect("committed")
        child.finish()
    [final] = read_all(path)
    assert final.tags == ("child", "parent")
    assert final.revision == 3


# ---------------------------------------------------------------- crashes

CRASH_CHILD: Final = """
import sys
import attrs
from campaignkit.adapters.sqlite import SQLiteStore
from campaignkit.testing.factories import make_campaign

path, mode = sys.argv[1], sys.argv[2]
store = SQLiteStore(path)
store._db.execute("PRAGMA cache_size = 4")  # spill the open transaction into the WAL

def change(uow):
    for i in range(150):
        uow.campaigns.add(make_campaign(f"new{i:03d}", name="x" * 500, tags=("crash",)))
    existing = uow.campaigns.get("existing")
    uow.campaigns.save(attrs.evolve(existing, name="changed", tags=("crash",)))

if mode == "inside":
    with store.unit_of_work() as uow:
        change(uow)
        print("inside", flush=True)
        sys.stdin.readline()  # killed here, in the middle of the unit
else:
    with store.unit_of_work() as uow:
        change(uow)
    print("committed", flush=True)
    sys.stdin.readline()  # killed here, with the connection still open
"""


def _crash(tmp_path: Path, mode: str) -> tuple[Path, ck.Campaign]:
    path = tmp_path / f"crash-{mode}.db"
    [existing] = _add(path, make_campaign("existing", name="before"))
    with Child(CRASH_CHILD, str(path), mode) as child:
        child.expect(mode)
        child.kill()
    assert child.proc.returncode == -9
    return path, existing


def test_a_process_killed_inside_a_unit_of_work_leaves_none_of_it(tmp_path: Path) -> None:
    path, existing = _crash(tmp_path, "inside")
    assert Path(f"{path}-wal").stat().st_size > 0, "the test should leave uncommitted frames"
    with SQLiteStore(path) as store:
        assert rows(store, "PRAGMA integrity_check") == [("ok",)]
        assert rows(store, "SELECT count(*) FROM campaigns") == [(1,)]
        assert rows(store, "SELECT count(*) FROM campaign_tags WHERE tag = 'crash'") == [(0,)]
        with store.unit_of_work() as uow:
            assert uow.campaigns.get("existing") == existing
            assert uow.campaigns.query(CampaignQuery(tag="crash")).items == ()
            uow.campaigns.add(make_campaign("after"))  # and the store is writable again
    assert [c.id for c in read_all(path)] == ["after", "existing"]


def test_a_process_killed_after_committing_keeps_all_of_it(tmp_path: Path) -> None:
    path, existing = _crash(tmp_path, "committed")
    with SQLiteStore(path) as store:
        assert rows(store, "PRAGMA integrity_check") == [("ok",)]
        assert rows(store, "SELECT count(*) FROM campaigns") == [(151,)]
        with store.unit_of_work() as uow:
            changed = uow.campaigns.get("existing")
            assert (changed.name, changed.tags, changed.revision) == ("changed", ("crash",), 2)
            assert attrs.evolve(changed, name="before", tags=(), revision=1) == existing
            page = uow.campaigns.query(CampaignQuery(tag="crash", limit=500))
            assert len(page) == 151
            assert uow.campaigns.get("new149").name == "x" * 500
