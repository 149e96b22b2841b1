"""In-memory profiles and audiences, for tests, demos and notebooks."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import cast

from campaignkit.domain import checks
from campaignkit.domain.audience import AudienceStatus
from campaignkit.domain.profile import (
    Profile,
    check_batch_size,
    checked_identity,
    checked_profile,
    checked_profile_id,
    checked_profile_ids,
)
from campaignkit.domain.recipients import unknown_profile
from campaignkit.errors import ValidationError

Predicate = Callable[[Profile], bool]
"""Selects the profiles of an audience defined by a condition."""


class InMemoryProfileStore:
    """A thread-safe dictionary of profiles (the ``ProfileStore`` port)."""

    def __init__(self) -> None:
        self._profiles: dict[str, Profile] = {}
        self._identities: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def get(self, profile_id: str) -> Profile | None:
        """Return the profile, or None.

        Raises:
            ValidationError: ``profile_id`` is not a non-empty UTF-8 string.
        """
        checked_profile_id(profile_id)
        with self._lock:
            return self._profiles.get(profile_id)

    def get_many(self, profile_ids: Sequence[str]) -> Mapping[str, Profile]:
        """Return the profiles that exist among ``profile_ids``.

        Raises:
            ValidationError: ``profile_ids`` is a bare string or holds a bad id.
        """
        ids = checked_profile_ids(profile_ids)
        with self._lock:
            found = (self._profiles.get(pid) for pid in ids)
            return {p.id: p for p in found if p is not None}

    def in_order(self, profile_ids: Sequence[str]) -> list[Profile]:
        """The profiles of ``profile_ids`` in order; an unknown id gives an empty stand-in.

        The audience streaming path: one dictionary look-up per member and
        nothing more (the ids come from a checked audience definition). The
        stand-in is ``domain.recipients.unknown_profile(id)``, which runs
        exclude as ``unknown_profile``.

        Raises:
            ValidationError: an id that is not a string.
        """
        get = self._profiles.get
        try:
            with self._lock:
                found = list(map(get, profile_ids))
        except TypeError:  # an unhashable id
            checked_profile_ids(profile_ids)  # names it
            raise
        if all(found):  # no profile is falsy: this only spots None
            return cast("list[Profile]", found)
        return [
            profile if profile is not None else unknown_profile(pid)
            for profile, pid in zip(found, profile_ids, strict=True)
        ]

    def upsert(self, profile: Profile) -> None:
        """Create or replace the profile with ``profile.id``.

        Raises:
            ValidationError: ``profile`` is not a ``Profile``.
        """
        checked_profile(profile)
        with self._lock:
            previous = self._profiles.get(profile.id)
            if previous is not None:
                for pair in previous.identities.items():
                    if self._identities.get(pair) == profile.id:
                        del self._identities[pair]
            self._profiles[profile.id] = profile
            for pair in profile.identities.items():
                self._identities[pair] = profile.id

    def find_by_identity(self, namespace: str, value: str) -> Profile | None:
        """Return the profile whose identity in ``namespace`` is ``value``, or None.

        Raises:
            ValidationError: ``namespace`` or ``value`` is not a non-empty UTF-8 string.
        """
        checked_identity(namespace, value)
        with self._lock:
            profile_id = self._identities.get((namespace, value))
            return None if profile_id is None else self._profiles.get(profile_id)

    def scan(self, batch_size: int) -> Iterator[list[Profile]]:
        """Every profile in id order, in batches (a snapshot taken at the start).

        Raises:
            ValidationError: ``batch_size`` is not a whole number of at least 1.
        """
        check_batch_size(batch_size)
        with self._lock:
            snapshot = sorted(self._profiles.values(), key=lambda p: p.id)
        for start in range(0, len(snapshot), batch_size):
            yield snapshot[start : start + batch_size]

    def __len__(self) -> int:
        with self._lock:
            return len(self._profiles)


def check_audience(name: object, profile_ids: object, where: object = None) -> tuple[str, ...]:
    """Check an audience definition and return its ids as a tuple.

    Raises:
        ValidationError: a name that is not a non-empty UTF-8 string of at most
            256 characters, ids that are not a collection of such strings (one
            bare string is refused: it would be read letter by letter), or a
            ``where`` that is not callable.
    """
    problems: list[str] = []
    if isinstance(name, str) and not name.strip():
        problems.append("an audience needs a non-empty name")
    else:
        checks.text(problems, "name", name)
    ids: tuple[str, ...] = ()
    if isinstance(profile_ids, str):
        problems.append(
            f"profile_ids must be a list of ids, not the string {checks.shown(profile_ids)}"
        )
    else:
        ids = checks.identifiers(problems, "profile_ids", profile_ids)
    if where is not None and not callable(where):
        problems.append(
            "where must be a function of a ck.Profile returning a bool, "
            f"not {checks.describe(where)}"
        )
    checks.raise_if(problems, "audience")
    return ids


def resolve(profile_ids: Sequence[str], profiles: InMemoryProfileStore) -> list[Profile]:
    """Profiles for ids, in order; an unknown id yields an empty profile (then excluded)."""
    return profiles.in_order(profile_ids)


class InMemoryAudienceSource:
    """Audiences from a list of ids or a condition over an in-memory profile store.

    Args:
        profiles: Where members are looked up (and scanned, for conditions).
    """

    def __init__(self, profiles: InMemoryProfileStore | None = None) -> None:
        self.profiles = profiles if profiles is not None else InMemoryProfileStore()
        self._ids: dict[str, tuple[str, ...]] = {}
        self._conditions: dict[str, Predicate] = {}
        self._lock = threading.Lock()

    def define(
        self, name: str, profile_ids: Iterable[str] = (), *, where: Predicate | None = None
    ) -> None:
        """Define or replace audience ``name`` by ids, or by a condition (``where=``).

        Raises:
            ValidationError: empty name, ids given as one string, or both ids and a condition.
        """
        ids = check_audience(name, profile_ids, where)
        if ids and where is not None:
            raise ValidationError(["define an audience by ids or by where=, not both"])
        with self._lock:
            self._ids.pop(name, None)
            self._conditions.pop(name, None)
            if where is not None:
                self._conditions[name] = where
            else:
                self._ids[name] = ids

    def status(self, name: str) -> AudienceStatus | None:
        """READY for a defined audience, None for an unknown one."""
        with self._lock:
            known = name in self._ids or name in self._conditions
        return AudienceStatus.READY if known else None

    def count(self, name: str) -> int | None:
        """The size of an id audience; None for conditions (known only by scanning)."""
        with self._lock:
            ids = self._ids.get(name)
        return None if ids is None else len(ids)

    def members(
        self, name: str, *, namespace: str = "", batch_size: int = 500
    ) -> Iterator[list[Profile]]:
        """Stream the members in batches, in a stable order."""
        with self._lock:
            ids, condition = self._ids.get(name), self._conditions.get(name)
        if ids is not None:
            for start in range(0, len(ids), batch_size):
                yield resolve(ids[start : start + batch_size], self.profiles)
        elif condition is not None:
            for batch in self.profiles.scan(batch_size):
                chosen = [p for p in batch if condition(p)]
                if chosen:
                    yield chosen
