"""Access management verbs: the admin console through a user session."""

from __future__ import annotations

from collections.abc import Sequence

from campaignkit.domain.access import AccessAuditEntry
from campaignkit.permissions import Permission as P
from campaignkit.permissions import ProductProfile
from campaignkit.session.base import SessionBase


class AccessVerbs(SessionBase):
    """Assigning product profiles and group memberships; needs ``access.manage``.

    Every change is recorded in the access audit log with this user as actor.
    """

    def assign_profile(self, user: str, profile: ProductProfile) -> None:
        """Give ``user`` a product profile."""
        self._require(P.ACCESS_MANAGE)
        self._kit.access.assign(user, profile, actor=self.user)

    def revoke_profile(self, user: str, profile: ProductProfile) -> None:
        """Take a product profile from ``user``."""
        self._require(P.ACCESS_MANAGE)
        self._kit.access.revoke(user, profile, actor=self.user)

    def assign_group_profile(self, group: str, profile: ProductProfile) -> None:
        """Give every member of ``group`` a product profile."""
        self._require(P.ACCESS_MANAGE)
        self._kit.access.assign_group(group, profile, actor=self.user)

    def revoke_group_profile(self, group: str, profile: ProductProfile) -> None:
        """Take a product profile from ``group``."""
        self._require(P.ACCESS_MANAGE)
        self._kit.access.revoke_group(group, profile, actor=self.user)

    def add_group_member(self, group: str, user: str) -> None:
        """Put ``user`` in ``group``."""
        self._require(P.ACCESS_MANAGE)
        self._kit.access.add_member(group, user, actor=self.user)

    def remove_group_member(self, group: str, user: str) -> None:
        """Take ``user`` out of ``group``."""
        self._require(P.ACCESS_MANAGE)
        self._kit.access.remove_member(group, user, actor=self.user)

    def access_audit_log(self) -> Sequence[AccessAuditEntry]:
        """Every access change, oldest first."""
        self._require(P.ACCESS_MANAGE)
        return self._kit.access.audit_log()
