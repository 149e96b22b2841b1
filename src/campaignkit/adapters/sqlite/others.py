"""Surfaces, access, approval policies and the rule book in SQLite.

Surfaces and the rule book are read on every trigger and every run claim:
their decoded documents are cached per store, keyed on the document text
the ``SELECT`` returns (see :mod:`.caches`), so a change made by another
connection is always seen.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence

import attrs

from campaignkit.adapters.sqlite.caches import caches_for
from campaignkit.adapters.sqlite.connection import Database
from campaignkit.domain.access import AccessAuditEntry, Principal
from campaignkit.domain.approval import ApprovalPolicy
from campaignkit.domain.rules import RuleBook
from campaignkit.domain.surface import ChannelSurface
from campaignkit.errors import ConflictError, NotFound
from campaignkit.permissions import ProductProfile
from campaignkit.serialization import dumps, loads


class SQLiteSurfaces:
    """The :class:`~campaignkit.ports.SurfaceRepository` of a SQLite unit of work."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._cache = caches_for(db).surfaces

    def find(self, surface_id: str) -> ChannelSurface | None:
        """Return the surface, or None."""
        row = self._db.one("SELECT id, document FROM surfaces WHERE id = ?", (surface_id,))
        return None if row is None else self._cache.load(row[0], row[1], _load_surface)

    def get(self, surface_id: str) -> ChannelSurface:
        """Return the surface; raise ``NotFound`` if there is none."""
        found = self.find(surface_id)
        if found is None:
            raise NotFound("surface", surface_id)
        return found

    def find_by_name(self, name: str) -> ChannelSurface | None:
        """Return the surface with this exact name, or None."""
        row = self._db.one("SELECT id, document FROM surfaces WHERE name = ?", (name,))
        return None if row is None else self._cache.load(row[0], row[1], _load_surface)

    def add(self, surface: ChannelSurface) -> ChannelSurface:
        """Insert a new surface at revision 1 (``ConflictError`` if it exists)."""
        stored = attrs.evolve(surface, revision=1)
        try:
            self._db.execute(
                "INSERT INTO surfaces (id, name, revision, document) VALUES (?, ?, ?, ?)",
                (stored.id, stored.name, 1, dumps(stored)),
            )
        except sqlite3.IntegrityError as exc:
            raise ConflictError(
                f"a surface with id {surface.id!r} or name {surface.name!r} exists already; "
                "surface ids and names are unique"
            ) from exc
        return stored

    def save(self, surface: ChannelSurface) -> ChannelSurface:
        """Update the surface stored at ``surface.revision`` (``ConflictError`` if stale)."""
        stored = attrs.evolve(surface, revision=surface.revision + 1)
        try:
            cursor = self._db.execute(
                "UPDATE surfaces SET name = ?, revision = ?, document = ? "
                "WHERE id = ? AND revision = ?",
                (stored.name, stored.revision, dumps(stored), surface.id, surface.revision),
            )
        except sqlite3.IntegrityError as exc:
            raise ConflictError(f"a surface named {surface.name!r} exists already") from exc
        if cursor.rowcount != 1:
            current = self.get(surface.id)
            raise ConflictError(
                f"surface {surface.id!r} changed meanwhile (revision {current.revision}, "
                f"yours {surface.revision}); reload and retry"
            )
        return stored

    def list(self) -> Sequence[ChannelSurface]:
        """Return every surface, by name."""
        rows = self._db.all("SELECT id, document FROM surfaces ORDER BY name, id")
        return [self._cache.load(row[0], row[1], _load_surface) for row in rows]

    def restore(self, surface: ChannelSurface) -> None:
        """Store ``surface`` as given (revision included), replacing one with its id.

        Raises:
            ConflictError: another surface holds its name.
        """
        try:
            self._db.execute(
                "INSERT INTO surfaces (id, name, revision, document) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
                "revision = excluded.revision, document = excluded.document",
                (surface.id, surface.name, surface.revision, dumps(surface)),
            )
        except sqlite3.IntegrityError as exc:
            raise ConflictError(
                f"a surface named {surface.name!r} exists already; surface names are unique"
            ) from exc


