"""Handing messages to the channels, checking their answers, recording the outcomes.

Also settles PENDING entries a crash left between intent and outcome: each is
looked up through its channel (if it can) or re-sent with the same idempotency key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import pendulum

from campaignkit.delivery import runlog
from campaignkit.delivery.plan import Plan
from campaignkit.delivery.recording import Recorder
from campaignkit.domain.delivery import (
    Accepted,
    LedgerEntry,
    Message,
    PermanentFailure,
    Run,
    SendResult,
    TransientFailure,
    idempotency_key,
)
from campaignkit.domain.ledger_rows import FreshMessages, HandedOver
from campaignkit.errors import DeliveryError
from campaignkit.ports import Channel, LookupChannel, Store, UnitOfWork

_RESULTS = (Accepted, TransientFailure, PermanentFailure)
_RESULT_TYPES = frozenset(_RESULTS)
logger = logging.getLogger("campaignkit.delivery")


class Handover:
    """Sends ledger entries through their channels and records one outcome for each.

    Args:
        store: Read for PENDING entries left by a crash.
        recorder: Writes the outcomes (with counts and lease renewal).
        max_attempts: Sends per message before a transient failure becomes final.
        batch_size: How many PENDING entries to settle at a time.
    """

    def __init__(
        self, store: Store, recorder: Recorder, *, max_attempts: int, batch_size: int
    ) -> None:
        self._store = store
        self._recorder = recorder
        self._max_attempts = max_attempts
        self._batch_size = batch_size

    def deliver(
        self,
        run_id: str,
        plan: Plan,
        entries: Sequence[LedgerEntry | Message],
        now: pendulum.DateTime,
        *,
        retry: bool,
        then: Callable[[UnitOfWork, Run], Run] | None = None,
        held: Run | None = None,
        park: bool = False,
    ) -> Run:
        """Hand PENDING entries to their channels, then record the outcomes.

        A channel that raises, answers the wrong number of results or something
        that is not a send result fails its whole group transiently.

        Args:
            run_id: The run.
            plan: The run's plan (the channel of each action).
            entries: PENDING entries carrying their rendered message, or (the hot
                path) the messages of entries recorded PENDING for the first time.
            now: The tick's instant.
            retry: True when the entries were RETRY (their attempts count on).
            then: Called in the outcomes' transaction (see ``Recorder.outcomes``).
            held: The run as this worker last saved it (see ``Recorder.outcomes``).
            park: Let the outcomes' ``COMMIT`` be parked (see ``Recorder.outcomes``).

        Returns:
            The run as the outcomes left it.

        Raises:
            LeaseLost: another worker took the run over before the outcomes were written.
        """
        if type(entries) is FreshMessages and entries:  # fresh intents of one action (hot path)
            answers = self._send(plan.channels[entries[0].action_id], tuple(entries))
            failed, saved = self._recorder.outcomes(
                run_id,
                HandedOver(entries, answers),
                now,
                retry=retry,
                then=then,
                held=held,
                park=park,
            )
            runlog.failures(run_id, plan.campaign.id, failed)
            return saved
        outcomes: list[tuple[LedgerEntry | Message, SendResult]] = []
        action_ids = [entry.action_id for entry in entries]
        by_action: dict[str, Sequence[LedgerEntry | Message]]
        if len(set(action_ids)) == 1:  # one action (the hot path): one group as it is
            by_action = {action_ids[0]: entries}
        else:
            groups: dict[str, list[LedgerEntry | Message]] = {}
            for entry, action_id in zip(entries, action_ids, strict=True):
                groups.setdefault(action_id, []).append(entry)
            by_action = dict(groups)
        for action_id, group in by_action.items():
            # a tuple: the channel cannot change what the answers are matched with
            if LedgerEntry in set(map(type, group)):
                messages = tuple(e if type(e) is not LedgerEntry else e.message for e in group)
            else:  # messages of fresh intents (the hot path)
                messages = tuple(group)
            results = self._send(plan.channels[action_id], messages)  # type: ignore[arg-type]
            outcomes.extend(zip(group, results, strict=True))
        failed, saved = self._recorder.outcomes(
            run_id, outcomes, now, retry=retry, then=then, held=held, park=park
        )
        runlog.failures(run_id, plan.campaign.id, failed)
        return saved

    @staticmethod
    def _send(channel: Channel, messages: tuple[Message, ...]) -> Sequence[SendResult]:
        """One channel call, its answer checked: one send result per message, in order.

        Any iterable answer is taken (a generator, a ``map``), as a list.
        """
        try:
            answered: Sequence[object] = channel.send(messages)
            if not isinstance(answered, (list, tuple)):
                answered = list(answered)
            if len(answered) != len(messages):
                raise DeliveryError(
                    f"channel answered {len(answered)} results for {len(messages)} messages"
                )
            if not _RESULT_TYPES.issuperset(map(type, answered)):  # subclasses, or bad answers
                for result in answered:
                    if not isinstance(result, _RESULTS):  # never leave an entry without an outcome
                        raise DeliveryError(
                            f"channel answered {type(result).__name__}, not Accepted, "
                            "TransientFailure or PermanentFailure"
                        )
        except Exception as exc:  # a channel may fail in any way: retry the batch
            return [TransientFailure(f"{type(exc).__name__}: {exc}")] * len(messages)
        return answered  # type: ignore[return-value]  # every item was checked above

    def reconcile(self, run_id: str, plan: Plan, now: pendulum.DateTime) -> bool:
        """Settle one batch of PENDING entries left by a crash: look them up, else re-send them.

        Args:
            run_id: The run.
            plan: The run's plan.
            now: The tick's instant.

        Returns:
            False when the run had no PENDING entry left (nothing was done).
        """
        with self._store.unit_of_work() as uow:
            pending = list(uow.ledger.pending(run_id, self._batch_size))
        if not pending:
            return False
        unknown: list[LedgerEntry] = []
        known: list[tuple[LedgerEntry | Message, SendResult]] = []
        for entry in pending:
            found = _looked_up(plan.channels.get(entry.action_id), entry)
            if found is None:
                unknown.append(entry)
            else:
                known.append((entry, found))
        if known:
            failed, _ = self._recorder.outcomes(run_id, known, now, retry=False)
            runlog.failures(run_id, plan.campaign.id, failed)
        if unknown:
            self.deliver(run_id, plan, unknown, now, retry=False)
        return True


def _looked_up(channel: Channel | None, entry: LedgerEntry) -> SendResult | None:
    """What the channel knows of an entry's message, or None (unknown: it is re-sent).

    A lookup that raises (the provider's API is down) or answers something that is
    not a send result counts as unknown: the message is re-sent with its
    idempotency key, as for a channel that cannot look up.
    """
    if not isinstance(channel, LookupChannel):
        return None
    key = idempotency_key(*entry.key)
    try:
        found: object = channel.lookup(key)
    except Exception:  # a provider's error must not fail the run: re-send instead
        logger.warning("lookup of message %s failed; it is sent again", key, exc_info=True)
        return None
    return found if isinstance(found, _RESULTS) else None
