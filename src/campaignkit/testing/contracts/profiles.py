"""Contract of the :class:`~campaignkit.ports.ProfileStore` port."""

from __future__ import annotations

from collections.abc import Sized

import attrs
import pytest

from campaignkit.domain.channels import ChannelType
from campaignkit.domain.profile import Profile
from campaignkit.errors import ValidationError
from campaignkit.ports import (
    ProfileStore,
)
from campaignkit.testing.contracts._support import (
    _rich_profile,
)


class ProfileStoreContract:
    """Contract of the :class:`~campaignkit.ports.ProfileStore` port.

    Provide a ``profiles`` fixture returning a new, empty profile store.
    """

    def test_an_unknown_profile_is_none(self, profiles: ProfileStore) -> None:
        """``get`` answers None and ``get_many`` leaves out ids that are not stored."""
        assert profiles.get("missing") is None
        assert dict(profiles.get_many(["missing"])) == {}
        assert dict(profiles.get_many([])) == {}

    def test_upsert_then_get_round_trips_every_field(self, profiles: ProfileStore) -> None:
        """A profile is read back equal: identities, nested attributes, consents, channel data."""
        rich = _rich_profile("p1")
        profiles.upsert(rich)
        found = profiles.get("p1")
        assert found == rich
        assert found is not None
        assert found.attributes["address"]["geo"]["lat"] == 45.76
        assert found.attributes["orders"][1]["tags"] == ["x", "y"]
        assert found.attributes["big"] == 2**53 + 1
        assert found.consents[ChannelType.SMS] is False
        assert dict(profiles.get_many(["p1"])) == {"p1": rich}

    def test_the_test_profile_mark_round_trips(self, profiles: ProfileStore) -> None:
        """``Profile(test=True)`` (proofs reach only these) is read back; the default is False."""
        profiles.upsert(Profile(id="qa", identities={"email": "qa@example.com"}, test=True))
        profiles.upsert(Profile(id="real", identities={"email": "real@example.com"}))
        qa, real = profiles.get("qa"), profiles.get("real")
        assert qa is not None
        assert real is not None
        assert (qa.test, real.test) == (True, False)
        assert profiles.find_by_identity("email", "qa@example.com") == qa
        assert {p.id: p.test for p in profiles.get_many(["qa", "real"]).values()} == {
            "qa": True,
            "real": False,
        }
        profiles.upsert(attrs.evolve(qa, test=False))
        assert profiles.get("qa") == attrs.evolve(qa, test=False)

    def test_upsert_replaces_the_whole_profile(self, profiles: ProfileStore) -> None:
        """A second upsert with the same id replaces the profile; nothing old is merged in."""
        profiles.upsert(_rich_profile("p1"))
        profiles.upsert(_rich_profile("p2"))
        plain = Profile(id="p1", attributes={"firstName": "Ann"})
        profiles.upsert(plain)
        assert profiles.get("p1") == plain
        assert profiles.get("p2") == _rich_profile("p2")

    def test_get_many_returns_the_stored_profiles_by_id(self, profiles: ProfileStore) -> None:
        """``get_many`` maps each stored id to its profile; duplicates and unknowns are fine."""
        stored = {
            pid: Profile(id=pid, attributes={"n": i}) for i, pid in enumerate(["a", "b", "c"])
        }
        for profile in stored.values():
            profiles.upsert(profile)
        assert dict(profiles.get_many(["c", "a", "missing", "a"])) == {
            "c": stored["c"],
            "a": stored["a"],
        }

    def test_get_many_answers_for_many_ids(self, profiles: ProfileStore) -> None:
        """``get_many`` works for more ids than any internal chunk."""
        ids = [f"p{i:04d}" for i in range(750)]
        for pid in ids:
            profiles.upsert(Profile(id=pid, identities={"email": f"{pid}@example.com"}))
        found = profiles.get_many([*ids, "missing"])
        assert sorted(found) == ids
        assert found["p0042"] == Profile(id="p0042", identities={"email": "p0042@example.com"})

    def test_find_by_identity_follows_upserts(self, profiles: ProfileStore) -> None:
        """A profile is found by each of its identities, as last upserted; old ones let go."""
        ann = Profile(id="ann", identities={"email": "ann@example.com", "crm": "C-1"})
        bob = Profile(id="bob", identities={"email": "bob@example.com"})
        profiles.upsert(ann)
        profiles.upsert(bob)
        assert profiles.find_by_identity("email", "ann@example.com") == ann
        assert profiles.find_by_identity("crm", "C-1") == ann
        assert profiles.find_by_identity("email", "bob@example.com") == bob
        assert profiles.find_by_identity("crm", "ann@example.com") is None
        assert profiles.find_by_identity("email", "missing@example.com") is None
        moved = Profile(id="ann", identities={"email": "ann@new.example"}, attributes={"v": 2})
        profiles.upsert(moved)
        assert profiles.find_by_identity("email", "ann@example.com") is None
        assert profiles.find_by_identity("crm", "C-1") is None
        assert profiles.find_by_identity("email", "ann@new.example") == moved
        assert profiles.find_by_identity("email", "bob@example.com") == bob

    def test_an_empty_id_is_refused(self, profiles: ProfileStore) -> None:
        """A profile without an id is a ValidationError and is not stored."""
        with pytest.raises(ValidationError):
            profiles.upsert(Profile(id="", attributes={"firstName": "Nobody"}))
        assert profiles.get("") is None
        assert dict(profiles.get_many([""])) == {}

    def test_a_sized_store_counts_each_profile_once(self, profiles: ProfileStore) -> None:
        """A store that reports its size (``len``) counts the distinct profiles stored."""
        if not isinstance(profiles, Sized):  # pragma: no cover - depends on the adapter
            pytest.skip("this profile store does not report its size")
        assert len(profiles) == 0
        profiles.upsert(_rich_profile("p1"))
        profiles.upsert(_rich_profile("p2"))
        profiles.upsert(Profile(id="p1"))
        assert len(profiles) == 2
