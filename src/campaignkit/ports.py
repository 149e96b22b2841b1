"""The ports: Protocols that adapters implement. Nothing here has behaviour.

A host plugs in any object with these methods; nothing inherits from a
campaignkit base class. Each port has an in-memory adapter and a contract
suite in :mod:`campaignkit.testing.contracts`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

import pendulum

from campaignkit.domain.access import AccessAuditEntry, Principal
from campaignkit.domain.approval import ApprovalPolicy
from campaignkit.domain.audience import AudienceStatus
from campaignkit.domain.campaign import Campaign
from campaignkit.domain.listing import CampaignQuery, Page
from campaignkit.domain.profile import Profile
from campaignkit.domain.surface import ChannelSurface
from campaignkit.permissions import ProductProfile


class CampaignRepository(Protocol):
    """Protocol: campaigns inside a unit of work, with optimistic concurrency."""

    def get(self, campaign_id: str) -> Campaign:
        """Return the campaign; raise ``NotFound`` if there is none."""
        ...

    def find(self, campaign_id: str) -> Campaign | None:
        """Return the campaign, or None."""
        ...

    def add(self, campaign: Campaign) -> Campaign:
        """Store a new campaign (its ``revision`` must be 0); return it at revision 1.

        Raises ``ConflictError`` if the id exists.
        """
        ...

    def save(self, campaign: Campaign) -> Campaign:
        """Replace the stored campaign loaded at ``campaign.revision``.

        Returns it at the next revision; raises ``ConflictError`` when the stored
        revision differs (someone else wrote first) or it was removed.
        """
        ...

    def remove(self, campaign: Campaign) -> None:
        """Delete the campaign loaded at ``campaign.revision`` (``ConflictError`` if stale)."""
        ...

    def query(self, query: CampaignQuery) -> Page[Campaign]:
        """Return one page of campaigns matching ``query``, newest first."""
        ...

    def due(self, until: pendulum.DateTime, limit: int) -> Sequence[tuple[pendulum.DateTime, str]]:
        """Return up to ``limit`` ``(due_at, id)`` pairs with ``due_at <= until``, in order."""
        ...

    def next_due_at(self) -> pendulum.DateTime | None:
        """Return the earliest ``due_at`` of any campaign, or None."""
        ...


class SurfaceRepository(Protocol):
    """Protocol: channel surfaces inside a unit of work."""

    def get(self, surface_id: str) -> ChannelSurface:
        """Return the surface; raise ``NotFound`` if there is none."""
        ...

    def find(self, surface_id: str) -> ChannelSurface | None:
        """Return the surface, or None."""
        ...

    def find_by_name(self, name: str) -> ChannelSurface | None:
        """Return the surface with this exact name, or None."""
        ...

    def add(self, surface: ChannelSurface) -> ChannelSurface:
        """Store a new surface at revision 1 (``ConflictError`` if id or name is taken)."""
        ...

    def save(self, surface: ChannelSurface) -> ChannelSurface:
        """Replace the surface loaded at ``surface.revision`` (``ConflictError`` if stale)."""
        ...

    def list(self) -> Sequence[ChannelSurface]:
        """Return every surface, ordered by name."""
        ...


class AccessRepository(Protocol):
    """Protocol: product-profile assignments, group memberships and their audit log."""

    def profiles(self, principal: Principal) -> frozenset[ProductProfile]:
        """Return the profiles assigned directly to ``principal``."""
        ...

    def set_profiles(self, principal: Principal, profiles: frozenset[ProductProfile]) -> None:
        """Replace the profiles assigned to ``principal`` (empty removes it)."""
        ...

    def all(self) -> Mapping[Principal, frozenset[ProductProfile]]:
        """Return every principal with at least one profile."""
        ...

    def groups_of(self, user: str) -> frozenset[str]:
        """Return the groups ``user`` belongs to."""
        ...

    def members(self, group: str) -> frozenset[str]:
        """Return the users in ``group``."""
        ...

    def set_member(self, group: str, user: str, *, member: bool) -> None:
        """Add ``user`` to ``group`` (``member=True``) or remove them."""
        ...

    def record(self, entry: AccessAuditEntry) -> None:
        """Append an entry to the access audit log."""
        ...

    def log(self) -> Sequence[AccessAuditEntry]:
        """Return the access audit log, oldest first."""
        ...


class ApprovalPolicyRepository(Protocol):
    """Protocol: approval policies inside a unit of work."""

    def get(self, policy_id: str) -> ApprovalPolicy:
        """Return the policy; raise ``NotFound`` if there is none."""
        ...

    def add(self, policy: ApprovalPolicy) -> ApprovalPolicy:
        """Store a new policy at revision 1 (``ConflictError`` if the id is taken)."""
        ...

    def save(self, policy: ApprovalPolicy) -> ApprovalPolicy:
        """Replace the policy loaded at ``policy.revision`` (``ConflictError`` if stale)."""
        ...

    def list(self) -> Sequence[ApprovalPolicy]:
        """Return every policy, ordered by name then id."""
        ...


class UnitOfWork(Protocol):
    """Protocol: one all-or-nothing transaction over the repositories.

    It commits when its ``with`` block ends normally and rolls back when the
    block raises. A unit opened while another is open on the same thread joins
    the outer one.
    """

    @property
    def campaigns(self) -> CampaignRepository:
        """The campaigns."""
        ...

    @property
    def surfaces(self) -> SurfaceRepository:
        """The channel surfaces."""
        ...

    @property
    def access(self) -> AccessRepository:
        """The access assignments, group memberships and audit log."""
        ...

    @property
    def approval_policies(self) -> ApprovalPolicyRepository:
        """The approval policies."""
        ...


class Store(Protocol):
    """Protocol: where campaigns and their companions are kept."""

    def unit_of_work(self) -> AbstractContextManager[UnitOfWork]:
        """Open a unit of work: ``with store.unit_of_work() as uow: ...``."""
        ...


class AudienceSource(Protocol):
    """Protocol: where audiences (segments) are read from."""

    def status(self, name: str) -> AudienceStatus | None:
        """Return the readiness of audience ``name``, or None if it does not exist."""
        ...


class ProfileStore(Protocol):
    """Protocol: recipient profiles."""

    def get(self, profile_id: str) -> Profile | None:
        """Return the profile, or None."""
        ...

    def upsert(self, profile: Profile) -> None:
        """Create or replace the profile with ``profile.id``."""
        ...
