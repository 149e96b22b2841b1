"""Bookkeeping helpers of the runner: count changes and ledger entry transitions.

Both are on the hot path (once per message), so they use plain integers and
direct construction rather than ``attrs.evolve``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

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
        """``current`` plus these changes.

        Each action's sum is built in one step (what ``current.plus(ActionCounts(...))``
        gives, without the two intermediate values: a run's counts are merged at
        every batch's two transactions).
        """
        merged = dict(current)
        for action_id in self._numbers.keys() | self._excluded.keys():
            get = self._numbers.get(action_id, _NO_NUMBERS).get
            excluded = self._excluded.get(action_id)
            base = merged.get(action_id, _ZERO)
            merged[action_id] = _counts(
                {
                    "targeted": base.targeted + get("targeted", 0),
                    "sent": base.sent + get("sent", 0),
                    "failed": base.failed + get("failed", 0),
                    "excluded": (_nonzero(base.excluded, excluded) if excluded else base.excluded),
                    "retries": base.retries + get("retries", 0),
                    "pending": base.pending + get("pending", 0),
                    "feedback": base.feedback,
                    "late": base.late + get("late", 0),
                    "timezone_fallbacks": base.timezone_fallbacks + get("timezone_fallbacks", 0),
                }
            )
        return merged


_NO_NUMBERS: Final[dict[str, int]] = {}
_ZERO: Final = ActionCounts()
_new: Final = object.__new__
_set: Final = object.__setattr__


def _counts(fields: dict[str, Any]) -> ActionCounts:
    """An ``ActionCounts`` of ``fields``, as converted ones (its fields live in a dict)."""
    counts: ActionCounts = _new(ActionCounts)
    _set(counts, "__dict__", fields)
    return counts


def _nonzero(
    base: Mapping[ExclusionReason, int], more: Mapping[ExclusionReason, int]
) -> Mapping[ExclusionReason, int]:
    """``base`` plus ``more``, zeros left out, read-only (``ActionCounts``' converter)."""
    total = dict(base)
    for key, value in more.items():
        total[key] = total.get(key, 0) + value
    return MappingProxyType({key: value for key, value in total.items() if value})


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
