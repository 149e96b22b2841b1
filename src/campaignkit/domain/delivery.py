"""Delivery values: messages, send results, runs, the ledger and exclusions.

Pure values and functions only. The runner (``campaignkit.delivery.runner``)
moves them between the store, the audience and the channels.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, TypeAlias

import attrs
import pendulum

from campaignkit.domain import display, html_views
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.profile import Profile
from campaignkit.domain.surface import SurfaceSettings
from campaignkit.domain.text_enum import TextEnum


class ExclusionReason(TextEnum):
    """Why a (profile, action) was not sent. Declared in precedence order.

    A recipient excluded for several reasons is counted once, under the
    first reason in this order (SPEC section 12).
    """

    DUPLICATE = "duplicate"
    UNKNOWN_PROFILE = "unknown_profile"
    """The audience names a profile id the profile store does not know."""
    MISSING_IDENTITY = "missing_identity"
    MISSING_CHANNEL_DATA = "missing_channel_data"
    SUPPRESSED = "suppressed"
    NO_CONSENT = "no_consent"
    FREQUENCY_CAP = "frequency_cap"
    QUIET_HOURS = "quiet_hours"
    MISSING_ATTRIBUTE = "missing_attribute"
    SEND_WINDOW = "send_window"
    BEYOND_WAVES = "beyond_waves"
    STOPPED = "stopped"

    def __str__(self) -> str:
        return self.value


def _frozen(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@attrs.frozen(eq=True, hash=False, slots=False)
class Message:
    """One rendered message handed to a channel.

    Immutable. Runs build one per message sent through :func:`message_builder`
    (the class keeps its fields in an instance dict so a message is built in
    one step; see ``docs/performance.md``).

    Attributes:
        run_id: The run it belongs to (``proof-...`` for proofs).
        campaign_id: The campaign.
        action_id: The action of the campaign.
        profile_id: The recipient.
        channel: The channel.
        address: Email address, phone number or push token.
        idempotency_key: Stable per (run, action, profile): a re-send after a
            crash carries the same key, so a provider honouring it drops the copy.
        fields: The rendered template fields (``subject``, ``html``, ``text``,
            ``title``, ``body``).
        settings: The surface settings (sender, app id ...).
        proof: True for proof messages (never counted in reports).
        transactional: True for transactional campaigns.
        unsubscribe_url: The signed one-click unsubscribe URL of this recipient
            (marketing email on a surface with ``unsubscribe_url`` when the kit
            has a ``secret``); SMTP puts it in ``List-Unsubscribe``.
    """

    run_id: str
    campaign_id: str
    action_id: str
    profile_id: str
    channel: ChannelType
    address: str
    idempotency_key: str
    fields: Mapping[str, str] = attrs.field(converter=_frozen)
    settings: SurfaceSettings
    proof: bool = False
    transactional: bool = False
    unsubscribe_url: str | None = None


@attrs.frozen(init=False)
class Accepted:
    """The provider took the message.

    Attributes:
        provider_message_id: The provider's id, used to report feedback later.
    """

    provider_message_id: str

    def __init__(self, provider_message_id: str) -> None:
        # one per message sent: a third cheaper than the generated frozen __init__
        _set_provider_id(self, provider_message_id)


_set_provider_id = vars(Accepted)["provider_message_id"].__set__


MAX_RETRY_AFTER = 7 * 24 * 3600.0
"""The longest ``Retry-After`` honoured, in seconds (a week); longer asks are cut to it."""


def _check_retry_after(_: object, __: attrs.Attribute[float | None], value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"retry_after must be a number of seconds >= 0 or None, not {value!r}")


def _storable_error(value: object) -> object:
    """A provider's error text with NUL characters shown as U+FFFD.

    PostgreSQL text cannot hold U+0000, so a provider answering with one
    would otherwise make the outcome unrecordable and stop the run; the rest
    of the text is kept as given (other types are left for the hand-over's
    checks to refuse).
    """
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", "\ufffd")
    return value


@attrs.frozen
class TransientFailure:
    """Try again later (rate limited, timeout, 5xx).

    Attributes:
        error: What went wrong.
        retry_after: Seconds the provider asked to wait (an HTTP ``Retry-After``);
            when given, the retry is due that long after the attempt, by the
            kit's clock, instead of after the exponential backoff.
    """

    error: str = attrs.field(converter=_storable_error)
    retry_after: float | None = attrs.field(default=None, validator=_check_retry_after)


@attrs.frozen
class PermanentFailure:
    """Never deliverable (invalid address, rejected content).

    Attributes:
        error: What went wrong.
    """

    error: str = attrs.field(converter=_storable_error)


SendResult: TypeAlias = Accepted | TransientFailure | PermanentFailure
"""A channel's answer for one message."""


