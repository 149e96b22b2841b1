"""Deciding one batch: exclusions, rendering, due times and the send-time gate.

Turns audience members into ledger rows (EXCLUDED, FAILED, QUEUED, PENDING) for
the runner to record as one intent, and picks the PENDING rows due now that
pass the gate, to hand to the channels. Nothing here sends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, TypeAlias

import attrs
import pendulum

from campaignkit.delivery.admission import admit
from campaignkit.delivery.gate import RateState, gate_needed
from campaignkit.delivery.plan import Plan
from campaignkit.delivery.recording import unsent
from campaignkit.delivery.render import (
    MissingAttribute,
    RenderLimits,
    TemplateFailed,
)
from campaignkit.delivery.suppression import suppressed_in
from campaignkit.delivery.tally import Tally, excluded, queued
from campaignkit.delivery.timing import Due, Timing
from campaignkit.domain.campaign import Action
from campaignkit.domain.campaign_enums import Category
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import (
    ExclusionReason,
    LedgerEntry,
    Message,
    MessageBuilder,
    PendingRow,
    Run,
    pending_entry,
)
from campaignkit.domain.ledger_rows import (
    FreshMessages,
    PendingRows,
    builder_parts,
    new_message,
    set_message_dict,
)
from campaignkit.domain.profile import Profile
from campaignkit.domain.recipients import (
    UNKNOWN_PROFILE_TYPE,
    address_or_reason,
    identity_is_address,
)
from campaignkit.domain.rules import recipient_zone
from campaignkit.ports import Store

__all__ = [
    "PreparedBatch",
    "admit",  # from delivery.admission, where it lives
    "decide_batch",
    "describe",
    "prepare_batch",
    "suppressed_in",  # from delivery.suppression, where it lives
]

_new_message, _set_message_dict, _frozen = new_message, set_message_dict, MappingProxyType


def decide_batch(  # noqa: PLR0915 - the hot loop is inlined: a call per recipient costs more
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
) -> tuple[list[LedgerEntry], Sequence[PendingRow]]:
    """Decide, render and time every (profile, action) of one batch.

    The hot path: a recipient who is sent to costs one render and one
    :class:`~campaignkit.domain.delivery.Message`, and their counts are added per
    batch; only exclusions, failures and queued recipients become
    ``LedgerEntry`` values here.

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
        The rows to record as they are (EXCLUDED, FAILED, QUEUED), and the new
        PENDING rows due now ``(message, due_at, timezone)``, still to pass the
        send-time gate (:func:`gate_needed`, :func:`admit`): for a one-action run
        due at one instant, a :class:`~campaignkit.domain.ledger_rows.PendingRows`.
    """
    entries: list[LedgerEntry] = []
    seen: set[str] = set()
    work = _ActionWork.of(plan, suppressed, limits)
    all_todo = work.todo
    simple, nominal, unknown = timing.simple, timing.nominal, UNKNOWN_PROFILE_TYPE
    namespace, marketing, shared_context = work.namespace, work.marketing, work.shared_context
    # a run due at one instant keeps its ready rows as columns (see PendingRows)
    columns = _Columns()
    ready = columns if simple else None
    rows: list[PendingRow] = []  # a run with waves or time zones: (message, due_at, zone)
    messages = columns.messages
    send, sent_to = messages.append, columns.profile_ids.append
    ids = [profile.id for profile in batch]
    check = bool(recorded) or len(set(ids)) != len(ids)  # else nobody can be a duplicate
    for profile_id, profile in zip(ids, batch, strict=True):
        todo = all_todo
        if check:
            if recorded or profile_id in seen:
                todo = [w for w in todo if _new_pair(w, profile_id, seen, recorded, tally)]
            seen.add(profile_id)
            if not todo:  # every action was a duplicate
                continue
        if simple:
            # the hot path: what _made and address_or_reason do, inlined, for a recipient
            # every action sends to; anyone else (an exclusion, a render error, data that
            # raises, a zone to check) is decided again from the start by the reference
            zone: object = profile.timezone  # host data: not always what the type says
            try:
                if (zone is not None and type(zone) is not str) or type(profile) is unknown:
                    raise _Reference
                context = shared_context
                if context is None:
                    context = plan.context(profile_id)
                identities = profile.identities
                for (
                    _,
                    action_id,
                    channel,
                    suppressed_here,
                    render,
                    linked,
                    build,
                    by_id,
                    parts,
                ) in todo:
                    # subscripts, not .get: a read-only view's get is a method call on its
                    # dict; a key missing raises, and the reference decides that recipient
                    identity = identities[namespace]
                    if not identity:
                        raise _Reference
                    addresses = profile.channel_data
                    address = addresses[channel] if channel in addresses else None  # noqa: SIM401
                    if not address:
                        address = identity if by_id else None
                        if not address:
                            raise _Reference
                    if marketing and (
                        (suppressed_here and address in suppressed_here)
                        or not profile.consents[channel]
                    ):
                        raise _Reference
                    link = plan.unsubscribe_url(run_id, action_id, profile_id) if linked else None
                    fields = render(
                        profile.attributes,
                        context,
                        _NO_LINK if link is None else {"unsubscribe_url": link},
                    )
                    if parts is None:
                        message = build(profile_id, address, fields, link)
                    else:  # build's own work, inlined (ledger_rows.builder_parts)
                        values = parts[0]()
                        values["profile_id"] = profile_id
                        values["address"] = address
                        values["idempotency_key"] = parts[1] + profile_id
                        values["fields"] = _frozen(fields)
                        if link is not None:  # else the shared None
                            values["unsubscribe_url"] = link
                        message = _new_message(Message)
                        _set_message_dict(message, values)
                    send(message)
                    sent_to(profile_id)
                if zone is not None:  # one row per action, just appended
                    columns.zoned(len(messages) - len(todo), zone)
                continue
            except Exception:  # decided again below, by the reference
                pass
            columns.unsent(profile_id)
        _decide_one(run_id, plan, work, todo, profile, timing, now, tally, entries, ready or rows)
    if ready is None:
        return entries, rows
    _count_ready(work.action_ids, messages, tally)
    return entries, ready.rows(nominal, len(work.action_ids) == 1)


def _count_ready(action_ids: Sequence[str], ready: Sequence[Message], tally: Tally) -> None:
    """Count the messages ready now as targeted and pending, per action, once per batch."""
    per_action = dict.fromkeys(action_ids, 0)
    if len(per_action) == 1:
        per_action[action_ids[0]] = len(ready)
    else:
        for message in ready:
            per_action[message.action_id] += 1
    for action_id, count in per_action.items():
        if count:
            tally.add(action_id, "targeted", count)
            tally.add(action_id, "pending", count)


class _Reference(Exception):
    """The hot path leaves this recipient to the reference (:func:`_decide_one`)."""


class _Columns:
    """The rows ready now of a run due at one instant, kept as columns by ``decide_batch``.

    The hot loop appends to :attr:`messages` and :attr:`profile_ids` itself;
    the reference (:func:`_decide_one`) appends whole rows.
    """

    __slots__ = ("messages", "profile_ids", "zones")

    def __init__(self) -> None:
        self.messages = FreshMessages()
        self.profile_ids: list[str] = []
        self.messages.profile_ids = self.profile_ids
        self.zones: dict[int, str] = {}

    def unsent(self, profile_id: str) -> None:
        """Drop the rows the hot loop appended for ``profile_id`` before it failed.

        They are the last ones: a recipient's rows are appended together, and a
        profile met twice in a batch reaches the hot loop once at most.
        """
        profile_ids = self.profile_ids
        while profile_ids and profile_ids[-1] == profile_id:
            profile_ids.pop()
            self.messages.pop()

    def zoned(self, start: int, zone: str) -> None:
        """Rows ``start`` onwards (one recipient's) are in time zone ``zone``."""
        for number in range(start, len(self.messages)):
            self.zones[number] = zone

    def append(self, row: PendingRow) -> None:
        """Add one row ``(message, due_at, zone)`` (its due time is the run's instant)."""
        message, _, zone = row
        self.messages.append(message)
        self.profile_ids.append(message.profile_id)
        if zone is not None:
            self.zoned(len(self.messages) - 1, zone)

    def rows(self, due_at: pendulum.DateTime | None, one_action: bool) -> Sequence[PendingRow]:
        """The rows, due at ``due_at``: as columns for one action, else as a list of rows."""
        if one_action:
            return PendingRows(self.messages, due_at, self.zones)
        return list(PendingRows(self.messages, due_at, self.zones))


def _decide_one(  # noqa: PLR0917 - private, the loop body of decide_batch
    run_id: str,
    plan: Plan,
    work: _ActionWork,
    todo: Sequence[_Work],
    profile: Profile,
    timing: Timing,
    now: pendulum.DateTime,
    tally: Tally,
    entries: list[LedgerEntry],
    ready: list[PendingRow] | _Columns,
) -> None:
    """Decide one recipient's actions (the reference of decide_batch's hot path)."""
    made = _made(run_id, plan, work, todo, profile) or []  # [] for a plan without actions
    given: object = profile.timezone  # host data: not always what the type says
    zone = given if isinstance(given, str) else None
    simple = timing.simple
    due = None
    if not simple or (given is not None and zone is None):
        due = _due(run_id, timing, profile, todo=todo, made=made, plan=plan)
    for item in made:
        if type(item) is LedgerEntry:
            tally.entry(item)
            entries.append(item)
            continue
        message: Message = item  # type: ignore[assignment]
        if simple:
            ready.append((message, timing.nominal, zone))  # counted by decide_batch
            continue
        if due is None:
            continue  # its profile failed while being timed (recorded as FAILED)
        _place(message, due, zone, plan=plan, now=now, tally=tally, entries=entries, ready=ready)  # type: ignore[arg-type]  # not simple: a list


_Work: TypeAlias = tuple[
    Action,
    str,
    ChannelType,
    set[str],
    "Renderer",
    bool,
    MessageBuilder,
    bool,
    "tuple[Callable[[], dict[str, object]], str] | None",
]
"""One action as deciding needs it.

The action, its id, its channel, the batch's suppressed addresses on it, its
renderer, whether its messages carry an unsubscribe URL (or fail for want of
one), its message builder, whether the identity is the address on its channel,
and the builder's parts when the hot loop may do its work itself
(:func:`~campaignkit.domain.ledger_rows.builder_parts`).
"""
Renderer: TypeAlias = Callable[
    [Mapping[str, Any], Mapping[str, Any], Mapping[str, str]], dict[str, str]
]


@attrs.frozen
class _ActionWork:
    """What deciding one (profile, action) needs, gathered once per batch."""

    todo: list[_Work]
    action_ids: tuple[str, ...]
    namespace: str
    marketing: bool
    shared_context: Mapping[str, Any] | None
    """The context every recipient sees (None: a unitary trigger's, per recipient)."""

    @classmethod
    def of(
        cls, plan: Plan, suppressed: Mapping[ChannelType, set[str]], limits: RenderLimits
    ) -> _ActionWork:
        todo = [
            (
                action,
                action.id,
                action.channel,
                suppressed.get(action.channel, _NONE),
                plan.contents[action.id].renderer(limits),
                action.id in plan.links or action.id in plan.unlinked,
                plan.builders[action.id],
                identity_is_address(plan.version.namespace or "", action.channel),
                builder_parts(plan.builders[action.id]),
            )
            for action in plan.actions
        ]
        return cls(
            todo,
            tuple(a.id for a in plan.actions),
            plan.version.namespace or "",
            plan.campaign.category is Category.MARKETING,
            None if plan.contexts else plan.shared_context,
        )


_NONE: set[str] = set()


def _new_pair(
    work: _Work,
    profile_id: str,
    seen: set[str],
    recorded: set[tuple[str, str]],
    tally: Tally,
) -> bool:
    """False (counted as a duplicate) when the (action, profile) already has its one outcome."""
    action_id = work[1]
    if profile_id in seen or (action_id, profile_id) in recorded:
        tally.exclude(action_id, ExclusionReason.DUPLICATE)
        return False
    return True


def _made(
    run_id: str,
    plan: Plan,
    work: _ActionWork,
    todo: Sequence[_Work],
    profile: Profile,
) -> list[LedgerEntry | Message] | None:
    """Each action's message for ``profile``, or its exclusion or failure.

    Recipient data comes from host adapters and may never have been
    checked: anything that makes deciding or rendering raise fails this
    recipient (FAILED, with the reason) for every action, and nobody else.
    """
    profile_id = profile.id
    campaign_id = plan.campaign.id
    namespace, marketing = work.namespace, work.marketing
    context = work.shared_context
    made: list[LedgerEntry | Message] = []
    try:
        if context is None:
            context = plan.context(profile_id)
        for action, action_id, channel, suppressed, render, linked, build, _, _ in todo:
            found = address_or_reason(profile, channel, namespace, marketing, suppressed)
            if type(found) is ExclusionReason:
                made.append(unsent(run_id, campaign_id, action, profile_id, reason=found))
                continue
            try:
                link = plan.unsubscribe_url(run_id, action_id, profile_id) if linked else None
                fields = render(
                    profile.attributes,
                    context,
                    _NO_LINK if link is None else {"unsubscribe_url": link},
                )
            except MissingAttribute:
                made.append(
                    unsent(
                        run_id,
                        campaign_id,
                        action,
                        profile_id,
                        reason=ExclusionReason.MISSING_ATTRIBUTE,
                    )
                )
                continue
            except TemplateFailed as exc:
                made.append(unsent(run_id, campaign_id, action, profile_id, error=str(exc)))
                continue
            made.append(build(profile_id, found, fields, link))
    except Exception as exc:
        made = _failed(run_id, plan, todo, profile_id, exc)
    return made or None


_NO_LINK: Mapping[str, str] = {}


def _failed(
    run_id: str,
    plan: Plan,
    todo: Sequence[_Work],
    profile_id: str,
    exc: Exception,
) -> list[LedgerEntry | Message]:
    """Every action of a recipient whose data could not be used, FAILED with the reason."""
    error = f"the recipient's profile data cannot be used: {describe(exc)}"
    campaign_id = plan.campaign.id
    return [unsent(run_id, campaign_id, w[0], profile_id, error=error) for w in todo]


def _due(
    run_id: str,
    timing: Timing,
    profile: Profile,
    *,
    todo: Sequence[_Work],
    made: list[LedgerEntry | Message],
    plan: Plan,
) -> Due | None:
    """When a recipient with messages is due; None when their data cannot tell (all FAILED).

    A run due at one instant for everyone (``timing.simple``) only reads the
    profile's zone, which the runner asks for when it is neither text nor None:
    it does not time anyone there, but bad profile data fails the recipient
    whatever the schedule. None is returned then too.
    """
    if all(type(item) is LedgerEntry for item in made):
        return None
    try:
        if not timing.simple:
            return timing.due(profile)
        recipient_zone(profile.timezone, timing.schedule.timezone)
    except Exception as exc:
        made[:] = _failed(run_id, plan, todo, profile.id, exc)
    return None


def _place(
    message: Message,
    due: Due,
    zone: object,
    *,
    plan: Plan,
    now: pendulum.DateTime,
    tally: Tally,
    entries: list[LedgerEntry],
    ready: list[PendingRow],
) -> None:
    """A rendered message of a run with waves or profile time zones: now, later, or never."""
    action_id = message.action_id
    tally.add(action_id, "targeted")
    if due.fell_back and plan.version.schedule.use_profile_timezone:
        tally.add(action_id, "timezone_fallbacks")
    timezone = zone if isinstance(zone, str) else None
    if due.at is None:
        entry = pending_entry((message, None, timezone))
        entries.append(excluded(entry, ExclusionReason.BEYOND_WAVES))
        tally.exclude(action_id, ExclusionReason.BEYOND_WAVES, targeted=0)
        return
    tally.add(action_id, "pending")
    if due.at > now:
        entries.append(queued(pending_entry((message, due.at, timezone)), due.at))
        return
    if due.at < now and plan.version.schedule.use_profile_timezone:
        tally.add(action_id, "late")  # their slot passed before the run reached them
    ready.append((message, due.at, timezone))


@attrs.frozen
class PreparedBatch:
    """A decided batch, ready to record and send.

    Attributes:
        entries: Rows to record as they are (EXCLUDED, FAILED, QUEUED; and, when
            the gate ran, the PENDING entries it let through).
        rows: New PENDING rows in their compact form (when the gate did not run).
        sending: What to hand to the channels now: messages or PENDING entries.
        rate: The run's rate-limit slots after the batch.
        wave_filled: Recipients placed in each wave so far.
    """

    entries: list[LedgerEntry]
    rows: Sequence[PendingRow]
    sending: Sequence[LedgerEntry | Message]
    rate: RateState
    wave_filled: tuple[int, ...]


def prepare_batch(
    store: Store,
    run: Run,
    plan: Plan,
    batch: Sequence[Profile],
    *,
    recorded: set[tuple[str, str]],
    suppressed: Mapping[ChannelType, set[str]],
    audience_size: int | None,
    limits: RenderLimits,
    tally: Tally,
    now: pendulum.DateTime,
) -> PreparedBatch:
    """Decide, render and time a batch, and pass what is due through the gate if needed.

    Args:
        store: Read for recent contacts when a frequency cap applies.
        run: The run as loaded for this batch (its waves and rate slots).
        plan: The run's plan.
        batch: The audience members.
        recorded: The ``(action_id, profile_id)`` pairs the run's ledger already has.
        suppressed: Suppressed addresses per channel (:func:`suppressed_in`).
        audience_size: The audience's size when the run has waves, else None.
        limits: The render limits of one message.
        tally: Counts to add the batch's rows to.
        now: The tick's instant.
    """
    timing = Timing(
        plan.campaign.id, plan.version.schedule, run.nominal, audience_size, list(run.wave_filled)
    )
    entries, ready = decide_batch(
        run.id,
        plan,
        batch,
        recorded=recorded,
        suppressed=suppressed,
        timing=timing,
        limits=limits,
        tally=tally,
        now=now,
    )
    rate = RateState(dict(run.rate_sent), dict(run.rate_origin))
    filled = tuple(timing.wave_filled)
    # on a run due at once, every row ready now is due at the run's instant
    due = [timing.nominal] if timing.simple else [row[1] for row in ready]
    if ready and gate_needed(plan.gate_rules, due, now):
        checked = [pending_entry(row) for row in ready]
        sending = admit(store, plan, checked, rate=rate, tally=tally, now=now, out=entries)
        return PreparedBatch(entries, (), sending, rate, filled)
    # nothing to check: the messages go as they are
    messages = ready.messages if type(ready) is PendingRows else [row[0] for row in ready]
    return PreparedBatch(entries, ready, messages, rate, filled)


def describe(exc: BaseException) -> str:
    """An exception as a short reason (type and message, at most 500 characters).

    Args:
        exc: The exception.

    Returns:
        ``"Type: message"``, cut to 500 characters.
    """
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 500 else text[:497] + "..."
