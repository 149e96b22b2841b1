"""API-triggered executions: unitary triggers and audience executions (SPEC section 9).

Each accepted call creates an execution and a run; the engine delivers the
run on its next tick through the same ledger, rules and reports as scheduled
campaigns. A ``request_id`` makes a call idempotent per campaign.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import attrs
import pendulum

from campaignkit.domain import checks
from campaignkit.domain.audience import AudienceStatus
from campaignkit.domain.campaign import Campaign
from campaignkit.domain.campaign_enums import Category
from campaignkit.domain.delivery import Run, RunKind, RunRecipient, RunStatus
from campaignkit.domain.events import DomainEvent
from campaignkit.domain.profile import Profile
from campaignkit.domain.triggers import (
    Execution,
    ExecutionKind,
    ExecutionRecord,
    ExecutionStatus,
    Recipient,
    ScheduleStatus,
    acceptance_problem,
    context_problems,
    fingerprint,
    json_object_problems,
    namespace_problems,
    recipient_problems,
    recipients_argument,
    require_valid,
)
from campaignkit.errors import ConflictError, NotFound, TransitionNotAllowed, ValidationError
from campaignkit.permissions import Permission as P
from campaignkit.ports import ProfileStore, UnitOfWork
from campaignkit.session.base import SessionBase
from campaignkit.timeutil import ensure_utc

_STATUS = {
    RunStatus.PENDING: ExecutionStatus.IN_PROGRESS,
    RunStatus.RUNNING: ExecutionStatus.IN_PROGRESS,
    RunStatus.SUCCEEDED: ExecutionStatus.SUCCEEDED,
    RunStatus.FAILED: ExecutionStatus.FAILED,
    RunStatus.STOPPED: ExecutionStatus.FAILED,
    RunStatus.CANCELLED: ExecutionStatus.CANCELLED,
}


def execution_view(record: ExecutionRecord, run: Run) -> Execution:
    """The public view of an execution and its run."""
    if record.cancelled_at is not None:
        schedule = ScheduleStatus.CANCELLED
    elif record.execute_at is not None and run.started_at is None:
        schedule = ScheduleStatus.SCHEDULED
    else:
        schedule = ScheduleStatus.TRIGGERED
    return Execution(
        id=record.id,
        campaign_id=record.campaign_id,
        request_id=record.request_id,
        kind=record.kind,
        created_at=record.created_at,
        created_by=record.created_by,
        execute_at=record.execute_at,
        schedule_status=schedule,
        status=_STATUS[run.status],
        targeted=_targeted(record, run),
        run_id=run.id,
        audience=run.audience,
    )


def _targeted(record: ExecutionRecord, run: Run) -> int:
    """Recipients of the execution its run has decided (its span of a shared run)."""
    if record.span is None:
        return run.position
    start, stop = record.span
    return min(max(run.position - start, 0), stop - start)


def _recipient_payload(recipient: Recipient) -> dict[str, Any]:
    """What ``attrs.asdict(recipient)`` gives to the fingerprint, without its generic walk.

    The values are the recipient's own (``asdict`` copies mappings and turns
    sequences into lists, which serialize the same), so a valid payload has
    the same fingerprint as before. A subclass takes ``asdict``.
    """
    if type(recipient) is not Recipient:
        return attrs.asdict(recipient)
    return {
        "user_id": recipient.user_id,
        "namespace": recipient.namespace,
        "channel_data": recipient.channel_data,
        "profile": recipient.profile,
        "context": recipient.context,
        "external": recipient.external,
    }


def unitary_payload(recipients: Sequence[Recipient]) -> dict[str, Any]:
    """What a unitary call's fingerprint is taken of (its idempotency check)."""
    return {"kind": "unitary", "recipients": [_recipient_payload(r) for r in recipients]}


