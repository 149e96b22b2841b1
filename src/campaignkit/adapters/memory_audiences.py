"""In-memory profiles and audiences, for tests, demos and notebooks."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from campaignkit.domain.audience import AudienceStatus
from campaignkit.domain.profile import Profile
from campaignkit.errors import ValidationError


class InMemoryProfileStore:
    """A thread-safe dictionary of profiles."""

    def __init__(self) -> None:
        self._profiles: dict[str, Profile] = {}
        self._lock = threading.Lock()

    def get(self, profile_id: str) -> Profile | None:
        """Return the profile, or None."""
        with self._lock:
            return self._profiles.get(profile_id)

    def upsert(self, profile: Profile) -> None:
        """Create or replace the profile with ``profile.id``."""
        if not profile.id:
            raise ValidationError(["a profile needs a non-empty id"])
        with self._lock:
            self._profiles[profile.id] = profile

    def __len__(self) -> int:
        with self._lock:
            return len(self._profiles)


class InMemoryAudienceSource:
    """Named static audiences held in memory (``kit.audiences``)."""

    def __init__(self) -> None:
        self._members: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def define(self, name: str, profile_ids: Iterable[str]) -> None:
        """Define or replace audience ``name`` as these profile ids (idempotent).

        Raises:
            ValidationError: empty name, or ids given as one string.
        """
        problems = []
        if not name.strip():
            problems.append("an audience needs a non-empty name")
        if isinstance(profile_ids, str):
            problems.append(f"profile_ids must be a list of ids, not the string {profile_ids!r}")
        if problems:
            raise ValidationError(problems)
        with self._lock:
            self._members[name] = tuple(profile_ids)

    def status(self, name: str) -> AudienceStatus | None:
        """READY for a defined audience, None for an unknown one."""
        with self._lock:
            return AudienceStatus.READY if name in self._members else None

    def members(self, name: str) -> tuple[str, ...]:
        """The profile ids of audience ``name`` (empty if unknown)."""
        with self._lock:
            return self._members.get(name, ())