def _load_surface(document: str) -> ChannelSurface:
    return loads(ChannelSurface, document)


class SQLiteAccess:
    """The :class:`~campaignkit.ports.AccessRepository` of a SQLite unit of work."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def profiles(self, principal: Principal) -> frozenset[ProductProfile]:
        """Return the profiles assigned directly to ``principal``."""
        rows = self._db.all(
            "SELECT profile FROM access_grants WHERE kind = ? AND principal = ?",
            (principal.kind, principal.id),
        )
        return frozenset(ProductProfile(row[0]) for row in rows)

    def set_profiles(self, principal: Principal, profiles: frozenset[ProductProfile]) -> None:
        """Replace the profiles of ``principal`` (empty removes it)."""
        self._db.execute(
            "DELETE FROM access_grants WHERE kind = ? AND principal = ?",
            (principal.kind, principal.id),
        )
        self._db.executemany(
            "INSERT INTO access_grants (kind, principal, profile) VALUES (?, ?, ?)",
            [(principal.kind, principal.id, p.value) for p in sorted(profiles)],
        )

    def all(self) -> Mapping[Principal, frozenset[ProductProfile]]:
        """Return every principal with its profiles."""
        grants: dict[Principal, set[ProductProfile]] = {}
        for kind, principal, profile in self._db.all(
            "SELECT kind, principal, profile FROM access_grants"
        ):
            grants.setdefault(Principal(kind, principal), set()).add(ProductProfile(profile))
        return {principal: frozenset(p) for principal, p in grants.items()}

    def grants_of_user(
        self, user: str
    ) -> tuple[frozenset[ProductProfile], Mapping[str, frozenset[ProductProfile]]]:
        """``profiles(Principal.user(user))`` and each group's profiles, in one query.

        Returns:
            The user's own profiles, and the profiles of each group ``user``
            belongs to (a group with none is left out).
        """
        direct: list[ProductProfile] = []
        groups: dict[str, list[ProductProfile]] = {}
        for group, profile in self._db.all(
            "SELECT NULL, profile FROM access_grants WHERE kind = 'user' AND principal = ? "
            "UNION ALL SELECT m.group_id, g.profile FROM group_members m JOIN access_grants g "
            "ON g.kind = 'group' AND g.principal = m.group_id WHERE m.user_id = ?",
            (user, user),
        ):
            held = direct if group is None else groups.setdefault(group, [])
            held.append(ProductProfile(profile))
        return frozenset(direct), {group: frozenset(held) for group, held in groups.items()}

    def groups_of(self, user: str) -> frozenset[str]:
        """Return the groups ``user`` belongs to."""
        rows = self._db.all("SELECT group_id FROM group_members WHERE user_id = ?", (user,))
        return frozenset(row[0] for row in rows)

    def members(self, group: str) -> frozenset[str]:
        """Return the users in ``group``."""
        rows = self._db.all("SELECT user_id FROM group_members WHERE group_id = ?", (group,))
        return frozenset(row[0] for row in rows)

    def set_member(self, group: str, user: str, *, member: bool) -> None:
        """Add ``user`` to ``group`` or remove them."""
        if member:
            self._db.execute(
                "INSERT OR IGNORE INTO group_members (group_id, user_id) VALUES (?, ?)",
                (group, user),
            )
        else:
            self._db.execute(
                "DELETE FROM group_members WHERE group_id = ? AND user_id = ?", (group, user)
            )

    def record(self, entry: AccessAuditEntry) -> None:
        """Append an access audit entry."""
        self._db.execute("INSERT INTO access_log (document) VALUES (?)", (dumps(entry),))

    def log(self) -> Sequence[AccessAuditEntry]:
        """Return the access audit log, oldest first."""
        rows = self._db.all("SELECT document FROM access_log ORDER BY seq")
        return tuple(loads(AccessAuditEntry, row[0]) for row in rows)

    def memberships(self) -> Sequence[tuple[str, str]]:
        """Every ``(group, user)`` membership, ordered."""
        rows = self._db.all(
            "SELECT group_id, user_id FROM group_members ORDER BY group_id, user_id"
        )
        return [(group, user) for group, user in rows]


class SQLiteApprovalPolicies:
    """The :class:`~campaignkit.ports.ApprovalPolicyRepository` of a SQLite unit of work."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, policy_id: str) -> ApprovalPolicy:
        """Return the approval policy; raise ``NotFound`` if there is none."""
        row = self._db.one("SELECT document FROM approval_policies WHERE id = ?", (policy_id,))
        if row is None:
            raise NotFound("approval policy", policy_id)
        return loads(ApprovalPolicy, row[0])

    def add(self, policy: ApprovalPolicy) -> ApprovalPolicy:
        """Insert a new approval policy at revision 1 (``ConflictError`` if it exists)."""
        stored = attrs.evolve(policy, revision=1)
        try:
            self._db.execute(
                "INSERT INTO approval_policies (id, name, revision, document) VALUES (?, ?, ?, ?)",
                (stored.id, stored.name, 1, dumps(stored)),
            )
        except sqlite3.IntegrityError as exc:
            raise ConflictError(f"an approval policy with id {policy.id!r} exists already") from exc
        return stored

    def save(self, policy: ApprovalPolicy) -> ApprovalPolicy:
        """Update the approval policy stored at ``policy.revision`` (``ConflictError`` if stale)."""
        stored = attrs.evolve(policy, revision=policy.revision + 1)
        cursor = self._db.execute(
            "UPDATE approval_policies SET name = ?, revision = ?, document = ? "
            "WHERE id = ? AND revision = ?",
            (stored.name, stored.revision, dumps(stored), policy.id, policy.revision),
        )
        if cursor.rowcount != 1:
            current = self.get(policy.id)
            raise ConflictError(
                f"approval policy {policy.id!r} changed meanwhile (revision {current.revision}, "
                f"yours {policy.revision}); reload and retry"
            )
        return stored

    def list(self) -> Sequence[ApprovalPolicy]:
        """Return every approval policy, by name."""
        rows = self._db.all("SELECT document FROM approval_policies ORDER BY name, id")
        return [loads(ApprovalPolicy, row[0]) for row in rows]

    def restore(self, policy: ApprovalPolicy) -> None:
        """Store ``policy`` as given (revision included), replacing one with its id."""
        self._db.execute(
            "INSERT INTO approval_policies (id, name, revision, document) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
            "revision = excluded.revision, document = excluded.document",
            (policy.id, policy.name, policy.revision, dumps(policy)),
        )


