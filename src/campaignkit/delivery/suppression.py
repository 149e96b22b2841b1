"""The suppressed addresses of a batch, read only if the store needs them.

:func:`suppressed_in` asks the store, per channel of a run's actions, which of
a batch's addresses are suppressed; the addresses are worked out only when the
store first reads them (a store without suppressions never does).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from typing import overload

from campaignkit.delivery.plan import Plan
from campaignkit.domain.campaign_enums import Category
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.profile import Profile
from campaignkit.domain.recipients import addresses_of
from campaignkit.ports import UnitOfWork

__all__ = ["suppressed_in"]


def suppressed_in(
    uow: UnitOfWork, plan: Plan, batch: Sequence[Profile]
) -> dict[ChannelType, set[str]]:
    """The suppressed addresses of ``batch``, per channel of the plan's actions.

    Args:
        uow: The transaction to read suppressions in.
        plan: The run's plan (its campaign's category and actions).
        batch: The audience members.

    Returns:
        Each action channel's suppressed addresses; empty for a transactional campaign.
    """
    namespace = plan.version.namespace or ""
    suppressed: dict[ChannelType, set[str]] = {}
    if plan.campaign.category is Category.MARKETING:
        for channel in dict.fromkeys(action.channel for action in plan.actions):
            addresses = _Addresses(batch, channel, namespace)
            suppressed[channel] = uow.suppressions.suppressed(channel, addresses)
    return suppressed


class _Addresses(Sequence[str]):
    """A batch's addresses on one channel, worked out when the store first reads them.

    A store that knows it holds no suppression answers without reading them
    (the in-memory store; SQLite reads them, then probes its index).
    """

    def __init__(self, batch: Sequence[Profile], channel: ChannelType, namespace: str) -> None:
        self._batch, self._channel, self._namespace = batch, channel, namespace

    @functools.cached_property
    def _found(self) -> list[str]:
        return addresses_of(self._batch, self._channel, self._namespace)

    def __len__(self) -> int:
        return len(self._found)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._found[index]

    def __iter__(self) -> Iterator[str]:
        return iter(self._found)
