"""In-memory adapters: fast, thread-safe, and gone when the process ends.

- :mod:`.tables`: committed state, sorted indexes and the undo journal.
- :mod:`.runledger`: one run's delivery ledger, entries in full or compact form.
- :mod:`.campaigns`, :mod:`.records`, :mod:`.delivery`, :mod:`.ledger`: the repositories.
- :mod:`.store`: ``InMemoryStore`` and its unit of work.
- :mod:`.profiles`: ``InMemoryProfileStore`` and ``InMemoryAudienceSource``.

The store keeps committed state in dictionaries plus sorted indexes (due
work and listing order), so ticks and list pages do not scan every campaign.
A unit of work holds the store's lock from start to end and keeps an undo
log: on an exception every write is undone, so a unit is all-or-nothing.
"""

from campaignkit.adapters.memory.profiles import InMemoryAudienceSource, InMemoryProfileStore
from campaignkit.adapters.memory.store import InMemoryStore, InMemoryUnitOfWork

__all__ = ["InMemoryAudienceSource", "InMemoryProfileStore", "InMemoryStore", "InMemoryUnitOfWork"]
