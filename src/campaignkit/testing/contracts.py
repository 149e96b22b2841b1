"""Contract suites: the behaviour every adapter of a port must have.

Subclass a contract in your own test suite and provide the fixture it needs;
pytest then runs every contract test against your adapter::

    import pytest
    from campaignkit.testing.contracts import StoreContract

    class TestMyStore(StoreContract):
        @pytest.fixture
        def store(self) -> MyStore:
            return MyStore(...)

Every port has its suite: :class:`StoreContract` (``store``),
:class:`ProfileStoreContract` (``profiles``), :class:`AudienceSourceContract`
(``audience_source`` plus a ``define`` hook) and :class:`ChannelContract`
(``channel``; :func:`make_message` builds messages for your own tests).

The classes are deliberately not named ``Test*`` so pytest collects them only
through your subclasses. This module needs pytest.
"""

from __future__ import annotations

import contextlib
import datetime
import threading
import zlib
from collections.abc import Mapping, Sequence, Sized

import attrs
import pendulum
import pytest

from campaignkit.domain.access import AccessAuditEntry, AccessChange, Principal
from campaignkit.domain.approval import ApprovalPolicy, PolicyConditions, PolicyStatus
from campaignkit.domain.audience import AudienceStatus
from campaignkit.domain.campaign import Campaign, CampaignVersion
from campaignkit.domain.campaign_enums import ALL_STATUSES, CampaignStatus, CampaignType
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import (
    Accepted,
    ActionCounts,
    ExclusionReason,
    FeedbackEvent,
    FeedbackRecord,
    LedgerEntry,
    LedgerState,
    Message,
    PermanentFailure,
    Run,
    RunKind,
    RunRecipient,
    RunStatus,
    SendResult,
    TransientFailure,
    idempotency_key,
)
from campaignkit.domain.listing import CampaignQuery
from campaignkit.domain.profile import Profile
from campaignkit.domain.rules import BusinessRules, FrequencyCap, QuietHours, RuleBook
from campaignkit.domain.schedule import Recurrence, Schedule, Waves, Weekday
from campaignkit.domain.triggers import ExecutionKind, ExecutionRecord
from campaignkit.errors import ConflictError, NotFound, ValidationError
from campaignkit.permissions import ProductProfile
from campaignkit.ports import (
    AudienceSource,
    Channel,
    LookupChannel,
    ProfileStore,
    Store,
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


class StoreContract:
    """Contract of the :class:`~campaignkit.ports.Store` port.

    Provide a ``store`` fixture returning a new, empty store.
    """

    # ------------------------------------------------------------ campaigns

    def test_add_then_get_returns_the_campaign_at_revision_1(self, store: Store) -> None:
        """A new campaign is stored at revision 1 and read back equal."""
        with store.unit_of_work() as uow:
            added = uow.campaigns.add(make_campaign("c1", tags=("a", "b")))
        with store.unit_of_work() as uow:
            assert uow.campaigns.get("c1") == added
            assert added.revision == 1
            assert uow.campaigns.find("missing") is None
            with pytest.raises(NotFound):
                uow.campaigns.get("missing")

    def test_add_refuses_an_existing_id(self, store: Store) -> None:
        """Two campaigns cannot share an id."""
        with store.unit_of_work() as uow:
            uow.campaigns.add(make_campaign("c1"))
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.campaigns.add(make_campaign("c1"))

    def test_save_bumps_the_revision_and_refuses_stale_writes(self, store: Store) -> None:
        """Optimistic concurrency: the second writer of the same revision loses."""
        with store.unit_of_work() as uow:
            loaded = uow.campaigns.add(make_campaign("c1"))
        with store.unit_of_work() as uow:
            first = uow.campaigns.save(attrs.evolve(loaded, name="first"))
        assert first.revision == 2
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.campaigns.save(attrs.evolve(loaded, name="second"))
        with store.unit_of_work() as uow:
            assert uow.campaigns.get("c1").name == "first"

    def test_remove_deletes_and_refuses_stale_or_missing(self, store: Store) -> None:
        """Removal checks the revision too; a removed campaign cannot be saved."""
        with store.unit_of_work() as uow:
            loaded = uow.campaigns.add(make_campaign("c1", due_at=EPOCH))
        with store.unit_of_work() as uow:
            uow.campaigns.save(attrs.evolve(loaded, name="changed"))
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.campaigns.remove(loaded)
        with store.unit_of_work() as uow:
            uow.campaigns.remove(uow.campaigns.get("c1"))
        with store.unit_of_work() as uow:
            assert uow.campaigns.find("c1") is None
            assert uow.campaigns.next_due_at() is None
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.campaigns.save(loaded)

    def test_add_refuses_a_campaign_that_has_a_revision(self, store: Store) -> None:
        """Only a new value (revision 0) can be added; anything else is a ValidationError."""
        with store.unit_of_work() as uow:
            stored = uow.campaigns.add(make_campaign("c1"))
        with pytest.raises(ValidationError), store.unit_of_work() as uow:
            uow.campaigns.add(attrs.evolve(make_campaign("c2"), revision=3))
        with pytest.raises(ValidationError), store.unit_of_work() as uow:
            uow.campaigns.add(stored)
        with store.unit_of_work() as uow:
            assert uow.campaigns.find("c2") is None
            assert uow.campaigns.get("c1") == stored

    def test_status_answers_for_stored_campaigns_only(self, store: Store) -> None:
        """``status`` is the stored status, following saves; None for an unknown id."""
        with store.unit_of_work() as uow:
            live = uow.campaigns.add(make_campaign("c1", status=S.LIVE))
            uow.campaigns.add(make_campaign("c2"))
        with store.unit_of_work() as uow:
            assert uow.campaigns.status("c1") is S.LIVE
            assert uow.campaigns.status("c2") is S.DRAFT
            assert uow.campaigns.status("missing") is None
            uow.campaigns.save(attrs.evolve(live, status=S.STOPPED))
            assert uow.campaigns.status("c1") is S.STOPPED
        with store.unit_of_work() as uow:
            assert uow.campaigns.status("c1") is S.STOPPED

    def test_campaigns_keep_their_scheduling_fields(self, store: Store) -> None:
        """Recurrences, waves, time zones, send windows, quiet hours, rate limits are stored.

        So are the run bookkeeping fields (open runs, last finish, next occurrence).
        """
        campaign = _scheduled_campaign()
        with store.unit_of_work() as uow:
            added = uow.campaigns.add(campaign)
        assert added == attrs.evolve(campaign, revision=1)
        with store.unit_of_work() as uow:
            assert uow.campaigns.get(campaign.id) == added
        later = EPOCH.add(days=18, hours=8, minutes=30)
        finished = attrs.evolve(
            added, open_runs=0, runs_finished_at=later, next_occurrence_at=None, due_at=later
        )
        with store.unit_of_work() as uow:
            saved = uow.campaigns.save(finished)
        with store.unit_of_work() as uow:
            assert uow.campaigns.get(campaign.id) == saved
            assert saved == attrs.evolve(finished, revision=2)
            assert list(uow.campaigns.due(later, 10)) == [(later, campaign.id)]

    def test_a_unit_that_raises_changes_nothing(self, store: Store) -> None:
        """All or nothing: every write of a failed unit is undone."""
        with store.unit_of_work() as uow:
            kept = uow.campaigns.add(make_campaign("kept", due_at=EPOCH))
            uow.access.set_profiles(Principal.user("ada"), frozenset({ProductProfile.VIEWER}))
        with pytest.raises(_Boom), store.unit_of_work() as uow:
            uow.campaigns.add(make_campaign("new", due_at=EPOCH))
            uow.campaigns.save(attrs.evolve(kept, name="renamed", due_at=EPOCH.add(days=1)))
            uow.surfaces.add(make_surface("s1"))
            uow.access.set_profiles(Principal.user("ada"), frozenset())
            uow.access.set_profiles(Principal.user("bob"), frozenset({ProductProfile.MANAGER}))
            raise _Boom
        with store.unit_of_work() as uow:
            assert uow.campaigns.find("new") is None
            assert uow.campaigns.get("kept") == kept
            assert uow.campaigns.due(EPOCH, 10) == [(EPOCH, "kept")]
            assert uow.surfaces.find("s1") is None
            assert uow.access.all() == {Principal.user("ada"): frozenset({ProductProfile.VIEWER})}

    def test_a_failed_remove_and_surface_save_roll_back(self, store: Store) -> None:
        """Removals and surface updates are undone with their unit."""
        with store.unit_of_work() as uow:
            kept = uow.campaigns.add(make_campaign("kept"))
            surface = uow.surfaces.add(make_surface("s1"))
        with pytest.raises(_Boom), store.unit_of_work() as uow:
            uow.campaigns.remove(kept)
            uow.surfaces.save(attrs.evolve(surface, name="renamed"))
            raise _Boom
        with store.unit_of_work() as uow:
            assert uow.campaigns.get("kept") == kept
            assert uow.surfaces.get("s1") == surface

    def test_nested_unit_joins_the_outer_one(self, store: Store) -> None:
        """A unit opened inside another on the same thread is part of it."""
        with pytest.raises(_Boom), store.unit_of_work() as outer:
            outer.campaigns.add(make_campaign("c1"))
            with store.unit_of_work() as inner:
                assert inner.campaigns.find("c1") is not None
                inner.campaigns.add(make_campaign("c2"))
            raise _Boom
        with store.unit_of_work() as uow:
            assert uow.campaigns.find("c1") is None
            assert uow.campaigns.find("c2") is None

    # ------------------------------------------------------------ due index

    def test_due_returns_due_work_in_due_at_then_id_order(self, store: Store) -> None:
        """The due query is ordered by (due_at, id), inclusive of ``until``, limited."""
        t = EPOCH
        with store.unit_of_work() as uow:
            uow.campaigns.add(make_campaign("b", due_at=t.add(hours=1)))
            uow.campaigns.add(make_campaign("a", due_at=t.add(hours=1)))
            uow.campaigns.add(make_campaign("c", due_at=t))
            uow.campaigns.add(make_campaign("later", due_at=t.add(days=1)))
            uow.campaigns.add(make_campaign("never"))
        with store.unit_of_work() as uow:
            hour = t.add(hours=1)
            assert list(uow.campaigns.due(hour, 10)) == [(t, "c"), (hour, "a"), (hour, "b")]
            assert list(uow.campaigns.due(hour, 2)) == [(t, "c"), (hour, "a")]
            assert list(uow.campaigns.due(t.subtract(seconds=1), 10)) == []
            assert uow.campaigns.next_due_at() == t

    def test_due_index_follows_saves(self, store: Store) -> None:
        """Saving a campaign with another due_at moves it in the index."""
        with store.unit_of_work() as uow:
            c = uow.campaigns.add(make_campaign("c", due_at=EPOCH))
        with store.unit_of_work() as uow:
            uow.campaigns.save(attrs.evolve(c, due_at=None))
        with store.unit_of_work() as uow:
            assert list(uow.campaigns.due(EPOCH.add(years=1), 10)) == []
            assert uow.campaigns.next_due_at() is None

    def test_due_instants_are_utc_and_comparable(self, store: Store) -> None:
        """A due_at given in another zone is the same instant."""
        paris = pendulum.datetime(2026, 1, 1, 10, tz="Europe/Paris")  # 09:00 UTC
        with store.unit_of_work() as uow:
            uow.campaigns.add(make_campaign("c", due_at=paris.in_timezone("UTC")))
        with store.unit_of_work() as uow:
            assert [cid for _, cid in uow.campaigns.due(EPOCH.add(hours=9), 5)] == ["c"]

    # ------------------------------------------------------------ queries

    def _fill(self, store: Store) -> None:
        rows = [
            ("d1", S.DRAFT, CampaignType.SCHEDULED, ("promo",), "Winter SALE", ChannelType.EMAIL),
            ("l1", S.LIVE, CampaignType.SCHEDULED, ("promo", "vip"), "Summer", ChannelType.SMS),
            ("s1", S.SCHEDULED, CampaignType.API_TRIGGERED, (), "Reset password", ChannelType.PUSH),
            ("c1", S.COMPLETED, CampaignType.SCHEDULED, ("promo",), "Old sale", ChannelType.EMAIL),
            ("a1", S.ARCHIVED, CampaignType.SCHEDULED, (), "Archived", ChannelType.SMS),
        ]
        with store.unit_of_work() as uow:
            for hours, (cid, status, kind, tags, name, channel) in enumerate(rows):
                uow.campaigns.add(
                    make_campaign(
                        cid,
                        status=status,
                        type=kind,
                        tags=tags,
                        name=name,
                        channels=(channel,),
                        created_at=EPOCH.add(hours=hours),
                        surface_id=f"srf_{channel.value}",
                    )
                )

    def _ids(self, store: Store, query: CampaignQuery) -> list[str]:
        with store.unit_of_work() as uow:
            return [c.id for c in uow.campaigns.query(query)]

    def test_query_default_filter_is_draft_scheduled_live_newest_first(self, store: Store) -> None:
        """Without a status filter only DRAFT, SCHEDULED and LIVE show, newest first."""
        self._fill(store)
        assert self._ids(store, CampaignQuery()) == ["s1", "l1", "d1"]
        assert self._ids(store, CampaignQuery(statuses=ALL_STATUSES)) == [
            "a1",
            "c1",
            "s1",
            "l1",
            "d1",
        ]

    def test_query_filters(self, store: Store) -> None:
        """Each filter narrows the result; filters combine with AND."""
        self._fill(store)
        every = ALL_STATUSES
        assert self._ids(store, CampaignQuery(statuses=every, tag="promo")) == ["c1", "l1", "d1"]
        assert self._ids(store, CampaignQuery(tag="vip")) == ["l1"]
        assert self._ids(store, CampaignQuery(statuses=every, search="sAlE")) == ["c1", "d1"]
        assert self._ids(
            store, CampaignQuery(statuses=every, types=frozenset({CampaignType.API_TRIGGERED}))
        ) == ["s1"]
        assert self._ids(
            store, CampaignQuery(statuses=every, channels=frozenset({ChannelType.SMS}))
        ) == ["a1", "l1"]
        assert self._ids(
            store,
            CampaignQuery(
                statuses=every, created_from=EPOCH.add(hours=1), created_to=EPOCH.add(hours=3)
            ),
        ) == ["s1", "l1"]
        assert self._ids(store, CampaignQuery(statuses=every, surface_id="srf_push")) == ["s1"]
        assert self._ids(store, CampaignQuery(statuses=frozenset({S.FAILED}))) == []

    def test_pages_cover_every_match_once_even_with_equal_timestamps(self, store: Store) -> None:
        """Cursor pagination has no duplicates and no gaps, ties broken by id."""
        with store.unit_of_work() as uow:
            for i in range(23):
                created = EPOCH.add(minutes=i // 3)  # three campaigns per instant
                uow.campaigns.add(make_campaign(f"c{i:02d}", created_at=created))
        seen: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            with store.unit_of_work() as uow:
                page = uow.campaigns.query(CampaignQuery(limit=5, cursor=cursor))
            pages += 1
            seen.extend(c.id for c in page)
            cursor = page.next_cursor
            if cursor is None:
                break
        assert pages == 5
        assert len(seen) == len(set(seen)) == 23
        keys = [(EPOCH.add(minutes=int(s[1:]) // 3), s) for s in seen]
        assert keys == sorted(keys, reverse=True)

    def test_campaigns_created_while_paging_do_not_shift_pages(self, store: Store) -> None:
        """A campaign created after page 1 was read does not duplicate rows on page 2."""
        with store.unit_of_work() as uow:
            for i in range(4):
                uow.campaigns.add(make_campaign(f"c{i}", created_at=EPOCH.add(minutes=i)))
            first = uow.campaigns.query(CampaignQuery(limit=2))
        with store.unit_of_work() as uow:
            uow.campaigns.add(make_campaign("newer", created_at=EPOCH.add(days=1)))
            second = uow.campaigns.query(CampaignQuery(limit=2, cursor=first.next_cursor))
        assert [c.id for c in first] + [c.id for c in second] == ["c3", "c2", "c1", "c0"]
        assert second.next_cursor is None

    def test_exact_page_end_has_no_next_cursor(self, store: Store) -> None:
        """When the last page is full, it still says there is no next page."""
        with store.unit_of_work() as uow:
            for i in range(4):
                uow.campaigns.add(make_campaign(f"c{i}", created_at=EPOCH.add(minutes=i)))
            first = uow.campaigns.query(CampaignQuery(limit=2))
            second = uow.campaigns.query(CampaignQuery(limit=2, cursor=first.next_cursor))
        assert first.next_cursor is not None
        assert second.next_cursor is None

    def test_query_refuses_bad_input(self, store: Store) -> None:
        """A bad limit or a foreign cursor is a ValidationError."""
        with store.unit_of_work() as uow:
            with pytest.raises(ValidationError):
                uow.campaigns.query(CampaignQuery(limit=0))
            with pytest.raises(ValidationError):
                uow.campaigns.query(CampaignQuery(cursor="not-a-cursor"))

    # ------------------------------------------------------------ surfaces

    def test_surfaces_round_trip_and_names_are_unique(self, store: Store) -> None:
        """Surfaces are stored, found by id or name, listed by name, versioned."""
        with store.unit_of_work() as uow:
            b = uow.surfaces.add(make_surface("s2", name="B", channel=ChannelType.SMS))
            a = uow.surfaces.add(make_surface("s1", name="A"))
        with store.unit_of_work() as uow:
            assert uow.surfaces.get("s2") == b
            assert uow.surfaces.find_by_name("A") == a
            assert uow.surfaces.find_by_name("missing") is None
            assert [s.id for s in uow.surfaces.list()] == ["s1", "s2"]
            with pytest.raises(NotFound):
                uow.surfaces.get("missing")
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.surfaces.add(make_surface("s3", name="A"))
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.surfaces.add(make_surface("s1", name="C"))
        with store.unit_of_work() as uow:
            renamed = uow.surfaces.save(attrs.evolve(a, name="A2"))
        assert renamed.revision == 2
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.surfaces.save(a)

    def test_a_surface_cannot_be_renamed_to_a_taken_name(self, store: Store) -> None:
        """Names stay unique on save too: renaming onto another surface's name is refused."""
        with store.unit_of_work() as uow:
            a = uow.surfaces.add(make_surface("s1", name="A"))
            b = uow.surfaces.add(make_surface("s2", name="B", channel=ChannelType.SMS))
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.surfaces.save(attrs.evolve(b, name="A"))
        with store.unit_of_work() as uow:
            assert uow.surfaces.get("s2") == b
            assert uow.surfaces.find_by_name("A") == a
            assert [s.name for s in uow.surfaces.list()] == ["A", "B"]
            kept = uow.surfaces.save(b)  # keeping its own name is no conflict
        assert kept == attrs.evolve(b, revision=2)

    # ------------------------------------------------------------ access

    def test_access_assignments_round_trip(self, store: Store) -> None:
        """Profiles per principal are stored; an empty set removes the principal."""
        ada, team = Principal.user("ada"), Principal.group("team")
        with store.unit_of_work() as uow:
            uow.access.set_profiles(ada, frozenset({ProductProfile.MANAGER}))
            uow.access.set_profiles(team, frozenset({ProductProfile.VIEWER}))
        with store.unit_of_work() as uow:
            assert uow.access.profiles(ada) == {ProductProfile.MANAGER}
            assert uow.access.profiles(Principal.user("bob")) == frozenset()
            assert set(uow.access.all()) == {ada, team}
            uow.access.set_profiles(ada, frozenset())
        with store.unit_of_work() as uow:
            assert set(uow.access.all()) == {team}

    def test_group_memberships_are_idempotent_and_roll_back(self, store: Store) -> None:
        """Users join and leave groups; repeating either is harmless, even when rolled back."""
        with store.unit_of_work() as uow:
            uow.access.set_member("marketing", "ada", member=True)
            uow.access.set_member("marketing", "bob", member=True)
            uow.access.set_member("legal", "ada", member=True)
            uow.access.set_member("marketing", "ada", member=True)
            uow.access.set_member("legal", "zed", member=False)
        with store.unit_of_work() as uow:
            assert uow.access.groups_of("ada") == {"marketing", "legal"}
            assert uow.access.members("marketing") == {"ada", "bob"}
            assert uow.access.members("missing") == frozenset()
            assert uow.access.groups_of("zed") == frozenset()
        with pytest.raises(_Boom), store.unit_of_work() as uow:
            uow.access.set_member("marketing", "ada", member=True)  # already a member
            uow.access.set_member("legal", "zed", member=False)  # never was one
            uow.access.set_member("marketing", "bob", member=False)
            uow.access.set_member("legal", "cy", member=True)
            assert uow.access.members("marketing") == {"ada"}
            raise _Boom
        with store.unit_of_work() as uow:
            assert uow.access.members("marketing") == {"ada", "bob"}
            assert uow.access.members("legal") == {"ada"}
            assert uow.access.groups_of("zed") == frozenset()
            uow.access.set_member("marketing", "ada", member=False)
        with store.unit_of_work() as uow:
            assert uow.access.groups_of("ada") == {"legal"}
            assert uow.access.members("marketing") == {"bob"}

    def test_the_access_log_keeps_entries_in_recording_order(self, store: Store) -> None:
        """Audit entries are listed as recorded (not by time); a failed unit adds none."""
        entries = [
            AccessAuditEntry(
                at=EPOCH.add(minutes=5),
                actor="host",
                change=AccessChange.ASSIGN,
                principal=Principal.user("ada"),
                profile=ProductProfile.ADMINISTRATOR,
            ),
            AccessAuditEntry(
                at=EPOCH,
                actor="ada",
                change=AccessChange.ADD_MEMBER,
                principal=Principal.user("bob"),
                group="marketing",
            ),
            AccessAuditEntry(
                at=EPOCH,
                actor="ada",
                change=AccessChange.REVOKE,
                principal=Principal.group("legal"),
                profile=ProductProfile.VIEWER,
            ),
        ]
        with store.unit_of_work() as uow:
            assert list(uow.access.log()) == []
            uow.access.record(entries[0])
            uow.access.record(entries[1])
        with store.unit_of_work() as uow:
            uow.access.record(entries[2])
        with pytest.raises(_Boom), store.unit_of_work() as uow:
            uow.access.record(attrs.evolve(entries[0], actor="mallory"))
            raise _Boom
        with store.unit_of_work() as uow:
            assert list(uow.access.log()) == entries

    # ------------------------------------------------------------ approval policies

    def test_approval_policies_round_trip_and_are_listed_by_name(self, store: Store) -> None:
        """Policies are stored at revision 1, unique by id, listed by name then id."""
        with store.unit_of_work() as uow:
            b = uow.approval_policies.add(_policy("pol_b", name="B"))
            uow.approval_policies.add(_policy("pol_2", name="A"))
            uow.approval_policies.add(_policy("pol_1", name="A"))
        assert b == attrs.evolve(_policy("pol_b", name="B"), revision=1)
        with store.unit_of_work() as uow:
            assert uow.approval_policies.get("pol_b") == b
            assert [p.id for p in uow.approval_policies.list()] == ["pol_1", "pol_2", "pol_b"]
            with pytest.raises(NotFound):
                uow.approval_policies.get("missing")
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.approval_policies.add(_policy("pol_b", name="Other"))
        with store.unit_of_work() as uow:
            assert uow.approval_policies.get("pol_b") == b

    def test_approval_policy_save_refuses_stale_writes_and_rolls_back(self, store: Store) -> None:
        """Policies are versioned; a failed unit undoes their adds and saves."""
        with store.unit_of_work() as uow:
            loaded = uow.approval_policies.add(_policy())
        activated = attrs.evolve(
            loaded, status=PolicyStatus.ACTIVE, activated_at=EPOCH, activation_seq=1
        )
        with store.unit_of_work() as uow:
            active = uow.approval_policies.save(activated)
        assert active == attrs.evolve(activated, revision=2)
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.approval_policies.save(attrs.evolve(loaded, name="stale"))
        with pytest.raises((ConflictError, NotFound)), store.unit_of_work() as uow:
            uow.approval_policies.save(_policy("never-added"))
        with pytest.raises(_Boom), store.unit_of_work() as uow:
            uow.approval_policies.save(attrs.evolve(active, status=PolicyStatus.INACTIVE))
            uow.approval_policies.add(_policy("pol_new", name="New"))
            raise _Boom
        with store.unit_of_work() as uow:
            assert uow.approval_policies.get("pol_1") == active
            assert list(uow.approval_policies.list()) == [active]

    # ------------------------------------------------------------ threads

    def test_concurrent_writers_lose_no_update(self, store: Store) -> None:
        """Threads doing read-modify-write never lose an update (conflicts are retried)."""
        with store.unit_of_work() as uow:
            uow.campaigns.add(make_campaign("counter", tags=()))
        workers, rounds = 4, 10
        errors: list[BaseException] = []

        def bump(worker: int) -> None:
            for round_ in range(rounds):
                while True:
                    try:
                        with store.unit_of_work() as uow:
                            c = uow.campaigns.get("counter")
                            tag = f"w{worker}-{round_}"
                            uow.campaigns.save(attrs.evolve(c, tags=(*c.tags, tag)))
                        break
                    except ConflictError:  # pragma: no cover - depends on the adapter
                        continue
                    except BaseException as exc:  # pragma: no cover - reported below
                        errors.append(exc)
                        return

        threads = [threading.Thread(target=bump, args=(w,)) for w in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        with store.unit_of_work() as uow:
            final = uow.campaigns.get("counter")
        assert len(final.tags) == len(set(final.tags)) == workers * rounds
        assert final.revision == 1 + workers * rounds

    # ------------------------------------------------------------ runs

    def test_runs_round_trip_at_revision_1_and_ids_are_unique(self, store: Store) -> None:
        """A new run is stored at revision 1 and read back equal, every field included."""
        run = _full_run()
        with store.unit_of_work() as uow:
            added = uow.runs.add(run)
        assert added == attrs.evolve(run, revision=1)
        with store.unit_of_work() as uow:
            assert uow.runs.get(run.id) == added
            with pytest.raises(NotFound):
                uow.runs.get("missing")
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.runs.add(_run(run.id))
        with store.unit_of_work() as uow:
            assert uow.runs.get(run.id) == added

    def test_run_save_bumps_the_revision_and_refuses_stale_writes(self, store: Store) -> None:
        """Optimistic concurrency on runs: the second writer of a revision loses."""
        with store.unit_of_work() as uow:
            loaded = uow.runs.add(_run("r1"))
        with store.unit_of_work() as uow:
            first = uow.runs.save(attrs.evolve(loaded, status=RunStatus.RUNNING, position=10))
        assert (first.revision, first.status, first.position) == (2, RunStatus.RUNNING, 10)
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.runs.save(attrs.evolve(loaded, status=RunStatus.STOPPED))
        with store.unit_of_work() as uow:
            assert uow.runs.get("r1") == first
            second = uow.runs.save(attrs.evolve(first, streamed=True))
            assert uow.runs.get("r1") == second
        assert second.revision == 3
        with pytest.raises((ConflictError, NotFound)), store.unit_of_work() as uow:
            uow.runs.save(_run("never-added"))

    def test_runs_of_a_campaign_are_oldest_first(self, store: Store) -> None:
        """``for_campaign`` lists one campaign's runs by creation, with their latest state."""
        with store.unit_of_work() as uow:
            uow.runs.add(_run("r_b", created_at=EPOCH.add(hours=2)))
            uow.runs.add(_run("r_c", created_at=EPOCH))
            uow.runs.add(_run("other", campaign_id="cmp_2", created_at=EPOCH.add(hours=1)))
            a = uow.runs.add(_run("r_a", created_at=EPOCH.add(hours=1)))
        with store.unit_of_work() as uow:
            saved = uow.runs.save(attrs.evolve(a, status=RunStatus.SUCCEEDED))
        with store.unit_of_work() as uow:
            runs = list(uow.runs.for_campaign("cmp_1"))
            assert [r.id for r in runs] == ["r_c", "r_a", "r_b"]
            assert runs[1] == saved
            assert [r.id for r in uow.runs.for_campaign("cmp_2")] == ["other"]
            assert list(uow.runs.for_campaign("missing")) == []

    def test_runs_due_in_due_at_then_id_order(self, store: Store) -> None:
        """Due runs come by (due_at, id), inclusive of ``until``, limited; zones do not matter."""
        t, hour = EPOCH, EPOCH.add(hours=1)
        paris = pendulum.datetime(2026, 1, 1, 2, tz="Europe/Paris")  # 01:00 UTC
        with store.unit_of_work() as uow:
            uow.runs.add(_run("b", due_at=hour))
            uow.runs.add(_run("a", due_at=paris))
            uow.runs.add(_run("c", due_at=t))
            uow.runs.add(_run("later", due_at=t.add(days=1)))
            uow.runs.add(_run("never"))
        with store.unit_of_work() as uow:
            assert list(uow.runs.due(hour, 10)) == [(t, "c"), (hour, "a"), (hour, "b")]
            assert list(uow.runs.due(hour, 2)) == [(t, "c"), (hour, "a")]
            assert list(uow.runs.due(t.subtract(microseconds=1), 10)) == []
            assert uow.runs.next_due_at() == t

    def test_run_due_index_follows_saves(self, store: Store) -> None:
        """Saving a run with another due_at (or none) moves it in the due index."""
        t = EPOCH
        with store.unit_of_work() as uow:
            c = uow.runs.add(_run("c", due_at=t))
            d = uow.runs.add(_run("d", due_at=t.add(hours=1)))
        with store.unit_of_work() as uow:
            assert uow.runs.next_due_at() == t
        with store.unit_of_work() as uow:
            c = uow.runs.save(attrs.evolve(c, due_at=t.add(hours=2)))
            uow.runs.save(attrs.evolve(d, due_at=None, status=RunStatus.SUCCEEDED))
        with store.unit_of_work() as uow:
            assert list(uow.runs.due(t.add(years=1), 10)) == [(t.add(hours=2), "c")]
            assert uow.runs.next_due_at() == t.add(hours=2)
            uow.runs.save(attrs.evolve(c, due_at=None))
        with store.unit_of_work() as uow:
            assert list(uow.runs.due(t.add(years=1), 10)) == []
            assert uow.runs.next_due_at() is None

    def test_runs_keep_their_scheduling_fields(self, store: Store) -> None:
        """Nominal instant, wave fill, rate-limit progress and the new counters are stored."""
        run = _scheduled_run()
        with store.unit_of_work() as uow:
            added = uow.runs.add(run)
        assert added == attrs.evolve(run, revision=1)
        with store.unit_of_work() as uow:
            assert uow.runs.get(run.id) == added
        second_wave = attrs.evolve(
            added,
            wave_filled=(4, 3, 2),
            rate_sent={"act_email": 130, "act_sms": 5},
            rate_origin={
                "act_email": added.rate_origin["act_email"],
                "act_sms": EPOCH.add(hours=1),
            },
            counts={"act_email": ActionCounts(targeted=9, sent=9, late=4)},
        )
        with store.unit_of_work() as uow:
            saved = uow.runs.save(second_wave)
        with store.unit_of_work() as uow:
            assert uow.runs.get(run.id) == saved == attrs.evolve(second_wave, revision=2)

    def test_a_failed_unit_leaves_runs_untouched(self, store: Store) -> None:
        """Run adds and saves of a failed unit are undone, due index included."""
        t = EPOCH
        with store.unit_of_work() as uow:
            kept = uow.runs.add(_run("kept", due_at=t))
        with pytest.raises(_Boom), store.unit_of_work() as uow:
            uow.runs.add(_run("new", due_at=t.subtract(hours=1)))
            uow.runs.save(attrs.evolve(kept, due_at=None, status=RunStatus.FAILED))
            assert uow.runs.next_due_at() == t.subtract(hours=1)
            raise _Boom
        with store.unit_of_work() as uow:
            assert uow.runs.get("kept") == kept
            with pytest.raises(NotFound):
                uow.runs.get("new")
            assert list(uow.runs.due(t.add(days=1), 10)) == [(t, "kept")]
            assert uow.runs.next_due_at() == t
            assert list(uow.runs.for_campaign("cmp_1")) == [kept]

    # ------------------------------------------------------------ ledger

    def test_ledger_put_inserts_or_replaces_by_key(self, store: Store) -> None:
        """One entry per (run, action, profile): a put with the same key replaces it."""
        e1, e2 = _entry("p1"), _entry("p2")
        sms = attrs.evolve(_entry("p1", action_id="act_sms"), channel=ChannelType.SMS)
        elsewhere = _entry("p1", run_id="run_2")
        with store.unit_of_work() as uow:
            uow.ledger.put([e1, e2, sms, elsewhere])
        sent = attrs.evolve(
            e1, state=LedgerState.SENT, attempts=1, provider_message_id="pm-1", address="a@x.org"
        )
        with store.unit_of_work() as uow:
            uow.ledger.put([sent])
            assert _entries(uow) == _by_key([sent, e2, sms])
        failed = attrs.evolve(e2, state=LedgerState.FAILED, error="first")
        last = attrs.evolve(e2, state=LedgerState.FAILED, error="last")
        with store.unit_of_work() as uow:
            uow.ledger.put([failed, last])  # the same key twice in a batch: the last wins
        with store.unit_of_work() as uow:
            assert _entries(uow) == _by_key([sent, last, sms])
            assert _entries(uow, "run_2") == [elsewhere]
            assert _entries(uow, "missing") == []
            uow.ledger.put([])
            assert _entries(uow) == _by_key([sent, last, sms])

    def test_ledger_entries_round_trip_every_field(self, store: Store) -> None:
        """An entry with a message, an error and instants is read back equal."""
        message = make_message("p1", fields={"subject": "Hi Zoë", "html": "<p>ü</p>"})
        retry = LedgerEntry(
            run_id="run_1",
            action_id="act_email",
            profile_id="p1",
            campaign_id="cmp_1",
            channel=ChannelType.EMAIL,
            state=LedgerState.RETRY,
            attempts=2,
            next_attempt_at=pendulum.datetime(2026, 1, 1, 1, 2, 3, 456789, tz="Asia/Tokyo"),
            address="p1@example.com",
            error="429 too many requests",
            message=message,
        )
        excluded = attrs.evolve(
            _entry("p2", state=LedgerState.EXCLUDED), reason=ExclusionReason.MISSING_ATTRIBUTE
        )
        push = make_message("p3", channel=ChannelType.PUSH, proof=True, transactional=True)
        pending = attrs.evolve(_entry("p3", action_id="act_push"), message=push, attempts=1)
        with store.unit_of_work() as uow:
            uow.ledger.put([retry, excluded, pending])
        with store.unit_of_work() as uow:
            assert _entries(uow) == _by_key([retry, excluded, pending])

    def test_ledger_recorded_names_the_pairs_already_in_the_run(self, store: Store) -> None:
        """``recorded`` answers for the given profiles of one run only, at any size."""
        many = [f"q{i:04d}" for i in range(1200)]
        with store.unit_of_work() as uow:
            uow.ledger.put(
                [
                    _entry("p1"),
                    _entry("p1", action_id="act_sms", state=LedgerState.EXCLUDED),
                    _entry("p2", state=LedgerState.SENT, provider_message_id="pm-2"),
                    _entry("p3", run_id="run_2"),
                ]
            )
            uow.ledger.put([_entry(pid, run_id="run_big") for pid in many])
        with store.unit_of_work() as uow:
            assert uow.ledger.recorded("run_1", ["p1", "p3", "p1", "unknown"]) == {
                ("act_email", "p1"),
                ("act_sms", "p1"),
            }
            assert uow.ledger.recorded("run_1", ["p2"]) == {("act_email", "p2")}
            assert uow.ledger.recorded("run_1", []) == set()
            assert uow.ledger.recorded("missing", ["p1"]) == set()
            assert uow.ledger.recorded("run_big", [*many, "unknown"]) == {
                ("act_email", pid) for pid in many
            }

    def test_open_and_pending_entries_select_by_state_within_the_limit(self, store: Store) -> None:
        """PENDING and RETRY entries are open; PENDING ones are pending; limits hold."""
        t = EPOCH
        with store.unit_of_work() as uow:
            uow.ledger.put(
                [
                    _entry("p0"),
                    _entry("p1", state=LedgerState.RETRY, next_attempt_at=t),
                    _entry("p2", state=LedgerState.SENT, provider_message_id="pm-2"),
                    _entry("p3", state=LedgerState.FAILED),
                    _entry("p4", state=LedgerState.EXCLUDED),
                    _entry("p5", action_id="act_sms"),
                    _entry("p6", state=LedgerState.RETRY, next_attempt_at=t.add(days=1)),
                    _entry("p7", run_id="run_2"),
                ]
            )
        with store.unit_of_work() as uow:
            assert _profiles(uow.ledger.open_entries("run_1", 10)) == {"p0", "p1", "p5", "p6"}
            assert _profiles(uow.ledger.pending("run_1", 10)) == {"p0", "p5"}
            some_open = uow.ledger.open_entries("run_1", 3)
            assert len(some_open) == 3
            assert _profiles(some_open) <= {"p0", "p1", "p5", "p6"}
            some_pending = uow.ledger.pending("run_1", 1)
            assert len(some_pending) == 1
            assert _profiles(some_pending) <= {"p0", "p5"}
            assert list(uow.ledger.open_entries("missing", 10)) == []
            assert list(uow.ledger.pending("run_2", 10)) == [_entry("p7", run_id="run_2")]

    def test_open_entries_drain_in_limited_batches(self, store: Store) -> None:
        """Settling open entries batch by batch reaches each one exactly once (as stop does)."""
        with store.unit_of_work() as uow:
            uow.ledger.put([_entry(f"p{i:02d}") for i in range(7)])
            uow.ledger.put(
                [
                    _entry(f"r{i:02d}", state=LedgerState.RETRY, next_attempt_at=EPOCH)
                    for i in range(4)
                ]
            )
        seen: list[str] = []
        for _ in range(20):
            with store.unit_of_work() as uow:
                batch = list(uow.ledger.open_entries("run_1", 3))
                if not batch:
                    break
                assert len(batch) <= 3
                seen.extend(e.profile_id for e in batch)
                stopped = [
                    attrs.evolve(
                        e,
                        state=LedgerState.EXCLUDED,
                        reason=ExclusionReason.STOPPED,
                        next_attempt_at=None,
                    )
                    for e in batch
                ]
                uow.ledger.put(stopped)
        assert sorted(seen) == [f"p{i:02d}" for i in range(7)] + [f"r{i:02d}" for i in range(4)]
        with store.unit_of_work() as uow:
            assert uow.ledger.next_due_at("run_1") is None
            assert list(uow.ledger.pending("run_1", 10)) == []

    def test_due_entries_are_earliest_first_inclusive_and_limited(self, store: Store) -> None:
        """RETRY entries due by ``until`` come earliest first; other states never do."""
        t = EPOCH
        retry = LedgerState.RETRY
        with store.unit_of_work() as uow:
            uow.ledger.put(
                [
                    _entry("p1", state=retry, next_attempt_at=t.add(minutes=2)),
                    _entry("p2", state=retry, next_attempt_at=t),
                    _entry("p3", state=retry, next_attempt_at=t.add(minutes=1)),
                    _entry("p4", state=retry, next_attempt_at=t.add(hours=1)),
                    _entry("p5", next_attempt_at=t.subtract(hours=1)),
                    _entry(
                        "p6",
                        state=LedgerState.SENT,
                        next_attempt_at=t.subtract(hours=2),
                        provider_message_id="pm-6",
                    ),
                    _entry("p7", run_id="run_2", state=retry, next_attempt_at=t.subtract(days=1)),
                ]
            )
        with store.unit_of_work() as uow:
            until = t.add(minutes=2)
            due = list(uow.ledger.due("run_1", until, 10))
            assert [e.profile_id for e in due] == ["p2", "p3", "p1"]
            assert [e.profile_id for e in uow.ledger.due("run_1", until, 2)] == ["p2", "p3"]
            assert list(uow.ledger.due("run_1", t.subtract(microseconds=1), 10)) == []
            tokyo = t.add(minutes=1).in_timezone("Asia/Tokyo")
            assert [e.profile_id for e in uow.ledger.due("run_1", tokyo, 10)] == [
                "p2",
                "p3",
            ]
            assert list(uow.ledger.due("missing", until, 10)) == []

    def test_next_due_at_follows_waiting_entries(self, store: Store) -> None:
        """``next_due_at`` is the earliest waiting entry of a run and moves as entries settle."""
        t = EPOCH
        retry = LedgerState.RETRY
        first = _entry("p1", state=retry, next_attempt_at=t)
        second = _entry("p2", state=retry, next_attempt_at=t.add(minutes=5))
        with store.unit_of_work() as uow:
            assert uow.ledger.next_due_at("run_1") is None
            uow.ledger.put(
                [
                    first,
                    second,
                    _entry("p3", next_attempt_at=t.subtract(hours=1)),
                    _entry("p4", state=LedgerState.FAILED, next_attempt_at=t.subtract(hours=2)),
                    _entry("p5", run_id="run_2", state=retry, next_attempt_at=t.subtract(days=1)),
                ]
            )
        with store.unit_of_work() as uow:
            assert uow.ledger.next_due_at("run_1") == t
            assert uow.ledger.next_due_at("run_2") == t.subtract(days=1)
            assert uow.ledger.next_due_at("missing") is None
            uow.ledger.put([attrs.evolve(first, state=LedgerState.SENT, next_attempt_at=None)])
        with store.unit_of_work() as uow:
            assert uow.ledger.next_due_at("run_1") == t.add(minutes=5)
            uow.ledger.put([attrs.evolve(second, next_attempt_at=t.add(minutes=10))])
        with store.unit_of_work() as uow:
            assert uow.ledger.next_due_at("run_1") == t.add(minutes=10)
            uow.ledger.put([attrs.evolve(second, state=LedgerState.FAILED, error="gave up")])
        with store.unit_of_work() as uow:
            assert uow.ledger.next_due_at("run_1") is None

    def test_queued_entries_round_trip_with_their_due_time_zone_and_slot(
        self, store: Store
    ) -> None:
        """A QUEUED entry keeps its own due time, the recipient's zone and its rate slot."""
        t = EPOCH
        new_york = pendulum.datetime(2026, 1, 1, 9, tz="America/New_York")
        entries = [
            attrs.evolve(
                _queued("p1", t.add(hours=8), zone="+05:30"),
                slot=t.add(hours=8, microseconds=5000),
                message=make_message("p1"),
            ),
            _queued("p2", new_york, zone="America/New_York"),
            attrs.evolve(_queued("p3", t.add(minutes=30), zone=None), due_at=t, attempts=1),
        ]
        with store.unit_of_work() as uow:
            uow.ledger.put(entries)
        with store.unit_of_work() as uow:
            assert _entries(uow) == _by_key(entries)

    def test_queued_entries_are_due_only_once_their_time_comes(self, store: Store) -> None:
        """QUEUED entries wait like RETRY ones: due at their instant (inclusive), earliest first."""
        t = EPOCH
        with store.unit_of_work() as uow:
            uow.ledger.put(
                [
                    _queued("p1", t.add(hours=2)),
                    _queued("p2", t),
                    _entry("p3", state=LedgerState.RETRY, next_attempt_at=t.add(hours=1)),
                    _queued("p4", t.add(hours=1, microseconds=1)),
                    _queued("p5", t.add(days=1)),
                    _queued("p6", t.subtract(days=1), run_id="run_2"),
                    _entry("p7", next_attempt_at=t.subtract(days=1)),
                ]
            )
        with store.unit_of_work() as uow:
            assert _due(uow, t.subtract(microseconds=1)) == []
            assert _due(uow, t) == ["p2"]
            assert _due(uow, t.add(hours=1)) == ["p2", "p3"]
            assert _due(uow, t.add(hours=1, microseconds=1)) == ["p2", "p3", "p4"]
            assert _due(uow, t.add(hours=2)) == ["p2", "p3", "p4", "p1"]
            assert _due(uow, t.add(hours=2), 2) == ["p2", "p3"]
            assert _due(uow, t.add(years=1)) == ["p2", "p3", "p4", "p1", "p5"]
            assert _due(uow, t.add(hours=1).in_timezone("Asia/Tokyo")) == ["p2", "p3"]
            assert [e.profile_id for e in uow.ledger.due("run_2", t, 10)] == ["p6"]

    def test_next_due_at_is_the_earliest_queued_or_retry_entry(self, store: Store) -> None:
        """Queued and retrying entries share one due queue; releasing one moves it on."""
        t = EPOCH
        first = _queued("p1", t.add(minutes=10))
        retry = _entry("p2", state=LedgerState.RETRY, next_attempt_at=t.add(minutes=20))
        later = _queued("p3", t.add(hours=1))
        with store.unit_of_work() as uow:
            uow.ledger.put([later, retry, first, _entry("p4")])
        with store.unit_of_work() as uow:
            assert uow.ledger.next_due_at("run_1") == t.add(minutes=10)
            uow.ledger.put([attrs.evolve(first, state=LedgerState.PENDING, next_attempt_at=None)])
        with store.unit_of_work() as uow:
            assert uow.ledger.next_due_at("run_1") == t.add(minutes=20)
            assert _due(uow, t.add(minutes=10)) == []
            # quiet hours push the queued one back, before the retry
            uow.ledger.put([attrs.evolve(later, next_attempt_at=t.add(minutes=15))])
        with store.unit_of_work() as uow:
            assert uow.ledger.next_due_at("run_1") == t.add(minutes=15)
            assert _due(uow, t.add(minutes=20)) == ["p3", "p2"]
            uow.ledger.put(
                [
                    attrs.evolve(later, state=LedgerState.SENT, next_attempt_at=None),
                    attrs.evolve(retry, state=LedgerState.FAILED, next_attempt_at=None),
                ]
            )
        with store.unit_of_work() as uow:
            assert uow.ledger.next_due_at("run_1") is None
            assert _due(uow, t.add(years=1)) == []

    def test_open_entries_include_queued_ones_and_pending_does_not(self, store: Store) -> None:
        """QUEUED entries are open (a stop settles them) but not pending (not handed over)."""
        t = EPOCH
        with store.unit_of_work() as uow:
            uow.ledger.put(
                [
                    _entry("p0"),
                    _queued("p1", t.add(hours=1)),
                    _entry("p2", state=LedgerState.RETRY, next_attempt_at=t),
                    _entry("p3", state=LedgerState.SENT, provider_message_id="pm-3"),
                    attrs.evolve(
                        _entry("p4", state=LedgerState.EXCLUDED),
                        reason=ExclusionReason.QUIET_HOURS,
                    ),
                    _queued("p5", t, run_id="run_2"),
                ]
            )
        with store.unit_of_work() as uow:
            assert _profiles(uow.ledger.open_entries("run_1", 10)) == {"p0", "p1", "p2"}
            assert _profiles(uow.ledger.pending("run_1", 10)) == {"p0"}
            assert list(uow.ledger.open_entries("run_2", 10)) == [_queued("p5", t, run_id="run_2")]
            assert list(uow.ledger.pending("run_2", 10)) == []
            stopped = [
                attrs.evolve(
                    e,
                    state=LedgerState.EXCLUDED,
                    reason=ExclusionReason.STOPPED,
                    next_attempt_at=None,
                )
                for e in uow.ledger.open_entries("run_1", 10)
            ]
            uow.ledger.put(stopped)
        with store.unit_of_work() as uow:
            assert list(uow.ledger.open_entries("run_1", 10)) == []
            assert uow.ledger.next_due_at("run_1") is None
            assert uow.ledger.next_due_at("run_2") == t

    def test_by_provider_id_finds_the_sent_entry_and_follows_changes(self, store: Store) -> None:
        """A provider id finds its entry; when the entry's id changes, the old one is gone."""
        sent = _entry("p1", state=LedgerState.SENT, provider_message_id="pm-1", attempts=1)
        other = _entry("p9", run_id="run_2", state=LedgerState.SENT, provider_message_id="pm-9")
        with store.unit_of_work() as uow:
            uow.ledger.put([sent, _entry("p2"), other])
        with store.unit_of_work() as uow:
            assert uow.ledger.by_provider_id("pm-1") == sent
            assert uow.ledger.by_provider_id("pm-9") == other
            assert uow.ledger.by_provider_id("missing") is None
        moved = attrs.evolve(sent, provider_message_id="pm-2", attempts=2)
        with store.unit_of_work() as uow:
            uow.ledger.put([moved])
        with store.unit_of_work() as uow:
            assert uow.ledger.by_provider_id("pm-1") is None
            assert uow.ledger.by_provider_id("pm-2") == moved
        bounced = attrs.evolve(moved, error="mailbox full")
        with store.unit_of_work() as uow:
            uow.ledger.put([bounced])
            assert uow.ledger.by_provider_id("pm-2") == bounced
        with store.unit_of_work() as uow:
            assert uow.ledger.by_provider_id("pm-2") == bounced
            assert uow.ledger.by_provider_id("pm-9") == other
            # the id is free again once no entry holds it
            uow.ledger.put([_entry("p3", state=LedgerState.SENT, provider_message_id="pm-1")])
            assert uow.ledger.by_provider_id("pm-1") == _entry(
                "p3", state=LedgerState.SENT, provider_message_id="pm-1"
            )

    def test_a_taken_provider_id_never_costs_the_entry_holding_it(self, store: Store) -> None:
        """Another entry claiming a provider id never removes the entry that holds it.

        Losing a ledger entry would let a resumed run send that message again.
        """
        holder = _entry("p1", state=LedgerState.SENT, provider_message_id="pm-1")
        with store.unit_of_work() as uow:
            uow.ledger.put([holder, _entry("p2")])
        claimant = _entry("p2", state=LedgerState.SENT, provider_message_id="pm-1")
        with contextlib.suppress(ConflictError), store.unit_of_work() as uow:
            uow.ledger.put([claimant])
        with store.unit_of_work() as uow:
            assert holder in _entries(uow)
            assert uow.ledger.recorded("run_1", ["p1", "p2"]) == {
                ("act_email", "p1"),
                ("act_email", "p2"),
            }

    def test_a_taken_provider_id_is_refused(self, store: Store) -> None:
        """A provider id names one entry: a put giving it to another is a ConflictError."""
        holder = _entry("p1", state=LedgerState.SENT, provider_message_id="pm-1")
        waiting = _entry("p2")
        with store.unit_of_work() as uow:
            uow.ledger.put([holder, waiting])
        claimant = attrs.evolve(waiting, state=LedgerState.SENT, provider_message_id="pm-1")
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.ledger.put([claimant])
        with store.unit_of_work() as uow:
            assert _entries(uow) == [holder, waiting]
            assert uow.ledger.by_provider_id("pm-1") == holder

    def test_a_failed_unit_leaves_the_ledger_untouched(self, store: Store) -> None:
        """Every ledger write of a failed unit is undone, indexes included."""
        t = EPOCH
        before = [
            _entry("p1", state=LedgerState.RETRY, next_attempt_at=t),
            _entry("p2", state=LedgerState.SENT, provider_message_id="pm-1"),
            _entry("p3"),
        ]
        with store.unit_of_work() as uow:
            uow.ledger.put(before)
        with pytest.raises(_Boom), store.unit_of_work() as uow:
            uow.ledger.put(
                [
                    attrs.evolve(
                        before[0],
                        state=LedgerState.SENT,
                        provider_message_id="pm-9",
                        next_attempt_at=None,
                    ),
                    attrs.evolve(before[1], provider_message_id="pm-2"),
                    attrs.evolve(before[2], state=LedgerState.FAILED, error="bad address"),
                    _entry("p4", state=LedgerState.RETRY, next_attempt_at=t.subtract(hours=1)),
                    _entry("p5", run_id="run_2"),
                ]
            )
            assert uow.ledger.by_provider_id("pm-9") is not None  # a unit sees its own writes
            assert uow.ledger.next_due_at("run_1") == t.subtract(hours=1)
            raise _Boom
        with store.unit_of_work() as uow:
            assert _entries(uow) == before
            assert _entries(uow, "run_2") == []
            assert uow.ledger.by_provider_id("pm-1") == before[1]
            assert uow.ledger.by_provider_id("pm-2") is None
            assert uow.ledger.by_provider_id("pm-9") is None
            assert uow.ledger.next_due_at("run_1") == t
            assert list(uow.ledger.pending("run_1", 10)) == [before[2]]
            assert uow.ledger.recorded("run_1", ["p1", "p4"]) == {("act_email", "p1")}

    # ------------------------------------------------------------ feedback

    def test_feedback_is_kept_per_campaign_oldest_first(self, store: Store) -> None:
        """Feedback records are listed per campaign in the order they were added."""
        t = EPOCH
        records = [
            _feedback(t, FeedbackEvent.DELIVERED),
            _feedback(t.add(minutes=1), FeedbackEvent.OPENED, campaign_id="cmp_2"),
            _feedback(t.add(minutes=2), FeedbackEvent.CLICKED),
        ]
        again = _feedback(t.add(minutes=3), FeedbackEvent.CLICKED)  # the same event twice
        with store.unit_of_work() as uow:
            for record in records:
                uow.feedback.add(record)
        with store.unit_of_work() as uow:
            uow.feedback.add(again)
        with store.unit_of_work() as uow:
            assert list(uow.feedback.for_campaign("cmp_1")) == [records[0], records[2], again]
            assert list(uow.feedback.for_campaign("cmp_2")) == [records[1]]
            assert list(uow.feedback.for_campaign("missing")) == []

    # ------------------------------------------------------------ suppressions

    def test_suppressions_are_idempotent_and_per_channel(self, store: Store) -> None:
        """An address is suppressed on one channel; adding it twice is harmless."""
        with store.unit_of_work() as uow:
            uow.suppressions.add(ChannelType.EMAIL, "ann@example.com")
            uow.suppressions.add(ChannelType.EMAIL, "ann@example.com")
            uow.suppressions.add(ChannelType.SMS, "+33612345678")
        with store.unit_of_work() as uow:
            uow.suppressions.add(ChannelType.EMAIL, "ann@example.com")
        with store.unit_of_work() as uow:
            email = ["ann@example.com", "bob@example.com", "ann@example.com"]
            assert uow.suppressions.suppressed(ChannelType.EMAIL, email) == {"ann@example.com"}
            assert uow.suppressions.suppressed(ChannelType.SMS, email) == set()
            assert uow.suppressions.suppressed(ChannelType.SMS, ["+33612345678"]) == {
                "+33612345678"
            }
            assert uow.suppressions.suppressed(ChannelType.PUSH, []) == set()

    def test_suppressed_answers_for_many_addresses(self, store: Store) -> None:
        """``suppressed`` works for batches larger than any internal chunk."""
        suppressed = {f"s{i}@example.com" for i in range(700)}
        with store.unit_of_work() as uow:
            for address in sorted(suppressed):
                uow.suppressions.add(ChannelType.EMAIL, address)
        asked = [f"s{i}@example.com" for i in range(1300)]
        with store.unit_of_work() as uow:
            assert uow.suppressions.suppressed(ChannelType.EMAIL, asked) == suppressed

    # ------------------------------------------------------------ static audiences

    def test_static_audiences_keep_members_in_definition_order(self, store: Store) -> None:
        """Members page by offset and limit in definition order, duplicates kept."""
        with store.unit_of_work() as uow:
            uow.audiences.define("vip", ["p3", "p1", "p2", "p1"])
            uow.audiences.define("empty", [])
            uow.audiences.define("other", ["p9"])
        with store.unit_of_work() as uow:
            assert uow.audiences.count("vip") == 4
            assert list(uow.audiences.members("vip", 0, 10)) == ["p3", "p1", "p2", "p1"]
            assert list(uow.audiences.members("vip", 1, 2)) == ["p1", "p2"]
            assert list(uow.audiences.members("vip", 3, 10)) == ["p1"]
            assert list(uow.audiences.members("vip", 4, 10)) == []
            assert list(uow.audiences.members("vip", 10, 5)) == []
            assert uow.audiences.count("empty") == 0
            assert list(uow.audiences.members("empty", 0, 10)) == []
            assert uow.audiences.count("missing") is None
            assert list(uow.audiences.members("missing", 0, 10)) == []
            assert list(uow.audiences.members("other", 0, 10)) == ["p9"]

    def test_a_redefined_static_audience_replaces_its_members(self, store: Store) -> None:
        """Defining a name again replaces the members, shorter or longer."""
        with store.unit_of_work() as uow:
            uow.audiences.define("vip", ["p1", "p2", "p3"])
            uow.audiences.define("other", ["p1"])
        with store.unit_of_work() as uow:
            uow.audiences.define("vip", ["p9"])
        with store.unit_of_work() as uow:
            assert uow.audiences.count("vip") == 1
            assert list(uow.audiences.members("vip", 0, 10)) == ["p9"]
            uow.audiences.define("vip", ["p5", "p6", "p7", "p8"])
            assert list(uow.audiences.members("vip", 0, 10)) == ["p5", "p6", "p7", "p8"]
        with store.unit_of_work() as uow:
            assert uow.audiences.count("vip") == 4
            assert list(uow.audiences.members("vip", 2, 10)) == ["p7", "p8"]
            assert list(uow.audiences.members("other", 0, 10)) == ["p1"]

    def test_a_large_static_audience_pages_completely(self, store: Store) -> None:
        """Paging through a large audience yields every member once, in order."""
        ids = [f"p{i:05d}" for i in range(1234)]
        with store.unit_of_work() as uow:
            uow.audiences.define("big", ids)
        paged: list[str] = []
        with store.unit_of_work() as uow:
            assert uow.audiences.count("big") == len(ids)
            while page := list(uow.audiences.members("big", len(paged), 500)):
                assert len(page) <= 500
                paged.extend(page)
        assert paged == ids

    def test_a_failed_unit_leaves_feedback_suppressions_and_audiences_untouched(
        self, store: Store
    ) -> None:
        """Feedback, suppressions and audience definitions of a failed unit are undone."""
        kept = _feedback(EPOCH, FeedbackEvent.DELIVERED)
        with store.unit_of_work() as uow:
            uow.feedback.add(kept)
            uow.suppressions.add(ChannelType.EMAIL, "kept@example.com")
            uow.audiences.define("vip", ["p1", "p2"])
        with pytest.raises(_Boom), store.unit_of_work() as uow:
            uow.feedback.add(_feedback(EPOCH.add(minutes=1), FeedbackEvent.COMPLAINT))
            uow.suppressions.add(ChannelType.EMAIL, "kept@example.com")
            uow.suppressions.add(ChannelType.EMAIL, "new@example.com")
            uow.audiences.define("vip", ["p9"])
            uow.audiences.define("new", ["p1"])
            raise _Boom
        with store.unit_of_work() as uow:
            assert list(uow.feedback.for_campaign("cmp_1")) == [kept]
            addresses = ["kept@example.com", "new@example.com"]
            assert uow.suppressions.suppressed(ChannelType.EMAIL, addresses) == {"kept@example.com"}
            assert uow.audiences.count("vip") == 2
            assert list(uow.audiences.members("vip", 0, 10)) == ["p1", "p2"]
            assert uow.audiences.count("new") is None

    # ------------------------------------------------------------ contacts

    def test_contacts_are_counted_per_channel_and_profile_from_since_on(self, store: Store) -> None:
        """``counts`` counts contacts at or after ``since`` (inclusive), per profile and channel.

        A profile without contacts may be left out or counted as 0.
        """
        t = EPOCH
        email, sms = ChannelType.EMAIL, ChannelType.SMS
        with store.unit_of_work() as uow:
            uow.contacts.record(
                email, [("p1", t.subtract(microseconds=1)), ("p1", t), ("p2", t.add(days=1))]
            )
            uow.contacts.record(sms, [("p1", t.add(hours=1))])
            uow.contacts.record(email, [])
        with store.unit_of_work() as uow:  # contacts of later units add up
            uow.contacts.record(email, [("p1", t.add(hours=2)), ("p3", t.subtract(days=1))])
        ids = ["p1", "p2", "p3", "p4", "p1"]
        with store.unit_of_work() as uow:
            assert _nonzero(uow.contacts.counts(email, ids, t)) == {"p1": 2, "p2": 1}
            before = t.subtract(microseconds=1)
            assert _nonzero(uow.contacts.counts(email, ids, before)) == {"p1": 3, "p2": 1}
            after = t.add(microseconds=1)
            assert _nonzero(uow.contacts.counts(email, ids, after)) == {"p1": 1, "p2": 1}
            day_before = t.subtract(days=1)
            assert _nonzero(uow.contacts.counts(email, ids, day_before)) == {
                "p1": 3,
                "p2": 1,
                "p3": 1,
            }
            assert _nonzero(uow.contacts.counts(email, ["p2"], t)) == {"p2": 1}
            assert _nonzero(uow.contacts.counts(sms, ids, t)) == {"p1": 1}
            assert _nonzero(uow.contacts.counts(ChannelType.PUSH, ids, day_before)) == {}
            assert _nonzero(uow.contacts.counts(email, [], day_before)) == {}
            tokyo = t.in_timezone("Asia/Tokyo")  # the same instant, read in another zone
            assert _nonzero(uow.contacts.counts(email, ["p1"], tokyo)) == {"p1": 2}

    def test_contact_counts_answer_for_many_profiles(self, store: Store) -> None:
        """``counts`` works for more profiles than any internal chunk."""
        contacted = [f"p{i:04d}" for i in range(1200)]
        with store.unit_of_work() as uow:
            uow.contacts.record(ChannelType.EMAIL, [(pid, EPOCH) for pid in contacted])
            uow.contacts.record(ChannelType.EMAIL, [(pid, EPOCH) for pid in contacted[::100]])
        asked = [*contacted, *(f"q{i:04d}" for i in range(300))]
        with store.unit_of_work() as uow:
            counts = _nonzero(uow.contacts.counts(ChannelType.EMAIL, asked, EPOCH))
        assert counts == {pid: 2 if i % 100 == 0 else 1 for i, pid in enumerate(contacted)}

    def test_a_keyed_contact_can_be_forgotten(self, store: Store) -> None:
        """``forget`` removes the contacts recorded under the given (profile, key) pairs.

        Keys are unique per channel and profile (an idempotency key names both).
        """
        email, sms = ChannelType.EMAIL, ChannelType.SMS
        with store.unit_of_work() as uow:
            uow.contacts.record(email, [("p1", EPOCH), ("p2", EPOCH)], ["k1", "k2"])
            uow.contacts.record(sms, [("p1", EPOCH)], ["k3"])
            uow.contacts.record(email, [("p1", EPOCH)])  # unkeyed: cannot be forgotten
        with store.unit_of_work() as uow:
            uow.contacts.forget(email, [("p1", "k1"), ("p9", "never-recorded")])
            uow.contacts.forget(email, [("p2", "k3")])  # k3 is p1's, on sms: not this one
            uow.contacts.forget(sms, [("p1", "k3")])
            uow.contacts.forget(email, [])
        with store.unit_of_work() as uow:
            assert _nonzero(uow.contacts.counts(email, ["p1", "p2"], EPOCH)) == {"p1": 1, "p2": 1}
            assert _nonzero(uow.contacts.counts(sms, ["p1"], EPOCH)) == {}
            uow.contacts.forget(email, [("p1", "k1")])  # forgetting twice changes nothing
            assert _nonzero(uow.contacts.counts(email, ["p1"], EPOCH)) == {"p1": 1}

    def test_forgetting_contacts_rolls_back_with_the_unit(self, store: Store) -> None:
        """A unit that raises after ``forget`` and ``record`` leaves the contacts as they were."""
        email = ChannelType.EMAIL
        with store.unit_of_work() as uow:
            uow.contacts.record(email, [("p1", EPOCH), ("p1", EPOCH)], ["k1", "k2"])
        with pytest.raises(_Boom), store.unit_of_work() as uow:
            uow.contacts.forget(email, [("p1", "k1")])
            uow.contacts.record(email, [("p2", EPOCH)], ["k3"])
            raise _Boom
        with store.unit_of_work() as uow:
            assert _nonzero(uow.contacts.counts(email, ["p1", "p2"], EPOCH)) == {"p1": 2}
            uow.contacts.forget(email, [("p1", "k1")])  # k1 is still there to forget
            assert _nonzero(uow.contacts.counts(email, ["p1", "p2"], EPOCH)) == {"p1": 1}

    # ------------------------------------------------------------ business rules

    def test_rules_start_empty_and_each_save_bumps_the_revision(self, store: Store) -> None:
        """The rule book is empty at revision 0 until saved, then read back as saved."""
        with store.unit_of_work() as uow:
            assert uow.rules.get() == RuleBook()
        book = _rule_book()
        with store.unit_of_work() as uow:
            first = uow.rules.save(book)
        assert first == attrs.evolve(book, revision=1)
        email_only = attrs.evolve(
            first, channels={ChannelType.EMAIL: first.for_channel(ChannelType.EMAIL)}
        )
        with store.unit_of_work() as uow:
            assert uow.rules.get() == first
            second = uow.rules.save(email_only)
            assert uow.rules.get() == second  # a unit sees its own writes
        assert second == attrs.evolve(email_only, revision=2)
        with store.unit_of_work() as uow:
            assert uow.rules.get() == second
            assert uow.rules.get().for_channel(ChannelType.SMS) == BusinessRules()

    def test_a_stale_rule_book_save_is_refused(self, store: Store) -> None:
        """Optimistic concurrency on the rule book, from the very first save on."""
        with store.unit_of_work() as uow:
            empty = uow.rules.get()
        with store.unit_of_work() as uow:
            first = uow.rules.save(_rule_book())
        push_cap = BusinessRules(caps=(FrequencyCap(max=9, per=pendulum.duration(hours=1)),))
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.rules.save(attrs.evolve(empty, channels={ChannelType.PUSH: push_cap}))
        with store.unit_of_work() as uow:
            assert uow.rules.get() == first
            second = uow.rules.save(RuleBook(revision=first.revision))  # clears every rule
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.rules.save(first)
        with store.unit_of_work() as uow:
            assert uow.rules.get() == second == RuleBook(revision=2)

    def test_a_failed_unit_leaves_contacts_rules_and_queued_entries_untouched(
        self, store: Store
    ) -> None:
        """Contacts, the rule book and queued ledger entries of a failed unit are undone."""
        t = EPOCH
        queued = _queued("p1", t.add(hours=1))
        with store.unit_of_work() as uow:
            uow.contacts.record(ChannelType.EMAIL, [("p1", t)])
            kept = uow.rules.save(_rule_book())
            uow.ledger.put([queued])
        with pytest.raises(_Boom), store.unit_of_work() as uow:
            uow.contacts.record(ChannelType.EMAIL, [("p1", t), ("p2", t.add(minutes=1))])
            uow.contacts.record(ChannelType.SMS, [("p1", t)])
            uow.rules.save(RuleBook(revision=kept.revision))
            uow.ledger.put(
                [
                    attrs.evolve(queued, next_attempt_at=t, slot=t),
                    _queued("p2", t.subtract(hours=1)),
                ]
            )
            counts = uow.contacts.counts(ChannelType.EMAIL, ["p1", "p2"], t)
            assert _nonzero(counts) == {"p1": 2, "p2": 1}  # a unit sees its own writes
            assert uow.ledger.next_due_at("run_1") == t.subtract(hours=1)
            raise _Boom
        with store.unit_of_work() as uow:
            counts = uow.contacts.counts(ChannelType.EMAIL, ["p1", "p2"], t)
            assert _nonzero(counts) == {"p1": 1}
            assert _nonzero(uow.contacts.counts(ChannelType.SMS, ["p1"], t)) == {}
            assert uow.rules.get() == kept
            assert _entries(uow) == [queued]
            assert uow.ledger.next_due_at("run_1") == t.add(hours=1)
            assert _due(uow, t) == []

    def test_a_failed_first_rule_book_save_leaves_none_saved(self, store: Store) -> None:
        """Rolling back the first save leaves the empty book, and a later first save works."""
        with pytest.raises(_Boom), store.unit_of_work() as uow:
            uow.rules.save(_rule_book())
            raise _Boom
        with store.unit_of_work() as uow:
            assert uow.rules.get() == RuleBook()
            saved = uow.rules.save(_rule_book())
        assert saved == attrs.evolve(_rule_book(), revision=1)

    # ------------------------------------------------------------ executions

    def test_executions_round_trip_and_are_unique_per_request(self, store: Store) -> None:
        """An execution is stored at revision 1, found by id and by (campaign, request id)."""
        with store.unit_of_work() as uow:
            added = uow.executions.add(_execution("exe_1"))
            other = uow.executions.add(_execution("exe_2", campaign_id="cmp_2"))
        assert added.revision == 1
        with store.unit_of_work() as uow:
            assert uow.executions.get("exe_1") == added
            assert uow.executions.by_request("cmp_1", "req-1") == added
            assert uow.executions.by_request("cmp_2", "req-1") == other
            assert uow.executions.by_request("cmp_1", "req-2") is None
            with pytest.raises(NotFound):
                uow.executions.get("missing")
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.executions.add(_execution("exe_3"))  # the same request id again
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.executions.add(_execution("exe_1", request_id="req-9"))  # the same id again
        with store.unit_of_work() as uow:
            assert uow.executions.by_request("cmp_1", "req-9") is None

    def test_execution_save_refuses_stale_writes_and_rolls_back(self, store: Store) -> None:
        """Executions are versioned; a failed unit undoes their adds and saves."""
        with store.unit_of_work() as uow:
            loaded = uow.executions.add(_execution())
        with store.unit_of_work() as uow:
            cancelled = uow.executions.save(attrs.evolve(loaded, cancelled_at=EPOCH))
        assert cancelled.revision == 2
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.executions.save(loaded)
        with pytest.raises(_Boom), store.unit_of_work() as uow:
            uow.executions.save(attrs.evolve(cancelled, execute_at=None))
            uow.executions.add(_execution("exe_2", request_id="req-2"))
            raise _Boom
        with store.unit_of_work() as uow:
            assert uow.executions.get("exe_1") == cancelled
            assert uow.executions.by_request("cmp_1", "req-2") is None


class ProfileStoreContract:
    """Contract of the :class:`~campaignkit.ports.ProfileStore` port.

    Provide a ``profiles`` fixture returning a new, empty profile store.
    """

    def test_an_unknown_profile_is_none(self, profiles: ProfileStore) -> None:
        """``get`` answers None and ``get_many`` leaves out ids that are not stored."""
        assert profiles.get("missing") is None
        assert dict(profiles.get_many(["missing"])) == {}
        assert dict(profiles.get_many([])) == {}

    def test_upsert_then_get_round_trips_every_field(self, profiles: ProfileStore) -> None:
        """A profile is read back equal: identities, nested attributes, consents, channel data."""
        rich = _rich_profile("p1")
        profiles.upsert(rich)
        found = profiles.get("p1")
        assert found == rich
        assert found is not None
        assert found.attributes["address"]["geo"]["lat"] == 45.76
        assert found.attributes["orders"][1]["tags"] == ["x", "y"]
        assert found.attributes["big"] == 2**53 + 1
        assert found.consents[ChannelType.SMS] is False
        assert dict(profiles.get_many(["p1"])) == {"p1": rich}

    def test_the_test_profile_mark_round_trips(self, profiles: ProfileStore) -> None:
        """``Profile(test=True)`` (proofs reach only these) is read back; the default is False."""
        profiles.upsert(Profile(id="qa", identities={"email": "qa@example.com"}, test=True))
        profiles.upsert(Profile(id="real", identities={"email": "real@example.com"}))
        qa, real = profiles.get("qa"), profiles.get("real")
        assert qa is not None
        assert real is not None
        assert (qa.test, real.test) == (True, False)
        assert profiles.find_by_identity("email", "qa@example.com") == qa
        assert {p.id: p.test for p in profiles.get_many(["qa", "real"]).values()} == {
            "qa": True,
            "real": False,
        }
        profiles.upsert(attrs.evolve(qa, test=False))
        assert profiles.get("qa") == attrs.evolve(qa, test=False)

    def test_upsert_replaces_the_whole_profile(self, profiles: ProfileStore) -> None:
        """A second upsert with the same id replaces the profile; nothing old is merged in."""
        profiles.upsert(_rich_profile("p1"))
        profiles.upsert(_rich_profile("p2"))
        plain = Profile(id="p1", attributes={"firstName": "Ann"})
        profiles.upsert(plain)
        assert profiles.get("p1") == plain
        assert profiles.get("p2") == _rich_profile("p2")

    def test_get_many_returns_the_stored_profiles_by_id(self, profiles: ProfileStore) -> None:
        """``get_many`` maps each stored id to its profile; duplicates and unknowns are fine."""
        stored = {
            pid: Profile(id=pid, attributes={"n": i}) for i, pid in enumerate(["a", "b", "c"])
        }
        for profile in stored.values():
            profiles.upsert(profile)
        assert dict(profiles.get_many(["c", "a", "missing", "a"])) == {
            "c": stored["c"],
            "a": stored["a"],
        }

    def test_get_many_answers_for_many_ids(self, profiles: ProfileStore) -> None:
        """``get_many`` works for more ids than any internal chunk."""
        ids = [f"p{i:04d}" for i in range(750)]
        for pid in ids:
            profiles.upsert(Profile(id=pid, identities={"email": f"{pid}@example.com"}))
        found = profiles.get_many([*ids, "missing"])
        assert sorted(found) == ids
        assert found["p0042"] == Profile(id="p0042", identities={"email": "p0042@example.com"})

    def test_find_by_identity_follows_upserts(self, profiles: ProfileStore) -> None:
        """A profile is found by each of its identities, as last upserted; old ones let go."""
        ann = Profile(id="ann", identities={"email": "ann@example.com", "crm": "C-1"})
        bob = Profile(id="bob", identities={"email": "bob@example.com"})
        profiles.upsert(ann)
        profiles.upsert(bob)
        assert profiles.find_by_identity("email", "ann@example.com") == ann
        assert profiles.find_by_identity("crm", "C-1") == ann
        assert profiles.find_by_identity("email", "bob@example.com") == bob
        assert profiles.find_by_identity("crm", "ann@example.com") is None
        assert profiles.find_by_identity("email", "missing@example.com") is None
        moved = Profile(id="ann", identities={"email": "ann@new.example"}, attributes={"v": 2})
        profiles.upsert(moved)
        assert profiles.find_by_identity("email", "ann@example.com") is None
        assert profiles.find_by_identity("crm", "C-1") is None
        assert profiles.find_by_identity("email", "ann@new.example") == moved
        assert profiles.find_by_identity("email", "bob@example.com") == bob

    def test_an_empty_id_is_refused(self, profiles: ProfileStore) -> None:
        """A profile without an id is a ValidationError and is not stored."""
        with pytest.raises(ValidationError):
            profiles.upsert(Profile(id="", attributes={"firstName": "Nobody"}))
        assert profiles.get("") is None
        assert dict(profiles.get_many([""])) == {}

    def test_a_sized_store_counts_each_profile_once(self, profiles: ProfileStore) -> None:
        """A store that reports its size (``len``) counts the distinct profiles stored."""
        if not isinstance(profiles, Sized):  # pragma: no cover - depends on the adapter
            pytest.skip("this profile store does not report its size")
        assert len(profiles) == 0
        profiles.upsert(_rich_profile("p1"))
        profiles.upsert(_rich_profile("p2"))
        profiles.upsert(Profile(id="p1"))
        assert len(profiles) == 2


class AudienceSourceContract:
    """Contract of the :class:`~campaignkit.ports.AudienceSource` port.

    Provide an ``audience_source`` fixture returning a source with no
    audiences, and implement :meth:`define`, which gives the source an
    audience with given members (however your source learns of audiences).
    """

    def define(self, source: AudienceSource, name: str, profiles: Sequence[Profile]) -> None:
        """Make ``source`` know audience ``name`` with exactly these members.

        Subclasses implement it with what their source offers, for example
        store the profiles in its profile store, then define the audience.
        Defining a name again replaces its members.

        Args:
            source: The source under test (the ``audience_source`` fixture).
            name: The audience name.
            profiles: The members, each one distinct.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement define()")

    def _stream(self, source: AudienceSource, name: str, batch_size: int) -> list[list[Profile]]:
        return [
            list(batch) for batch in source.members(name, namespace="email", batch_size=batch_size)
        ]

    def _people(self, count: int, prefix: str = "m") -> list[Profile]:
        return [
            Profile(
                id=f"{prefix}{i:03d}",
                identities={"email": f"{prefix}{i}@example.com"},
                attributes={"rank": i, "nested": {"even": i % 2 == 0}},
                consents={ChannelType.EMAIL: True},
            )
            for i in range(count)
        ]

    def test_an_unknown_audience_has_no_status(self, audience_source: AudienceSource) -> None:
        """An audience that was never defined has no status and no count."""
        assert audience_source.status("missing") is None
        assert audience_source.count("missing") is None

    def test_a_defined_audience_is_ready(self, audience_source: AudienceSource) -> None:
        """A defined audience is READY; its count, if known, is its size."""
        self.define(audience_source, "vip", self._people(5))
        assert audience_source.status("vip") is AudienceStatus.READY
        assert audience_source.count("vip") in (5, None)
        assert audience_source.status("missing") is None

    def test_members_come_in_bounded_batches_each_exactly_once(
        self, audience_source: AudienceSource
    ) -> None:
        """Every member is streamed once, in non-empty batches of at most ``batch_size``."""
        people = self._people(23)
        self.define(audience_source, "vip", people)
        expected = {p.id: p for p in people}
        for batch_size in (1, 4, 23, 100):
            batches = self._stream(audience_source, "vip", batch_size)
            assert all(0 < len(batch) <= batch_size for batch in batches), batch_size
            streamed = [p for batch in batches for p in batch]
            assert len(streamed) == len(expected), batch_size
            assert {p.id: p for p in streamed} == expected, batch_size

    def test_members_stream_in_the_same_order_every_time(
        self, audience_source: AudienceSource
    ) -> None:
        """The order is stable, whatever the batch size (a resumed run skips by position)."""
        self.define(audience_source, "vip", self._people(17))
        orders = [
            [p.id for batch in self._stream(audience_source, "vip", size) for p in batch]
            for size in (3, 3, 7, 17)
        ]
        assert all(order == orders[0] for order in orders)

    def test_members_lacking_the_namespace_are_still_streamed(
        self, audience_source: AudienceSource
    ) -> None:
        """The namespace never filters members: the delivery excludes and counts them."""
        with_email = Profile(id="a", identities={"email": "a@example.com"})
        phone_only = Profile(id="b", identities={"phone": "+33612345678"})
        anonymous = Profile(id="c")
        self.define(audience_source, "mixed", [with_email, phone_only, anonymous])
        streamed = [p for batch in self._stream(audience_source, "mixed", 10) for p in batch]
        assert sorted(p.id for p in streamed) == ["a", "b", "c"]

    def test_a_redefined_audience_streams_its_new_members(
        self, audience_source: AudienceSource
    ) -> None:
        """Defining an audience again replaces its members."""
        self.define(audience_source, "vip", self._people(4, "old"))
        self.define(audience_source, "vip", self._people(2, "new"))
        streamed = [p.id for batch in self._stream(audience_source, "vip", 10) for p in batch]
        assert sorted(streamed) == ["new000", "new001"]
        assert audience_source.count("vip") in (2, None)

    def test_an_empty_audience_streams_nobody(self, audience_source: AudienceSource) -> None:
        """An audience defined with no members is READY and streams no member."""
        self.define(audience_source, "empty", [])
        assert audience_source.status("empty") is AudienceStatus.READY
        assert audience_source.count("empty") in (0, None)
        assert [p for batch in self._stream(audience_source, "empty", 10) for p in batch] == []

    def test_audiences_do_not_mix(self, audience_source: AudienceSource) -> None:
        """Two audiences stream their own members only."""
        self.define(audience_source, "one", self._people(3, "one"))
        self.define(audience_source, "two", self._people(2, "two"))
        one = [p.id for batch in self._stream(audience_source, "one", 10) for p in batch]
        two = [p.id for batch in self._stream(audience_source, "two", 10) for p in batch]
        assert sorted(one) == ["one000", "one001", "one002"]
        assert sorted(two) == ["two000", "two001"]


_RESULT_TYPES = (Accepted, TransientFailure, PermanentFailure)


class ChannelContract:
    """Contract of the :class:`~campaignkit.ports.Channel` port (and ``LookupChannel``).

    Provide a ``channel`` fixture returning a channel ready to send. Set
    :attr:`channel_type` to the channel type it delivers. The lookup checks
    run only for channels that implement ``lookup``; they are skipped otherwise.

    Attributes:
        channel_type: The type of the messages the contract sends.
    """

    channel_type: ChannelType = ChannelType.EMAIL

    def _messages(self, *profile_ids: str, run_id: str = "run_1") -> list[Message]:
        return [make_message(pid, channel=self.channel_type, run_id=run_id) for pid in profile_ids]

    def _send(self, channel: Channel, messages: Sequence[Message]) -> list[SendResult]:
        results = list(channel.send(messages))
        assert len(results) == len(messages)
        assert all(isinstance(result, _RESULT_TYPES) for result in results), results
        return results

    def test_it_is_a_channel(self, channel: Channel) -> None:
        """The adapter satisfies the ``Channel`` protocol."""
        assert isinstance(channel, Channel)

    def test_send_answers_one_result_per_message(self, channel: Channel) -> None:
        """One Accepted, TransientFailure or PermanentFailure per message."""
        self._send(channel, self._messages("p1", "p2", "p3"))
        self._send(channel, self._messages("p4"))

    def test_an_empty_batch_answers_nothing(self, channel: Channel) -> None:
        """Sending no message returns an empty list."""
        assert list(channel.send([])) == []

    def test_proofs_and_transactional_messages_are_answered(self, channel: Channel) -> None:
        """Proof and transactional messages get a result like any other."""
        messages = [
            make_message("p1", channel=self.channel_type, proof=True),
            make_message("p2", channel=self.channel_type, transactional=True),
        ]
        self._send(channel, messages)

    def test_accepted_messages_get_distinct_provider_ids(self, channel: Channel) -> None:
        """Feedback finds a message by its provider id: distinct messages never share one."""
        results = self._send(channel, self._messages("p1", "p2", "p3"))
        results += self._send(channel, self._messages("p1", "p2", run_id="run_2"))
        ids = [r.provider_message_id for r in results if isinstance(r, Accepted)]
        assert all(ids), ids  # non-empty ids
        assert len(set(ids)) == len(ids), ids


class LookupChannelContract(ChannelContract):
    """Contract of a :class:`~campaignkit.ports.LookupChannel`.

    The channel contract plus lookups by idempotency key (used to reconcile
    after a crash). Provide a ``channel`` fixture returning a fresh channel.
    """

    def test_it_is_a_lookup_channel(self, channel: Channel) -> None:
        """The channel satisfies the ``LookupChannel`` protocol."""
        assert isinstance(channel, LookupChannel)

    def test_lookup_finds_accepted_messages_by_idempotency_key(self, channel: Channel) -> None:
        """An accepted message's key is answered with the same Accepted."""
        assert isinstance(channel, LookupChannel)
        messages = self._messages("p1", "p2", "p3")
        results = self._send(channel, messages)
        for message, result in zip(messages, results, strict=True):
            if isinstance(result, Accepted):
                assert channel.lookup(message.idempotency_key) == result

    def test_lookup_of_an_unknown_key_is_none(self, channel: Channel) -> None:
        """A key the channel never received is answered with None."""
        assert isinstance(channel, LookupChannel)
        assert channel.lookup("run_x:act_email:nobody") is None
        self._send(channel, self._messages("p1"))
        assert channel.lookup(make_message("p2", channel=self.channel_type).idempotency_key) is None
