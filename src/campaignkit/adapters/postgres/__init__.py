"""The PostgreSQL adapter (extra ``campaignkit[postgres]``): the shared production store.

- :mod:`.schema`: the tables and indexes, as numbered migrations.
- :mod:`.dialect`: the SQLite repositories' statements, translated once each.
- :mod:`.connection`: the pool behind the repositories, transactions holding the
  store's advisory lock, migrations, error translation.
- :mod:`.store`: ``PostgresStore`` and ``PostgresProfileStore``.
"""

from campaignkit.adapters.postgres.store import (
    PostgresProfileStore,
    PostgresStore,
    PostgresUnitOfWork,
    store_argument_problems,
)

__all__ = ["PostgresProfileStore", "PostgresStore", "PostgresUnitOfWork", "store_argument_problems"]
