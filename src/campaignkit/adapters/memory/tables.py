"""Committed state of the in-memory store, its sorted indexes and the undo journal."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import pendulum

from campaignkit.adapters.memory.runledger import Pair, RunLedger
from campaignkit.domain.access import AccessAuditEntry, Principal
from campaignkit.domain.approval import ApprovalPolicy
from campaignkit.domain.campaign import Campaign
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import FeedbackRecord, Run
from campaignkit.domain.rules import RuleBook
from campaignkit.domain.surface import ChannelSurface
from campaignkit.domain.triggers import ExecutionRecord
from campaignkit.permissions import ProductProfile

__all__ = ["Journal", "Key", "Pair", "RunLedger", "SortedKeys", "Tables", "batches", "move"]

Key = tuple[pendulum.DateTime, str]
T = TypeVar("T")


def batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in slices of at most ``size`` (a snapshot: the scans of a store copy)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SortedKeys:
    """A sorted list of ``(instant, id)`` keys with O(log n) search."""

    def __init__(self) -> None:
        self._keys: list[Key] = []

    def add(self, key: Key) -> None:
        """Insert ``key`` in order."""
        bisect.insort(self._keys, key)

    def discard(self, key: Key) -> None:
        """Remove ``key`` if present."""
        i = bisect.bisect_left(self._keys, key)
        if i < len(self._keys) and self._keys[i] == key:
            del self._keys[i]

    def upto(self, key: Key) -> list[Key]:
        """Keys ``<= key``, ascending."""
        return self._keys[: bisect.bisect_right(self._keys, key)]

    def below_desc(self, key: Key | None) -> Iterator[Key]:
        """Keys ``< key`` (all when None), descending."""
        end = len(self._keys) if key is None else bisect.bisect_left(self._keys, key)
        for i in range(end - 1, -1, -1):
            yield self._keys[i]

    def first(self) -> Key | None:
        """The smallest key, or None."""
        return self._keys[0] if self._keys else None


class Tables:
    """Committed state and its indexes."""

    def __init__(self) -> None:
        self.campaigns: dict[str, Campaign] = {}
        self.by_due = SortedKeys()
        self.by_created = SortedKeys()
        self.surfaces: dict[str, ChannelSurface] = {}
        self.access: dict[Principal, frozenset[ProductProfile]] = {}
        self.memberships: set[tuple[str, str]] = set()  # (group, user)
        self.access_log: list[AccessAuditEntry] = []
        self.policies: dict[str, ApprovalPolicy] = {}
        self.runs: dict[str, Run] = {}
        self.runs_by_due = SortedKeys()
        self.ledger_by_run: dict[str, RunLedger] = {}
        """The delivery ledger, run by run (see :class:`RunLedger`)."""
        self.provider_ids: dict[str, tuple[Any, ...]] = {}
        """Provider message id -> the entry holding it: its key ``(run_id, action_id,
        profile_id)``, or its settled row, which starts with that key (runledger.Settled)."""
        self.feedback: list[FeedbackRecord] = []
        self.suppressions: set[tuple[ChannelType, str]] = set()
        self.static_audiences: dict[str, tuple[str, ...]] = {}
        self.executions: dict[str, ExecutionRecord] = {}
        self.executions_by_request: dict[tuple[str, str], str] = {}
        """(campaign id, request id) -> execution id: a trigger's idempotency look-up
        costs the same whatever the history (it was a scan of every execution)."""
        self.contacts: dict[ChannelType, dict[str, list[pendulum.DateTime]]] = {}
        """Send instants per channel and profile (frequency caps), as of the last filing."""
        self.contact_log: dict[ChannelType, list[Sequence[tuple[str, pendulum.DateTime]]]] = {}
        """Contacts recorded since, batch by batch, not yet filed in ``contacts``."""
        self.contact_keys: dict[ChannelType, dict[str, tuple[str, pendulum.DateTime]]] = {}
        """Keyed contacts per channel: message key -> (profile id, instant), as of the last
        filing (only ``forget`` reads them: a fan-out's keys are filed only if one comes)."""
        self.contact_key_log: dict[
            ChannelType, list[tuple[tuple[str, ...], Sequence[tuple[str, pendulum.DateTime]]]]
        ] = {}
        """Keyed batches ``(keys, contacts)`` recorded since, not yet filed in ``contact_keys``."""
        self.rules = RuleBook()

    def put_campaign(self, campaign: Campaign | None, previous: Campaign | None) -> None:
        """Replace ``previous`` by ``campaign`` (either may be None) and update indexes.

        An index is only touched when its key changes, so a save that keeps
        the due instant costs no index work.
        """
        move(self.by_due, _due_key(previous), _due_key(campaign))
        move(self.by_created, _created_key(previous), _created_key(campaign))
        if campaign is not None:
            self.campaigns[campaign.id] = campaign
        elif previous is not None:
            del self.campaigns[previous.id]


def _due_key(campaign: Campaign | None) -> Key | None:
    return None if campaign is None or campaign.due_at is None else (campaign.due_at, campaign.id)


def _created_key(campaign: Campaign | None) -> Key | None:
    return None if campaign is None else (campaign.created_at, campaign.id)


def move(index: SortedKeys, old: Key | None, new: Key | None) -> None:
    """Replace key ``old`` by ``new`` in ``index`` (either may be None)."""
    if old == new:
        return
    if old is not None:
        index.discard(old)
    if new is not None:
        index.add(new)


class Journal:
    """Undo log of one unit of work."""

    def __init__(self) -> None:
        self.undo: list[Callable[[], None]] = []

    def rollback(self) -> None:
        """Undo every write of the unit, newest first."""
        while self.undo:
            self.undo.pop()()

    def commit(self) -> None:
        """Forget the undo steps of a unit that succeeded.

        Dropped at once rather than with the unit: a step may refer back to
        its repository (and so to this journal), and such cycles would
        otherwise wait for the garbage collector, which then walks every
        object a large ledger holds.
        """
        self.undo.clear()