class LedgerState(TextEnum):
    """Where a (run, action, profile) stands."""

    PENDING = "pending"
    """Handed (or about to be handed) to the channel; outcome not yet recorded."""
    QUEUED = "queued"
    """Waiting for its time (local time zone, wave, quiet hours, rate limit)."""
    RETRY = "retry"
    """A transient failure; sent again at ``next_attempt_at``."""
    SENT = "sent"
    FAILED = "failed"
    EXCLUDED = "excluded"

    @property
    def is_final(self) -> bool:
        """True for SENT, FAILED and EXCLUDED."""
        return self in (LedgerState.SENT, LedgerState.FAILED, LedgerState.EXCLUDED)

    def __str__(self) -> str:
        return self.value


@attrs.frozen
class LedgerEntry:
    """The delivery ledger's record of one (run, action, profile).

    Attributes:
        run_id: The run.
        action_id: The action.
        profile_id: The recipient.
        campaign_id: The campaign (for feedback and reports).
        channel: The action's channel.
        state: Where it stands.
        reason: Why it was excluded (EXCLUDED only).
        attempts: How many times it was handed to the channel.
        next_attempt_at: When a QUEUED or RETRY entry is next looked at.
        due_at: The recipient's own due time (their wave or local slot); the
            send window counts from it.
        timezone: The recipient's time zone as their profile gives it (quiet hours
            are read in it).
        slot: The rate-limit slot reserved for it, once it has one.
        provider_message_id: The provider's id once accepted.
        address: Where it was sent (kept for suppression on a hard bounce).
        error: The last error (FAILED, RETRY).
        message: The rendered message, kept until the outcome is final so a
            re-send after a crash or a retry sends exactly the same thing.
    """

    run_id: str
    action_id: str
    profile_id: str
    campaign_id: str
    channel: ChannelType
    state: LedgerState
    reason: ExclusionReason | None = None
    attempts: int = 0
    next_attempt_at: pendulum.DateTime | None = None
    provider_message_id: str | None = None
    address: str | None = None
    due_at: pendulum.DateTime | None = None
    timezone: str | None = None
    slot: pendulum.DateTime | None = None
    error: str | None = None
    message: Message | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        """``(run_id, action_id, profile_id)``."""
        return (self.run_id, self.action_id, self.profile_id)


def idempotency_key(run_id: str, action_id: str, profile_id: str) -> str:
    """The stable idempotency key of a (run, action, profile)."""
    return f"{run_id}:{action_id}:{profile_id}"


