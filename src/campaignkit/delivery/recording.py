"""Writing a run's ledger: intents before a batch goes out, outcomes after.

Each write is one transaction that also updates the run's counts and
renews its lease from the clock, and each first checks that this worker
still holds the lease (a worker that lost it writes nothing).
"""

from __future__ import annotations

import functools
import logging
import operator
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import pendulum

from campaignkit.concurrency import can_park, parked_commits
from campaignkit.delivery.gate import RateState
from campaignkit.delivery.lease import Leases
from campaignkit.delivery.tally import Tally, moved
from campaignkit.domain.campaign import Action
from campaignkit.domain.campaign_enums import CampaignStatus
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.copying import evolve
from campaignkit.domain.delivery import (
    MAX_RETRY_AFTER,
    Accepted,
    ExclusionReason,
    LedgerEntry,
    LedgerState,
    Message,
    OutcomeRow,
    PendingRow,
    Run,
    SendResult,
    TransientFailure,
    backoff,
    idempotency_key,
    pending_entry,
)
from campaignkit.domain.ledger_rows import AcceptedRows, ContactBatch, HandedOver, PendingRows
from campaignkit.errors import ConflictError
from campaignkit.ports import Store, UnitOfWork

_log = logging.getLogger("campaignkit.delivery")
_item, _result = operator.itemgetter(0), operator.itemgetter(1)


