"""Deciding one batch: exclusions, rendering, due times and the send-time gate.

Turns audience members into ledger rows (EXCLUDED, FAILED, QUEUED, PENDING) for
the runner to record as one intent, and picks the PENDING rows due now that
pass the gate, to hand to the channels. Nothing here sends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pendulum

from campaignkit.delivery.gate import RateState, Verdict, gate
from campaignkit.delivery.plan import Plan
from campaignkit.delivery.recording import unsent
from campaignkit.delivery.render import MissingAttribute, RenderLimits, TemplateFailed
from campaignkit.delivery.tally import Tally, excluded, moved, queued
from campaignkit.delivery.timing import Due, Timing
from campaignkit.domain.campaign import Action
from campaignkit.domain.campaign_enums import Category
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import (
    ExclusionReason,
    LedgerEntry,
    LedgerState,
    Message,
    idempotency_key,
)
from campaignkit.domain.profile import Profile
from campaignkit.domain.recipients import Exclude, address_of, decide
from campaignkit.ports import Store, UnitOfWork

_TICK = pendulum.duration(microseconds=1)
"""The resolution of stored instants."""


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
        for action in plan.actions:
            addresses = [a for p in batch if (a := _address(p, action.channel, namespace))]
            suppressed[action.channel] = uow.suppressions.suppressed(action.channel, addresses)
    return suppressed


def decide_batch(
    run_id: str,
    plan: Plan,
    batch: Sequence[Profile],
    *,
    recorded: set[tuple[str, str]],
    suppressed: Mapping[ChannelType, set[str]],
    timing: Timing,
    limits: RenderLimits,
    tally: Tally,
    now: pendulum.DateTime,
) -> tuple[list[LedgerEntry], list[LedgerEntry]]:
    """Decide, render and time every (profile, action) of one batch.

    Args:
        run_id: The run.
        plan: The run's plan.
        batch: The audience members, in audience order (repeats are duplicates).
        recorded: The ``(action_id, profile_id)`` pairs the run's ledger already has.
        suppressed: Suppressed addresses per channel (:func:`suppressed_in`).
        timing: When each recipient is due (its wave state is updated).
        limits: The render limits of one message.
        tally: Counts to add the batch's rows to.
        now: The tick's instant.

    Returns:
        The rows to record as they are (EXCLUDED, FAILED, QUEUED), and the
        PENDING rows due now, still to pass the send-time gate (:func:`admit`).
    """
    entries: list[LedgerEntry] = []
    ready: list[LedgerEntry] = []
    seen: set[str] = set()
    for profile in batch:
        repeated = profile.id in seen
        seen.add(profile.id)
        todo: list[Action] = []
        for action in plan.actions:
            if repeated or (action.id, profile.id) in recorded:
                # the same (run, action, profile) already has its one outcome
                tally.exclude(action.id, ExclusionReason.DUPLICATE)
            else:
                todo.append(action)
        decided, due = _decided(
            run_id, plan, profile, actions=todo, suppressed=suppressed, timing=timing, limits=limits
        )
        for entry in decided:
            tally.entry(entry)
            if entry.state is not LedgerState.PENDING:
                entries.append(entry)
                continue
            assert due is not None
            action_id = entry.action_id
            if due.fell_back and plan.version.schedule.use_profile_timezone:
                tally.add(action_id, "timezone_fallbacks")
            if due.at is None:
                entries.append(excluded(entry, ExclusionReason.BEYOND_WAVES))
                tally.add(action_id, "pending", -1)
                tally.exclude(action_id, ExclusionReason.BEYOND_WAVES, targeted=0)
                continue
            timed = moved(
                entry,
                LedgerState.PENDING,
                message=entry.message,
                due_at=due.at,
                timezone=profile.timezone if isinstance(profile.timezone, str) else None,
            )
            if due.at > now:
                entries.append(queued(timed, due.at))
            else:
                if due.at < now and plan.version.schedule.use_profile_timezone:
                    # their slot passed before the run reached them
                    tally.add(action_id, "late")
                ready.append(timed)
    return entries, ready


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


def describe(exc: BaseException) -> str:
    """An exception as a short reason (type and message, at most 500 characters).

    Args:
        exc: The exception.

    Returns:
        ``"Type: message"``, cut to 500 characters.
    """
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 500 else text[:497] + "..."


def _decided(
    run_id: str,
    plan: Plan,
    profile: Profile,
    *,
    actions: Sequence[Action],
    suppressed: Mapping[ChannelType, set[str]],
    timing: Timing,
    limits: RenderLimits,
) -> tuple[list[LedgerEntry], Due | None]:
    """Decide and render ``profile`` for ``actions``, and when they are due if sent.

    Recipient data comes from host adapters and may never have been
    checked: anything that makes deciding, rendering or timing raise fails
    this recipient (FAILED, with the reason) and nobody else.
    """
    try:
        decided = [
            _entry(
                run_id, plan, action, profile, suppressed.get(action.channel, set()), limits=limits
            )
            for action in actions
        ]
        if any(e.state is LedgerState.PENDING for e in decided):
            return decided, timing.due(profile)
        return decided, None
    except Exception as exc:
        error = f"the recipient's profile data cannot be used: {describe(exc)}"
        campaign_id = plan.campaign.id
        return [unsent(run_id, campaign_id, a, profile.id, error=error) for a in actions], None


def _entry(
    run_id: str,
    plan: Plan,
    action: Action,
    profile: Profile,
    suppressed: set[str],
    *,
    limits: RenderLimits,
) -> LedgerEntry:
    """Decide and render one (profile, action): EXCLUDED, FAILED, or PENDING (rendered)."""
    campaign = plan.campaign
    verdict = decide(
        profile,
        channel=action.channel,
        namespace=plan.version.namespace or "",
        category=campaign.category,
        suppressed=suppressed,
    )
    if isinstance(verdict, Exclude):
        return unsent(run_id, campaign.id, action, profile.id, reason=verdict.reason)
    try:
        link = plan.unsubscribe_url(run_id, action.id, profile.id)
        fields = plan.contents[action.id].render(
            profile.attributes,
            plan.context(profile.id),
            limits,
            {} if link is None else {"unsubscribe_url": link},
        )
    except MissingAttribute:
        return unsent(
            run_id, campaign.id, action, profile.id, reason=ExclusionReason.MISSING_ATTRIBUTE
        )
    except TemplateFailed as exc:
        return unsent(run_id, campaign.id, action, profile.id, error=str(exc))
    message = Message(
        run_id=run_id,
        campaign_id=campaign.id,
        action_id=action.id,
        profile_id=profile.id,
        channel=action.channel,
        address=verdict.address,
        idempotency_key=idempotency_key(run_id, action.id, profile.id),
        fields=fields,
        settings=plan.settings[action.id],
        transactional=campaign.category is Category.TRANSACTIONAL,
        unsubscribe_url=link,
    )
    return LedgerEntry(
        run_id,
        action.id,
        profile.id,
        campaign.id,
        action.channel,
        LedgerState.PENDING,
        address=verdict.address,
        message=message,
    )


def _address(profile: Profile, channel: ChannelType, namespace: str) -> str | None:
    """The recipient's address, or None when their data cannot give one (they fail later)."""
    try:
        return address_of(profile, channel, namespace)
    except Exception:
        return None
