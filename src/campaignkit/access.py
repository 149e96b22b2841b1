"""The admin console: which product profiles users hold.

The directory is backed by the store, so assignments persist with the
campaigns. Only the host (set-up code) calls it directly; user sessions go
through the permission policy.
"""

from __future__ import annotations

from collections.abc import Mapping

from campaignkit.permissions import ProductProfile
from campaignkit.ports import Principal, Store


class AccessDirectory:
    """Assigns product profiles to users.

    Args:
        store: Where assignments are kept.
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    def assign(self, user: str, profile: ProductProfile) -> None:
        """Give ``user`` the product ``profile`` (idempotent)."""
        self._change(Principal.user(user), profile, add=True)

    def revoke(self, user: str, profile: ProductProfile) -> None:
        """Take the product ``profile`` from ``user`` (idempotent)."""
        self._change(Principal.user(user), profile, add=False)

    def profiles_of(self, user: str) -> frozenset[ProductProfile]:
        """The profiles ``user`` holds."""
        with self._store.unit_of_work() as uow:
            return uow.access.profiles(Principal.user(user))

    def assignments(self) -> Mapping[Principal, frozenset[ProductProfile]]:
        """Every principal with its profiles."""
        with self._store.unit_of_work() as uow:
            return dict(uow.access.all())

    def _change(self, principal: Principal, profile: ProductProfile, *, add: bool) -> None:
        profile = ProductProfile(profile)
        with self._store.unit_of_work() as uow:
            current = uow.access.profiles(principal)
            updated = current | {profile} if add else current - {profile}
            if updated != current:
                uow.access.set_profiles(principal, updated)
