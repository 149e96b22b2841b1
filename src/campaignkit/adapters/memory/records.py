"""Surfaces, access and approval policies in memory."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from campaignkit.adapters.memory.tables import Journal, Tables
from campaignkit.domain.access import AccessAuditEntry, Principal
from campaignkit.domain.approval import ApprovalPolicy
from campaignkit.domain.surface import ChannelSurface
from campaignkit.errors import ConflictError, NotFound
from campaignkit.permissions import ProductProfile


@attrs.define
class MemorySurfaces:
    """The surface repository of an in-memory unit of work."""

    tables: Tables
    journal: Journal

    def find(self, surface_id: str) -> ChannelSurface | None:
        """Return the surface, or None."""
        return self.tables.surfaces.get(surface_id)

    def get(self, surface_id: str) -> ChannelSurface:
        """Return the surface; raise ``NotFound`` if there is none."""
        found = self.find(surface_id)
        if found is None:
            raise NotFound("surface", surface_id)
        return found

    def find_by_name(self, name: str) -> ChannelSurface | None:
        """Return the surface with this exact name, or None."""
        return next((s for s in self.tables.surfaces.values() if s.name == name), None)

    def _put(self, surface: ChannelSurface, previous: ChannelSurface | None) -> None:
        surfaces = self.tables.surfaces
        surfaces[surface.id] = surface
        if previous is None:
            self.journal.undo.append(lambda: surfaces.__delitem__(surface.id))
        else:
            self.journal.undo.append(lambda: surfaces.__setitem__(previous.id, previous))

    def add(self, surface: ChannelSurface) -> ChannelSurface:
        """Store a new surface at revision 1 (``ConflictError`` if it exists)."""
        if surface.id in self.tables.surfaces:
            raise ConflictError(f"a surface with id {surface.id!r} exists already")
        if self.find_by_name(surface.name) is not None:
            raise ConflictError(
                f"a surface named {surface.name!r} exists already; surface names are unique"
            )
        stored = attrs.evolve(surface, revision=1)
        self._put(stored, None)
        return stored

    def save(self, surface: ChannelSurface) -> ChannelSurface:
        """Replace the surface loaded at its revision (``ConflictError`` if stale)."""
        previous = self.get(surface.id)
        if previous.revision != surface.revision:
            raise ConflictError(
                f"surface {surface.id!r} changed meanwhile (revision {previous.revision}, "
                f"yours {surface.revision}); reload and retry"
            )
        named = self.find_by_name(surface.name)
        if named is not None and named.id != surface.id:
            raise ConflictError(
                f"a surface named {surface.name!r} exists already; surface names are unique"
            )
        stored = attrs.evolve(surface, revision=surface.revision + 1)
        self._put(stored, previous)
        return stored

    def list(self) -> Sequence[ChannelSurface]:
        """Return every surface, by name."""
        return sorted(self.tables.surfaces.values(), key=lambda s: (s.name, s.id))

    def restore(self, surface: ChannelSurface) -> None:
        """Store ``surface`` as given (revision included), replacing one with its id."""
        named = self.find_by_name(surface.name)
        if named is not None and named.id != surface.id:
            raise ConflictError(
                f"a surface named {surface.name!r} exists already; surface names are unique"
            )
        self._put(surface, self.find(surface.id))


@attrs.define
class MemoryAccess:
    """The access repository of an in-memory unit of work."""

    tables: Tables
    journal: Journal

    def profiles(self, principal: Principal) -> frozenset[ProductProfile]:
        """Return the profiles assigned directly to ``principal``."""
        return self.tables.access.get(principal, frozenset())

    def set_profiles(self, principal: Principal, profiles: frozenset[ProductProfile]) -> None:
        """Replace the profiles of ``principal`` (empty removes it)."""
        access = self.tables.access
        previous = access.get(principal)
        if profiles:
            access[principal] = frozenset(profiles)
        else:
            access.pop(principal, None)

        def undo() -> None:
            if previous is None:
                access.pop(principal, None)
            else:
                access[principal] = previous

        self.journal.undo.append(undo)

    def all(self) -> Mapping[Principal, frozenset[ProductProfile]]:
        """Return every principal with its profiles."""
        return dict(self.tables.access)

    def groups_of(self, user: str) -> frozenset[str]:
        """Return the groups ``user`` belongs to."""
        return frozenset(g for g, u in self.tables.memberships if u == user)

    def members(self, group: str) -> frozenset[str]:
        """Return the users in ``group``."""
        return frozenset(u for g, u in self.tables.memberships if g == group)

    def set_member(self, group: str, user: str, *, member: bool) -> None:
        """Add ``user`` to ``group`` or remove them."""
        memberships, pair = self.tables.memberships, (group, user)
        if (pair in memberships) == member:
            return
        if member:
            memberships.add(pair)
            self.journal.undo.append(lambda: memberships.discard(pair))
        else:
            memberships.discard(pair)
            self.journal.undo.append(lambda: memberships.add(pair))

    def record(self, entry: AccessAuditEntry) -> None:
        """Append an access audit entry."""
        log = self.tables.access_log
        log.append(entry)
        self.journal.undo.append(lambda: log.__delitem__(-1))

    def log(self) -> Sequence[AccessAuditEntry]:
        """Return the access audit log, oldest first."""
        return tuple(self.tables.access_log)

    def memberships(self) -> Sequence[tuple[str, str]]:
        """Every ``(group, user)`` membership, ordered."""
        return sorted(self.tables.memberships)


@attrs.define
class MemoryApprovalPolicies:
    """The approval policy repository of an in-memory unit of work."""

    tables: Tables
    journal: Journal

    def get(self, policy_id: str) -> ApprovalPolicy:
        """Return the approval policy; raise ``NotFound`` if there is none."""
        found = self.tables.policies.get(policy_id)
        if found is None:
            raise NotFound("approval policy", policy_id)
        return found

    def _put(self, policy: ApprovalPolicy, previous: ApprovalPolicy | None) -> None:
        policies = self.tables.policies
        policies[policy.id] = policy
        if previous is None:
            self.journal.undo.append(lambda: policies.__delitem__(policy.id))
        else:
            self.journal.undo.append(lambda: policies.__setitem__(previous.id, previous))

    def add(self, policy: ApprovalPolicy) -> ApprovalPolicy:
        """Store a new approval policy at revision 1 (``ConflictError`` if it exists)."""
        if policy.id in self.tables.policies:
            raise ConflictError(f"an approval policy with id {policy.id!r} exists already")
        stored = attrs.evolve(policy, revision=1)
        self._put(stored, None)
        return stored

    def save(self, policy: ApprovalPolicy) -> ApprovalPolicy:
        """Replace the approval policy loaded at its revision (``ConflictError`` if stale)."""
        previous = self.get(policy.id)
        if previous.revision != policy.revision:
            raise ConflictError(
                f"approval policy {policy.id!r} changed meanwhile (revision "
                f"{previous.revision}, yours {policy.revision}); reload and retry"
            )
        stored = attrs.evolve(policy, revision=policy.revision + 1)
        self._put(stored, previous)
        return stored

    def list(self) -> Sequence[ApprovalPolicy]:
        """Return every approval policy, by name."""
        return sorted(self.tables.policies.values(), key=lambda p: (p.name, p.id))

    def restore(self, policy: ApprovalPolicy) -> None:
        """Store ``policy`` as given (revision included), replacing one with its id."""
        self._put(policy, self.tables.policies.get(policy.id))
