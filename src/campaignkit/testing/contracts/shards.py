"""Shard store contract: frozen audiences and epoch-fenced shards (``ShardRepository``).

For stores that split runs into shards (the port is optional: a store
without ``uow.shards`` delivers runs whole). Provide a ``store`` fixture
returning a new, empty store whose units have ``shards``.
"""

from __future__ import annotations

from typing import cast

import pendulum
import pytest

from campaignkit.domain.delivery import ActionCounts
from campaignkit.domain.shards import Shard, ShardLost, plan_shards
from campaignkit.errors import ConflictError
from campaignkit.ports import ShardRepository, Store, UnitOfWork
from campaignkit.testing.factories import EPOCH

_LATER = EPOCH.add(seconds=30)


def _shards(uow: UnitOfWork) -> ShardRepository:
    found = getattr(uow, "shards", None)
    assert found is not None, "this store's units have no shards repository"
    return cast("ShardRepository", found)


class ShardStoreContract:
    """What every ``ShardRepository`` does. Provide a ``store`` fixture."""

    def test_members_freeze_in_order_and_read_back_by_range(self, store: Store) -> None:
        """Frozen ids come back in order by position; a position frozen twice is a conflict."""
        with store.unit_of_work() as uow:
            shards = _shards(uow)
            assert shards.frozen("r1") == 0
            shards.freeze("r1", 0, [f"p{i}" for i in range(5)])
            shards.freeze("r1", 5, ["p9", "p7"])
            shards.freeze("r2", 0, ["x"])
        with store.unit_of_work() as uow:
            shards = _shards(uow)
            assert shards.frozen("r1") == 7
            assert shards.members("r1", 0, 7) == ["p0", "p1", "p2", "p3", "p4", "p9", "p7"]
            assert shards.members("r1", 4, 6) == ["p4", "p9"]
            assert shards.members("r1", 7, 9) == []
            assert shards.members("r2", 0, 1) == ["x"]
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            _shards(uow).freeze("r1", 6, ["again"])
        with store.unit_of_work() as uow:
            assert _shards(uow).frozen("r1") == 7  # nothing of the refused unit

    def test_a_static_audience_freezes_by_position_from_where_it_stopped(
        self, store: Store
    ) -> None:
        """``freeze_audience`` copies a static audience's ids in its order, after ``start``."""
        with store.unit_of_work() as uow:
            uow.audiences.define("vip", ["b", "a", "c", "a2"])
            assert _shards(uow).freeze_audience("r1", "vip", 0) == 4
            _shards(uow).freeze("r2", 0, ["b"])  # a half-done freeze: resumes after it
            assert _shards(uow).freeze_audience("r2", "vip", 1) == 4
            assert _shards(uow).freeze_audience("r3", "nobody", 0) == 0
        with store.unit_of_work() as uow:
            assert _shards(uow).members("r1", 0, 10) == ["b", "a", "c", "a2"]
            assert _shards(uow).members("r2", 0, 10) == ["b", "a", "c", "a2"]

    def test_planned_shards_read_back_and_plan_only_once(self, store: Store) -> None:
        """A plan is stored whole and read back in order; planning again is a conflict."""
        plan = plan_shards("r1", 25, 10)
        with store.unit_of_work() as uow:
            assert _shards(uow).for_run("r1") == []
            _shards(uow).plan(plan)
        with store.unit_of_work() as uow:
            assert _shards(uow).for_run("r1") == plan
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            _shards(uow).plan(plan)

    def test_claims_take_free_shards_in_order_and_move_the_epoch(self, store: Store) -> None:
        """A claim takes the first free shard, bumps its epoch and leases it to the claimer."""
        with store.unit_of_work() as uow:
            _shards(uow).plan(plan_shards("r1", 20, 10))
            _shards(uow).plan(plan_shards("r0", 5, 10))
        with store.unit_of_work() as uow:
            first = _shards(uow).claim(None, None, "w1", EPOCH, _LATER)
            second = _shards(uow).claim("r1", None, "w2", EPOCH, _LATER)
            third = _shards(uow).claim("r1", None, "w3", EPOCH, _LATER)
            none = _shards(uow).claim("r1", None, "w3", EPOCH, _LATER)
        assert first is not None
        assert (first.run_id, first.number, first.epoch, first.owner) == ("r0", 0, 1, "w1")
        assert first.lease_expires_at == _LATER
        assert second is not None
        assert (second.run_id, second.number, second.owner) == ("r1", 0, "w2")
        assert third is not None
        assert (third.number, third.epoch) == (1, 1)
        assert none is None
        with store.unit_of_work() as uow:
            stored = _shards(uow).for_run("r1")
        assert [(s.owner, s.epoch) for s in stored] == [("w2", 1), ("w3", 1)]

    def test_a_lapsed_lease_is_claimed_again_and_fences_the_old_holder(self, store: Store) -> None:
        """Once its lease lapses a shard is claimed at the next epoch; the old holder is refused."""
        with store.unit_of_work() as uow:
            _shards(uow).plan(plan_shards("r1", 10, 10))
            old = _shards(uow).claim("r1", 0, "w1", EPOCH, _LATER)
        assert old is not None
        with store.unit_of_work() as uow:
            assert _shards(uow).claim("r1", 0, "w2", EPOCH.add(seconds=29), _LATER) is None
            new = _shards(uow).claim("r1", 0, "w2", _LATER, _LATER.add(seconds=30))
        assert new is not None
        assert (new.epoch, new.owner) == (2, "w2")
        counted = Shard(
            old.run_id,
            old.number,
            old.first,
            old.end,
            old.epoch,
            old.owner,
            _LATER,
            counts={"a": ActionCounts(targeted=1, sent=1)},
        )
        with pytest.raises(ShardLost), store.unit_of_work() as uow:
            _shards(uow).hold(old)
        with pytest.raises(ShardLost), store.unit_of_work() as uow:
            _shards(uow).save(counted)
        with store.unit_of_work() as uow:
            held = _shards(uow).hold(new)
            assert held.epoch == 2
            saved = _shards(uow).save(
                Shard(new.run_id, 0, 0, 10, 2, "w2", None, True, {"a": ActionCounts(sent=3)})
            )
        assert saved.done
        with store.unit_of_work() as uow:
            (stored,) = _shards(uow).for_run("r1")
            assert stored.done
            assert stored.counts["a"].sent == 3
            assert stored.lease_expires_at is None
            assert _shards(uow).claim("r1", None, "w3", _LATER.add(days=1), _LATER) is None
        with pytest.raises(ShardLost), store.unit_of_work() as uow:
            _shards(uow).hold(saved)  # a done shard is held by nobody

    def test_a_missing_shard_cannot_be_held(self, store: Store) -> None:
        """Holding a shard the store never planned is ``ShardLost``."""
        with pytest.raises(ShardLost), store.unit_of_work() as uow:
            _shards(uow).hold(Shard("nope", 0, 0, 1, 1, "w"))

    def test_claims_are_dated_by_the_instant_given(self, store: Store) -> None:
        """The lease a claim sets is the one given, kept to the microsecond."""
        expires = pendulum.datetime(2030, 1, 2, 3, 4, 5, 678901, tz="UTC")
        with store.unit_of_work() as uow:
            _shards(uow).plan(plan_shards("r1", 3, 10))
            _shards(uow).claim("r1", 0, "w1", EPOCH, expires)
        with store.unit_of_work() as uow:
            (stored,) = _shards(uow).for_run("r1")
        assert stored.lease_expires_at == expires
