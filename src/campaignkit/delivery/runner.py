"""Runs: stream the audience once, decide, render, record, send, record.

For each batch of audience members:

1. decide every (profile, action): exclude with a reason, or render the
   message and work out when the recipient is due (wave, own time zone);
   messages due now pass the send-time gate (window, caps, quiet hours, rate
   limit), the others wait QUEUED until their time;
2. **record the intent** in the ledger (one transaction): PENDING entries
   carrying the rendered message, QUEUED and EXCLUDED entries, the new counts
   and the run's resume position;
3. hand the messages to the channels;
4. **record the outcomes** (one transaction): SENT, FAILED, or RETRY with a
   backoff time.

QUEUED and RETRY entries are released when their time comes, through the
same gate and the same intent/outcome steps.

A crash between 2 and 4 leaves PENDING entries: on resume each is looked up
through the channel (if it can) or re-sent with the same idempotency key.
Entries with a recorded outcome are never sent again, and every
(run, action, profile) ends in exactly one outcome.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence

import attrs
import pendulum

from campaignkit.clock import Clock
from campaignkit.delivery import runlog
from campaignkit.delivery.gate import RateState, Verdict, gate
from campaignkit.delivery.lease import LeaseLost, Leases
from campaignkit.delivery.plan import Plan, make_plan
from campaignkit.delivery.recording import Recorder, stopped, unsent
from campaignkit.delivery.render import MissingAttribute, RenderLimits, TemplateFailed
from campaignkit.delivery.sandbox import (
    check_limits,
)
from campaignkit.delivery.tally import Tally, excluded, moved, queued
from campaignkit.delivery.timing import Due, Timing
from campaignkit.domain.campaign import Action
from campaignkit.domain.campaign_enums import CampaignStatus, Category
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import (
    Accepted,
    ExclusionReason,
    LedgerEntry,
    LedgerState,
    Message,
    PermanentFailure,
    Run,
    RunKind,
    RunStatus,
    SendResult,
    TransientFailure,
    idempotency_key,
)
from campaignkit.domain.lifecycle import LifecycleRules, run_finished
from campaignkit.domain.profile import Profile
from campaignkit.domain.proofs import check_cap
from campaignkit.domain.recipients import Exclude, address_of, decide
from campaignkit.domain.unsubscribe import UnsubscribeSigner
from campaignkit.errors import ConflictError, DeliveryError
from campaignkit.ports import (
    AudienceSource,
    Channel,
    LookupChannel,
    Progress,
    RunProgress,
    Store,
    UnitOfWork,
)

logger = logging.getLogger("campaignkit.delivery")

_WARN_REASONS = (ExclusionReason.UNKNOWN_PROFILE, ExclusionReason.MISSING_ATTRIBUTE)
"""Exclusions that usually mean a mistake (a typo in a template, an id never loaded)."""


@attrs.frozen
class DeliverySettings:
    """How runs deliver.

    Attributes:
        batch_size: Audience members per batch (one intent and one outcome
            transaction each).
        max_attempts: Sends per message before a transient failure becomes final.
        retry_base: Backoff before the first retry (doubles each time, with jitter).
        retry_cap: The longest backoff.
        lease: How long a worker owns a run after each renewal (every batch,
            and every third of a lease while it delivers); another worker may
            resume a run whose worker died once this has passed by the clock.
        heartbeat: Renew the lease from a background thread while a run is
            delivered, so a channel call slower than the lease keeps the run.
            Needs a store usable from two threads (both built-in stores are).
        proofs_per_hour: Proof messages one campaign may send in any rolling
            hour (counted from its history, so across processes).
        render_limits: The output cap and render budget of one message
            (``ck.RenderLimits``); a message beyond them is FAILED with the reason.
    """

    batch_size: int = 500
    max_attempts: int = 5
    retry_base: pendulum.Duration = attrs.field(factory=lambda: pendulum.duration(seconds=30))
    retry_cap: pendulum.Duration = attrs.field(factory=lambda: pendulum.duration(hours=1))
    lease: pendulum.Duration = attrs.field(factory=lambda: pendulum.duration(minutes=1))
    heartbeat: bool = True
    proofs_per_hour: int = attrs.field(default=50, validator=check_cap)
    render_limits: RenderLimits = attrs.field(factory=RenderLimits, validator=check_limits)


_RESULTS = (Accepted, TransientFailure, PermanentFailure)


class Paused(Exception):
    """The worker is stopping (``Runner.stop_requested``): hand the run back between batches."""


def _never() -> bool:
    return False


class Runner:
    """Delivers runs. Used by the engine; one instance per kit.

    Args:
        store: Runs, ledger, suppressions and campaigns.
        clock: Read for lease times only (each renewal reads it); the tick's
            instant dates everything else.
        audiences: Streams audience members.
        channels: One channel per channel type.
        settings: Batch size, retries, lease.
        rules: Lifecycle rules (a finished run may let its campaign complete).
        worker_id: Identifies this process in run leases.
        progress: Called after every batch, if given.
        unsubscribe: Signs the unsubscribe URLs of marketing email (the kit's
            signer, when it has a ``secret``).

    Attributes:
        stop_requested: Checked after every batch a run records (and by the
            engine between two pieces of work); once it answers True the run
            in hand stops there, with its lease released, and no further
            work starts. ``kit.run_forever`` sets it to its stop event.
    """

    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        audiences: AudienceSource,
        channels: Mapping[ChannelType, Channel],
        settings: DeliverySettings,
        rules: LifecycleRules,
        worker_id: str,
        progress: Progress | None = None,
        unsubscribe: UnsubscribeSigner | None = None,
    ) -> None:
        self._store = store
        self._rules = rules
        self._audiences = audiences
        self._channels = channels
        self._settings = settings
        self._worker = worker_id
        self._leases = Leases(worker_id, clock, settings.lease)
        self._recorder = Recorder(
            store, self._leases, settings.max_attempts, settings.retry_base, settings.retry_cap
        )
        self.progress = progress
        self._signer = unsubscribe
        self.stop_requested: Callable[[], bool] = _never

    # ------------------------------------------------------------ entry point

    def advance(self, run_id: str, now: pendulum.DateTime) -> Run:
        """Do every piece of work of a run that is due at ``now``.

        Returns the run as saved: final, or with ``due_at`` set to when it next
        has work (a retry), or unchanged when another worker holds its lease.
        A run that cannot go on (its campaign cannot be loaded, an adapter
        raised) is FAILED with the error and a WARNING is logged; it never
        raises out, so the engine goes on with other work.

        Raises:
            ConflictError: another worker wrote the run meanwhile (try it later).
        """
        try:
            claimed = self._claim(run_id, now)
        except ConflictError:
            raise
        except Exception as exc:  # it cannot be planned (no channel, no surface, bad document)
            return self._fail(run_id, now, _describe(exc))
        if claimed is None:
            with self._store.unit_of_work() as uow:
                return uow.runs.get(run_id)
        run, plan = claimed
        try:
            with self._leases.heartbeat(self._store, run_id, enabled=self._settings.heartbeat):
                return self._deliver_run(run, plan, now)
        except LeaseLost:  # another worker took the run over: it records what follows
            with self._store.unit_of_work() as uow:
                return uow.runs.get(run_id)
        except Paused:  # the worker stops: hand the run back so the next worker resumes it now
            self._release(run_id, now)
            with self._store.unit_of_work() as uow:
                run = uow.runs.get(run_id)
            runlog.paused(run)
            return run
        except ConflictError:
            self._release(run_id, now)
            raise
        except Exception as exc:  # an adapter or a bug: this run fails, the others go on
            return self._fail(run_id, now, _describe(exc), owned=True)
        except BaseException:
            # an interrupted delivery (KeyboardInterrupt): hand the run back at once, so
            # this worker or another resumes it without waiting for the lease; a killed
            # process cannot do this, and its lease lapses
            self._release(run_id, now)
            raise

    def _deliver_run(self, run: Run, plan: Plan, now: pendulum.DateTime) -> Run:
        run_id = run.id
        try:
            self._reconcile(run_id, plan, now)
            halted = plan.campaign.status is not CampaignStatus.LIVE
            if not halted:
                halted = (
                    self._stream(run, plan, now)
                    or self._retry(run_id, plan, now)
                    or self._halted(plan)  # stopped during the last batch
                )
            if halted:
                return self._halt(run_id, plan, now)
            return self._settle(run_id, now)
        except DeliveryError as exc:
            return self._fail(run_id, now, str(exc), owned=True)

    def _release(self, run_id: str, now: pendulum.DateTime) -> None:
        with contextlib.suppress(Exception), self._store.unit_of_work() as uow:
            run = uow.runs.get(run_id)
            if run.lease_owner == self._worker and not run.status.is_final:
                uow.runs.save(
                    attrs.evolve(run, lease_owner=None, lease_expires_at=None, due_at=now)
                )

    # ------------------------------------------------------------ claiming

    def _claim(self, run_id: str, now: pendulum.DateTime) -> tuple[Run, Plan] | None:
        with self._store.unit_of_work() as uow:
            run = uow.runs.get(run_id)
            if run.status.is_final:
                return None
            if self._leases.held_elsewhere(run):
                expires = run.lease_expires_at
                assert expires is not None
                if run.due_at is None or run.due_at < expires:
                    # another worker delivers it: due again only when its lease may lapse
                    uow.runs.save(attrs.evolve(run, due_at=expires))
                return None
            campaign = uow.campaigns.get(run.campaign_id)
            lease = self._leases.expiry()
            before = run
            run = uow.runs.save(
                attrs.evolve(
                    run,
                    status=RunStatus.RUNNING,
                    started_at=run.started_at or now,
                    lease_owner=self._worker,
                    lease_expires_at=lease,
                    due_at=lease,  # if this worker dies, the run is due when its lease lapses
                )
            )
            plan = make_plan(uow, campaign, run, self._channels, self._signer)
            runlog.claimed(before, run)
        return run, plan

    def _halted(self, plan: Plan) -> bool:
        """True once the campaign is no longer LIVE (stopped, completed, removed)."""
        with self._store.unit_of_work() as uow:
            status = uow.campaigns.status(plan.campaign.id)
        return status is not CampaignStatus.LIVE

    # ------------------------------------------------------------ streaming

    def _members(self, run: Run, plan: Plan) -> Iterator[tuple[int, Sequence[Profile]]]:
        """Audience batches from the run's resume position, with their start position."""
        if run.kind is RunKind.TRIGGER:
            if run.position < len(run.recipients):
                yield run.position, [r.profile for r in run.recipients[run.position :]]
            return
        audience = plan.version.audience
        if audience is None:
            return
        namespace = plan.version.namespace or ""
        position = 0
        size = self._settings.batch_size
        for batch in self._audiences.members(audience, namespace=namespace, batch_size=size):
            end = position + len(batch)
            if end > run.position:
                skip = max(0, run.position - position)
                yield position + skip, batch[skip:]
            position = end

    def _stream(self, run: Run, plan: Plan, now: pendulum.DateTime) -> bool:
        """Process the audience from the resume position; True if the run was halted."""
        if run.streamed:
            return False
        audience = plan.version.audience
        if run.kind is RunKind.TRIGGER:
            total: int | None = len(run.recipients)
        else:
            total = None if audience is None else self._audiences.count(audience)
        for number, (start, batch) in enumerate(self._members(run, plan), start=1):
            if not self._batch(run.id, plan, start, batch, now):
                return True
            runlog.batch_done(self._store, run.id, number)
            if self.progress is not None:
                with self._store.unit_of_work() as uow:
                    current = uow.runs.get(run.id)
                report = RunProgress(
                    run.id, run.campaign_id, current.position, total, current.total()
                )
                try:
                    self.progress(report)
                except Exception:  # a progress bar's bug must not fail the run
                    logger.exception("campaignkit progress callback %r failed", self.progress)
            if self.stop_requested():
                raise Paused(run.id)
        with self._store.unit_of_work() as uow:
            current = uow.runs.get(run.id)
            uow.runs.save(attrs.evolve(current, streamed=True))
        return False

    def _batch(
        self,
        run_id: str,
        plan: Plan,
        start: int,
        batch: Sequence[Profile],
        now: pendulum.DateTime,
    ) -> bool:
        """Decide, record, send and record one batch; False if the run was halted."""
        namespace = plan.version.namespace or ""
        with self._store.unit_of_work() as uow:
            run = uow.runs.get(run_id)
            recorded = uow.ledger.recorded(run_id, [p.id for p in batch])
            suppressed: dict[ChannelType, set[str]] = {}
            if plan.campaign.category is Category.MARKETING:
                for action in plan.actions:
                    addresses = [a for p in batch if (a := _address(p, action.channel, namespace))]
                    suppressed[action.channel] = uow.suppressions.suppressed(
                        action.channel, addresses
                    )
        timing = self._timing(run, plan)
        tally = Tally()
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
            decided, due = self._decided(
                run_id, plan, profile, actions=todo, suppressed=suppressed, timing=timing
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
        rate = RateState(dict(run.rate_sent), dict(run.rate_origin))
        sending = self._gated(plan, ready, rate=rate, tally=tally, now=now, out=entries)
        live = self._recorder.intents(
            run_id,
            entries,
            tally,
            now,
            position=start + len(batch),
            wave_filled=tuple(timing.wave_filled),
            rate=rate,
        )
        runlog.failures(run_id, plan.campaign.id, runlog.failed_entries(entries))
        if live and sending:
            self._deliver(run_id, plan, sending, now, retry=False)
        return live

    def _decided(
        self,
        run_id: str,
        plan: Plan,
        profile: Profile,
        *,
        actions: Sequence[Action],
        suppressed: Mapping[ChannelType, set[str]],
        timing: Timing,
    ) -> tuple[list[LedgerEntry], Due | None]:
        """Decide and render ``profile`` for ``actions``, and when they are due if sent.

        Recipient data comes from host adapters and may never have been
        checked: anything that makes deciding, rendering or timing raise fails
        this recipient (FAILED, with the reason) and nobody else.
        """
        try:
            decided = [
                self._entry(run_id, plan, action, profile, suppressed.get(action.channel, set()))
                for action in actions
            ]
            if any(e.state is LedgerState.PENDING for e in decided):
                return decided, timing.due(profile)
            return decided, None
        except Exception as exc:
            error = f"the recipient's profile data cannot be used: {_describe(exc)}"
            campaign_id = plan.campaign.id
            return [unsent(run_id, campaign_id, a, profile.id, error=error) for a in actions], None

    def _timing(self, run: Run, plan: Plan) -> Timing:
        audience = plan.version.audience
        size = None
        if plan.version.schedule.waves is not None and audience is not None:
            size = self._audiences.count(audience)
        return Timing(
            plan.campaign.id, plan.version.schedule, run.nominal, size, list(run.wave_filled)
        )

    def _gated(
        self,
        plan: Plan,
        ready: Sequence[LedgerEntry],
        *,
        rate: RateState,
        tally: Tally,
        now: pendulum.DateTime,
        out: list[LedgerEntry],
    ) -> list[LedgerEntry]:
        """Pass ``ready`` entries through the gate; append what to record to ``out``.

        Returns the entries to send now (recorded PENDING, with the rest).
        """
        if not ready:
            return []
        rules = plan.gate_rules
        contacts: dict[tuple[ChannelType, str], list[int]] = {}
        if rules.marketing:
            with self._store.unit_of_work() as uow:
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

    def _entry(
        self,
        run_id: str,
        plan: Plan,
        action: Action,
        profile: Profile,
        suppressed: set[str],
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
                self._settings.render_limits,
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

    # ------------------------------------------------------------ sending

    def _deliver(
        self,
        run_id: str,
        plan: Plan,
        entries: Sequence[LedgerEntry],
        now: pendulum.DateTime,
        *,
        retry: bool,
    ) -> None:
        """Hand PENDING/RETRY entries to their channels, then record the outcomes."""
        outcomes: list[tuple[LedgerEntry, SendResult]] = []
        by_action: dict[str, list[LedgerEntry]] = {}
        for entry in entries:
            by_action.setdefault(entry.action_id, []).append(entry)
        for action_id, group in by_action.items():
            channel = plan.channels[action_id]
            messages = [e.message for e in group if e.message is not None]
            try:
                answered: list[object] = list(channel.send(messages))
                if len(answered) != len(messages):
                    raise DeliveryError(
                        f"channel answered {len(answered)} results for {len(messages)} messages"
                    )
                results: list[SendResult] = [r for r in answered if isinstance(r, _RESULTS)]
                if len(results) != len(answered):  # never leave an entry without an outcome
                    wrong = next(r for r in answered if not isinstance(r, _RESULTS))
                    raise DeliveryError(
                        f"channel answered {type(wrong).__name__}, not Accepted, "
                        "TransientFailure or PermanentFailure"
                    )
            except Exception as exc:  # a channel may fail in any way: retry the batch
                results = [TransientFailure(f"{type(exc).__name__}: {exc}")] * len(messages)
            outcomes.extend(zip(group, results, strict=True))
        self._recorder.outcomes(run_id, outcomes, now, retry=retry)
        failed = runlog.final_failures(outcomes, self._settings.max_attempts)
        runlog.failures(run_id, plan.campaign.id, failed)

    def _reconcile(self, run_id: str, plan: Plan, now: pendulum.DateTime) -> None:
        """Settle PENDING entries left by a crash: look them up, else re-send them."""
        while True:
            with self._store.unit_of_work() as uow:
                pending = list(uow.ledger.pending(run_id, self._settings.batch_size))
            if not pending:
                return
            unknown: list[LedgerEntry] = []
            known: list[tuple[LedgerEntry, SendResult]] = []
            for entry in pending:
                channel = plan.channels.get(entry.action_id)
                found = (
                    channel.lookup(idempotency_key(*entry.key))
                    if isinstance(channel, LookupChannel)
                    else None
                )
                if found is None:
                    unknown.append(entry)
                else:
                    known.append((entry, found))
            if known:
                self._recorder.outcomes(run_id, known, now, retry=False)
                failed = runlog.final_failures(known, self._settings.max_attempts)
                runlog.failures(run_id, plan.campaign.id, failed)
            if unknown:
                self._deliver(run_id, plan, unknown, now, retry=False)
            if self.stop_requested():
                raise Paused(run_id)

    def _retry(self, run_id: str, plan: Plan, now: pendulum.DateTime) -> bool:
        """Release the QUEUED and RETRY entries due at ``now``; True if halted meanwhile."""
        while True:
            with self._store.unit_of_work() as uow:
                due = list(uow.ledger.due(run_id, now, self._settings.batch_size))
                run = uow.runs.get(run_id)
            if not due:
                return False
            if self._halted(plan):
                return True
            retries = {e.key for e in due if e.state is LedgerState.RETRY}
            tally = Tally()
            rate = RateState(dict(run.rate_sent), dict(run.rate_origin))
            out: list[LedgerEntry] = []
            sending = self._gated(plan, due, rate=rate, tally=tally, now=now, out=out)
            if not self._recorder.intents(run_id, out, tally, now, rate=rate):
                return True
            fresh = [e for e in sending if e.key not in retries]
            again = [e for e in sending if e.key in retries]
            if fresh:
                self._deliver(run_id, plan, fresh, now, retry=False)
            if again:
                self._deliver(run_id, plan, again, now, retry=True)
            if self.stop_requested():
                raise Paused(run_id)

    # ------------------------------------------------------------ endings

    def _settle(self, run_id: str, now: pendulum.DateTime) -> Run:
        with self._store.unit_of_work() as uow:
            run = self._leases.owned(uow, run_id)
            next_retry = uow.ledger.next_due_at(run_id)
            if next_retry is not None or not run.streamed:
                return uow.runs.save(
                    attrs.evolve(run, due_at=next_retry, lease_owner=None, lease_expires_at=None)
                )
            return self._finish(uow, run, RunStatus.SUCCEEDED, now)

    def _halt(self, run_id: str, plan: Plan, now: pendulum.DateTime) -> Run:
        """Stop at a batch boundary: queued retries and unreached members are excluded."""
        while True:
            with self._store.unit_of_work() as uow:
                run = self._leases.owned(uow, run_id)
                open_entries = list(uow.ledger.open_entries(run_id, self._settings.batch_size))
                if not open_entries:
                    break
                uow.ledger.put([stopped(e) for e in open_entries])
                tally = Tally()
                for entry in open_entries:
                    tally.exclude(entry.action_id, ExclusionReason.STOPPED, targeted=0)
                    tally.add(entry.action_id, "pending", -1)
                uow.runs.save(attrs.evolve(run, counts=tally.merged_into(run.counts)))
        with self._store.unit_of_work() as uow:
            run = uow.runs.get(run_id)
        if not run.streamed:
            for start, batch in self._members(run, plan):
                with self._store.unit_of_work() as uow:
                    recorded = uow.ledger.recorded(run_id, [p.id for p in batch])
                entries: list[LedgerEntry] = []
                tally = Tally()
                seen: set[str] = set()
                for profile in batch:
                    repeated = profile.id in seen
                    seen.add(profile.id)
                    for action in plan.actions:
                        if repeated or (action.id, profile.id) in recorded:
                            tally.exclude(action.id, ExclusionReason.DUPLICATE)
                            continue
                        entry = LedgerEntry(
                            run_id,
                            action.id,
                            profile.id,
                            plan.campaign.id,
                            action.channel,
                            LedgerState.EXCLUDED,
                            reason=ExclusionReason.STOPPED,
                        )
                        tally.entry(entry)
                        entries.append(entry)
                self._recorder.intents(run_id, entries, tally, now, position=start + len(batch))
        with self._store.unit_of_work() as uow:
            run = uow.runs.get(run_id)
            return self._finish(uow, attrs.evolve(run, streamed=True), RunStatus.STOPPED, now)

    def _fail(self, run_id: str, now: pendulum.DateTime, error: str, *, owned: bool = False) -> Run:
        """Mark the run FAILED with ``error`` and log a WARNING.

        If its campaign cannot be updated (its document cannot be loaded), the
        run alone is marked. With ``owned``, a run another worker has taken
        over meanwhile is left to that worker, unchanged.
        """
        try:
            with self._store.unit_of_work() as uow:
                run = uow.runs.get(run_id)
                if owned and run.lease_owner not in (None, self._worker):
                    return run
                saved = self._finish(uow, attrs.evolve(run, error=error), RunStatus.FAILED, now)
        except ConflictError:
            raise
        except Exception as exc:
            error = f"{error}; its campaign could not be updated: {_describe(exc)}"
            with self._store.unit_of_work() as uow:
                run = uow.runs.get(run_id)
                saved = uow.runs.save(_final(attrs.evolve(run, error=error), RunStatus.FAILED, now))
        logger.warning("run %s failed: %s", run_id, error)
        return saved

    def _finish(self, uow: UnitOfWork, run: Run, status: RunStatus, now: pendulum.DateTime) -> Run:
        saved = uow.runs.save(_final(run, status, now))
        _warn_exclusions(saved)
        runlog.ended(saved)
        if run.kind in (RunKind.SCHEDULED, RunKind.OCCURRENCE):  # runs a completion waits for
            campaign = uow.campaigns.find(run.campaign_id)
            if campaign is not None and campaign.open_runs > 0:
                uow.campaigns.save(run_finished(campaign, now, self._rules))
        return saved


def _address(profile: Profile, channel: ChannelType, namespace: str) -> str | None:
    """The recipient's address, or None when their data cannot give one (they fail later)."""
    try:
        return address_of(profile, channel, namespace)
    except Exception:
        return None


def _final(run: Run, status: RunStatus, now: pendulum.DateTime) -> Run:
    return attrs.evolve(
        run,
        status=status,
        finished_at=now,
        due_at=None,
        lease_owner=None,
        lease_expires_at=None,
    )


def _warn_exclusions(run: Run) -> None:
    """Log a WARNING when a finished run excluded recipients for a likely mistake."""
    counts = run.total().excluded
    found = [f"{counts[r]} for {r}" for r in _WARN_REASONS if counts.get(r)]
    if found:
        logger.warning(
            "run %s of campaign %s excluded recipients: %s (see the campaign report)",
            run.id,
            run.campaign_id,
            ", ".join(found),
        )


def _describe(exc: BaseException) -> str:
    """An exception as a short reason (type and message, at most 500 characters)."""
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 500 else text[:497] + "..."


_TICK = pendulum.duration(microseconds=1)
"""The resolution of stored instants."""
