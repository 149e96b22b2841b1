"""The PostgreSQL adapter (extra ``campaignkit[postgres]``): the shared production store.

- :mod:`.schema`: the tables and indexes, as numbered migrations.
- :mod:`.dialect`: the SQLite repositories' statements, translated once each.
- :mod:`.connection`: the pool behind the repositories, transactions holding the
  store's advisory lock.
- :mod:`.statements`: statements held back for one pipeline, the advisory-lock
  keys, error translation.
- :mod:`.migration`: applying the migrations when a store opens.
- :mod:`.units`: the unit of work, and the row and name locks of units that
  run in parallel (the delivery runner's).
- :mod:`.store`: ``PostgresStore`` and ``PostgresProfileStore``.
"""

from campaignkit.adapters.postgres.store import (
    PostgresProfileStore,
    PostgresStore,
    store_argument_problems,
)
from campaignkit.adapters.postgres.units import PostgresUnitOfWork

__all__ = ["PostgresProfileStore", "PostgresStore", "PostgresUnitOfWork", "store_argument_problems"]
