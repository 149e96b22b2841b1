"""The send-time gate applied to decided entries: send now, queue, or exclude.

Split from :mod:`campaignkit.delivery.decide` (which re-exports :func:`admit`):
it runs only when :func:`~campaignkit.delivery.gate.gate_needed` says a gate
can change something (rate limits, caps, quiet hours, a send window).
"""

from __future__ import annotations

from collections.abc import Sequence

import pendulum

from campaignkit.concurrency import lock
from campaignkit.delivery.gate import RateState, Verdict, gate
from campaignkit.delivery.plan import Plan
from campaignkit.delivery.tally import Tally, moved
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import LedgerEntry, LedgerState
from campaignkit.ports import Store

__all__ = ["admit"]

_TICK = pendulum.duration(microseconds=1)
"""The resolution of stored instants."""


def admit(
    store: Store,
    plan: Plan,
    ready: Sequence[LedgerEntry],
    *,
    rate: RateState,
    tally: Tally,
    now: pendulum.DateTime,
    out: list[LedgerEntry],
) -> list[LedgerEntry]:
    """Pass ``ready`` entries through the send-time gate; append what to record to ``out``.

    Args:
        store: Read for the recipients' recent contacts (frequency caps).
        plan: The run's plan (its gate rules).
        ready: PENDING, QUEUED or RETRY entries due now.
        rate: The run's rate slots (updated).
        tally: Counts to update for entries the gate excludes.
        now: The tick's instant.
        out: Rows to record; every entry of ``ready`` is appended in its new state.

    Returns:
        The entries to send now (recorded PENDING, with the rest).
    """
    if not ready:
        return []
    rules = plan.gate_rules
    contacts: dict[tuple[ChannelType, str], list[int]] = {}
    if rules.marketing:
        with store.unit_of_work() as uow:
            if caps_apply(plan):
                # other runs' intents count too: none is written between this read and
                # this unit's own (when the caller's unit holds both, as a batch's does)
                lock(uow, "caps")
            for channel, channel_rules in rules.channel_rules.items():
                ids = [e.profile_id for e in ready if e.channel is channel]
                if not ids or not channel_rules.caps:
                    continue
                # the period is half-open: a contact exactly ``per`` ago no longer
                # counts, so a weekly campaign fits a cap of one per week
                per_cap = [
                    uow.contacts.counts(channel, ids, now - cap.per + _TICK)
                    for cap in channel_rules.caps
                ]
                for profile_id in ids:
                    contacts[(channel, profile_id)] = [c.get(profile_id, 0) for c in per_cap]
    sending = []
    for verdict, entry in gate(ready, rules=rules, rate=rate, contacts=contacts, now=now):
        if verdict is Verdict.EXCLUDE:
            tally.add(entry.action_id, "pending", -1)
            assert entry.reason is not None
            tally.exclude(entry.action_id, entry.reason, targeted=0)
            out.append(entry)
        elif verdict is Verdict.QUEUE:
            out.append(entry)
        else:
            fresh = entry.state is LedgerState.PENDING and entry.next_attempt_at is None
            pending = (
                entry
                if fresh
                else moved(entry, LedgerState.PENDING, slot=entry.slot, message=entry.message)
            )
            out.append(pending)
            sending.append(pending)
    return sending


def caps_apply(plan: Plan) -> bool:
    """Whether a frequency cap may hold back the run's messages (marketing, a channel capped).

    Deciding such a batch reads the contacts its own intents then add: both
    must be in one unit of work, holding the ``"caps"`` lock.
    """
    rules = plan.gate_rules
    return rules.marketing and any(
        channel_rules.caps for channel_rules in rules.channel_rules.values()
    )
