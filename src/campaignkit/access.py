"""The admin console: which product profiles users and groups hold.

The directory is backed by the store, so assignments persist with the
campaigns. Host set-up code calls it directly (recorded as actor ``"host"``
unless told otherwise); users change it through their session, which needs
``access.manage``. Every change is written to the access audit log.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import cast

from campaignkit.clock import Clock, SystemClock
from campaignkit.domain import checks
from campaignkit.domain.access import AccessAuditEntry, AccessChange, Principal
from campaignkit.errors import ValidationError
from campaignkit.permissions import ProductProfile
from campaignkit.ports import Store, UnitOfWork

HOST_ACTOR = "host"
"""The actor recorded for changes made by host code rather than a user session."""


def _profile(value: object) -> ProductProfile:
    problems: list[str] = []
    profile = checks.member(problems, "profile", value, ProductProfile)
    if profile is None:
        known = ", ".join(p.value for p in ProductProfile)
        raise ValidationError(
            [f"unknown product profile {checks.shown(value)}; expected one of {known}"]
        )
    return profile


def _check_id(kind: str, value: object, actor: object = HOST_ACTOR) -> None:
    """Refuse an id (and actor) that is not a non-empty UTF-8 string of at most ``MAX_ID``."""
    problems: list[str] = []
    for label, given in ((f"{kind} id", value), ("actor", actor)):
        if isinstance(given, str) and not given.strip():
            problems.append(f"{label} must be a non-empty string")
        else:
            checks.text(problems, label, given, max_length=checks.MAX_ID)
    checks.raise_if(problems, "access")


_GrantsOfUser = Callable[
    [str], tuple[frozenset[ProductProfile], Mapping[str, frozenset[ProductProfile]]]
]
"""A repository's ``grants_of_user``: a user's own profiles and each group's, at once."""


