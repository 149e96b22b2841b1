"""``SQLiteProfileStore``: profiles in the same file as the campaigns."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import cast

from campaignkit.adapters.sqlite.delivery import _chunks, _marks
from campaignkit.adapters.sqlite.store import SQLiteStore
from campaignkit.domain.checks import describe
from campaignkit.domain.profile import (
    Profile,
    check_batch_size,
    checked_identity,
    checked_profile,
    checked_profile_id,
    checked_profile_ids,
)
from campaignkit.errors import StorageError, ValidationError
from campaignkit.serialization import dumps, loads

logger = logging.getLogger("campaignkit.profiles")


def _loadable(rows: Sequence[Sequence[object]]) -> list[Profile]:
    """The profiles of ``(id, document)`` rows; a row that no longer loads is skipped.

    A profile stored before a check existed (a 300-character time zone, say)
    cannot be built any more. Every lookup treats it as absent, with a
    WARNING, so delivery excludes it as an unknown profile instead of failing
    every recipient of its batch; upserting a valid profile with its id
    replaces it.
    """
    loaded = []
    for row in rows:
        try:
            loaded.append(loads(Profile, cast("str", row[1])))
        except StorageError as exc:
            logger.warning("stored profile %r cannot be loaded and is skipped: %s", row[0], exc)
    return loaded


class SQLiteProfileStore:
    """The :class:`~campaignkit.ports.ProfileStore` of a :class:`SQLiteStore`.

    It shares the store's connection and lock; called inside a unit of work
    it joins that transaction.

    Args:
        store: The SQLite store whose file holds the profiles.
    """

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store

    def get(self, profile_id: str) -> Profile | None:
        """Return the profile, or None.

        Raises:
            ValidationError: ``profile_id`` is not a non-empty UTF-8 string.
        """
        checked_profile_id(profile_id)
        return self.get_many([profile_id]).get(profile_id)

    def get_many(self, profile_ids: Sequence[str]) -> Mapping[str, Profile]:
        """Return the profiles that exist among ``profile_ids``.

        Raises:
            ValidationError: ``profile_ids`` is a bare string or holds a bad id.
        """
        ids = checked_profile_ids(profile_ids)
        found: dict[str, Profile] = {}
        with self._store.unit_of_work():
            db = self._store.database
            for chunk in _chunks(list(dict.fromkeys(ids))):
                rows = db.all(
                    f"SELECT id, document FROM profiles WHERE id IN ({_marks(len(chunk))})",
                    chunk,
                )
                for profile in _loadable(rows):
                    found[profile.id] = profile
        return found

    def upsert(self, profile: Profile) -> None:
        """Create or replace the profile with ``profile.id``.

        Raises:
            ValidationError: ``profile`` is not a ``Profile``.
        """
        self.upsert_many([checked_profile(profile)])

    def upsert_many(self, profiles: Sequence[Profile]) -> None:
        """Create or replace many profiles (and their identity index) in one transaction.

        Raises:
            ValidationError: ``profiles`` is not a list of ``Profile`` values.
        """
        if not isinstance(cast("object", profiles), (list, tuple)):
            raise ValidationError(
                [f"profiles must be a list of ck.Profile values, not {describe(profiles)}"]
            )
        for number, profile in enumerate(profiles):
            checked_profile(profile, f"profiles[{number}]")
        with self._store.unit_of_work():
            db = self._store.database
            db.executemany(
                "INSERT OR REPLACE INTO profiles (id, document) VALUES (?, ?)",
                [(p.id, dumps(p)) for p in profiles],
            )
            db.executemany(
                "DELETE FROM profile_identities WHERE profile_id = ?", [(p.id,) for p in profiles]
            )
            db.executemany(
                "INSERT OR REPLACE INTO profile_identities (namespace, value, profile_id) "
                "VALUES (?, ?, ?)",
                [(ns, value, p.id) for p in profiles for ns, value in p.identities.items()],
            )

    def find_by_identity(self, namespace: str, value: str) -> Profile | None:
        """Return the profile whose identity in ``namespace`` is ``value``, or None.

        Raises:
            ValidationError: ``namespace`` or ``value`` is not a non-empty UTF-8 string.
        """
        checked_identity(namespace, value)
        with self._store.unit_of_work():
            row = self._store.database.one(
                "SELECT p.id, p.document FROM profile_identities i JOIN profiles p "
                "ON p.id = i.profile_id WHERE i.namespace = ? AND i.value = ?",
                (namespace, value),
            )
        found = [] if row is None else _loadable([row])
        return found[0] if found else None

    def scan(self, batch_size: int) -> Iterator[list[Profile]]:
        """Every profile in id order, in batches (one short read per batch).

        Raises:
            ValidationError: ``batch_size`` is not a whole number of at least 1.
        """
        check_batch_size(batch_size)
        after = ""
        while True:
            with self._store.unit_of_work():
                rows = self._store.database.all(
                    "SELECT id, document FROM profiles WHERE id > ? ORDER BY id LIMIT ?",
                    (after, batch_size),
                )
            if not rows:
                return
            after = rows[-1][0]
            yield _loadable(rows)

    def __len__(self) -> int:
        with self._store.unit_of_work():
            row = self._store.database.one("SELECT count(*) FROM profiles")
        return 0 if row is None else int(row[0])
