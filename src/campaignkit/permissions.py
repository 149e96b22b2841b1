"""Who may do what: permissions, the four product profiles and the policy port.

A user can only touch campaigns through a product profile assigned to them
(SPEC section 6). The policy is pluggable: :class:`ProfilePolicy` maps
profiles to permissions with the table below; a host may pass any object that
satisfies :class:`PermissionPolicy` instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Final, Protocol, runtime_checkable

import attrs

from campaignkit.domain.text_enum import TextEnum

if TYPE_CHECKING:
    from campaignkit.access import AccessDirectory
    from campaignkit.domain.campaign import Campaign


class Permission(TextEnum):
    """A low-level permission, modelled on AJO's."""

    CAMPAIGN_READ = "campaign.read"
    CAMPAIGN_WRITE = "campaign.write"
    """Create, edit, duplicate, modify, archive, request approval, send proofs."""
    CAMPAIGN_DELETE = "campaign.delete"
    CAMPAIGN_PUBLISH = "campaign.publish"
    """Activate, stop, activate a new version, trigger."""
    CAMPAIGN_APPROVE = "campaign.approve"
    CAMPAIGN_REPORT_READ = "campaign_report.read"
    SURFACE_READ = "surface.read"
    SURFACE_MANAGE = "surface.manage"
    APPROVAL_POLICY_MANAGE = "approval_policy.manage"
    ACCESS_MANAGE = "access.manage"

    def __str__(self) -> str:
        return self.value


class ProductProfile(TextEnum):
    """The four campaign product profiles."""

    ADMINISTRATOR = "ADMINISTRATOR"
    APPROVER = "APPROVER"
    MANAGER = "MANAGER"
    VIEWER = "VIEWER"

    def __str__(self) -> str:
        return self.value


P = Permission
_MANAGER: Final = frozenset(
    {P.CAMPAIGN_READ, P.CAMPAIGN_WRITE, P.CAMPAIGN_DELETE, P.CAMPAIGN_REPORT_READ, P.SURFACE_READ}
)
_APPROVER: Final = _MANAGER | {P.CAMPAIGN_PUBLISH, P.CAMPAIGN_APPROVE}

PROFILE_PERMISSIONS: Final[Mapping[ProductProfile, frozenset[Permission]]] = {
    ProductProfile.ADMINISTRATOR: frozenset(Permission),
    ProductProfile.APPROVER: _APPROVER,
    ProductProfile.MANAGER: _MANAGER,
    ProductProfile.VIEWER: frozenset({P.CAMPAIGN_READ, P.CAMPAIGN_REPORT_READ}),
}
"""The default mapping of SPEC section 6 (surface.manage implies surface.read)."""


@attrs.frozen
class Decision:
    """A policy's answer.

    Attributes:
        allowed: Whether the operation may proceed.
        reason: Why (shown in ``PermissionDenied`` and audit logs).
    """

    allowed: bool
    reason: str = ""


@runtime_checkable
class PermissionPolicy(Protocol):
    """Protocol: decides whether a user holds a permission, optionally on a campaign.

    Called positionally: ``policy.decide(user, permission, campaign)``;
    ``campaign`` is None for operations not about one campaign (create, list).
    """

    def decide(self, user: str, permission: Permission, campaign: Campaign | None) -> Decision:
        """Return whether ``user`` may use ``permission`` (on ``campaign``)."""
        ...


class ProfilePolicy:
    """The default policy: the union of the permissions of a user's profiles.

    Args:
        directory: Where profile assignments are read.
        mapping: Profile -> permissions; defaults to :data:`PROFILE_PERMISSIONS`.
    """

    def __init__(
        self,
        directory: AccessDirectory,
        mapping: Mapping[ProductProfile, frozenset[Permission]] | None = None,
    ) -> None:
        self._directory = directory
        self._mapping = dict(mapping if mapping is not None else PROFILE_PERMISSIONS)

    def permissions_of(self, user: str) -> frozenset[Permission]:
        """The effective permissions of ``user`` (their profiles' and their groups')."""
        granted: frozenset[Permission] = frozenset()
        for profile in self._directory.profiles_of(user):
            granted |= self._mapping.get(profile, frozenset())
        return granted

    def allows(self, user: str, permission: Permission) -> bool:
        """``decide(user, permission, campaign).allowed``, without working out the reason.

        The same profiles, read the same way (every verb asks, a trigger too).
        """
        mapping = self._mapping
        return any(permission in mapping.get(p, ()) for p in self._directory.profiles_of(user))

    def decide(self, user: str, permission: Permission, campaign: Campaign | None) -> Decision:
        """Allow when one of the user's profiles (direct or through a group) grants it."""
        sources = self._directory.profile_sources(user)
        if not sources:
            return Decision(False, f"user {user!r} has no campaign product profile")
        granting = [
            f"{profile.value} ({', '.join(where)})"
            for profile, where in sorted(sources.items())
            if permission in self._mapping.get(profile, ())
        ]
        if granting:
            return Decision(True, f"granted by profile {'; '.join(granting)}")
        held = ", ".join(sorted(p.value for p in sources))
        return Decision(False, f"profile {held} does not grant {permission.value}")