class RunStatus(TextEnum):
    """Where a run stands."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPED = "stopped"
    CANCELLED = "cancelled"
    """A scheduled execution cancelled before it fired."""
    SKIPPED = "skipped"
    """An occurrence missed while the engine was down, recorded but not run."""

    @property
    def is_final(self) -> bool:
        """True once the run can change no more."""
        return self in (
            RunStatus.SUCCEEDED,
            RunStatus.FAILED,
            RunStatus.STOPPED,
            RunStatus.CANCELLED,
            RunStatus.SKIPPED,
        )

    def __str__(self) -> str:
        return self.value


class FeedbackEvent(TextEnum):
    """What a provider reported after accepting a message."""

    DELIVERED = "delivered"
    HARD_BOUNCE = "hard_bounce"
    SOFT_BOUNCE = "soft_bounce"
    OPENED = "opened"
    CLICKED = "clicked"
    UNSUBSCRIBED = "unsubscribed"
    COMPLAINT = "complaint"

    def __str__(self) -> str:
        return self.value


def _counter(value: Mapping[Any, int]) -> Mapping[Any, int]:
    return MappingProxyType({k: v for k, v in value.items() if v})


@attrs.frozen(eq=True, hash=False, slots=False)
class ActionCounts:
    """Counts of one action in one run; ``targeted = sent + failed + excluded``.

    Immutable; its fields live in an instance dict, so the runner builds a sum
    in one step (``delivery.tally``).

    Attributes:
        targeted: Audience members considered for the action.
        sent: Accepted by the channel.
        failed: Failed permanently or ran out of retries.
        excluded: Excluded, by reason.
        retries: Re-sends after transient failures.
        pending: Handed over, queued or waiting to retry: outcome not final yet.
        feedback: Feedback events reported, by kind.
        late: Recipients whose own due time had already passed when the run reached
            them (profile time zones: a run started late, after downtime).
        timezone_fallbacks: Recipients without a usable time zone (the campaign's was used).
    """

    targeted: int = 0
    sent: int = 0
    failed: int = 0
    excluded: Mapping[ExclusionReason, int] = attrs.field(factory=dict, converter=_counter)
    retries: int = 0
    pending: int = 0
    feedback: Mapping[FeedbackEvent, int] = attrs.field(factory=dict, converter=_counter)
    late: int = 0
    timezone_fallbacks: int = 0

    @property
    def excluded_total(self) -> int:
        """Excluded for any reason."""
        return sum(self.excluded.values())

    def plus(self, other: ActionCounts) -> ActionCounts:
        """The sum of two counts."""
        return ActionCounts(
            targeted=self.targeted + other.targeted,
            sent=self.sent + other.sent,
            failed=self.failed + other.failed,
            excluded=_add(self.excluded, other.excluded),
            retries=self.retries + other.retries,
            pending=self.pending + other.pending,
            feedback=_add(self.feedback, other.feedback),
            late=self.late + other.late,
            timezone_fallbacks=self.timezone_fallbacks + other.timezone_fallbacks,
        )

    def __repr__(self) -> str:
        """The counts in one line, exclusions by reason, zero extras left out."""
        return f"ActionCounts({display.counts_text(self)})"


def _add(a: Mapping[Any, int], b: Mapping[Any, int]) -> dict[Any, int]:
    total = dict(a)
    for key, value in b.items():
        total[key] = total.get(key, 0) + value
    return total


class RunKind(TextEnum):
    """What started a run."""

    SCHEDULED = "scheduled"
    """The one run of a one-shot scheduled campaign."""
    OCCURRENCE = "occurrence"
    """One occurrence of a recurring campaign."""
    TRIGGER = "trigger"
    """A unitary API trigger."""
    AUDIENCE_EXECUTION = "audience_execution"
    """An API-triggered campaign run on its audience."""

    def __str__(self) -> str:
        return self.value


@attrs.frozen(eq=True, hash=False)
class RunRecipient:
    """A recipient given to a run directly (API triggers) instead of by an audience.

    Attributes:
        profile: The profile as it applies to this message (stored profile
            overlaid with the call's attributes and channel data).
        context: This recipient's API context.
    """

    profile: Profile
    context: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen)


@attrs.frozen(eq=True, hash=False, slots=False)
class Run:
    """One execution of one campaign version.

    Immutable. Its fields live in an instance dict, so a copy with a few fields
    changed (``domain.copying.evolve``, several per run) is one dict copy.

    Attributes:
        id: Identifier.
        campaign_id: The campaign.
        version: The version number it runs (deliveries stay attributed to it).
        kind: What started it.
        status: PENDING, RUNNING, SUCCEEDED, FAILED or STOPPED.
        created_at: When it was created (the earliest moment it has work).
        nominal_at: The instant it stands for (the start or occurrence, read as a
            wall-clock time in each recipient's zone for profile-time-zone runs).
        due_at: When it next has work (start, retries); None once final.
        started_at: When delivery began.
        finished_at: When it reached a final status.
        position: How many audience members are fully recorded (resume point).
        streamed: True once the whole audience has been streamed.
        counts: Per action id.
        lease_owner: The worker running it now, if any.
        lease_expires_at: When another worker may take over a crashed run.
        error: Why it FAILED.
        context: API context shared by every recipient (audience executions).
        recipients: The recipients of a unitary trigger (instead of an audience).
        wave_filled: Recipients assigned to each wave so far.
        rate_sent: Rate-limited messages given a send slot so far, per action.
        rate_origin: When each rate-limited action started sending.
        audience: The audience the run streams, as an audience execution records
            it (its ``audience.id``, else the campaign's when accepted); None:
            its version's. Fixed when the run is added.
        revision: Store revision for optimistic concurrency.
    """

    id: str
    campaign_id: str
    version: int
    kind: RunKind
    status: RunStatus
    created_at: pendulum.DateTime
    due_at: pendulum.DateTime | None
    started_at: pendulum.DateTime | None = None
    finished_at: pendulum.DateTime | None = None
    position: int = 0
    streamed: bool = False
    counts: Mapping[str, ActionCounts] = attrs.field(factory=dict, converter=_frozen)
    lease_owner: str | None = None
    lease_expires_at: pendulum.DateTime | None = None
    error: str | None = None
    context: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen)
    recipients: tuple[RunRecipient, ...] = ()
    nominal_at: pendulum.DateTime | None = None
    wave_filled: tuple[int, ...] = ()
    rate_sent: Mapping[str, int] = attrs.field(factory=dict, converter=_frozen)
    rate_origin: Mapping[str, pendulum.DateTime] = attrs.field(factory=dict, converter=_frozen)
    audience: str | None = None
    revision: int = 0

    @property
    def nominal(self) -> pendulum.DateTime:
        """The instant the run stands for (``nominal_at``, else its creation)."""
        return self.nominal_at or self.created_at

    def total(self) -> ActionCounts:
        """Counts summed over every action."""
        total = ActionCounts()
        for counts in self.counts.values():
            total = total.plus(counts)
        return total

    def __repr__(self) -> str:
        """Id, campaign, version, kind, status, nominal instant and total counts in one line."""
        return display.run_repr(self)

    def _repr_html_(self) -> str:
        """Fields and counts per action as HTML tables for notebooks."""
        return html_views.run_html(self)


@attrs.frozen
class FeedbackRecord:
    """A feedback event reported for a delivered message.

    Attributes:
        at: When it was recorded.
        provider_message_id: The provider's message id.
        event: What happened.
        run_id: The run of the message.
        action_id: Its action.
        profile_id: Its recipient.
        campaign_id: Its campaign.
    """

    at: pendulum.DateTime
    provider_message_id: str
    event: FeedbackEvent
    run_id: str
    action_id: str
    profile_id: str
    campaign_id: str


def backoff(
    key: str, attempt: int, *, base: pendulum.Duration, cap: pendulum.Duration
) -> pendulum.Duration:
    """Exponential backoff with deterministic jitter for retry ``attempt`` (1-based).

    The delay is ``base * 2**(attempt-1)``, capped, times a jitter factor in
    [0.5, 1.0) derived from a hash of ``key`` and ``attempt``: the same inputs
    always give the same delay, and recipients do not retry in lockstep.
    """
    raw = base.total_seconds() * (2 ** (attempt - 1))
    capped = min(raw, cap.total_seconds())
    digest = hashlib.sha256(f"{key}#{attempt}".encode()).digest()
    jitter = 0.5 + int.from_bytes(digest[:4], "big") / 2**33
    return pendulum.duration(seconds=round(capped * jitter, 3))


# the ledger-row helpers of the hot path live in their own module; names kept importable here
from campaignkit.domain.ledger_rows import (  # noqa: E402 - they need the values above
    MessageBuilder,
    OutcomeRow,
    PendingRow,
    message_builder,
    pending_entry,
    settled_entry,
)

__all__ = [
    "MAX_RETRY_AFTER",
    "Accepted",
    "ActionCounts",
    "ExclusionReason",
    "FeedbackEvent",
    "FeedbackRecord",
    "LedgerEntry",
    "LedgerState",
    "Message",
    "MessageBuilder",
    "OutcomeRow",
    "PendingRow",
    "PermanentFailure",
    "Run",
    "RunKind",
    "RunRecipient",
    "RunStatus",
    "SendResult",
    "TransientFailure",
    "backoff",
    "idempotency_key",
    "message_builder",
    "pending_entry",
    "settled_entry",
]
