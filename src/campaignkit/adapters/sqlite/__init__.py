"""The SQLite adapter: the embedded default store.

- :mod:`.schema`: the tables and indexes, as numbered migrations.
- :mod:`.connection`: opening and verifying a file, migrating, error translation.
- :mod:`.campaigns`: campaigns, the listing SQL and the due query.
- :mod:`.others`: surfaces, access and approval policies.
- :mod:`.delivery`: runs, the ledger, feedback, suppressions, static audiences.
- :mod:`.profiles`: ``SQLiteProfileStore``.
- :mod:`.store`: ``SQLiteStore`` and its unit of work.
"""

from campaignkit.adapters.sqlite.profiles import SQLiteProfileStore
from campaignkit.adapters.sqlite.store import SQLiteStore, SQLiteUnitOfWork

__all__ = ["SQLiteProfileStore", "SQLiteStore", "SQLiteUnitOfWork"]