def _overlay(profile: Profile, recipient: Recipient, *, by_identity: bool) -> Profile:
    """The stored profile as it applies to this one message.

    ``user_id`` becomes the identity in its namespace only when it is one
    (the profile was found by it, or is created or external); a profile found
    by its id keeps its own identities.
    """
    attributes = {**profile.attributes, **(recipient.profile or {})}
    identities = dict(profile.identities)
    if by_identity:
        identities[recipient.namespace] = recipient.user_id
    channel_data = {**profile.channel_data, **(recipient.channel_data or {})}
    return attrs.evolve(
        profile, attributes=attributes, identities=identities, channel_data=channel_data
    )


def _recipient_profile(
    profiles: ProfileStore, campaign: Campaign, recipient: Recipient
) -> tuple[Profile, bool] | None:
    """The profile one message goes to (overlaid), and whether it is to be created.

    None when the recipient has no profile and the campaign does not create them.

    Raises:
        ValidationError: the profile it would build is not valid (too large, an
            over-long generated id).
    """
    by_identity = True
    if recipient.external:
        profile: Profile | None = Profile(
            id=f"external:{recipient.namespace}:{recipient.user_id}",
            attributes=recipient.profile or {},
        )
    else:
        profile, by_identity = _resolve(profiles, recipient)
    if profile is None and campaign.create_profiles:
        # built from the call alone, so it is its own overlay (no second validation)
        created = Profile(
            id=recipient.user_id,
            identities={recipient.namespace: recipient.user_id},
            attributes=recipient.profile or {},
            channel_data=recipient.channel_data or {},
        )
        return created, True
    if profile is None:
        return None
    return _overlay(profile, recipient, by_identity=by_identity), False


def _resolve(profiles: ProfileStore, recipient: Recipient) -> tuple[Profile | None, bool]:
    """The recipient's stored profile, and whether it was found by identity."""
    resolve = getattr(profiles, "resolve", None)  # SQLite: both look-ups in one query
    if resolve is not None:
        return cast("Callable[[str, str, str], tuple[Profile | None, bool]]", resolve)(
            recipient.namespace, recipient.user_id, recipient.user_id
        )
    found = profiles.find_by_identity(recipient.namespace, recipient.user_id)
    if found is not None:
        return found, True
    return profiles.get(recipient.user_id), False


def build_recipients(
    profiles: ProfileStore,
    campaign: Campaign,
    recipients: Sequence[Recipient],
    *,
    one_namespace: bool = False,
) -> tuple[list[RunRecipient], list[Profile]]:
    """The run recipients of one unitary call, and the profiles it creates.

    With ``one_namespace`` (AJO's rule), every recipient must be in the
    campaign's identity namespace, when it names one.

    Raises:
        ValidationError: every problem of the payload (count, duplicate user
            ids, the reserved context key, sizes, a namespace that is not the
            campaign's under ``one_namespace``, unknown recipients when the
            campaign does not create profiles).
    """
    problems = recipient_problems(recipients)
    version = campaign.live_version
    namespace = version.namespace if version is not None and one_namespace else None
    problems.extend(namespace_problems(campaign.id, namespace, recipients))
    clean = not problems  # then no recipient needs checking again
    run_recipients = []
    created = []
    for number, recipient in enumerate(recipients):
        if not clean and (
            not recipient.user_id.strip()
            or (namespace is not None and recipient.namespace != namespace)
            or not recipient.namespace.strip()
            or context_problems(recipient.context, "context")
            or json_object_problems(recipient.profile, "profile")
        ):
            continue  # already reported by recipient_problems
        try:
            built = _recipient_profile(profiles, campaign, recipient)
        except ValidationError as exc:  # e.g. the overlay makes the profile too large
            problems.extend(f"recipients[{number}]: {p}" for p in exc.problems)
            continue
        if built is None:
            problems.append(
                f"recipients[{number}]: no profile with {recipient.namespace} "
                f"{recipient.user_id!r}; create it first, or let this transactional "
                "campaign create profiles (create_profiles=True)"
            )
            continue
        profile, new = built
        if new:
            created.append(profile)
        run_recipients.append(RunRecipient(profile, recipient.context or {}))
    require_valid(problems, f"trigger of campaign {campaign.id!r}")
    return run_recipients, created


