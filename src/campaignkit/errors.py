"""The one error hierarchy of campaignkit.

Every error a caller can meet derives from :class:`CampaignKitError`. Each
message says what is wrong, for which object, and how to fix it; the
attributes carry the same facts for programs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


class CampaignKitError(Exception):
    """Base class of every error raised by campaignkit."""


class ValidationError(CampaignKitError, ValueError):
    """Input or state that cannot be accepted, with every problem listed.

    Validation collects all problems before raising, so one error tells the
    caller everything to fix.

    Attributes:
        problems: One human-readable string per problem.
    """

    def __init__(self, problems: Iterable[str], *, subject: str = "input") -> None:
        self.problems: list[str] = list(problems)
        self.subject = subject
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{subject} has {count} {noun}:\n{lines}")


class TransitionNotAllowed(CampaignKitError):
    """A lifecycle action that the campaign's current state does not allow.

    Nothing was changed.

    Attributes:
        campaign_id: The campaign the action was attempted on.
        status: Its status at the time, as a string (for example ``"LIVE"``).
        action: The attempted action (for example ``"activate"``).
        hint: What the caller can do instead.
    """

    def __init__(self, campaign_id: str, status: str, action: str, hint: str = "") -> None:
        self.campaign_id = campaign_id
        self.status = status
        self.action = action
        self.hint = hint
        message = f"cannot {action} campaign {campaign_id!r}: it is {status}"
        if hint:
            message += f"; {hint}"
        super().__init__(message)


class PermissionDenied(CampaignKitError):
    """The permission policy refused an operation. Nothing was changed.

    Attributes:
        user: The acting user id.
        permission: The permission that was required (for example ``"campaign.publish"``).
        campaign_id: The campaign concerned, if any.
        reason: The policy's explanation.
    """

    def __init__(
        self, user: str, permission: str, campaign_id: str | None = None, reason: str = ""
    ) -> None:
        self.user = user
        self.permission = permission
        self.campaign_id = campaign_id
        self.reason = reason
        target = f" on campaign {campaign_id!r}" if campaign_id is not None else ""
        message = f"user {user!r} lacks permission {permission!r}{target}"
        if reason:
            message += f": {reason}"
        super().__init__(message)


class ApprovalRequired(CampaignKitError):
    """Activation refused because an active approval policy matches the campaign.

    Attributes:
        campaign_id: The campaign.
        policy: The name of the matching approval policy.
    """

    def __init__(self, campaign_id: str, policy: str) -> None:
        self.campaign_id = campaign_id
        self.policy = policy
        super().__init__(
            f"campaign {campaign_id!r} needs approval under policy {policy!r}: "
            "call request_approval() instead of activate()"
        )


class ConflictError(CampaignKitError):
    """A write based on stale data: someone else changed the object first.

    Reload the object and apply the change again.
    """


class NotFound(CampaignKitError, LookupError):
    """An object that does not exist (or no longer exists).

    Attributes:
        kind: What was looked up (``"campaign"``, ``"surface"`` ...).
        key: The id or name that was not found.
    """

    def __init__(self, kind: str, key: str) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"no {kind} with id {key!r}")


class DeliveryError(CampaignKitError):
    """A delivery could not be carried out (channel misconfiguration, ...)."""


class MissingDependency(CampaignKitError, ImportError):
    """An optional feature whose extra is not installed; the message names the pip command.

    Attributes:
        feature: What needs it (``"campaignkit.otel"`` ...).
        extra: The extra that installs it (``"otel"`` ...).
    """

    def __init__(self, feature: str, package: str, extra: str) -> None:
        self.feature = feature
        self.extra = extra
        super().__init__(f"{feature} needs {package}: pip install 'campaignkit[{extra}]'")


class StorageError(CampaignKitError):
    """The store failed (driver error, corrupt data, foreign file)."""


class StorageUnavailable(StorageError):
    """The store could not be reached (connection lost, server down, pool exhausted).

    Transient: nothing of the unit of work was written, and the same call may
    succeed later. The engine hands back a run it was delivering (its lease
    released, nothing marked FAILED) and ends the tick with this error; the
    worker loop logs it and ticks again after its poll interval.
    """


class ClockError(CampaignKitError, ValueError):
    """A clock was misused: moved backwards, or not settable where it must be."""


class SurfaceInUse(CampaignKitError):
    """A surface cannot be deactivated while running campaigns use it.

    Attributes:
        surface_id: The surface.
        campaign_ids: The campaigns that hold it.
    """

    def __init__(self, surface_id: str, campaign_ids: Sequence[str]) -> None:
        self.surface_id = surface_id
        self.campaign_ids = list(campaign_ids)
        super().__init__(
            f"surface {surface_id!r} is used by running campaign(s) "
            f"{', '.join(self.campaign_ids)}; stop them first"
        )


class ApprovalPolicyActive(CampaignKitError):
    """An active approval policy cannot be edited.

    Attributes:
        policy_id: The policy.
        name: Its name.
    """

    def __init__(self, policy_id: str, name: str) -> None:
        self.policy_id = policy_id
        self.name = name
        super().__init__(
            f"approval policy {name!r} ({policy_id}) is active and cannot be edited; "
            "deactivate_approval_policy() it first"
        )
