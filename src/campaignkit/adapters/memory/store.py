"""``InMemoryStore``: every repository in dictionaries, one lock, an undo journal."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from campaignkit.adapters.memory.campaigns import MemoryCampaigns
from campaignkit.adapters.memory.delivery import (
    MemoryContacts,
    MemoryExecutions,
    MemoryFeedback,
    MemoryRules,
    MemoryRuns,
    MemoryStaticAudiences,
    MemorySuppressions,
)
from campaignkit.adapters.memory.ledger import MemoryLedger
from campaignkit.adapters.memory.records import (
    MemoryAccess,
    MemoryApprovalPolicies,
    MemorySurfaces,
)
from campaignkit.adapters.memory.tables import Journal, Tables


class InMemoryUnitOfWork:
    """A unit of work of :class:`InMemoryStore` (see ``UnitOfWork``).

    Each repository is made the first time the unit asks for it: a trigger
    uses four of the twelve, and making all of them cost more than the
    accept's own work on the tables.

    Args:
        tables: The store's tables.
        journal: This unit's undo journal.
    """

    campaigns: MemoryCampaigns
    surfaces: MemorySurfaces
    access: MemoryAccess
    approval_policies: MemoryApprovalPolicies
    runs: MemoryRuns
    ledger: MemoryLedger
    feedback: MemoryFeedback
    suppressions: MemorySuppressions
    audiences: MemoryStaticAudiences
    executions: MemoryExecutions
    contacts: MemoryContacts
    rules: MemoryRules

    def __init__(self, tables: Tables, journal: Journal) -> None:
        self._tables = tables
        self._journal = journal

    def __getattr__(self, name: str) -> object:
        """Make the repository ``name`` on first use (and keep it for this unit)."""
        kind = _REPOSITORIES.get(name)
        if kind is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        repository = kind(self._tables, self._journal)
        setattr(self, name, repository)
        return repository


_REPOSITORIES: dict[str, Callable[[Tables, Journal], object]] = {
    "campaigns": MemoryCampaigns,
    "surfaces": MemorySurfaces,
    "access": MemoryAccess,
    "approval_policies": MemoryApprovalPolicies,
    "runs": MemoryRuns,
    "ledger": MemoryLedger,
    "feedback": MemoryFeedback,
    "suppressions": MemorySuppressions,
    "audiences": MemoryStaticAudiences,
    "executions": MemoryExecutions,
    "contacts": MemoryContacts,
    "rules": MemoryRules,
}
"""The repositories of a unit of work, by attribute name."""


class InMemoryStore:
    """A thread-safe store held in memory; the default of ``CampaignKit.in_memory``.

    Units of work are serialized by one re-entrant lock, so no two threads
    interleave inside a unit; optimistic concurrency still refuses a write
    based on a stale revision (for example, a campaign read in one unit and
    saved in a later one after someone else changed it).
    """

    def __init__(self) -> None:
        self._tables = Tables()
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
            journal = Journal()
            tables = self._tables
            uow = InMemoryUnitOfWork(tables, journal)
            self._local.uow = uow
            try:
                yield uow
            except BaseException:
                journal.rollback()
                raise
            else:
                journal.commit()
            finally:
                self._local.uow = None

    def __repr__(self) -> str:
        return f"InMemoryStore({len(self._tables.campaigns)} campaigns)"
