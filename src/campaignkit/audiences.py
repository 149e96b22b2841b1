"""``kit.audiences``: the audiences a kit knows, static ones and the host's.

Static audiences (lists of profile ids) are kept in the store, so a SQLite
kit finds them again after a restart. Audiences defined by a condition
(``where=``) are evaluated over the profile store and live only as long as
the kit. A name defined neither way is looked up in the host's
:class:`~campaignkit.ports.AudienceSource`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence

from campaignkit.adapters.memory.profiles import InMemoryProfileStore, check_audience
from campaignkit.adapters.sqlite.profiles import SQLiteProfileStore
from campaignkit.domain.audience import AudienceStatus
from campaignkit.domain.profile import Profile, check_batch_size, checked_profile_id
from campaignkit.domain.recipients import unknown_profile
from campaignkit.errors import ValidationError
from campaignkit.ports import AudienceSource, ProfileStore, Store

Predicate = Callable[[Profile], bool]


class AudienceRegistry:
    """Static and conditional audiences, in front of an optional host source.

    It is itself an :class:`~campaignkit.ports.AudienceSource`.

    Args:
        store: Keeps static audiences.
        profiles: Resolves member ids to profiles (and is scanned for conditions).
        source: The host's audience source, if any.
    """

    def __init__(
        self, store: Store, profiles: ProfileStore, source: AudienceSource | None = None
    ) -> None:
        self._store = store
        self._profiles = profiles
        self._source = source
        self._conditions: dict[str, Predicate] = {}
        self._lock = threading.Lock()

    def define(
        self, name: str, profile_ids: Iterable[str] = (), *, where: Predicate | None = None
    ) -> None:
        """Define or replace audience ``name`` (idempotent).

        Args:
            name: The audience name campaigns refer to.
            profile_ids: Its members, in the order they are streamed.
            where: Instead of ids, a condition over the profile store's profiles
                (needs a profile store with ``scan``; not persisted).

        Raises:
            ValidationError: empty name, a bare string of ids, both ids and a
                condition, or a condition with a profile store that cannot scan.
        """
        ids = check_audience(name, profile_ids, where)
        if where is not None:
            if ids:
                raise ValidationError(["define an audience by ids or by where=, not both"])
            if not callable(getattr(self._profiles, "scan", None)):
                raise ValidationError(
                    [
                        "where= needs a profile store that can scan its profiles; "
                        "define the audience by ids instead"
                    ]
                )
            with self._lock:
                self._conditions[name] = where
            return
        with self._lock:
            self._conditions.pop(name, None)
        with self._store.unit_of_work() as uow:
            uow.audiences.define(name, ids)

    def status(self, name: str) -> AudienceStatus | None:
        """READY for a static or conditional audience, else the host source's answer.

        Raises:
            ValidationError: ``name`` is not a UTF-8 string.
        """
        checked_profile_id(name, "name")
        if self._condition(name) is not None or self._static_count(name) is not None:
            return AudienceStatus.READY
        return None if self._source is None else self._source.status(name)

    def count(self, name: str) -> int | None:
        """The size of a static audience, or the host source's count.

        Raises:
            ValidationError: ``name`` is not a UTF-8 string.
        """
        checked_profile_id(name, "name")
        if self._condition(name) is not None:
            return None
        static = self._static_count(name)
        if static is not None or self._source is None:
            return static
        return self._source.count(name)

    def members(self, name: str, *, namespace: str, batch_size: int) -> Iterator[Sequence[Profile]]:
        """Stream members in batches in a stable order (see ``AudienceSource``).

        Raises:
            ValidationError: ``name`` is not a UTF-8 string, or ``batch_size``
                not a positive whole number.
        """
        checked_profile_id(name, "name")
        check_batch_size(batch_size)
        condition = self._condition(name)
        if condition is not None:
            scan: Callable[[int], Iterable[Sequence[Profile]]] = getattr(self._profiles, "scan")  # noqa: B009
            for batch in scan(batch_size):
                chosen = [p for p in batch if condition(p)]
                if chosen:
                    yield chosen
            return
        if self._static_count(name) is not None:
            offset = 0
            while True:
                batch = self._static_batch(name, offset, batch_size)
                if not batch:
                    return
                yield batch
                offset += len(batch)
        elif self._source is not None:
            yield from self._source.members(name, namespace=namespace, batch_size=batch_size)

    def _static_batch(self, name: str, offset: int, limit: int) -> Sequence[Profile]:
        """Members of a static audience from ``offset``; an unknown id stands as unknown.

        With profiles in the same SQLite file, one query joins members and
        profiles; otherwise the ids are read, then looked up.
        """
        profiles = self._profiles
        if isinstance(profiles, SQLiteProfileStore) and profiles.shares(self._store):
            return profiles.static_members(name, offset, limit)
        with self._store.unit_of_work() as uow:
            ids = uow.audiences.members(name, offset, limit)
        if not ids:
            return ()
        if isinstance(profiles, InMemoryProfileStore):  # one dict look-up per member
            return profiles.in_order(ids)
        found = profiles.get_many(ids)
        return [found.get(pid) or unknown_profile(pid) for pid in ids]

    def held_in_store(self, name: str) -> bool:
        """Whether ``name`` is a static audience of the kit's store (not a ``where=`` one).

        Its members are then read by position from the store itself, which is
        how a run split into shards freezes them without loading profiles.
        """
        return self._condition(name) is None and self._static_count(name) is not None

    def _condition(self, name: str) -> Predicate | None:
        with self._lock:
            return self._conditions.get(name)

    def _static_count(self, name: str) -> int | None:
        with self._store.unit_of_work() as uow:
            return uow.audiences.count(name)
