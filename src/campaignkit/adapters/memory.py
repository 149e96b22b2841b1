"""In-memory adapters: fast, thread-safe, and gone when the process ends.

The store keeps committed state in dictionaries plus two sorted indexes (due
work and listing order), so ticks and list pages do not scan every campaign.
A unit of work holds the store's lock from start to end and keeps an undo
log: on an exception every write is undone, so a unit is all-or-nothing.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

import attrs
import pendulum

from campaignkit.domain.access import AccessAuditEntry, Principal
from campaignkit.domain.approval import ApprovalPolicy
from campaignkit.domain.campaign import Campaign
from campaignkit.domain.listing import CampaignQuery, Page, decode_cursor, encode_cursor
from campaignkit.domain.surface import ChannelSurface
from campaignkit.errors import ConflictError, NotFound, ValidationError
from campaignkit.permissions import ProductProfile

Key = tuple[pendulum.DateTime, str]


class SortedKeys:
    """A sorted list of ``(instant, id)`` keys with O(log n) search."""

    def __init__(self) -> None:
        self._keys: list[Key] = []

    def add(self, key: Key) -> None:
        """Insert ``key`` in order."""
        bisect.insort(self._keys, key)

    def discard(self, key: Key) -> None:
        """Remove ``key`` if present."""
        i = bisect.bisect_left(self._keys, key)
        if i < len(self._keys) and self._keys[i] == key:
            del self._keys[i]

    def upto(self, key: Key) -> list[Key]:
        """Keys ``<= key``, ascending."""
        return self._keys[: bisect.bisect_right(self._keys, key)]

    def below_desc(self, key: Key | None) -> Iterator[Key]:
        """Keys ``< key`` (all when None), descending."""
        end = len(self._keys) if key is None else bisect.bisect_left(self._keys, key)
        for i in range(end - 1, -1, -1):
            yield self._keys[i]

    def first(self) -> Key | None:
        """The smallest key, or None."""
        return self._keys[0] if self._keys else None


class _Tables:
    """Committed state and its indexes."""

    def __init__(self) -> None:
        self.campaigns: dict[str, Campaign] = {}
        self.by_due = SortedKeys()
        self.by_created = SortedKeys()
        self.surfaces: dict[str, ChannelSurface] = {}
        self.access: dict[Principal, frozenset[ProductProfile]] = {}
        self.memberships: set[tuple[str, str]] = set()  # (group, user)
        self.access_log: list[AccessAuditEntry] = []
        self.policies: dict[str, ApprovalPolicy] = {}

    def put_campaign(self, campaign: Campaign | None, previous: Campaign | None) -> None:
        """Replace ``previous`` by ``campaign`` (either may be None) and update indexes.

        An index is only touched when its key changes, so a save that keeps
        the due instant costs no index work.
        """
        _move(self.by_due, _due_key(previous), _due_key(campaign))
        _move(self.by_created, _created_key(previous), _created_key(campaign))
        if campaign is not None:
            self.campaigns[campaign.id] = campaign
        elif previous is not None:
            del self.campaigns[previous.id]


def _due_key(campaign: Campaign | None) -> Key | None:
    return None if campaign is None or campaign.due_at is None else (campaign.due_at, campaign.id)


def _created_key(campaign: Campaign | None) -> Key | None:
    return None if campaign is None else (campaign.created_at, campaign.id)


def _move(index: SortedKeys, old: Key | None, new: Key | None) -> None:
    if old == new:
        return
    if old is not None:
        index.discard(old)
    if new is not None:
        index.add(new)


class _Journal:
    """Undo log of one unit of work."""

    def __init__(self) -> None:
        self.undo: list[Callable[[], None]] = []

    def rollback(self) -> None:
        while self.undo:
            self.undo.pop()()


@attrs.define
class _Campaigns:
    tables: _Tables
    journal: _Journal

    def find(self, campaign_id: str) -> Campaign | None:
        return self.tables.campaigns.get(campaign_id)

    def get(self, campaign_id: str) -> Campaign:
        found = self.find(campaign_id)
        if found is None:
            raise NotFound("campaign", campaign_id)
        return found

    def _put(self, campaign: Campaign | None, previous: Campaign | None) -> None:
        self.tables.put_campaign(campaign, previous)
        self.journal.undo.append(lambda: self.tables.put_campaign(previous, campaign))

    def _current(self, campaign: Campaign, verb: str) -> Campaign:
        stored = self.find(campaign.id)
        if stored is None:
            raise ConflictError(f"cannot {verb} campaign {campaign.id!r}: it was removed meanwhile")
        if stored.revision != campaign.revision:
            raise ConflictError(
                f"cannot {verb} campaign {campaign.id!r}: it changed meanwhile "
                f"(revision {stored.revision}, yours {campaign.revision}); reload and retry"
            )
        return stored

    def add(self, campaign: Campaign) -> Campaign:
        if campaign.revision != 0:
            raise ValidationError([f"a new campaign must have revision 0, not {campaign.revision}"])
        if campaign.id in self.tables.campaigns:
            raise ConflictError(f"a campaign with id {campaign.id!r} exists already")
        stored = attrs.evolve(campaign, revision=1)
        self._put(stored, None)
        return stored

    def save(self, campaign: Campaign) -> Campaign:
        previous = self._current(campaign, "save")
        stored = attrs.evolve(campaign, revision=campaign.revision + 1)
        self._put(stored, previous)
        return stored

    def remove(self, campaign: Campaign) -> None:
        self._put(None, self._current(campaign, "remove"))

    def query(self, query: CampaignQuery) -> Page[Campaign]:
        problems = query.problems()
        if problems:
            raise ValidationError(problems, subject="campaign query")
        after = decode_cursor(query.cursor) if query.cursor is not None else None
        items: list[Campaign] = []
        for _, campaign_id in self.tables.by_created.below_desc(after):
            campaign = self.tables.campaigns[campaign_id]
            if query.matches(campaign):
                if len(items) == query.limit:
                    last = items[-1]
                    return Page(tuple(items), encode_cursor((last.created_at, last.id)))
                items.append(campaign)
        return Page(tuple(items), None)

    def due(self, until: pendulum.DateTime, limit: int) -> Sequence[tuple[pendulum.DateTime, str]]:
        return self.tables.by_due.upto((until, "\U0010ffff"))[:limit]

    def next_due_at(self) -> pendulum.DateTime | None:
        first = self.tables.by_due.first()
        return None if first is None else first[0]


@attrs.define
class _Surfaces:
    tables: _Tables
    journal: _Journal

    def find(self, surface_id: str) -> ChannelSurface | None:
        return self.tables.surfaces.get(surface_id)

    def get(self, surface_id: str) -> ChannelSurface:
        found = self.find(surface_id)
        if found is None:
            raise NotFound("surface", surface_id)
        return found

    def find_by_name(self, name: str) -> ChannelSurface | None:
        return next((s for s in self.tables.surfaces.values() if s.name == name), None)

    def _put(self, surface: ChannelSurface, previous: ChannelSurface | None) -> None:
        surfaces = self.tables.surfaces
        surfaces[surface.id] = surface
        if previous is None:
            self.journal.undo.append(lambda: surfaces.__delitem__(surface.id))
        else:
            self.journal.undo.append(lambda: surfaces.__setitem__(previous.id, previous))

    def add(self, surface: ChannelSurface) -> ChannelSurface:
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
        previous = self.get(surface.id)
        if previous.revision != surface.revision:
            raise ConflictError(
                f"surface {surface.id!r} changed meanwhile (revision {previous.revision}, "
                f"yours {surface.revision}); reload and retry"
            )
        stored = attrs.evolve(surface, revision=surface.revision + 1)
        self._put(stored, previous)
        return stored

    def list(self) -> Sequence[ChannelSurface]:
        return sorted(self.tables.surfaces.values(), key=lambda s: (s.name, s.id))


@attrs.define
class _Access:
    tables: _Tables
    journal: _Journal

    def profiles(self, principal: Principal) -> frozenset[ProductProfile]:
        return self.tables.access.get(principal, frozenset())

    def set_profiles(self, principal: Principal, profiles: frozenset[ProductProfile]) -> None:
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
        return dict(self.tables.access)

    def groups_of(self, user: str) -> frozenset[str]:
        return frozenset(g for g, u in self.tables.memberships if u == user)

    def members(self, group: str) -> frozenset[str]:
        return frozenset(u for g, u in self.tables.memberships if g == group)

    def set_member(self, group: str, user: str, *, member: bool) -> None:
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
        log = self.tables.access_log
        log.append(entry)
        self.journal.undo.append(lambda: log.__delitem__(-1))

    def log(self) -> Sequence[AccessAuditEntry]:
        return tuple(self.tables.access_log)


@attrs.define
class _ApprovalPolicies:
    tables: _Tables
    journal: _Journal

    def get(self, policy_id: str) -> ApprovalPolicy:
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
        if policy.id in self.tables.policies:
            raise ConflictError(f"an approval policy with id {policy.id!r} exists already")
        stored = attrs.evolve(policy, revision=1)
        self._put(stored, None)
        return stored

    def save(self, policy: ApprovalPolicy) -> ApprovalPolicy:
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
        return sorted(self.tables.policies.values(), key=lambda p: (p.name, p.id))


@attrs.define
class InMemoryUnitOfWork:
    """A unit of work of :class:`InMemoryStore` (see ``UnitOfWork``)."""

    campaigns: _Campaigns
    surfaces: _Surfaces
    access: _Access
    approval_policies: _ApprovalPolicies


class InMemoryStore:
    """A thread-safe store held in memory; the default of ``CampaignKit.in_memory``.

    Units of work are serialized by one re-entrant lock, so no two threads
    interleave inside a unit; optimistic concurrency still refuses a write
    based on a stale revision (for example, a campaign read in one unit and
    saved in a later one after someone else changed it).
    """

    def __init__(self) -> None:
        self._tables = _Tables()
        self._lock = threading.RLock()
        self._local = threading.local()

    @contextmanager
    def unit_of_work(self) -> Iterator[InMemoryUnitOfWork]:
        """Open a unit of work; nested units on the same thread join the outer one."""
        with self._lock:
            outer: InMemoryUnitOfWork | None = getattr(self._local, "uow", None)
            if outer is not None:
                yield outer
                return
            journal = _Journal()
            tables = self._tables
            uow = InMemoryUnitOfWork(
                _Campaigns(tables, journal),
                _Surfaces(tables, journal),
                _Access(tables, journal),
                _ApprovalPolicies(tables, journal),
            )
            self._local.uow = uow
            try:
                yield uow
            except BaseException:
                journal.rollback()
                raise
            finally:
                self._local.uow = None

    def __repr__(self) -> str:
        return f"InMemoryStore({len(self._tables.campaigns)} campaigns)"