class SQLiteRules:
    """The :class:`~campaignkit.ports.RuleRepository` of a SQLite unit of work."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._cache = caches_for(db).rules

    def get(self) -> RuleBook:
        """The rule book (empty if none was saved)."""
        row = self._db.one("SELECT document FROM rules WHERE id = 1")
        return RuleBook() if row is None else self._cache.load("rules", row[0], _load_rules)

    def save(self, rules: RuleBook) -> RuleBook:
        """Replace the rule book loaded at ``rules.revision``."""
        stored = attrs.evolve(rules, revision=rules.revision + 1)
        if rules.revision == 0:
            try:
                self._db.execute(
                    "INSERT INTO rules (id, revision, document) VALUES (1, 1, ?)", (dumps(stored),)
                )
            except sqlite3.IntegrityError as exc:
                raise ConflictError(
                    "the business rules changed meanwhile; reload and retry"
                ) from exc
            return stored
        cursor = self._db.execute(
            "UPDATE rules SET revision = ?, document = ? WHERE id = 1 AND revision = ?",
            (stored.revision, dumps(stored), rules.revision),
        )
        if cursor.rowcount != 1:
            raise ConflictError("the business rules changed meanwhile; reload and retry")
        return stored

    def restore(self, rules: RuleBook) -> None:
        """Store ``rules`` as given (revision included)."""
        self._db.execute(
            "INSERT INTO rules (id, revision, document) VALUES (1, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET revision = excluded.revision, "
            "document = excluded.document",
            (rules.revision, dumps(rules)),
        )


def _load_rules(document: str) -> RuleBook:
    return loads(RuleBook, document)
