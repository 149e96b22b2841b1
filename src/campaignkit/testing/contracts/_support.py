"""Shared builders and helpers of the contract suites.

This module needs pytest.
"""

from __future__ import annotations

import datetime
import zlib
from collections.abc import Mapping, Sequence

import attrs
import pendulum

from campaignkit.domain.approval import ApprovalPolicy, PolicyConditions
from campaignkit.domain.campaign import Campaign, CampaignVersion
from campaignkit.domain.campaign_enums import CampaignStatus
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import (
    ActionCounts,
    ExclusionReason,
    FeedbackEvent,
    FeedbackRecord,
    LedgerEntry,
    LedgerState,
    Message,
    Run,
    RunKind,
    RunRecipient,
    RunStatus,
    idempotency_key,
)
from campaignkit.domain.profile import Profile
from campaignkit.domain.rules import BusinessRules, FrequencyCap, QuietHours, RuleBook
from campaignkit.domain.schedule import Recurrence, Schedule, Waves, Weekday
from campaignkit.domain.triggers import ExecutionKind, ExecutionRecord
from campaignkit.ports import (
    UnitOfWork,
)
from campaignkit.testing.factories import EPOCH, make_action, make_campaign, make_surface

S = CampaignStatus


class _Boom(Exception):
    """Raised inside a unit of work to check it rolls back."""


def make_message(
    profile_id: str = "p1",
    *,
    channel: ChannelType = ChannelType.EMAIL,
    run_id: str = "run_1",
    campaign_id: str = "cmp_1",
    action_id: str = "",
    address: str = "",
    fields: Mapping[str, str] | None = None,
    proof: bool = False,
    transactional: bool = False,
) -> Message:
    """A rendered message for ``channel``, as the runner hands it to a channel.

    Args:
        profile_id: The recipient.
        channel: The channel; the address, fields and surface settings fit it.
        run_id: The run (its idempotency key is derived from run, action and profile).
        campaign_id: The campaign.
        action_id: The action (default ``act_<channel>``).
        address: Where it goes (default: an address that fits the channel).
        fields: The rendered fields (default: simple fields of the channel).
        proof: Whether it is a proof message.
        transactional: Whether its campaign is transactional.

    Returns:
        The message; its idempotency key is stable for (run, action, profile).
    """
    action = action_id or f"act_{channel.value}"
    defaults: dict[ChannelType, tuple[str, Mapping[str, str]]] = {
        ChannelType.EMAIL: (
            f"{profile_id}@example.com",
            {"subject": f"Hello {profile_id}", "html": "<p>Hi</p>", "text": "Hi"},
        ),
        ChannelType.SMS: (f"+3361234{zlib.crc32(profile_id.encode()) % 10000:04d}", {"text": "Hi"}),
        ChannelType.PUSH: (f"token-{profile_id}", {"title": "Hello", "body": "Hi"}),
    }
    default_address, default_fields = defaults[channel]
    return Message(
        run_id=run_id,
        campaign_id=campaign_id,
        action_id=action,
        profile_id=profile_id,
        channel=channel,
        address=address or default_address,
        idempotency_key=idempotency_key(run_id, action, profile_id),
        fields=default_fields if fields is None else fields,
        settings=make_surface(channel=channel).settings,
        proof=proof,
        transactional=transactional,
    )


def _run(
    run_id: str = "run_1",
    *,
    campaign_id: str = "cmp_1",
    created_at: pendulum.DateTime = EPOCH,
    due_at: pendulum.DateTime | None = None,
    status: RunStatus = RunStatus.PENDING,
) -> Run:
    return Run(
        id=run_id,
        campaign_id=campaign_id,
        version=1,
        kind=RunKind.SCHEDULED,
        status=status,
        created_at=created_at,
        due_at=due_at,
    )


def _rich_profile(profile_id: str = "p1") -> Profile:
    """A profile using every field, with nested attributes of every JSON kind."""
    return Profile(
        id=profile_id,
        identities={"email": f"{profile_id}@example.com", "crm": "C-42"},
        attributes={
            "firstName": "Zoë",
            "age": 41,
            "score": 0.25,
            "vip": True,
            "nickname": None,
            "big": 2**53 + 1,
            "address": {"city": "Lyon", "geo": {"lat": 45.76, "lon": 4.84}},
            "orders": [{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 1, "tags": ["x", "y"]}],
            "emoji": "🎉 <b>&</b>",
        },
        consents={ChannelType.EMAIL: True, ChannelType.SMS: False},
        channel_data={ChannelType.SMS: "+33612345678", ChannelType.PUSH: "token-1"},
        timezone="Europe/Paris",
        language="fr",
    )


