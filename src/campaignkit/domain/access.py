"""Who holds which product profile: principals, groups and the access audit log."""

from __future__ import annotations

from typing import Literal

import attrs
import pendulum

from campaignkit.domain.text_enum import TextEnum
from campaignkit.permissions import ProductProfile


@attrs.frozen(order=True)
class Principal:
    """Someone product profiles can be assigned to: a user or a group.

    Attributes:
        kind: ``"user"`` or ``"group"``.
        id: The user or group id.
    """

    kind: Literal["user", "group"]
    id: str

    @classmethod
    def user(cls, user_id: str) -> Principal:
        """The principal of a user."""
        return cls("user", user_id)

    @classmethod
    def group(cls, group_id: str) -> Principal:
        """The principal of a group."""
        return cls("group", group_id)

    def __str__(self) -> str:
        return f"{self.kind} {self.id}"


class AccessChange(TextEnum):
    """What an access audit entry records."""

    ASSIGN = "assign"
    """A product profile was given to a user or group."""
    REVOKE = "revoke"
    """A product profile was taken from a user or group."""
    ADD_MEMBER = "add_member"
    """A user joined a group."""
    REMOVE_MEMBER = "remove_member"
    """A user left a group."""

    def __str__(self) -> str:
        return self.value


@attrs.frozen
class AccessAuditEntry:
    """One change of the access directory.

    Attributes:
        at: When.
        actor: Who made it (a user id, or ``"host"`` for set-up code).
        change: What kind of change.
        principal: The user or group whose profiles changed, or the user who
            joined or left ``group``.
        profile: The profile assigned or revoked, if any.
        group: The group joined or left, if any.
    """

    at: pendulum.DateTime
    actor: str
    change: AccessChange
    principal: Principal
    profile: ProductProfile | None = None
    group: str | None = None
