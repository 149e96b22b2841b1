"""``SQLiteProfileStore``: profiles in the same file as the campaigns."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, cast

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
    decoded_profile,
    plain_decoded_profile,
)
from campaignkit.domain.recipients import unknown_profile
from campaignkit.errors import StorageError, ValidationError
from campaignkit.serialization import dumps, from_document, loads, profile_head, schema_of

logger = logging.getLogger("campaignkit.profiles")

_SCHEMA, _VERSION = schema_of(Profile)
_HEAD = profile_head()
"""How a current profile document that :func:`dumps` wrote begins (its ``data`` follows)."""
_START = len(_HEAD)


_scan = cast("Callable[[str, int], tuple[Any, int]]", vars(json.JSONDecoder())["scan_once"])
"""The C scanner under ``json.loads``: one value from a position, without the wrapper's checks."""


def decode_profile(text: str) -> Profile:
    """The profile of a stored document: ``loads(Profile, text)``, without cattrs when it can.

    A document of the current version in the shape :func:`dumps` writes (all
    eight fields, JSON types that need no conversion) is built directly: with
    :func:`~campaignkit.domain.profile.plain_decoded_profile` when every value
    passes ``Profile()``'s fast check, else with
    :func:`~campaignkit.domain.profile.decoded_profile`, which applies the
    same checks as ``Profile()``. Anything else (an older version, a missing
    or extra field, a value cattrs would convert, a profile that fails a
    check) goes through :func:`~campaignkit.serialization.from_document`, so
    the result, or the ``StorageError``, is exactly that of ``loads``.

    Args:
        text: The stored JSON document.

    Returns:
        The profile.

    Raises:
        StorageError: the text is not JSON, or not a valid profile document.
    """
    if text.startswith(_HEAD):  # the envelope as dumps writes it: scan only the data
        try:
            inner, end = _scan(text, _START)
        except (StopIteration, ValueError, RecursionError):
            end = -1
        if end == len(text) - 1 and text[end] == "}" and type(inner) is dict:
            found = plain_decoded_profile(inner)
            if found is not None:
                return found
    try:
        document, end = _scan(text, 0)
    except (StopIteration, ValueError, RecursionError):
        document, end = None, -1
    if end != len(text):  # leading or trailing text, or not JSON: json.loads decides
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):
            return loads(Profile, text)  # raises the usual StorageError
    if (
        type(document) is dict
        and len(document) == 3
        and document.get("schema") == _SCHEMA
        and type(document.get("version")) is int
        and document["version"] == _VERSION
    ):
        data: Any = document.get("data")
        if type(data) is dict and len(data) == 8:
            found = plain_decoded_profile(data)
            if found is not None:
                return found
            try:
                found = _direct(data)
            except (KeyError, ValidationError):
                found = None
            if found is not None:
                return found
    return from_document(Profile, document)


def _direct(data: dict[str, Any]) -> Profile | None:
    """The profile of a current ``data`` object whose values need no conversion, else None.

    Raises:
        KeyError: a field is missing.
        ValidationError: the profile fails its checks.
    """
    profile_id, identities, attributes = data["id"], data["identities"], data["attributes"]
    consents, addresses, test = data["consents"], data["channel_data"], data["test"]
    zone, language = data["timezone"], data["language"]
    if (
        type(profile_id) is not str
        or type(identities) is not dict
        or type(attributes) is not dict
        or type(consents) is not dict
        or type(addresses) is not dict
        or type(test) is not bool
        or not (zone is None or type(zone) is str)
        or not (language is None or type(language) is str)
    ):
        return None
    # the checks decoded_profile applies refuse every other type a value could
    # have here (a number as an identity, 1 as a consent, an unknown channel)
    return decoded_profile(
        id=profile_id,
        identities=identities,
        attributes=attributes,
        consents=consents,
        channel_data=addresses,
        timezone=zone,
        language=language,
        test=test,
    )


def _decoded_or_none(profile_id: object, text: str) -> Profile | None:
    """The profile of a stored document, or None (with a WARNING) if it no longer loads.

    A profile stored before a check existed (a 300-character time zone, say)
    cannot be built any more. Every lookup treats it as absent, with a
    WARNING, so delivery excludes it as an unknown profile instead of failing
    every recipient of its batch; upserting a valid profile with its id
    replaces it.
    """
    try:
        return decode_profile(text)
    except StorageError as exc:
        _skipped(profile_id, exc)
        return None


def _skipped(profile_id: object, exc: StorageError) -> None:
    """Log the WARNING for a stored profile that no longer loads (it is skipped)."""
    logger.warning("stored profile %r cannot be loaded and is skipped: %s", profile_id, exc)


