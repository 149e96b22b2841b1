"""``kit.audiences``: the audiences a kit knows, static ones and the host's."""

from __future__ import annotations

from collections.abc import Iterable

from campaignkit.adapters.memory_audiences import InMemoryAudienceSource
from campaignkit.domain.audience import AudienceStatus
from campaignkit.ports import AudienceSource


class AudienceRegistry:
    """Static audiences defined through the kit, in front of an optional host source.

    ``define`` keeps a named list of profile ids; a name that is not defined
    here is looked up in the host's :class:`~campaignkit.ports.AudienceSource`.

    Args:
        source: The host's audience source, if any.
    """

    def __init__(self, source: AudienceSource | None = None) -> None:
        self._static = InMemoryAudienceSource()
        self._source = source

    def define(self, name: str, profile_ids: Iterable[str]) -> None:
        """Define or replace the static audience ``name`` (idempotent)."""
        self._static.define(name, profile_ids)

    def status(self, name: str) -> AudienceStatus | None:
        """The readiness of ``name``: static audiences first, then the host source."""
        found = self._static.status(name)
        if found is None and self._source is not None:
            found = self._source.status(name)
        return found
