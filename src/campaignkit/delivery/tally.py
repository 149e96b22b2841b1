"""Bookkeeping helpers of the runner: count changes and ledger entry transitions.

Both are on the hot path (once per message), so they use plain integers and
direct construction rather than ``attrs.evolve``.
"""

from __future__ import annotations

from collections.abc import Mapping

import pendulum

from campaignkit.domain.delivery import (
    ActionCounts,
    ExclusionReason,
    LedgerEntry,
    LedgerState,
    Message,
)


class Tally:
    """Count changes of one batch, per action, merged into a run's counts at once."""

    def __init__(self) -> None:
        self._numbers: dict[str, dict[str, int]] = {}
        self._excluded: dict[str, dict[ExclusionReason, int]] = {}

    def add(self, action_id: str, field: str, amount: int = 1) -> None:
        """Change one count of an action.

        ``field`` is ``targeted``, ``sent``, ``failed``, ``retries``, ``pending``,
        ``late`` or ``timezone_fallbacks``.
        """
        numbers = self._numbers.setdefault(action_id, {})
        numbers[field] = numbers.get(field, 0) + amount

    def exclude(self, action_id: str, reason: ExclusionReason, *, targeted: int = 1) -> None:
        """Count an exclusion (and, by default, a newly targeted recipient)."""
        excluded = self._excluded.setdefault(action_id, {})
        excluded[reason] = excluded.get(reason, 0) + 1
        if targeted:
            self.add(action_id, "targeted", targeted)

    def entry(self, entry: LedgerEntry) -> None:
        """Count an entry newly put in the ledger."""
        if entry.state is LedgerState.EXCLUDED and entry.reason is not None:
            self.exclude(entry.action_id, entry.reason)
            return
        self.add(entry.action_id, "targeted")
        self.add(entry.action_id, "failed" if entry.state is LedgerState.FAILED else "pending")

    def merged_into(self, current: Mapping[str, ActionCounts]) -> dict[str, ActionCounts]:
        """``current`` plus these changes."""
        merged = dict(current)
        for action_id in self._numbers.keys() | self._excluded.keys():
            numbers = self._numbers.get(action_id, {})
            delta = ActionCounts(
                targeted=numbers.get("targeted", 0),
                sent=numbers.get("sent", 0),
                failed=numbers.get("failed", 0),
                excluded=self._excluded.get(action_id, {}),
                retries=numbers.get("retries", 0),
                pending=numbers.get("pending", 0),
                late=numbers.get("late", 0),
                timezone_fallbacks=numbers.get("timezone_fallbacks", 0),
            )
            merged[action_id] = merged.get(action_id, ActionCounts()).plus(delta)
        return merged


def moved(
    entry: LedgerEntry,
    state: LedgerState,
    *,
    reason: ExclusionReason | None = None,
    attempts: int | None = None,
    next_attempt_at: pendulum.DateTime | None = None,
    provider_message_id: str | None = None,
    slot: pendulum.DateTime | None = None,
    error: str | None = None,
    message: Message | None = None,
    due_at: pendulum.DateTime | None = None,
    timezone: str | None = None,
) -> LedgerEntry:
    """A copy of ``entry`` in a new state; what is not given is reset.

    The recipient's due time and zone are kept unless ``due_at`` / ``timezone``
    give new ones. Built directly, not with ``attrs.evolve``: this is the hot path.
    """
    return LedgerEntry(
        entry.run_id,
        entry.action_id,
        entry.profile_id,
        entry.campaign_id,
        entry.channel,
        state,
        reason,
        entry.attempts if attempts is None else attempts,
        next_attempt_at,
        provider_message_id,
        entry.address,
        entry.due_at if due_at is None else due_at,
        entry.timezone if timezone is None else timezone,
        slot,
        error,
        message,
    )


def excluded(entry: LedgerEntry, reason: ExclusionReason) -> LedgerEntry:
    """The entry excluded for ``reason`` (its message dropped)."""
    return moved(entry, LedgerState.EXCLUDED, reason=reason)


def queued(entry: LedgerEntry, until: pendulum.DateTime) -> LedgerEntry:
    """The entry waiting until ``until`` (its message and slot kept)."""
    return moved(
        entry, LedgerState.QUEUED, next_attempt_at=until, slot=entry.slot, message=entry.message
    )