@attrs.frozen
class Recorder:
    """Records a worker's ledger entries, counts and run state.

    Attributes:
        store: Where the ledger and runs are.
        leases: This worker's leases (checked and renewed at every write).
        max_attempts: Sends per message before a transient failure is final.
        retry_base: Backoff before the first retry.
        retry_cap: The longest backoff.
    """

    store: Store
    leases: Leases
    max_attempts: int
    retry_base: pendulum.Duration
    retry_cap: pendulum.Duration

    def intents(
        self,
        run_id: str,
        entries: list[LedgerEntry],
        tally: Tally,
        now: pendulum.DateTime,
        *,
        position: int | None = None,
        wave_filled: tuple[int, ...] | None = None,
        rate: RateState | None = None,
    ) -> bool:
        """Write entries, counts and run state in one transaction; False if halted meanwhile.

        When the campaign stopped while the batch was prepared, PENDING entries
        are recorded as excluded (``stopped``) instead: none of them goes out.

        Raises:
            LeaseLost: another worker took the run over; nothing was written.
        """
        with self.store.unit_of_work() as uow:
            run = self.leases.owned(uow, run_id)
            live, _ = self.write_intents(
                uow,
                run,
                entries,
                (),
                tally=tally,
                now=now,
                position=position,
                wave_filled=wave_filled,
                rate=rate,
            )
        return live

    def write_intents(
        self,
        uow: UnitOfWork,
        run: Run,
        entries: list[LedgerEntry],
        rows: Sequence[PendingRow],
        *,
        tally: Tally,
        now: pendulum.DateTime,
        position: int | None = None,
        wave_filled: tuple[int, ...] | None = None,
        rate: RateState | None = None,
        streamed: bool = False,
        live: bool | None = None,
    ) -> tuple[bool, Run]:
        """:meth:`intents` inside the caller's unit of work, on the run it loaded as owned.

        ``rows`` are new PENDING entries in their compact form (the hot path),
        recorded with ``entries``; ``streamed`` marks the run's last batch;
        ``live`` is whether the campaign is LIVE when the caller read it in this
        same unit of work (None: it is read here).

        Returns:
            Whether the campaign is still LIVE (if not, PENDING entries were recorded
            as ``stopped``), and the run as saved.
        """
        if live is None:
            live = uow.campaigns.status(run.campaign_id) is CampaignStatus.LIVE
        if not live:
            entries = [*entries, *(pending_entry(row) for row in rows)]
            rows = ()
            for entry in entries:
                if entry.state is LedgerState.PENDING:
                    tally.add(entry.action_id, "pending", -1)
                    tally.exclude(entry.action_id, ExclusionReason.STOPPED, targeted=0)
            entries = [stopped(e) if e.state is LedgerState.PENDING else e for e in entries]
        if entries:
            uow.ledger.put(entries)
            record_contacts(uow, entries, now)
        if rows:
            uow.ledger.add_pending(rows)
            record_sends(uow, rows, now)
        expires = self.leases.expiry()
        changes: dict[str, Any] = {
            "counts": tally.merged_into(run.counts),
            "lease_expires_at": expires,
            "due_at": expires,
        }
        if position is not None:
            changes["position"] = position
        if wave_filled is not None:
            changes["wave_filled"] = wave_filled
        if rate is not None:
            changes["rate_sent"] = rate.sent
            changes["rate_origin"] = rate.origin
        if streamed and live:
            changes["streamed"] = True
        return live, uow.runs.save(evolve(run, **changes))

    def outcomes(
        self,
        run_id: str,
        outcomes: Sequence[tuple[LedgerEntry | Message, SendResult]],
        now: pendulum.DateTime,
        *,
        retry: bool,
        then: Callable[[UnitOfWork, Run], Run] | None = None,
        held: Run | None = None,
        park: bool = False,
    ) -> tuple[list[tuple[LedgerEntry | Message, str]], Run]:
        """Record what the channels answered: SENT, RETRY with a backoff, or FAILED.

        Each outcome pairs the PENDING entry (or, on the hot path, the message of a
        PENDING entry handed over for the first time) with the channel's answer.
        Writes one narrow update per entry (``ledger.settle``), the counts and the
        lease renewal, in one transaction; ``then`` (if given) is called in it with
        the run as changed but not yet saved, saves it and returns it as saved (the
        runner ends a run there when nothing is left to do). ``held`` is the run
        as this worker last saved it: it is not read again, and if the stored run
        moved on meanwhile (a lease renewal, another worker), its save at a stale
        revision raises ``ConflictError``, the unit is undone and the outcomes are
        recorded reading the run (which raises ``LeaseLost`` if the run was taken).

        With ``park`` (and ``held``, and no ``then``) the transaction may be
        parked (:func:`campaignkit.concurrency.parked_commits`): its ``COMMIT``
        is then answered when the store's next unit begins, and if its check
        failed it is recorded again then, reading the run; the run returned is
        ``held`` as the transaction saves it.

        Returns:
            What was recorded FAILED, with the error (for the run log), and the run
            as saved.

        Raises:
            LeaseLost: another worker took the run over; nothing was written.
        """
        accepted = _accepted_first_sends(outcomes)  # the hot path, else None
        rows: list[OutcomeRow] = []
        failed: list[tuple[LedgerEntry | Message, str]] = []
        never_sent: dict[ChannelType, list[tuple[str, str]]] = {}  # their contacts are undone
        sent_actions: list[str] = []  # counted at once after the loop
        tally = Tally()
        max_attempts = self.max_attempts
        sent_state = LedgerState.SENT
        for item, result in () if accepted is not None else outcomes:
            if type(result) is Accepted and type(item) is not LedgerEntry:  # a first hand-over
                action_id = item.action_id
                rows.append(
                    (
                        action_id,
                        item.profile_id,
                        sent_state,
                        1,
                        result.provider_message_id,
                        None,
                        None,
                    )
                )
                sent_actions.append(action_id)
                continue
            entry = item if type(item) is LedgerEntry else None
            attempts = 1 if entry is None else entry.attempts + 1
            action_id, profile_id = item.action_id, item.profile_id
            if isinstance(result, Accepted):  # the common case first, with nothing else to work out
                rows.append(
                    (
                        action_id,
                        profile_id,
                        sent_state,
                        attempts,
                        result.provider_message_id,
                        None,
                        None,
                    )
                )
                sent_actions.append(action_id)
                continue
            key = idempotency_key(*entry.key) if entry is not None else item.idempotency_key  # type: ignore[union-attr]
            if isinstance(result, TransientFailure) and attempts < max_attempts:
                delay = (
                    backoff(key, attempts, base=self.retry_base, cap=self.retry_cap)
                    if result.retry_after is None
                    else pendulum.duration(seconds=min(result.retry_after, MAX_RETRY_AFTER))
                )
                rows.append(
                    (
                        action_id,
                        profile_id,
                        LedgerState.RETRY,
                        attempts,
                        None,
                        result.error,
                        now + delay,
                    )
                )
                continue
            error = result.error
            rows.append((action_id, profile_id, LedgerState.FAILED, attempts, None, error, None))
            never_sent.setdefault(item.channel, []).append((profile_id, key))
            failed.append((item, error))
            tally.add(action_id, "failed")
            tally.add(action_id, "pending", -1)
        settled: Sequence[OutcomeRow] = rows
        if accepted is not None:
            settled = accepted
            sent_actions = accepted.action_ids  # type: ignore[assignment]  # read only
        for action_id, count in _per_action(sent_actions).items():
            tally.add(action_id, "sent", count)
            tally.add(action_id, "pending", -count)
        if retry:
            for item, _ in outcomes:
                tally.add(item.action_id, "retries")
        try:
            if park and held is not None and then is None and can_park(self.store):
                again = functools.partial(
                    self._settled, run_id, None, settled, never_sent, tally, None
                )
                with parked_commits(again):
                    return failed, self._settled(run_id, held, settled, never_sent, tally, None)
            saved = self._settled(run_id, held, settled, never_sent, tally, then)
        except ConflictError:
            if held is None:
                raise
            saved = self._settled(run_id, None, settled, never_sent, tally, then)  # read it
        return failed, saved

    def _settled(  # noqa: PLR0917 - private, the transaction of outcomes
        self,
        run_id: str,
        held: Run | None,
        settled: Sequence[OutcomeRow],
        never_sent: Mapping[ChannelType, list[tuple[str, str]]],
        tally: Tally,
        then: Callable[[UnitOfWork, Run], Run] | None,
    ) -> Run:
        """The transaction of :meth:`outcomes`; the run as saved."""
        with self.store.unit_of_work() as uow:
            run = self.leases.owned(uow, run_id) if held is None else held
            try:
                uow.ledger.settle(run_id, settled)
            except ConflictError:  # the channel answered a provider id another message holds
                uow.ledger.settle(run_id, unique_provider_ids(uow, run_id, settled))
            for channel, gone in never_sent.items():
                uow.contacts.forget(channel, gone)
            expires = self.leases.expiry()
            changed = evolve(
                run,
                counts=tally.merged_into(run.counts),
                lease_expires_at=expires,
                due_at=expires,
            )
            # ``then`` saves the run itself: an ending is one write of the run, not two
            return uow.runs.save(changed) if then is None else then(uow, changed)


