"""Many unitary triggers in one call (high throughput, SPEC sections 9 and 15).

``trigger_many`` accepts a list of requests in one unit of work: each request
is checked, made idempotent and answered on its own, exactly as ``trigger``
would answer it, but the accepted requests of a campaign share runs
(``domain.throughput.Packer``) that the engine delivers in batches through
the same ledger. Each request stays an execution of its own, found by its
id or its request id; its record holds its span of the shared run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import attrs
import pendulum

from campaignkit.domain import checks
from campaignkit.domain.campaign import Campaign
from campaignkit.domain.delivery import Run, RunKind, RunRecipient
from campaignkit.domain.events import DomainEvent
from campaignkit.domain.profile import Profile
from campaignkit.domain.throughput import Packer, TriggerRequest, requests_argument
from campaignkit.domain.triggers import (
    Execution,
    ExecutionKind,
    ExecutionRecord,
    acceptance_problem,
    fingerprint,
    recipients_argument,
)
from campaignkit.errors import (
    CampaignKitError,
    ConflictError,
    NotFound,
    PermissionDenied,
    TransitionNotAllowed,
    ValidationError,
)
from campaignkit.permissions import Permission as P
from campaignkit.ports import UnitOfWork
from campaignkit.session.base import SessionBase
from campaignkit.session.triggers import (
    build_recipients,
    execution_view,
    new_run,
    unitary_payload,
)

REQUEST_ERRORS = (ValidationError, ConflictError, NotFound, PermissionDenied, TransitionNotAllowed)
"""What answers one request of ``trigger_many`` without stopping the others."""


@attrs.define
class _Accepted:
    """A request checked and ready to be written."""

    number: int
    campaign: Campaign
    request_id: str
    digest: str
    recipients: list[RunRecipient]
    created: list[Profile]
    run: int = 0
    span: tuple[int, int] = (0, 0)


class ThroughputVerbs(SessionBase):
    """The high-throughput trigger verb of a user session (``campaign.publish``)."""

    def trigger_many(
        self, requests: Sequence[TriggerRequest], *, one_namespace: bool = False
    ) -> list[Execution | CampaignKitError]:
        """Accept many unitary triggers at once; deliver those of a campaign together.

        Each request is answered as ``trigger`` answers it, in the same order:
        its execution (repeating a request id, also within this call, returns
        the same execution and sends nothing again), or the error ``trigger``
        would raise for it (``ValidationError``, ``ConflictError``,
        ``NotFound``, ``PermissionDenied`` or ``TransitionNotAllowed``), which
        leaves the other requests alone. All accepted requests are written in
        one unit of work; the requests of one campaign share runs (at most
        ``RUN_RECIPIENTS`` recipients each, each profile once per run), which
        the next ticks deliver in batches through the same ledger, with the
        same idempotency keys and outcome guarantee as any run.

        Args:
            requests: 1 to ``MAX_REQUESTS`` trigger requests.
            one_namespace: As for ``trigger``: every recipient must be in the
                campaign's identity namespace (AJO's rule).

        Returns:
            One answer per request: an ``Execution`` or the error refusing it.

        Raises:
            ValidationError: ``requests`` is not a list of 1 to ``MAX_REQUESTS``
                ``TriggerRequest`` values.
            StorageError: the store failed; nothing of the call was written.
        """
        checked = requests_argument(requests)
        kit = self._kit
        now = kit.clock.now()
        answers: list[Execution | CampaignKitError | None] = [None] * len(checked)
        events: list[DomainEvent] = []
        with kit.store.unit_of_work() as uow:
            campaigns: dict[str, Campaign] = {}
            seen: dict[tuple[str, str], _Accepted] = {}
            accepted: list[_Accepted] = []
            repeats: list[tuple[int, _Accepted]] = []
            for number, request in enumerate(checked):
                try:
                    campaign = self._accepting(uow, campaigns, request.campaign_id, now, events)
                    ready = self._check(uow, campaign, request, number)
                    if isinstance(ready, Execution):
                        answers[number] = ready
                        continue
                    first = seen.get((campaign.id, ready.request_id))
                    if first is not None:
                        _same_payload(first, ready)
                        repeats.append((number, first))
                        continue
                    ready.recipients, ready.created = build_recipients(
                        kit.profiles,
                        campaign,
                        recipients_argument(request.recipients),
                        one_namespace=one_namespace,
                    )
                except REQUEST_ERRORS as exc:
                    answers[number] = exc
                    continue
                seen[campaign.id, ready.request_id] = ready
                accepted.append(ready)
            views = self._write(uow, accepted, now)
            for ready in accepted:
                answers[ready.number] = views[ready.number]
            for number, first in repeats:
                answers[number] = views[first.number]
        kit.publish(events)
        assert all(answer is not None for answer in answers)  # each request answered once
        return cast("list[Execution | CampaignKitError]", answers)

    # ------------------------------------------------------------ plumbing

    def _accepting(
        self,
        uow: UnitOfWork,
        campaigns: dict[str, Campaign],
        campaign_id: str,
        now: pendulum.DateTime,
        events: list[DomainEvent],
    ) -> Campaign:
        """The campaign, caught up, if it accepts triggers (asked once, when it does).

        A refusal is asked again for each request, so each has its own error
        (a host notes the request's ids on it).

        Raises:
            NotFound, PermissionDenied, TransitionNotAllowed: as ``trigger``.
        """
        known = campaigns.get(campaign_id)
        if known is not None:
            return known
        campaign = self._load(uow, campaign_id, P.CAMPAIGN_PUBLISH)
        caught = self._kit.engine.catch_up(uow, campaign, now)
        events.extend(caught.events)
        current = caught.campaign
        if current is None:
            raise NotFound("campaign", campaign_id)
        refusal = acceptance_problem(current, now)
        if refusal is not None:
            raise TransitionNotAllowed(current.id, current.status.value, "trigger_many", refusal)
        campaigns[campaign_id] = current
        return current

    def _check(
        self, uow: UnitOfWork, campaign: Campaign, request: TriggerRequest, number: int
    ) -> Execution | _Accepted:
        """The execution a repeated request id already has, or the request to accept.

        Raises:
            ValidationError: a blank request id.
            ConflictError: the request id was used with another payload.
        """
        checks.require_ids(request_id=request.request_id)
        digest = fingerprint(unitary_payload(request.recipients))
        existing = uow.executions.by_request(campaign.id, request.request_id)
        if existing is None:
            return _Accepted(number, campaign, request.request_id, digest, [], [])
        if existing.payload_hash != digest or existing.kind is not ExecutionKind.UNITARY:
            raise _conflict(campaign.id, request.request_id)
        return execution_view(existing, uow.runs.get(existing.run_id))

    def _write(
        self, uow: UnitOfWork, accepted: list[_Accepted], now: pendulum.DateTime
    ) -> dict[int, Execution]:
        """Add the shared runs, one execution per accepted request, and the created profiles."""
        kit = self._kit
        packers: dict[str, tuple[Campaign, Packer[RunRecipient]]] = {}
        for ready in accepted:
            _, packer = packers.setdefault(ready.campaign.id, (ready.campaign, Packer()))
            ids = [recipient.profile.id for recipient in ready.recipients]
            place, start, stop = packer.place(ids, ready.recipients)
            ready.run, ready.span = place, (start, stop)
        runs: dict[tuple[str, int], Run] = {}
        for campaign_id, (campaign, packer) in packers.items():
            for number, (members, _) in enumerate(packer.runs):
                run = new_run(campaign, kit.ids("run"), RunKind.TRIGGER, now, recipients=members)
                runs[campaign_id, number] = uow.runs.add(run)
        saved: set[str] = set()  # a profile two requests create: the first one, as in turn
        views: dict[int, Execution] = {}
        for ready in accepted:
            run = runs[ready.campaign.id, ready.run]
            record = uow.executions.add(
                ExecutionRecord(
                    id=kit.ids("exe"),
                    campaign_id=ready.campaign.id,
                    request_id=ready.request_id,
                    kind=ExecutionKind.UNITARY,
                    created_at=now,
                    created_by=self.user,
                    run_id=run.id,
                    payload_hash=ready.digest,
                    span=ready.span,
                )
            )
            for profile in ready.created:
                if profile.id not in saved:
                    saved.add(profile.id)
                    kit.profiles.upsert(profile)
            views[ready.number] = execution_view(record, run)
        return views


def _same_payload(first: _Accepted, again: _Accepted) -> None:
    """A request id repeated within one call must carry the same payload."""
    if first.digest != again.digest:
        raise _conflict(first.campaign.id, first.request_id)


def _conflict(campaign_id: str, request_id: str) -> ConflictError:
    return ConflictError(
        f"request id {request_id!r} was already used for campaign "
        f"{campaign_id!r} with a different payload; use a new request id"
    )
