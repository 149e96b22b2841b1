"""Store contract: surfaces, access assignments and approval policies."""

from __future__ import annotations

import attrs
import pytest

from campaignkit.domain.access import AccessAuditEntry, AccessChange, Principal
from campaignkit.domain.approval import PolicyStatus
from campaignkit.domain.channels import ChannelType
from campaignkit.errors import ConflictError, NotFound
from campaignkit.permissions import ProductProfile
from campaignkit.ports import (
    Store,
)
from campaignkit.testing.contracts._support import (
    _Boom,
    _policy,
)
from campaignkit.testing.factories import EPOCH, make_surface


class PolicyStoreContract:
    """Store contract checks for surfaces, access and approval policies.

    Provide a ``store`` fixture returning a new, empty store.
    """

    # ------------------------------------------------------------ surfaces

    def test_surfaces_round_trip_and_names_are_unique(self, store: Store) -> None:
        """Surfaces are stored, found by id or name, listed by name, versioned."""
        with store.unit_of_work() as uow:
            b = uow.surfaces.add(make_surface("s2", name="B", channel=ChannelType.SMS))
            a = uow.surfaces.add(make_surface("s1", name="A"))
        with store.unit_of_work() as uow:
            assert uow.surfaces.get("s2") == b
            assert uow.surfaces.find_by_name("A") == a
            assert uow.surfaces.find_by_name("missing") is None
            assert [s.id for s in uow.surfaces.list()] == ["s1", "s2"]
            with pytest.raises(NotFound):
                uow.surfaces.get("missing")
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.surfaces.add(make_surface("s3", name="A"))
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.surfaces.add(make_surface("s1", name="C"))
        with store.unit_of_work() as uow:
            renamed = uow.surfaces.save(attrs.evolve(a, name="A2"))
        assert renamed.revision == 2
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.surfaces.save(a)

    def test_a_surface_cannot_be_renamed_to_a_taken_name(self, store: Store) -> None:
        """Names stay unique on save too: renaming onto another surface's name is refused."""
        with store.unit_of_work() as uow:
            a = uow.surfaces.add(make_surface("s1", name="A"))
            b = uow.surfaces.add(make_surface("s2", name="B", channel=ChannelType.SMS))
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.surfaces.save(attrs.evolve(b, name="A"))
        with store.unit_of_work() as uow:
            assert uow.surfaces.get("s2") == b
            assert uow.surfaces.find_by_name("A") == a
            assert [s.name for s in uow.surfaces.list()] == ["A", "B"]
            kept = uow.surfaces.save(b)  # keeping its own name is no conflict
        assert kept == attrs.evolve(b, revision=2)

    # ------------------------------------------------------------ access

    def test_access_assignments_round_trip(self, store: Store) -> None:
        """Profiles per principal are stored; an empty set removes the principal."""
        ada, team = Principal.user("ada"), Principal.group("team")
        with store.unit_of_work() as uow:
            uow.access.set_profiles(ada, frozenset({ProductProfile.MANAGER}))
            uow.access.set_profiles(team, frozenset({ProductProfile.VIEWER}))
        with store.unit_of_work() as uow:
            assert uow.access.profiles(ada) == {ProductProfile.MANAGER}
            assert uow.access.profiles(Principal.user("bob")) == frozenset()
            assert set(uow.access.all()) == {ada, team}
            uow.access.set_profiles(ada, frozenset())
        with store.unit_of_work() as uow:
            assert set(uow.access.all()) == {team}

    def test_group_memberships_are_idempotent_and_roll_back(self, store: Store) -> None:
        """Users join and leave groups; repeating either is harmless, even when rolled back."""
        with store.unit_of_work() as uow:
            uow.access.set_member("marketing", "ada", member=True)
            uow.access.set_member("marketing", "bob", member=True)
            uow.access.set_member("legal", "ada", member=True)
            uow.access.set_member("marketing", "ada", member=True)
            uow.access.set_member("legal", "zed", member=False)
        with store.unit_of_work() as uow:
            assert uow.access.groups_of("ada") == {"marketing", "legal"}
            assert uow.access.members("marketing") == {"ada", "bob"}
            assert uow.access.members("missing") == frozenset()
            assert uow.access.groups_of("zed") == frozenset()
        with pytest.raises(_Boom), store.unit_of_work() as uow:
            uow.access.set_member("marketing", "ada", member=True)  # already a member
            uow.access.set_member("legal", "zed", member=False)  # never was one
            uow.access.set_member("marketing", "bob", member=False)
            uow.access.set_member("legal", "cy", member=True)
            assert uow.access.members("marketing") == {"ada"}
            raise _Boom
        with store.unit_of_work() as uow:
            assert uow.access.members("marketing") == {"ada", "bob"}
            assert uow.access.members("legal") == {"ada"}
            assert uow.access.groups_of("zed") == frozenset()
            uow.access.set_member("marketing", "ada", member=False)
        with store.unit_of_work() as uow:
            assert uow.access.groups_of("ada") == {"legal"}
            assert uow.access.members("marketing") == {"bob"}

    def test_the_access_log_keeps_entries_in_recording_order(self, store: Store) -> None:
        """Audit entries are listed as recorded (not by time); a failed unit adds none."""
        entries = [
            AccessAuditEntry(
                at=EPOCH.add(minutes=5),
                actor="host",
                change=AccessChange.ASSIGN,
                principal=Principal.user("ada"),
                profile=ProductProfile.ADMINISTRATOR,
            ),
            AccessAuditEntry(
                at=EPOCH,
                actor="ada",
                change=AccessChange.ADD_MEMBER,
                principal=Principal.user("bob"),
                group="marketing",
            ),
            AccessAuditEntry(
                at=EPOCH,
                actor="ada",
                change=AccessChange.REVOKE,
                principal=Principal.group("legal"),
                profile=ProductProfile.VIEWER,
            ),
        ]
        with store.unit_of_work() as uow:
            assert list(uow.access.log()) == []
            uow.access.record(entries[0])
            uow.access.record(entries[1])
        with store.unit_of_work() as uow:
            uow.access.record(entries[2])
        with pytest.raises(_Boom), store.unit_of_work() as uow:
            uow.access.record(attrs.evolve(entries[0], actor="mallory"))
            raise _Boom
        with store.unit_of_work() as uow:
            assert list(uow.access.log()) == entries

    # ------------------------------------------------------------ approval policies

    def test_approval_policies_round_trip_and_are_listed_by_name(self, store: Store) -> None:
        """Policies are stored at revision 1, unique by id, listed by name then id."""
        with store.unit_of_work() as uow:
            b = uow.approval_policies.add(_policy("pol_b", name="B"))
            uow.approval_policies.add(_policy("pol_2", name="A"))
            uow.approval_policies.add(_policy("pol_1", name="A"))
        assert b == attrs.evolve(_policy("pol_b", name="B"), revision=1)
        with store.unit_of_work() as uow:
            assert uow.approval_policies.get("pol_b") == b
            assert [p.id for p in uow.approval_policies.list()] == ["pol_1", "pol_2", "pol_b"]
            with pytest.raises(NotFound):
                uow.approval_policies.get("missing")
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.approval_policies.add(_policy("pol_b", name="Other"))
        with store.unit_of_work() as uow:
            assert uow.approval_policies.get("pol_b") == b

    def test_approval_policy_save_refuses_stale_writes_and_rolls_back(self, store: Store) -> None:
        """Policies are versioned; a failed unit undoes their adds and saves."""
        with store.unit_of_work() as uow:
            loaded = uow.approval_policies.add(_policy())
        activated = attrs.evolve(
            loaded, status=PolicyStatus.ACTIVE, activated_at=EPOCH, activation_seq=1
        )
        with store.unit_of_work() as uow:
            active = uow.approval_policies.save(activated)
        assert active == attrs.evolve(activated, revision=2)
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.approval_policies.save(attrs.evolve(loaded, name="stale"))
        with pytest.raises((ConflictError, NotFound)), store.unit_of_work() as uow:
            uow.approval_policies.save(_policy("never-added"))
        with pytest.raises(_Boom), store.unit_of_work() as uow:
            uow.approval_policies.save(attrs.evolve(active, status=PolicyStatus.INACTIVE))
            uow.approval_policies.add(_policy("pol_new", name="New"))
            raise _Boom
        with store.unit_of_work() as uow:
            assert uow.approval_policies.get("pol_1") == active
            assert list(uow.approval_policies.list()) == [active]