def _per_action(action_ids: Sequence[str]) -> Mapping[str, int]:
    """How many of ``action_ids`` name each action (one action: compared by identity, in C)."""
    if not action_ids:
        return {}
    first = action_ids[0]
    if action_ids.count(first) == len(action_ids):
        return {first: len(action_ids)}
    return Counter(action_ids)


def _accepted_first_sends(
    outcomes: Sequence[tuple[LedgerEntry | Message, SendResult]],
) -> AcceptedRows | None:
    """The SENT rows of ``outcomes``, as columns, if every one is a first hand-over accepted."""
    if type(outcomes) is HandedOver:  # fresh intents of one action, as columns
        answers = outcomes.results
        if {Accepted} != set(map(type, answers)):
            return None
        messages = outcomes.messages
        return AcceptedRows(
            [messages[0].action_id] * len(messages),
            messages.profile_ids,
            [result.provider_message_id for result in answers],  # type: ignore[union-attr]
        )
    results = list(map(_result, outcomes))
    items = list(map(_item, outcomes))
    if {Accepted} != set(map(type, results)) or LedgerEntry in set(map(type, items)):
        return None
    return AcceptedRows(
        [item.action_id for item in items],
        [item.profile_id for item in items],
        [result.provider_message_id for result in results],
    )