class TriggerVerbs(SessionBase):
    """API trigger verbs of a user session (``campaign.publish``)."""

    def trigger(
        self,
        campaign_id: str,
        recipients: Sequence[Recipient],
        *,
        request_id: str,
        one_namespace: bool = False,
    ) -> Execution:
        """Send an API-triggered campaign to 1 to 20 recipients (a unitary execution).

        Returns at once; the next tick delivers. Repeating a ``request_id``
        returns the same execution and sends nothing again; reusing it with a
        different payload is a ``ConflictError``. A recipient is found by its
        identity in its own namespace; with ``one_namespace`` (AJO's rule, which
        ``campaignkit.ajo`` applies) it must be in the campaign's namespace.

        Raises:
            TransitionNotAllowed: the campaign is not API-triggered, not LIVE, or
                outside its start/end window.
            ValidationError: ``recipients`` not a list of ``Recipient``, an id
                that is not a non-empty UTF-8 string, or every problem of the
                payload (count, duplicate user ids, the reserved context key,
                more than 200 KB of contexts and profile overlays in all,
                another namespace under ``one_namespace``, unknown recipients
                when the campaign does not create profiles).
            ConflictError: ``request_id`` was used with another payload.
        """
        kit = self._kit
        now = kit.clock.now()
        created: list[Profile] = []
        checked: list[Recipient] = []

        def prepare() -> tuple[object, pendulum.DateTime | None]:
            checked.extend(recipients_argument(recipients))  # after the policy
            return unitary_payload(checked), None

        def build_run(campaign: Campaign, run_id: str) -> Run:
            run_recipients, new = build_recipients(
                kit.profiles, campaign, checked, one_namespace=one_namespace
            )
            created.extend(new)
            return new_run(campaign, run_id, RunKind.TRIGGER, now, recipients=run_recipients)

        def save_created() -> None:
            for profile in created:
                kit.profiles.upsert(profile)

        return self._execute(
            campaign_id,
            request_id,
            ExecutionKind.UNITARY,
            "trigger",
            prepare,
            now,
            build_run,
            then=save_created,
        )

    def execute_audience(
        self,
        campaign_id: str,
        *,
        request_id: str,
        context: Mapping[str, Any] | None = None,
        execute_at: pendulum.DateTime | None = None,
        audience: str | None = None,
    ) -> Execution:
        """Run a marketing API-triggered campaign on an audience, now or at ``execute_at``.

        The run streams ``audience`` when it is given (AJO's ``audience.id``),
        else the campaign's own audience. An audience the campaign may use is
        its own, or one the kit's audiences know (``kit.audiences``: static,
        conditional or the host's source) that is READY: the rule activation
        applies to a version's audience. Its members lacking the campaign's
        namespace are excluded and counted, as in the campaign's own audience.
        A scheduled execution can be cancelled until it fires.

        Raises:
            TransitionNotAllowed: not an API-triggered marketing campaign, not
                LIVE, or outside its window.
            ValidationError: a bad context (not a JSON object, nested deeper than
                32 levels, over 200 KB, the reserved key), no audience (neither
                given nor the campaign's), an ``audience`` that is not a
                non-empty string, does not exist or is not ready,
                ``execute_at`` not an aware datetime, in the past or after the
                campaign's end, or an id that is not a non-empty UTF-8 string.
            ConflictError: ``request_id`` was used with another payload.
        """
        now = self._kit.clock.now()
        when: pendulum.DateTime | None = None

        def prepare() -> tuple[object, pendulum.DateTime | None]:
            nonlocal when  # checked after the policy, like every argument
            problems = []
            if context is not None:  # not JSON, or too deep: not even fingerprinted
                problems = json_object_problems(context, "context", max_bytes=None)
            if execute_at is not None and not isinstance(
                cast("object", execute_at), datetime.datetime
            ):
                problems.append(
                    "execute_at must be an aware datetime (such as pendulum.datetime(..., "
                    f"tz='UTC')) or None, not {checks.describe(execute_at)}"
                )
            checks.optional_text(problems, "audience", audience)
            require_valid(problems, "audience execution")
            when = None if execute_at is None else ensure_utc(execute_at, "execute_at")
            payload: dict[str, object] = {
                "kind": "audience",
                "context": context,
                "execute_at": when,
            }
            if audience is not None:  # only then: earlier requests keep their fingerprint
                payload["audience"] = audience
            return payload, when

        def build_run(campaign: Campaign, run_id: str) -> Run:
            if campaign.category is not Category.MARKETING:
                raise TransitionNotAllowed(
                    campaign.id,
                    campaign.status.value,
                    "execute_audience",
                    "audience executions are for MARKETING campaigns; use trigger() "
                    "for transactional messages",
                )
            problems = context_problems(context, "context")
            version = campaign.live_version
            end = version.schedule.end if version is not None else None
            own = version.audience if version is not None else None
            if audience is None and own is None:
                problems.append(
                    f"campaign {campaign.id!r} has no audience to execute on: name one "
                    "(audience=..., AJO's audience.id)"
                )
            elif audience is not None and audience != own:
                problems.extend(self._audience_problems(audience, own))
            if when is not None and when < now:
                problems.append(f"execute_at {when.isoformat()} is in the past")
            if when is not None and end is not None and when >= end:
                problems.append(f"execute_at {when.isoformat()} is after the campaign's end")
            require_valid(problems, f"audience execution of campaign {campaign.id!r}")
            run = new_run(
                campaign, run_id, RunKind.AUDIENCE_EXECUTION, when or now, context=context or {}
            )
            return attrs.evolve(run, audience=audience or own)

        return self._execute(
            campaign_id,
            request_id,
            ExecutionKind.AUDIENCE,
            "execute_audience",
            prepare,
            now,
            build_run,
        )

    def _audience_problems(self, audience: str, own: str | None) -> list[str]:
        """Why the campaign may not use ``audience`` (not its own): unknown or not ready."""
        status = self._kit.audiences.status(audience)
        instead = (
            f"or leave it out to send to the campaign's audience ({own!r})"
            if own is not None
            else "for the campaign has no audience of its own"
        )
        if status is None:
            return [
                f"audience {audience!r} does not exist: name an audience the kit knows "
                f"(kit.audiences.define, or the host's audience source), {instead}"
            ]
        if status is AudienceStatus.NOT_READY:
            return [
                f"audience {audience!r} is not ready yet: execute once it is computed, {instead}"
            ]
        return []

    def cancel_execution(self, execution_id: str) -> Execution:
        """Cancel a scheduled audience execution before it fires (needs ``campaign.publish``).

        Raises:
            TransitionNotAllowed: it fired already (its time has come) or is not scheduled.
        """
        checks.require_ids(execution_id=execution_id)
        kit = self._kit
        now = kit.clock.now()
        with kit.store.unit_of_work() as uow:
            record = self._record(uow, execution_id, P.CAMPAIGN_PUBLISH)
            run = uow.runs.get(record.run_id)
            fired = record.execute_at is None or now >= record.execute_at or run.started_at
            if record.cancelled_at is not None:
                return execution_view(record, run)
            if fired or run.status.is_final:
                campaign = uow.campaigns.get(record.campaign_id)
                raise TransitionNotAllowed(
                    campaign.id,
                    campaign.status.value,
                    "cancel_execution",
                    f"execution {record.id!r} has fired already; only a scheduled execution "
                    "can be cancelled before its execute_at",
                )
            run = uow.runs.save(
                attrs.evolve(run, status=RunStatus.CANCELLED, finished_at=now, due_at=None)
            )
            record = uow.executions.save(attrs.evolve(record, cancelled_at=now))
            return execution_view(record, run)

    def execution(self, execution_id: str) -> Execution:
        """An execution and how it is going (needs ``campaign.read``)."""
        checks.require_ids(execution_id=execution_id)
        with self._kit.store.unit_of_work() as uow:
            record = self._record(uow, execution_id, P.CAMPAIGN_READ)
            return execution_view(record, uow.runs.get(record.run_id))

    # ------------------------------------------------------------ plumbing

    def _record(self, uow: UnitOfWork, execution_id: str, permission: P) -> ExecutionRecord:
        try:
            record = uow.executions.get(execution_id)
        except NotFound:
            self._require(permission)
            raise
        self._load(uow, record.campaign_id, permission)
        return record

    def _execute(  # noqa: PLR0917 - private, called from two verbs
        self,
        campaign_id: str,
        request_id: str,
        kind: ExecutionKind,
        verb: str,
        prepare: Callable[[], tuple[object, pendulum.DateTime | None]],
        now: pendulum.DateTime,
        build_run: Callable[[Campaign, str], Run],
        then: Callable[[], None] | None = None,
    ) -> Execution:
        """Accept one call: policy, request id, idempotency, campaign state, run.

        ``prepare`` checks the call's own arguments (after the policy) and
        returns the payload to fingerprint and the execution's ``execute_at``.
        ``then`` runs in the same unit of work once the execution is added (the
        profiles a trigger creates: a SQLite profile store joins the transaction,
        so the call and its new profiles are written together or not at all).
        """
        kit = self._kit
        events: list[DomainEvent] = []
        with kit.store.unit_of_work() as uow:
            campaign = self._load(uow, campaign_id, P.CAMPAIGN_PUBLISH)
            checks.require_ids(request_id=request_id)  # after the policy, before the store
            payload, execute_at = prepare()
            digest = fingerprint(payload)
            existing = uow.executions.by_request(campaign.id, request_id)
            if existing is not None:
                if existing.payload_hash != digest or existing.kind is not kind:
                    raise ConflictError(
                        f"request id {request_id!r} was already used for campaign "
                        f"{campaign.id!r} with a different payload; use a new request id"
                    )
                return execution_view(existing, uow.runs.get(existing.run_id))
            caught = kit.engine.catch_up(uow, campaign, now)
            events.extend(caught.events)
            current = caught.campaign
            if current is None:
                raise NotFound("campaign", campaign_id)
            refusal = acceptance_problem(current, now)
            if refusal is not None:
                raise TransitionNotAllowed(current.id, current.status.value, verb, refusal)
            run = uow.runs.add(build_run(current, kit.ids("run")))
            record = uow.executions.add(
                ExecutionRecord(
                    id=kit.ids("exe"),
                    campaign_id=current.id,
                    request_id=request_id,
                    kind=kind,
                    created_at=now,
                    created_by=self.user,
                    run_id=run.id,
                    payload_hash=digest,
                    execute_at=execute_at,
                )
            )
            if then is not None:
                then()
            view = execution_view(record, run)
        kit.publish(events)
        return view


def new_run(
    campaign: Campaign,
    run_id: str,
    kind: RunKind,
    at: pendulum.DateTime,
    *,
    recipients: Sequence[RunRecipient] = (),
    context: Mapping[str, Any] | None = None,
) -> Run:
    """A new PENDING run of the campaign's live version, due at ``at``."""
    version = campaign.live_version
    assert version is not None  # LIVE campaigns have one
    return Run(
        id=run_id,
        campaign_id=campaign.id,
        version=version.number,
        kind=kind,
        status=RunStatus.PENDING,
        created_at=at,
        due_at=at,
        recipients=tuple(recipients),
        context=context or {},
    )
