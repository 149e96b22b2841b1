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
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs
import pendulum

from campaignkit.delivery.gate import GateRules, RateState, Verdict, gate
from campaignkit.delivery.render import CompiledContent, MissingAttribute, TemplateFailed
from campaignkit.delivery.tally import Tally, excluded, moved, queued
from campaignkit.delivery.timing import Timing
from campaignkit.domain.campaign import Action, Campaign, CampaignVersion
from campaignkit.domain.campaign_enums import CampaignStatus, Category
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import (
    Accepted,
    ExclusionReason,
    LedgerEntry,
    LedgerState,
    Message,
    Run,
    RunKind,
    RunStatus,
    SendResult,
    TransientFailure,
    backoff,
    idempotency_key,
)
from campaignkit.domain.lifecycle import LifecycleRules, run_finished
from campaignkit.domain.profile import Profile
from campaignkit.domain.recipients import Exclude, address_of, decide
from campaignkit.domain.surface import SurfaceSettings
from campaignkit.errors import DeliveryError
from campaignkit.ports import (
    AudienceSource,
    Channel,
    LookupChannel,
    Progress,
    RunProgress,
    Store,
    UnitOfWork,
)


@attrs.frozen
class DeliverySettings:
    """How runs deliver.

    Attributes:
        batch_size: Audience members per batch (one intent and one outcome
            transaction each).
        max_attempts: Sends per message before a transient failure becomes final.
        retry_base: Backoff before the first retry (doubles each time, with jitter).
        retry_cap: The longest backoff.
        lease: How long a worker owns a run it is delivering; another worker may
            resume a run whose worker died once this has passed.
    """

    batch_size: int = 500
    max_attempts: int = 5
    retry_base: pendulum.Duration = attrs.field(factory=lambda: pendulum.duration(seconds=30))
    retry_cap: pendulum.Duration = attrs.field(factory=lambda: pendulum.duration(hours=1))
    lease: pendulum.Duration = attrs.field(factory=lambda: pendulum.duration(minutes=1))


@attrs.frozen
class _Plan:
    """What a run needs for every batch, prepared once."""

    campaign: Campaign
    version: CampaignVersion
    actions: tuple[Action, ...]
    contents: Mapping[str, CompiledContent]
    settings: Mapping[str, SurfaceSettings]
    channels: Mapping[str, Channel]
    shared_context: Mapping[str, Any]
    contexts: Mapping[str, Mapping[str, Any]]
    """Per-recipient API context of a unitary trigger, by profile id."""
    gate_rules: GateRules

    def context(self, profile_id: str) -> Mapping[str, Any]:
        """The API context templates see for this recipient."""
        return self.contexts.get(profile_id, self.shared_context)


def _version(campaign: Campaign, number: int) -> CampaignVersion:
    for version in (campaign.live_version, *campaign.superseded_versions):
        if version is not None and version.number == number:
            return version
    raise DeliveryError(f"campaign {campaign.id!r} has no version {number}")