def unique_provider_ids(
    uow: UnitOfWork, run_id: str, rows: Sequence[OutcomeRow]
) -> list[OutcomeRow]:
    """``rows`` with every provider id another message already holds dropped.

    Some providers answer one id per batch, or reuse ids. The message was
    accepted all the same, so it is recorded SENT, without the provider id
    (feedback cannot reach it), and a WARNING says so; refusing the write
    instead would leave the run due again and re-send the batch without end.
    Only called after the ledger refused a write, so the hot path pays nothing.
    """
    seen: set[str] = set()
    kept: list[OutcomeRow] = []
    dropped = 0
    for row in rows:
        action_id, profile_id, state, attempts, provider_id, error, next_attempt_at = row
        if provider_id is not None:
            holder = uow.ledger.by_provider_id(provider_id)
            if provider_id in seen or (
                holder is not None and holder.key != (run_id, action_id, profile_id)
            ):
                kept.append((action_id, profile_id, state, attempts, None, error, next_attempt_at))
                dropped += 1
                continue
            seen.add(provider_id)
        kept.append(row)
    _log.warning(
        "the channel answered %d provider message id(s) that other messages already hold; "
        "those messages are recorded as sent without a provider id, so feedback cannot "
        "reach them: make the channel return one id per message",
        dropped,
    )
    return kept


def record_contacts(
    uow: UnitOfWork, entries: Sequence[LedgerEntry], now: pendulum.DateTime
) -> None:
    """Count marketing messages about to go out towards frequency caps, with their intent.

    Recorded once, at the first hand-over (a retry, a reconcile or a takeover
    re-sends without recording again), so a message in flight counts even if
    its worker dies and is dated when it was first handed over. It is keyed by
    its idempotency key, so a permanent failure can undo it (``forget``).
    """
    by_channel: dict[ChannelType, tuple[list[tuple[str, pendulum.DateTime]], list[str]]] = {}
    for entry in entries:
        message = entry.message
        if entry.state is not LedgerState.PENDING or message is None or message.transactional:
            continue
        if entry.attempts == 0:  # retries and re-sends were counted when first handed over
            people, keys = by_channel.setdefault(entry.channel, ([], []))
            people.append((entry.profile_id, now))
            keys.append(message.idempotency_key)
    for channel, (people, keys) in by_channel.items():
        uow.contacts.record(channel, people, keys)


def record_sends(uow: UnitOfWork, rows: Sequence[PendingRow], now: pendulum.DateTime) -> None:
    """:func:`record_contacts` for new PENDING rows (the hot path): marketing messages count."""
    if type(rows) is PendingRows:  # one action's messages (one campaign, one channel)
        fresh = rows.messages
        if fresh and not fresh[0].transactional:
            uow.contacts.record(
                fresh[0].channel,
                ContactBatch(fresh.profile_ids, now),
                [m.idempotency_key for m in fresh],
            )
        return
    messages = [row[0] for row in rows if not row[0].transactional]
    channels = {message.channel for message in messages}
    by_channel: dict[ChannelType, list[Message]] = {}
    if len(channels) == 1:  # one channel (the hot path): one group as it is
        by_channel[channels.pop()] = messages
    else:
        for message in messages:
            by_channel.setdefault(message.channel, []).append(message)
    for channel, group in by_channel.items():
        uow.contacts.record(
            channel,
            ContactBatch([m.profile_id for m in group], now),
            [m.idempotency_key for m in group],
        )


def unsent(
    run_id: str,
    campaign_id: str,
    action: Action,
    profile_id: str,
    *,
    reason: ExclusionReason | None = None,
    error: str | None = None,
) -> LedgerEntry:
    """An entry EXCLUDED for ``reason``, or FAILED with ``error`` (never sent)."""
    state = LedgerState.FAILED if error is not None else LedgerState.EXCLUDED
    return LedgerEntry(
        run_id, action.id, profile_id, campaign_id, action.channel, state, reason, error=error
    )


def stopped(entry: LedgerEntry) -> LedgerEntry:
    """The entry excluded because its campaign stopped."""
    return moved(entry, LedgerState.EXCLUDED, reason=ExclusionReason.STOPPED)