def _full_run() -> Run:
    """A run using every field."""
    return Run(
        id="run_full",
        campaign_id="cmp_1",
        version=3,
        kind=RunKind.TRIGGER,
        status=RunStatus.RUNNING,
        created_at=EPOCH,
        due_at=EPOCH.add(minutes=5, microseconds=123456),
        started_at=EPOCH.add(seconds=1),
        finished_at=None,
        position=1200,
        streamed=True,
        counts={
            "act_email": ActionCounts(
                targeted=10,
                sent=6,
                failed=1,
                excluded={ExclusionReason.NO_CONSENT: 2, ExclusionReason.DUPLICATE: 1},
                retries=3,
                pending=0,
                feedback={FeedbackEvent.OPENED: 4, FeedbackEvent.HARD_BOUNCE: 1},
            ),
            "act_sms": ActionCounts(targeted=10, pending=10),
        },
        lease_owner="worker-1",
        lease_expires_at=EPOCH.add(minutes=1),
        error=None,
        context={"coupon": "SAVE10", "nested": {"items": [1, 2, {"k": "v"}]}},
        recipients=(RunRecipient(_rich_profile("p1"), context={"order": {"id": 7}}),),
    )


def _entry(
    profile_id: str,
    *,
    run_id: str = "run_1",
    action_id: str = "act_email",
    state: LedgerState = LedgerState.PENDING,
    next_attempt_at: pendulum.DateTime | None = None,
    provider_message_id: str | None = None,
    attempts: int = 0,
) -> LedgerEntry:
    return LedgerEntry(
        run_id=run_id,
        action_id=action_id,
        profile_id=profile_id,
        campaign_id="cmp_1",
        channel=ChannelType.EMAIL,
        state=state,
        attempts=attempts,
        next_attempt_at=next_attempt_at,
        provider_message_id=provider_message_id,
    )


def _feedback(
    at: pendulum.DateTime,
    event: FeedbackEvent,
    *,
    campaign_id: str = "cmp_1",
    provider_message_id: str = "pm-1",
) -> FeedbackRecord:
    return FeedbackRecord(
        at=at,
        provider_message_id=provider_message_id,
        event=event,
        run_id="run_1",
        action_id="act_email",
        profile_id="p1",
        campaign_id=campaign_id,
    )


def _execution(
    execution_id: str = "exe_1", *, campaign_id: str = "cmp_1", request_id: str = "req-1"
) -> ExecutionRecord:
    return ExecutionRecord(
        id=execution_id,
        campaign_id=campaign_id,
        request_id=request_id,
        kind=ExecutionKind.AUDIENCE,
        created_at=EPOCH,
        created_by="api",
        run_id=f"run_{execution_id}",
        payload_hash="sha256:abc",
        execute_at=EPOCH.add(hours=1),
    )


def _queued(
    profile_id: str,
    at: pendulum.DateTime,
    *,
    run_id: str = "run_1",
    zone: str | None = "Europe/Paris",
) -> LedgerEntry:
    """A QUEUED entry waiting until ``at`` (its wave, its local time or quiet hours' end)."""
    entry = _entry(profile_id, run_id=run_id, state=LedgerState.QUEUED, next_attempt_at=at)
    return attrs.evolve(entry, due_at=at, timezone=zone)


def _due(uow: UnitOfWork, until: pendulum.DateTime, limit: int = 10) -> list[str]:
    """The profiles of run_1's entries due by ``until``, in the order ``due`` gives them."""
    return [e.profile_id for e in uow.ledger.due("run_1", until, limit)]


def _nonzero(counts: Mapping[str, int]) -> dict[str, int]:
    """Contact counts without zeros (a store may leave out profiles it never contacted)."""
    return {profile_id: count for profile_id, count in counts.items() if count}


def _version(
    number: int, schedule: Schedule, *, quiet: tuple[QuietHours, ...] = ()
) -> CampaignVersion:
    return CampaignVersion(
        number=number,
        created_at=EPOCH.add(days=number),
        created_by="builder",
        actions=(
            attrs.evolve(make_action(), rate_limit=100),
            make_action(ChannelType.SMS),
        ),
        audience="everyone",
        namespace="email",
        schedule=schedule,
        quiet_hours=quiet,
    )