class Runner:
    """Delivers runs. Used by the engine; one instance per kit.

    Args:
        store: Runs, ledger, suppressions and campaigns.
        audiences: Streams audience members.
        channels: One channel per channel type.
        settings: Batch size, retries, lease.
        rules: Lifecycle rules (a finished run may let its campaign complete).
        worker_id: Identifies this process in run leases.
        progress: Called after every batch, if given.
    """

    def __init__(
        self,
        *,
        store: Store,
        audiences: AudienceSource,
        channels: Mapping[ChannelType, Channel],
        settings: DeliverySettings,
        rules: LifecycleRules,
        worker_id: str,
        progress: Progress | None = None,
    ) -> None:
        self._store = store
        self._rules = rules
        self._audiences = audiences
        self._channels = channels
        self._settings = settings
        self._worker = worker_id
        self.progress = progress

    # ------------------------------------------------------------ entry point

    def advance(self, run_id: str, now: pendulum.DateTime) -> Run:
        """Do every piece of work of a run that is due at ``now``.

        Returns the run as saved: final, or with ``due_at`` set to when it next
        has work (a retry), or unchanged when another worker holds its lease.
        """
        try:
            claimed = self._claim(run_id, now)
        except DeliveryError as exc:  # it cannot be planned (no channel, no surface)
            return self._fail(run_id, now, str(exc))
        if claimed is None:
            with self._store.unit_of_work() as uow:
                return uow.runs.get(run_id)
        run, plan = claimed
        try:
            return self._deliver_run(run, plan, now)
        except _LeaseLost:  # another worker took the run over: it records what follows
            with self._store.unit_of_work() as uow:
                return uow.runs.get(run_id)
        except BaseException:
            # an interrupted delivery (KeyboardInterrupt, a channel raising): hand the
            # run back at once, so this worker or another resumes it without waiting
            # for the lease; a killed process cannot do this, and its lease lapses
            self._release(run_id, now)
            raise

    def _deliver_run(self, run: Run, plan: _Plan, now: pendulum.DateTime) -> Run:
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
            return self._fail(run_id, now, str(exc))

    def _release(self, run_id: str, now: pendulum.DateTime) -> None:
        with contextlib.suppress(Exception), self._store.unit_of_work() as uow:
            run = uow.runs.get(run_id)
            if run.lease_owner == self._worker and not run.status.is_final:
                uow.runs.save(
                    attrs.evolve(run, lease_owner=None, lease_expires_at=None, due_at=now)
                )

    def _owned(self, uow: UnitOfWork, run_id: str) -> Run:
        """The run, if this worker still holds its lease; else ``_LeaseLost`` (nothing written).

        A worker whose lease lapsed (a channel call slower than the lease) and
        whose run another worker took over must not record outcomes or counts:
        the new owner re-sends with the same idempotency keys and records them.
        """
        run = uow.runs.get(run_id)
        if run.lease_owner != self._worker:
            raise _LeaseLost(run_id)
        return run

    # ------------------------------------------------------------ claiming

    def _claim(self, run_id: str, now: pendulum.DateTime) -> tuple[Run, _Plan] | None:
        with self._store.unit_of_work() as uow:
            run = uow.runs.get(run_id)
            if run.status.is_final:
                return None
            expires = run.lease_expires_at
            if (
                run.lease_owner not in (None, self._worker)
                and expires is not None
                and expires > now
            ):
                if run.due_at is None or run.due_at < expires:
                    # another worker delivers it: due again only when its lease may lapse
                    uow.runs.save(attrs.evolve(run, due_at=expires))
                return None
            campaign = uow.campaigns.get(run.campaign_id)
            lease = now + self._settings.lease
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
            plan = self._plan(uow, campaign, run)
        return run, plan

    def _plan(self, uow: UnitOfWork, campaign: Campaign, run: Run) -> _Plan:
        version = _version(campaign, run.version)
        contents, settings, channels = {}, {}, {}
        for action in version.actions:
            surface = uow.surfaces.find(action.surface_id)
            if surface is None:
                raise DeliveryError(f"surface {action.surface_id!r} no longer exists")
            channel = self._channels.get(action.channel)
            if channel is None:
                raise DeliveryError(
                    f"no channel is wired for {action.channel}; pass channels= to the kit"
                )
            contents[action.id] = CompiledContent.of(action.content.templates())
            settings[action.id] = surface.settings
            channels[action.id] = channel
        contexts: dict[str, Mapping[str, Any]] = {}
        for recipient in run.recipients:  # a repeated profile is a duplicate: the first counts
            contexts.setdefault(recipient.profile.id, recipient.context)
        book = uow.rules.get()
        gate_rules = GateRules(
            marketing=campaign.category is Category.MARKETING,
            campaign_zone=version.schedule.timezone,
            send_window=version.schedule.send_window,
            channel_rules={a.channel: book.for_channel(a.channel) for a in version.actions},
            campaign_quiet_hours=version.quiet_hours,
            rate_limits={a.id: a.rate_limit for a in version.actions if a.rate_limit},
        )
        return _Plan(
            campaign,
            version,
            version.actions,
            contents,
            settings,
            channels,
            run.context,
            contexts,
            gate_rules,
        )

    def _halted(self, plan: _Plan) -> bool:
        """True once the campaign is no longer LIVE (stopped, completed, removed)."""
        with self._store.unit_of_work() as uow:
            status = uow.campaigns.status(plan.campaign.id)
        return status is not CampaignStatus.LIVE

    # ------------------------------------------------------------ streaming

    def _members(self, run: Run, plan: _Plan) -> Iterator[tuple[int, Sequence[Profile]]]:
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

    def _stream(self, run: Run, plan: _Plan, now: pendulum.DateTime) -> bool:
        """Process the audience from the resume position; True if the run was halted."""
        if run.streamed:
            return False
        audience = plan.version.audience
        if run.kind is RunKind.TRIGGER:
            total: int | None = len(run.recipients)
        else:
            total = None if audience is None else self._audiences.count(audience)
        for start, batch in self._members(run, plan):
            if not self._batch(run.id, plan, start, batch, now):
                return True
            if self.progress is not None:
                with self._store.unit_of_work() as uow:
                    current = uow.runs.get(run.id)
                self.progress(
                    RunProgress(run.id, run.campaign_id, current.position, total, current.total())
                )
        with self._store.unit_of_work() as uow:
            current = uow.runs.get(run.id)
            uow.runs.save(attrs.evolve(current, streamed=True))
        return False

    def _batch(
        self,
        run_id: str,
        plan: _Plan,
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
                    addresses = [
                        a for p in batch if (a := address_of(p, action.channel, namespace))
                    ]
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
            due = None
            for action in plan.actions:
                if repeated or (action.id, profile.id) in recorded:
                    # the same (run, action, profile) already has its one outcome
                    tally.exclude(action.id, ExclusionReason.DUPLICATE)
                    continue
                entry = self._entry(
                    run_id, plan, action, profile, suppressed.get(action.channel, set())
                )
                tally.entry(entry)
                if entry.state is not LedgerState.PENDING:
                    entries.append(entry)
                    continue
                if due is None:
                    due = timing.due(profile)
                if due.fell_back and plan.version.schedule.use_profile_timezone:
                    tally.add(action.id, "timezone_fallbacks")
                if due.at is None:
                    entries.append(excluded(entry, ExclusionReason.BEYOND_WAVES))
                    tally.add(action.id, "pending", -1)
                    tally.exclude(action.id, ExclusionReason.BEYOND_WAVES, targeted=0)
                    continue
                timed = moved(
                    entry,
                    LedgerState.PENDING,
                    message=entry.message,
                    due_at=due.at,
                    timezone=profile.timezone,
                )
                if due.at > now:
                    entries.append(queued(timed, due.at))
                else:
                    if due.at < now and plan.version.schedule.use_profile_timezone:
                        tally.add(
                            action.id, "late"
                        )  # their slot passed before the run reached them
                    ready.append(timed)
        rate = RateState(dict(run.rate_sent), dict(run.rate_origin))
        sending = self._gated(plan, ready, rate=rate, tally=tally, now=now, out=entries)
        live = self._record(
            run_id,
            entries,
            tally,
            now,
            position=start + len(batch),
            wave_filled=tuple(timing.wave_filled),
            rate=rate,
        )
        if live and sending:
            self._deliver(run_id, plan, sending, now, retry=False)
        return live

    def _timing(self, run: Run, plan: _Plan) -> Timing:
        audience = plan.version.audience
        size = None
        if plan.version.schedule.waves is not None and audience is not None:
            size = self._audiences.count(audience)
        return Timing(
            plan.campaign.id, plan.version.schedule, run.nominal, size, list(run.wave_filled)
        )

    def _gated(
        self,
        plan: _Plan,
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
        plan: _Plan,
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
            return _unsent(run_id, campaign.id, action, profile.id, reason=verdict.reason)
        try:
            fields = plan.contents[action.id].render(profile.attributes, plan.context(profile.id))
        except MissingAttribute:
            return _unsent(
                run_id, campaign.id, action, profile.id, reason=ExclusionReason.MISSING_ATTRIBUTE
            )
        except TemplateFailed as exc:
            return _unsent(run_id, campaign.id, action, profile.id, error=str(exc))
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

    def _record(
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
        """
        with self._store.unit_of_work() as uow:
            run = self._owned(uow, run_id)
            live = uow.campaigns.status(run.campaign_id) is CampaignStatus.LIVE
            if not live:
                for entry in entries:
                    if entry.state is LedgerState.PENDING:
                        tally.add(entry.action_id, "pending", -1)
                        tally.exclude(entry.action_id, ExclusionReason.STOPPED, targeted=0)
                entries = [_stopped(e) if e.state is LedgerState.PENDING else e for e in entries]
            uow.ledger.put(entries)
            _record_contacts(uow, entries, now)
            changes: dict[str, Any] = {
                "counts": tally.merged_into(run.counts),
                "lease_expires_at": now + self._settings.lease,
                "due_at": now + self._settings.lease,
            }
            if position is not None:
                changes["position"] = position
            if wave_filled is not None:
                changes["wave_filled"] = wave_filled
            if rate is not None:
                changes["rate_sent"] = rate.sent
                changes["rate_origin"] = rate.origin
            uow.runs.save(attrs.evolve(run, **changes))
        return live

    # ------------------------------------------------------------ sending

    def _deliver(
        self,
        run_id: str,
        plan: _Plan,
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
                results = list(channel.send(messages))
                if len(results) != len(messages):
                    raise DeliveryError(
                        f"channel answered {len(results)} results for {len(messages)} messages"
                    )
            except Exception as exc:  # a channel may fail in any way: retry the batch
                results = [TransientFailure(f"{type(exc).__name__}: {exc}")] * len(messages)
            outcomes.extend(zip(group, results, strict=True))
        self._record_outcomes(run_id, outcomes, now, retry=retry)

    def _record_outcomes(
        self,
        run_id: str,
        outcomes: Sequence[tuple[LedgerEntry, SendResult]],
        now: pendulum.DateTime,
        *,
        retry: bool,
    ) -> None:
        settings = self._settings
        updated: list[LedgerEntry] = []
        never_sent: dict[ChannelType, list[tuple[str, str]]] = {}  # their contacts are undone
        tally = Tally()
        for entry, result in outcomes:
            attempts = entry.attempts + 1
            action_id = entry.action_id
            if retry:
                tally.add(action_id, "retries")
            if isinstance(result, Accepted):
                updated.append(
                    moved(
                        entry,
                        LedgerState.SENT,
                        attempts=attempts,
                        provider_message_id=result.provider_message_id,
                    )
                )
                tally.add(action_id, "sent")
                tally.add(action_id, "pending", -1)
            elif isinstance(result, TransientFailure) and attempts < settings.max_attempts:
                delay = backoff(
                    idempotency_key(*entry.key),
                    attempts,
                    base=settings.retry_base,
                    cap=settings.retry_cap,
                )
                updated.append(
                    moved(
                        entry,
                        LedgerState.RETRY,
                        attempts=attempts,
                        error=result.error,
                        next_attempt_at=now + delay,
                        message=entry.message,
                    )
                )
            else:
                updated.append(
                    moved(entry, LedgerState.FAILED, attempts=attempts, error=result.error)
                )
                never_sent.setdefault(entry.channel, []).append(
                    (entry.profile_id, idempotency_key(*entry.key))
                )
                tally.add(action_id, "failed")
                tally.add(action_id, "pending", -1)
        with self._store.unit_of_work() as uow:
            run = self._owned(uow, run_id)
            uow.ledger.put(updated)
            for channel, failed in never_sent.items():
                uow.contacts.forget(channel, failed)
            uow.runs.save(
                attrs.evolve(
                    run,
                    counts=tally.merged_into(run.counts),
                    lease_expires_at=now + settings.lease,
                    due_at=now + settings.lease,
                )
            )

    def _reconcile(self, run_id: str, plan: _Plan, now: pendulum.DateTime) -> None:
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
                self._record_outcomes(run_id, known, now, retry=False)
            if unknown:
                self._deliver(run_id, plan, unknown, now, retry=False)

    def _retry(self, run_id: str, plan: _Plan, now: pendulum.DateTime) -> bool:
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
            if not self._record(run_id, out, tally, now, rate=rate):
                return True
            fresh = [e for e in sending if e.key not in retries]
            again = [e for e in sending if e.key in retries]
            if fresh:
                self._deliver(run_id, plan, fresh, now, retry=False)
            if again:
                self._deliver(run_id, plan, again, now, retry=True)

    # ------------------------------------------------------------ endings

    def _settle(self, run_id: str, now: pendulum.DateTime) -> Run:
        with self._store.unit_of_work() as uow:
            run = self._owned(uow, run_id)
            next_retry = uow.ledger.next_due_at(run_id)
            if next_retry is not None or not run.streamed:
                return uow.runs.save(
                    attrs.evolve(run, due_at=next_retry, lease_owner=None, lease_expires_at=None)
                )
            return self._finish(uow, run, RunStatus.SUCCEEDED, now)

    def _halt(self, run_id: str, plan: _Plan, now: pendulum.DateTime) -> Run:
        """Stop at a batch boundary: queued retries and unreached members are excluded."""
        while True:
            with self._store.unit_of_work() as uow:
                run = self._owned(uow, run_id)
                open_entries = list(uow.ledger.open_entries(run_id, self._settings.batch_size))
                if not open_entries:
                    break
                uow.ledger.put([_stopped(e) for e in open_entries])
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
                self._record(run_id, entries, tally, now, position=start + len(batch))
        with self._store.unit_of_work() as uow:
            run = uow.runs.get(run_id)
            return self._finish(uow, attrs.evolve(run, streamed=True), RunStatus.STOPPED, now)

    def _fail(self, run_id: str, now: pendulum.DateTime, error: str) -> Run:
        with self._store.unit_of_work() as uow:
            run = uow.runs.get(run_id)
            return self._finish(uow, attrs.evolve(run, error=error), RunStatus.FAILED, now)

    def _finish(self, uow: UnitOfWork, run: Run, status: RunStatus, now: pendulum.DateTime) -> Run:
        saved = uow.runs.save(
            attrs.evolve(
                run,
                status=status,
                finished_at=now,
                due_at=None,
                lease_owner=None,
                lease_expires_at=None,
            )
        )
        if run.kind in (RunKind.SCHEDULED, RunKind.OCCURRENCE):  # runs a completion waits for
            campaign = uow.campaigns.find(run.campaign_id)
            if campaign is not None and campaign.open_runs > 0:
                uow.campaigns.save(run_finished(campaign, now, self._rules))
        return saved


def _record_contacts(
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


class _LeaseLost(Exception):
    """This worker's lease on a run lapsed and another worker took the run over."""


_TICK = pendulum.duration(microseconds=1)
"""The resolution of stored instants."""


def _unsent(
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


def _stopped(entry: LedgerEntry) -> LedgerEntry:
    return moved(entry, LedgerState.EXCLUDED, reason=ExclusionReason.STOPPED)
