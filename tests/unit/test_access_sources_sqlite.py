"""A user's profile sources on SQLite come from one query, as the generic path builds them.

``SQLiteAccess.grants_of_user`` reads the user's own grants and their groups'
at once (every trigger's access check asks, issue 12); the directory builds
the same sources from it as from ``profiles`` and ``groups_of``.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
import pytest

import campaignkit as ck
from campaignkit.testing import ManualClock

T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
P = ck.ProductProfile


def _set_up(kit: ck.CampaignKit) -> None:
    access = kit.access
    access.assign("ada", P.ADMINISTRATOR)
    access.assign("ada", P.VIEWER)
    access.assign_group("writers", P.VIEWER)
    access.assign_group("approvers", P.APPROVER)
    access.assign_group("approvers", P.ADMINISTRATOR)
    access.add_member("writers", "ada")
    access.add_member("approvers", "ada")
    access.add_member("empty", "ada")  # a group with no profile
    access.add_member("writers", "bob")
    access.assign("cy", P.APPROVER)
    access.revoke("cy", P.APPROVER)


@pytest.mark.parametrize("user", ["ada", "bob", "cy", "nobody"])
def test_sources_on_sqlite_equal_the_generic_ones(tmp_path: Path, user: str) -> None:
    sqlite = ck.CampaignKit.sqlite(tmp_path / "kit.db", clock=ManualClock(T0))
    memory = ck.CampaignKit.in_memory(ManualClock(T0))
    try:
        _set_up(sqlite)
        _set_up(memory)
        fast = sqlite.access.profile_sources(user)
        generic = memory.access.profile_sources(user)
        assert fast == generic
        assert sqlite.access.profiles_of(user) == frozenset(fast)
    finally:
        sqlite.close()
        memory.close()


def test_ada_holds_each_profile_from_every_source(tmp_path: Path) -> None:
    kit = ck.CampaignKit.sqlite(tmp_path / "kit.db", clock=ManualClock(T0))
    try:
        _set_up(kit)
        assert kit.access.profile_sources("ada") == {
            P.ADMINISTRATOR: ("direct", "group approvers"),
            P.VIEWER: ("direct", "group writers"),
            P.APPROVER: ("group approvers",),
        }
        assert kit.access.profile_sources("bob") == {P.VIEWER: ("group writers",)}
    finally:
        kit.close()