class AccessDirectory:
    """Assigns product profiles to users and groups, and groups users.

    A user's effective profiles are their own plus those of every group they
    belong to.

    Args:
        store: Where assignments, memberships and the audit log are kept.
        clock: Dates the audit log entries (default: the wall clock).
    """

    def __init__(self, store: Store, clock: Clock | None = None) -> None:
        self._store = store
        self._clock = clock if clock is not None else SystemClock()

    # ------------------------------------------------------------ changes

    def assign(self, user: str, profile: ProductProfile, *, actor: str = HOST_ACTOR) -> None:
        """Give ``user`` the product ``profile`` (idempotent)."""
        _check_id("user", user, actor)
        self._set_profile(Principal.user(user), _profile(profile), actor, add=True)

    def revoke(self, user: str, profile: ProductProfile, *, actor: str = HOST_ACTOR) -> None:
        """Take the product ``profile`` from ``user`` (idempotent)."""
        _check_id("user", user, actor)
        self._set_profile(Principal.user(user), _profile(profile), actor, add=False)

    def assign_group(self, group: str, profile: ProductProfile, *, actor: str = HOST_ACTOR) -> None:
        """Give every member of ``group`` the product ``profile`` (idempotent)."""
        _check_id("group", group, actor)
        self._set_profile(Principal.group(group), _profile(profile), actor, add=True)

    def revoke_group(self, group: str, profile: ProductProfile, *, actor: str = HOST_ACTOR) -> None:
        """Take the product ``profile`` from ``group`` (idempotent)."""
        _check_id("group", group, actor)
        self._set_profile(Principal.group(group), _profile(profile), actor, add=False)

    def add_member(self, group: str, user: str, *, actor: str = HOST_ACTOR) -> None:
        """Put ``user`` in ``group`` (idempotent)."""
        self._set_member(group, user, actor, member=True)

    def remove_member(self, group: str, user: str, *, actor: str = HOST_ACTOR) -> None:
        """Take ``user`` out of ``group`` (idempotent)."""
        self._set_member(group, user, actor, member=False)

    # ------------------------------------------------------------ reading

    def profiles_of(self, user: str) -> frozenset[ProductProfile]:
        """The effective profiles of ``user``: their own and their groups'."""
        _check_id("user", user)
        with self._store.unit_of_work() as uow:
            grants_of_user = getattr(uow.access, "grants_of_user", None)
            if grants_of_user is not None:  # SQLite: one query (every verb asks)
                direct, groups = cast("_GrantsOfUser", grants_of_user)(user)
                return direct.union(*groups.values())
            return effective_profiles(uow, user)

    def profile_sources(self, user: str) -> Mapping[ProductProfile, tuple[str, ...]]:
        """Each effective profile of ``user`` with where it comes from.

        A source is ``"direct"`` or ``"group <name>"``; used to explain decisions.
        """
        _check_id("user", user)
        with self._store.unit_of_work() as uow:
            sources: dict[ProductProfile, list[str]] = {}
            grants_of_user = getattr(uow.access, "grants_of_user", None)
            if grants_of_user is not None:  # SQLite: one query (every trigger asks)
                direct, groups = cast("_GrantsOfUser", grants_of_user)(user)
                for profile in direct:
                    sources.setdefault(profile, []).append("direct")
                for group in sorted(groups):
                    for profile in groups[group]:
                        sources.setdefault(profile, []).append(f"group {group}")
                return {profile: tuple(where) for profile, where in sources.items()}
            for profile in uow.access.profiles(Principal.user(user)):
                sources.setdefault(profile, []).append("direct")
            for group in sorted(uow.access.groups_of(user)):
                for profile in uow.access.profiles(Principal.group(group)):
                    sources.setdefault(profile, []).append(f"group {group}")
        return {profile: tuple(where) for profile, where in sources.items()}

    def groups_of(self, user: str) -> frozenset[str]:
        """The groups ``user`` belongs to."""
        _check_id("user", user)
        with self._store.unit_of_work() as uow:
            return uow.access.groups_of(user)

    def members_of(self, group: str) -> frozenset[str]:
        """The users in ``group``."""
        _check_id("group", group)
        with self._store.unit_of_work() as uow:
            return uow.access.members(group)

    def assignments(self) -> Mapping[Principal, frozenset[ProductProfile]]:
        """Every user and group with the profiles assigned to it directly."""
        with self._store.unit_of_work() as uow:
            return dict(uow.access.all())

    def audit_log(self) -> Sequence[AccessAuditEntry]:
        """Every change ever made to the directory, oldest first."""
        with self._store.unit_of_work() as uow:
            return tuple(uow.access.log())

    # ------------------------------------------------------------ internals

    def _set_profile(
        self, principal: Principal, profile: ProductProfile, actor: str, *, add: bool
    ) -> None:
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            current = uow.access.profiles(principal)
            updated = current | {profile} if add else current - {profile}
            if updated == current:
                return
            uow.access.set_profiles(principal, updated)
            change = AccessChange.ASSIGN if add else AccessChange.REVOKE
            uow.access.record(AccessAuditEntry(now, actor, change, principal, profile=profile))

    def _set_member(self, group: str, user: str, actor: str, *, member: bool) -> None:
        _check_id("group", group, actor)
        _check_id("user", user)
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            if (group in uow.access.groups_of(user)) == member:
                return
            uow.access.set_member(group, user, member=member)
            change = AccessChange.ADD_MEMBER if member else AccessChange.REMOVE_MEMBER
            uow.access.record(
                AccessAuditEntry(now, actor, change, Principal.user(user), group=group)
            )


def effective_profiles(uow: UnitOfWork, user: str) -> frozenset[ProductProfile]:
    """The profiles of ``user`` and of all their groups, read inside ``uow``."""
    profiles = uow.access.profiles(Principal.user(user))
    for group in uow.access.groups_of(user):
        profiles |= uow.access.profiles(Principal.group(group))
    return profiles
