"""The ports a host plugs in beside the store: audiences, profiles, channels, progress.

Protocols only, like :mod:`campaignkit.ports` (which re-exports every name
here, so ``from campaignkit.ports import Channel`` keeps working). Each has
an in-memory adapter and a contract suite in :mod:`campaignkit.testing.contracts`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol, runtime_checkable

import attrs

from campaignkit.domain.audience import AudienceStatus
from campaignkit.domain.delivery import ActionCounts, Message, SendResult
from campaignkit.domain.profile import Profile


class AudienceSource(Protocol):
    """Protocol: where audiences (segments) are read from.

    ``members`` must stream in a stable order (the same members in the same
    order each time while the audience is unchanged): a run resumed after a
    crash skips the members it has already recorded by position.
    """

    def status(self, name: str) -> AudienceStatus | None:
        """Return the readiness of audience ``name``, or None if it does not exist."""
        ...

    def count(self, name: str) -> int | None:
        """Return how many members ``name`` has, if known."""
        ...

    def members(self, name: str, *, namespace: str, batch_size: int) -> Iterator[Sequence[Profile]]:
        """Stream the members of ``name`` in batches of at most ``batch_size`` profiles.

        Args:
            name: The audience.
            namespace: The identity namespace the campaign targets (a source may
                use it to pick identities; members lacking it are still yielded,
                the delivery excludes them and counts them).
            batch_size: The largest batch to yield.
        """
        ...


class ProfileStore(Protocol):
    """Protocol: recipient profiles."""

    def get(self, profile_id: str) -> Profile | None:
        """Return the profile, or None."""
        ...

    def get_many(self, profile_ids: Sequence[str]) -> Mapping[str, Profile]:
        """Return the profiles that exist among ``profile_ids``, by id."""
        ...

    def upsert(self, profile: Profile) -> None:
        """Create or replace the profile with ``profile.id``."""
        ...

    def find_by_identity(self, namespace: str, value: str) -> Profile | None:
        """Return the profile whose identity in ``namespace`` is ``value``, or None."""
        ...


@runtime_checkable
class ScanningProfileStore(ProfileStore, Protocol):
    """Protocol: a profile store that lists its profiles (``where=`` audiences, copying)."""

    def scan(self, batch_size: int) -> Iterator[Sequence[Profile]]:
        """Every profile in id order, in batches of at most ``batch_size``."""
        ...


@runtime_checkable
class Channel(Protocol):
    """Protocol: delivers batches of rendered messages over one channel.

    ``send`` answers one result per message, in order: ``Accepted`` (with the
    provider's message id), ``TransientFailure`` (retried later) or
    ``PermanentFailure``. It should honour ``Message.idempotency_key``: the
    same key twice means the same message.
    """

    def send(self, messages: Sequence[Message]) -> Sequence[SendResult]:
        """Send a batch; return one result per message, in order."""
        ...


@runtime_checkable
class LookupChannel(Channel, Protocol):
    """Protocol: a channel that can tell what became of a message by its key.

    After a crash, messages handed over without a recorded outcome are looked
    up instead of re-sent.
    """

    def lookup(self, idempotency_key: str) -> SendResult | None:
        """The outcome of the message with this key, or None if it never arrived."""
        ...


@attrs.frozen
class RunProgress:
    """Where a run stands, for progress bars.

    Attributes:
        run_id: The run.
        campaign_id: Its campaign.
        position: Audience members processed so far.
        total: Audience size if the source knows it.
        counts: Counts so far, summed over actions.
    """

    run_id: str
    campaign_id: str
    position: int
    total: int | None
    counts: ActionCounts


class Progress(Protocol):
    """Protocol: receives run progress after every batch."""

    def __call__(self, progress: RunProgress) -> None:
        """Called after each batch of a run."""
        ...
