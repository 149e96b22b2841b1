"""The commands :func:`campaignkit.domain.lifecycle.apply` accepts.

Each command is a frozen value naming its :class:`Verb`; the transition table
says from which statuses it is allowed.
"""

from __future__ import annotations

import enum
from typing import ClassVar, Final, TypeAlias, TypeVar

import attrs

from campaignkit.domain.approval import Review
from campaignkit.domain.campaign import Action, Verb
from campaignkit.domain.rules import QuietHours
from campaignkit.domain.schedule import Schedule


class _Unset(enum.Enum):
    UNSET = "UNSET"


UNSET: Final = _Unset.UNSET
"""Marks an ``UpdateDraft`` field that is left as it is."""

T = TypeVar("T")
Maybe: TypeAlias = T | _Unset
"""A value, or ``UNSET`` for "leave it as it is"."""


def pick(value: Maybe[T], current: T) -> T:
    """``current`` when ``value`` is ``UNSET``, else ``value``."""
    return current if isinstance(value, _Unset) else value


@attrs.frozen
class UpdateDraft:
    """Edit a DRAFT campaign, or the open draft version of a SCHEDULED/LIVE one.

    Campaign-level fields (name, description, tags) can only change while DRAFT.
    """

    verb: ClassVar[Verb] = Verb.UPDATE_DRAFT
    name: Maybe[str] = UNSET
    description: Maybe[str] = UNSET
    tags: Maybe[tuple[str, ...]] = UNSET
    actions: Maybe[tuple[Action, ...]] = UNSET
    audience: Maybe[str | None] = UNSET
    namespace: Maybe[str | None] = UNSET
    schedule: Maybe[Schedule] = UNSET
    quiet_hours: Maybe[tuple[QuietHours, ...]] = UNSET

    @property
    def touches_campaign_fields(self) -> bool:
        """True when name, description or tags are changed."""
        return any(v is not UNSET for v in (self.name, self.description, self.tags))


@attrs.frozen
class Delete:
    """Remove a DRAFT campaign."""

    verb: ClassVar[Verb] = Verb.DELETE


@attrs.frozen
class Activate:
    """DRAFT -> ACTIVATING (validation is done by the caller first).

    Attributes:
        via_request: True when ``request_approval`` activated it because no
            approval policy applies; recorded in the approval trail.
        message: The requester's note, if any.
    """

    verb: ClassVar[Verb] = Verb.ACTIVATE
    via_request: bool = False
    message: str | None = None


@attrs.frozen
class Modify:
    """Open a new draft version of a SCHEDULED or LIVE campaign."""

    verb: ClassVar[Verb] = Verb.MODIFY


@attrs.frozen
class DiscardDraft:
    """Throw away the open draft version."""

    verb: ClassVar[Verb] = Verb.DISCARD_DRAFT


@attrs.frozen
class ActivateVersion:
    """Replace the live version by the open draft at once (no ACTIVATING).

    Attributes:
        via_request: As for :class:`Activate`.
        message: The requester's note, if any.
    """

    verb: ClassVar[Verb] = Verb.ACTIVATE_VERSION
    via_request: bool = False
    message: str | None = None


@attrs.frozen
class RequestApproval:
    """Submit the draft (or open draft version) for review under a policy.

    Attributes:
        review: The request, with the governing policy copied into it.
    """

    verb: ClassVar[Verb] = Verb.REQUEST_APPROVAL
    review: Review


@attrs.frozen
class CancelApproval:
    """Withdraw a review request."""

    verb: ClassVar[Verb] = Verb.CANCEL_APPROVAL


@attrs.frozen
class RequestChanges:
    """Send a request under review back to its author with a message."""

    verb: ClassVar[Verb] = Verb.REQUEST_CHANGES
    message: str


@attrs.frozen
class Approve:
    """Approve the request: activate the draft, or replace the live version."""

    verb: ClassVar[Verb] = Verb.APPROVE
    comment: str | None = None


@attrs.frozen
class Prepare:
    """Engine: finish an activation; ``problems`` non-empty means it FAILED."""

    verb: ClassVar[Verb] = Verb.PREPARE
    problems: tuple[str, ...] = ()


@attrs.frozen
class GoLive:
    """Engine: SCHEDULED -> LIVE at the start instant."""

    verb: ClassVar[Verb] = Verb.GO_LIVE


@attrs.frozen
class Complete:
    """Engine: LIVE -> COMPLETED."""

    verb: ClassVar[Verb] = Verb.COMPLETE


@attrs.frozen
class Fail:
    """Engine: an irrecoverable failure."""

    verb: ClassVar[Verb] = Verb.FAIL
    reason: str


@attrs.frozen
class Stop:
    """Stop a SCHEDULED or LIVE campaign for good."""

    verb: ClassVar[Verb] = Verb.STOP


@attrs.frozen
class Archive:
    """Archive a COMPLETED, STOPPED or FAILED campaign."""

    verb: ClassVar[Verb] = Verb.ARCHIVE


@attrs.frozen
class Purge:
    """Engine: remove an ARCHIVED campaign after the retention period."""

    verb: ClassVar[Verb] = Verb.PURGE


Command: TypeAlias = (
    UpdateDraft
    | Delete
    | Activate
    | Modify
    | DiscardDraft
    | ActivateVersion
    | RequestApproval
    | CancelApproval
    | RequestChanges
    | Approve
    | Prepare
    | GoLive
    | Complete
    | Fail
    | Stop
    | Archive
    | Purge
)
"""Any command ``apply`` accepts."""