def _loadable(rows: Sequence[Sequence[object]]) -> list[Profile]:
    """The profiles of ``(id, document)`` rows; a row that no longer loads is skipped."""
    loaded = []
    for row in rows:
        profile = _decoded_or_none(row[0], cast("str", row[1]))
        if profile is not None:
            loaded.append(profile)
    return loaded


class SQLiteProfileStore:
    """The :class:`~campaignkit.ports.ProfileStore` of a :class:`SQLiteStore`.

    It shares the store's connection and lock; called inside a unit of work
    it joins that transaction.

    Args:
        store: The SQLite store whose file holds the profiles.
    """

    STATIC_MEMBERS: ClassVar[str] = (
        "SELECT m.profile_id, p.document FROM audience_members m "
        "LEFT JOIN profiles p ON p.id = m.profile_id "
        "WHERE m.audience = ? AND m.position >= ? ORDER BY m.position LIMIT ?"
    )
    """One page of a static audience's members with their documents (name, offset, limit)."""

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

    def resolve(self, namespace: str, value: str, profile_id: str) -> tuple[Profile | None, bool]:
        """``find_by_identity(namespace, value)``, else ``get(profile_id)``, in one query.

        A trigger looks a recipient up both ways; one statement reads both
        rows and the identity's wins, as two look-ups in a row would give.

        Returns:
            The profile (or None) and whether it was found by identity.

        Raises:
            ValidationError: an argument is not a non-empty UTF-8 string.
        """
        checked_identity(namespace, value)
        checked_profile_id(profile_id)
        with self._store.unit_of_work():
            rows = self._store.database.all(
                "SELECT 1, p.id, p.document FROM profile_identities i JOIN profiles p "
                "ON p.id = i.profile_id WHERE i.namespace = ? AND i.value = ? "
                "UNION ALL SELECT 0, id, document FROM profiles WHERE id = ?",
                (namespace, value, profile_id),
            )
        for row in rows:  # the identity's row (one at most) first, whatever order SQLite gives
            if row[0] == 1:
                found = _decoded_or_none(row[1], cast("str", row[2]))
                if found is not None:
                    return found, True
        for row in rows:
            if row[0] == 0:
                found = _decoded_or_none(row[1], cast("str", row[2]))
                # a row edited by hand to hold another profile's document: absent, as in get
                return (found if found is not None and found.id == profile_id else None), False
        return None, False

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

    def static_members(self, name: str, offset: int, limit: int) -> list[Profile]:
        """Members of static audience ``name`` from ``offset``, as profiles, in one query.

        The audience must be in this store's file (``kit.audiences.define``
        keeps it there). One read joins ``audience_members`` with
        ``profiles``; a member the store does not know, or whose stored
        profile no longer loads (logged as a WARNING), is an
        :func:`~campaignkit.domain.recipients.unknown_profile` in its place.

        Args:
            name: The audience's name.
            offset: The position of the first member to return.
            limit: The most members to return.

        Returns:
            Up to ``limit`` profiles in definition order (empty past the end).
        """
        with self._store.unit_of_work():
            rows = self._store.database.all(self.STATIC_MEMBERS, (name, offset, limit))
        members = []
        scan, plain, head, start = _scan, plain_decoded_profile, _HEAD, _START
        for profile_id, document in rows:
            if document is None:
                members.append(unknown_profile(profile_id))
                continue
            # decode_profile's common case inlined (no call per member): the envelope
            # exactly as dumps writes it around data that passes plain_decoded_profile;
            # only the data is scanned (the envelope's three keys, dict and checks
            # cost about 5.7k instructions a document)
            profile = None
            if document.startswith(head):
                try:
                    data, end = scan(document, start)
                except (StopIteration, ValueError, RecursionError):
                    end = -1
                if end == len(document) - 1 and document[end] == "}" and type(data) is dict:
                    profile = plain(data)
            if profile is None:  # anything else: decode_profile decides, as before
                try:  # _decoded_or_none, inlined
                    profile = decode_profile(document)
                except StorageError as exc:
                    _skipped(profile_id, exc)
                    profile = unknown_profile(profile_id)
            if profile.id != profile_id:  # (a row edited by hand)
                profile = unknown_profile(profile_id)
            members.append(profile)
        return members

    def shares(self, store: object) -> bool:
        """True if this profile store keeps its profiles in ``store`` (the same file).

        Args:
            store: A campaign store.
        """
        return store is self._store

    def __len__(self) -> int:
        with self._store.unit_of_work():
            row = self._store.database.one("SELECT count(*) FROM profiles")
        return 0 if row is None else int(row[0])