def _scheduled_campaign(campaign_id: str = "cmp_sched") -> Campaign:
    """A LIVE recurring campaign using every scheduling field, one recurrence kind per version."""
    hour = pendulum.duration(hours=1)
    live = _version(
        2,
        Schedule(
            start=EPOCH,
            end=EPOCH.add(days=90),
            timezone="Europe/Paris",
            recurrence=Recurrence.weekly(days=[Weekday.MO, Weekday.TH], at="09:30", every=2),
            use_profile_timezone=True,
            waves=Waves.percentages([50, 30, 20], every=hour),
            send_window=pendulum.duration(hours=6, minutes=30),
        ),
        quiet=(
            QuietHours(
                start="21:00",
                end="08:00",
                mode="discard",
                days=(Weekday.SA, Weekday.SU),
                dates=(datetime.date(2026, 12, 25),),
            ),
            QuietHours(start="12:00", end="14:00", timezone="America/New_York"),
        ),
    )
    draft = _version(
        3,
        Schedule(
            timezone="Asia/Kolkata",
            recurrence=Recurrence.monthly(day=31, at="08:00", every=3),
            waves=Waves.counts([100, 250], every=pendulum.duration(minutes=45)),
        ),
    )
    superseded = (
        _version(
            1,
            Schedule(
                recurrence=Recurrence.daily(at="07:15"),
                waves=Waves.equal(count=3, every=hour),
                send_window=pendulum.duration(seconds=1),
            ),
        ),
        _version(
            1,
            Schedule(
                start=EPOCH.add(days=1),
                recurrence=Recurrence.rrule("FREQ=WEEKLY;BYDAY=MO,WE"),
                use_profile_timezone=True,
            ),
        ),
    )
    campaign = make_campaign(campaign_id, status=CampaignStatus.LIVE, due_at=EPOCH.add(days=4))
    return attrs.evolve(
        campaign,
        live_version=live,
        draft_version=draft,
        superseded_versions=superseded,
        open_runs=2,
        runs_finished_at=EPOCH.add(hours=2, microseconds=7),
        next_occurrence_at=EPOCH.add(days=4, hours=8, minutes=30),
    )


def _scheduled_run() -> Run:
    """A run of waves and rate-limited actions, with the scheduling counters."""
    run = _run("run_sched", due_at=EPOCH.add(hours=1), status=RunStatus.RUNNING)
    return attrs.evolve(
        run,
        nominal_at=EPOCH.add(microseconds=1),
        wave_filled=(4, 3, 0),
        rate_sent={"act_email": 120},
        rate_origin={"act_email": EPOCH.add(seconds=30, microseconds=250)},
        counts={
            "act_email": ActionCounts(
                targeted=9,
                sent=3,
                pending=4,
                excluded={ExclusionReason.BEYOND_WAVES: 1, ExclusionReason.FREQUENCY_CAP: 1},
                late=1,
                timezone_fallbacks=2,
            )
        },
    )


def _rule_book() -> RuleBook:
    """Rules on two channels: quiet hours of every shape, and frequency caps."""
    return RuleBook(
        channels={
            ChannelType.SMS: BusinessRules(
                quiet_hours=(
                    QuietHours(start="21:00", end="08:00"),
                    QuietHours(days=(Weekday.SU,), timezone="Europe/Paris", mode="discard"),
                    QuietHours(dates=(datetime.date(2026, 12, 24), datetime.date(2026, 12, 25))),
                ),
                caps=(FrequencyCap(max=1, per=pendulum.duration(days=1)),),
            ),
            ChannelType.EMAIL: BusinessRules(
                caps=(
                    FrequencyCap(max=2, per=pendulum.duration(days=7)),
                    FrequencyCap(max=5, per=pendulum.duration(hours=12, microseconds=1)),
                )
            ),
        }
    )


def _policy(policy_id: str = "pol_1", *, name: str = "Legal review") -> ApprovalPolicy:
    return ApprovalPolicy(
        id=policy_id,
        name=name,
        conditions=PolicyConditions(
            channels=frozenset({ChannelType.SMS}), tags=frozenset({"promo"}), match="any"
        ),
        reviewers=frozenset({"april"}),
        reviewer_groups=frozenset({"legal"}),
        created_at=EPOCH,
        created_by="ada",
    )


def _by_key(entries: Sequence[LedgerEntry]) -> list[LedgerEntry]:
    return sorted(entries, key=lambda e: e.key)


def _entries(uow: UnitOfWork, run_id: str = "run_1") -> list[LedgerEntry]:
    return _by_key(list(uow.ledger.entries(run_id)))


def _profiles(entries: Sequence[LedgerEntry]) -> set[str]:
    return {e.profile_id for e in entries}
