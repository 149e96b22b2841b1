"""The ports: Protocols that adapters implement. Nothing here has behaviour.

The store and its repositories are defined here; the ports a host plugs in
beside it (audiences, profiles, channels, progress) live in
:mod:`campaignkit.host_ports` and are re-exported from this module.

A host plugs in any object with these methods; nothing inherits from a
campaignkit base class. Each port has an in-memory adapter and a contract
suite in :mod:`campaignkit.testing.contracts`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

import pendulum

from campaignkit.domain.access import AccessAuditEntry, Principal
from campaignkit.domain.approval import ApprovalPolicy
from campaignkit.domain.campaign import Campaign
from campaignkit.domain.campaign_enums import CampaignStatus
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import (
    FeedbackRecord,
    LedgerEntry,
    OutcomeRow,
    PendingRow,
    Run,
)
from campaignkit.domain.listing import CampaignQuery, Page
from campaignkit.domain.rules import RuleBook
from campaignkit.domain.shards import Shard
from campaignkit.domain.surface import ChannelSurface
from campaignkit.domain.triggers import ExecutionRecord
from campaignkit.host_ports import AudienceSource as AudienceSource  # noqa: PLC0414 - re-export
from campaignkit.host_ports import Channel as Channel  # noqa: PLC0414 - re-export
from campaignkit.host_ports import LookupChannel as LookupChannel  # noqa: PLC0414 - re-export
from campaignkit.host_ports import ProfileStore as ProfileStore  # noqa: PLC0414 - re-export
from campaignkit.host_ports import Progress as Progress  # noqa: PLC0414 - re-export
from campaignkit.host_ports import RunProgress as RunProgress  # noqa: PLC0414 - re-export
from campaignkit.host_ports import ScanningProfileStore as ScanningProfileStore  # noqa: PLC0414 - re-export
from campaignkit.permissions import ProductProfile

ContactRecord = tuple[ChannelType, str, pendulum.DateTime, str | None]
"""One marketing contact: ``(channel, profile_id, sent_at, message key or None)``."""


class CampaignRepository(Protocol):
    """Protocol: campaigns inside a unit of work, with optimistic concurrency."""

    def get(self, campaign_id: str) -> Campaign:
        """Return the campaign; raise ``NotFound`` if there is none."""
        ...

    def find(self, campaign_id: str) -> Campaign | None:
        """Return the campaign, or None."""
        ...

    def status(self, campaign_id: str) -> CampaignStatus | None:
        """Return just the campaign's status (cheap), or None if it does not exist."""
        ...

    def add(self, campaign: Campaign) -> Campaign:
        """Store a new campaign (its ``revision`` must be 0); return it at revision 1.

        Raises ``ConflictError`` if the id exists.
        """
        ...

    def save(self, campaign: Campaign) -> Campaign:
        """Replace the stored campaign loaded at ``campaign.revision``.

        Returns it at the next revision; raises ``ConflictError`` when the stored
        revision differs (someone else wrote first) or it was removed.
        """
        ...

    def remove(self, campaign: Campaign) -> None:
        """Delete the campaign loaded at ``campaign.revision`` (``ConflictError`` if stale)."""
        ...

    def query(self, query: CampaignQuery) -> Page[Campaign]:
        """Return one page of campaigns matching ``query``, newest first."""
        ...

    def due(self, until: pendulum.DateTime, limit: int) -> Sequence[tuple[pendulum.DateTime, str]]:
        """Return up to ``limit`` ``(due_at, id)`` pairs with ``due_at <= until``, in order."""
        ...

    def next_due_at(self) -> pendulum.DateTime | None:
        """Return the earliest ``due_at`` of any campaign, or None."""
        ...

    def scan(self, batch_size: int) -> Iterator[Sequence[Campaign]]:
        """Every campaign in id order, in batches of at most ``batch_size`` (copying a store)."""
        ...

    def restore(self, campaign: Campaign) -> None:
        """Store ``campaign`` as given (revision included), replacing one with its id (copying)."""
        ...


class SurfaceRepository(Protocol):
    """Protocol: channel surfaces inside a unit of work."""

    def get(self, surface_id: str) -> ChannelSurface:
        """Return the surface; raise ``NotFound`` if there is none."""
        ...

    def find(self, surface_id: str) -> ChannelSurface | None:
        """Return the surface, or None."""
        ...

    def find_by_name(self, name: str) -> ChannelSurface | None:
        """Return the surface with this exact name, or None."""
        ...

    def add(self, surface: ChannelSurface) -> ChannelSurface:
        """Store a new surface at revision 1 (``ConflictError`` if id or name is taken)."""
        ...

    def save(self, surface: ChannelSurface) -> ChannelSurface:
        """Replace the surface loaded at ``surface.revision`` (``ConflictError`` if stale)."""
        ...

    def list(self) -> Sequence[ChannelSurface]:
        """Return every surface, ordered by name."""
        ...

    def restore(self, surface: ChannelSurface) -> None:
        """Store ``surface`` as given, replacing one with its id (``ConflictError``: name taken)."""
        ...


class AccessRepository(Protocol):
    """Protocol: product-profile assignments, group memberships and their audit log."""

    def profiles(self, principal: Principal) -> frozenset[ProductProfile]:
        """Return the profiles assigned directly to ``principal``."""
        ...

    def set_profiles(self, principal: Principal, profiles: frozenset[ProductProfile]) -> None:
        """Replace the profiles assigned to ``principal`` (empty removes it)."""
        ...

    def all(self) -> Mapping[Principal, frozenset[ProductProfile]]:
        """Return every principal with at least one profile."""
        ...

    def groups_of(self, user: str) -> frozenset[str]:
        """Return the groups ``user`` belongs to."""
        ...

    def members(self, group: str) -> frozenset[str]:
        """Return the users in ``group``."""
        ...

    def set_member(self, group: str, user: str, *, member: bool) -> None:
        """Add ``user`` to ``group`` (``member=True``) or remove them."""
        ...

    def record(self, entry: AccessAuditEntry) -> None:
        """Append an entry to the access audit log."""
        ...

    def log(self) -> Sequence[AccessAuditEntry]:
        """Return the access audit log, oldest first."""
        ...

    def memberships(self) -> Sequence[tuple[str, str]]:
        """Every ``(group, user)`` membership, ordered by group then user."""
        ...


class ApprovalPolicyRepository(Protocol):
    """Protocol: approval policies inside a unit of work."""

    def get(self, policy_id: str) -> ApprovalPolicy:
        """Return the policy; raise ``NotFound`` if there is none."""
        ...

    def add(self, policy: ApprovalPolicy) -> ApprovalPolicy:
        """Store a new policy at revision 1 (``ConflictError`` if the id is taken)."""
        ...

    def save(self, policy: ApprovalPolicy) -> ApprovalPolicy:
        """Replace the policy loaded at ``policy.revision`` (``ConflictError`` if stale)."""
        ...

    def list(self) -> Sequence[ApprovalPolicy]:
        """Return every policy, ordered by name then id."""
        ...

    def restore(self, policy: ApprovalPolicy) -> None:
        """Store ``policy`` as given (revision included), replacing one with its id."""
        ...


class RunRepository(Protocol):
    """Protocol: delivery runs inside a unit of work."""

    def add(self, run: Run) -> Run:
        """Store a new run at revision 1 (``ConflictError`` if the id is taken)."""
        ...

    def get(self, run_id: str) -> Run:
        """Return the run; raise ``NotFound`` if there is none."""
        ...

    def save(self, run: Run) -> Run:
        """Replace the run loaded at ``run.revision`` (``ConflictError`` if stale)."""
        ...

    def for_campaign(self, campaign_id: str) -> Sequence[Run]:
        """Every run of a campaign, oldest first."""
        ...

    def due(self, until: pendulum.DateTime, limit: int) -> Sequence[tuple[pendulum.DateTime, str]]:
        """Up to ``limit`` ``(due_at, id)`` of runs due by ``until``, in order."""
        ...

    def next_due_at(self) -> pendulum.DateTime | None:
        """The earliest ``due_at`` of any run, or None."""
        ...

    def scan(self, batch_size: int) -> Iterator[Sequence[Run]]:
        """Every run in id order, in batches of at most ``batch_size`` (copying a store)."""
        ...

    def restore(self, run: Run) -> None:
        """Store ``run`` as given (revision included), replacing one with its id."""
        ...


class LedgerRepository(Protocol):
    """Protocol: the delivery ledger, one entry per (run, action, profile)."""

    def put(self, entries: Sequence[LedgerEntry]) -> None:
        """Insert or replace entries (by their key), all in this unit of work."""
        ...

    def add_pending(self, rows: Sequence[PendingRow]) -> None:
        """Insert new PENDING entries, each carrying its rendered message (the hot path).

        Each row ``(message, due_at, timezone)`` stands for
        ``domain.delivery.pending_entry(row)``; its key must not be in the ledger yet
        (the runner checks with :meth:`recorded` in the same unit of work). Written in
        this unit of work, like :meth:`put`.
        """
        ...

    def settle(self, run_id: str, rows: Sequence[OutcomeRow]) -> None:
        """Record channel answers for PENDING entries of ``run_id`` (the hot path).

        Each row ``(action_id, profile_id, state, attempts, provider_message_id,
        error, next_attempt_at)`` turns the entry into
        ``domain.delivery.settled_entry(entry, row)``. A provider message id another
        entry holds is a ``ConflictError`` and nothing of the call is written.
        """
        ...

    def recorded(self, run_id: str, profile_ids: Sequence[str]) -> set[tuple[str, str]]:
        """The ``(action_id, profile_id)`` pairs of ``run_id`` already in the ledger."""
        ...

    def open_entries(self, run_id: str, limit: int) -> Sequence[LedgerEntry]:
        """Up to ``limit`` PENDING, QUEUED or RETRY entries of a run."""
        ...

    def pending(self, run_id: str, limit: int) -> Sequence[LedgerEntry]:
        """Up to ``limit`` PENDING entries of a run (handed over, outcome unknown)."""
        ...

    def due(self, run_id: str, until: pendulum.DateTime, limit: int) -> Sequence[LedgerEntry]:
        """Up to ``limit`` QUEUED or RETRY entries due by ``until``, earliest first."""
        ...

    def next_due_at(self, run_id: str) -> pendulum.DateTime | None:
        """When the earliest QUEUED or RETRY entry of a run is due, or None."""
        ...

    def by_provider_id(self, provider_message_id: str) -> LedgerEntry | None:
        """The SENT entry with this provider message id, or None."""
        ...

    def entries(self, run_id: str) -> Iterator[LedgerEntry]:
        """Every entry of a run (for inspection and tests)."""
        ...

    def scan(self, run_id: str, batch_size: int) -> Iterator[Sequence[LedgerEntry]]:
        """Every entry of a run by key, read ``batch_size`` at a time (unlike :meth:`entries`)."""
        ...


class ContactRepository(Protocol):
    """Protocol: when each profile got a marketing message, per channel (frequency caps)."""

    def record(
        self,
        channel: ChannelType,
        contacts: Sequence[tuple[str, pendulum.DateTime]],
        keys: Sequence[str] | None = None,
    ) -> None:
        """Record ``(profile_id, sent_at)`` contacts on ``channel``.

        ``keys`` (one per contact: the message's idempotency key) name each
        contact so that ``forget`` can take it back; the caller records a
        message once (when it is first handed over).
        """
        ...

    def forget(self, channel: ChannelType, contacts: Sequence[tuple[str, str]]) -> None:
        """Remove ``(profile_id, key)`` contacts of ``channel`` (messages that never went out)."""
        ...

    def counts(
        self, channel: ChannelType, profile_ids: Sequence[str], since: pendulum.DateTime
    ) -> Mapping[str, int]:
        """How many contacts each profile had on ``channel`` at or after ``since``."""
        ...

    def scan(self, batch_size: int) -> Iterator[Sequence[ContactRecord]]:
        """Every contact, in batches, in an order of the adapter's (stable while unchanged)."""
        ...


class RuleRepository(Protocol):
    """Protocol: the kit's business rules (quiet hours and frequency caps per channel)."""

    def get(self) -> RuleBook:
        """The rule book (empty if none was ever saved)."""
        ...

    def save(self, rules: RuleBook) -> RuleBook:
        """Replace the rule book loaded at ``rules.revision`` (``ConflictError`` if stale)."""
        ...

    def restore(self, rules: RuleBook) -> None:
        """Store ``rules`` as given (revision included), replacing the rule book."""
        ...


class FeedbackRepository(Protocol):
    """Protocol: feedback reported against delivered messages."""

    def add(self, record: FeedbackRecord) -> None:
        """Append a feedback record."""
        ...

    def for_campaign(self, campaign_id: str) -> Sequence[FeedbackRecord]:
        """Every feedback record of a campaign, oldest first."""
        ...

    def scan(self, batch_size: int) -> Iterator[Sequence[FeedbackRecord]]:
        """Every feedback record, oldest first, in batches of at most ``batch_size``."""
        ...


class SuppressionRepository(Protocol):
    """Protocol: addresses that must not receive marketing messages."""

    def add(self, channel: ChannelType, address: str) -> None:
        """Suppress ``address`` on ``channel`` (idempotent)."""
        ...

    def suppressed(self, channel: ChannelType, addresses: Sequence[str]) -> set[str]:
        """Which of ``addresses`` are suppressed on ``channel``.

        ``addresses`` is a read-only sequence worked out when first read (a
        store holding no suppressions may answer without reading it); it is
        not always a ``list``: pass ``list(addresses)`` to a database driver
        that wants one.
        """
        ...

    def scan(self, batch_size: int) -> Iterator[Sequence[tuple[ChannelType, str]]]:
        """Every ``(channel, address)`` suppressed, in batches, ordered by channel then address."""
        ...


class StaticAudienceRepository(Protocol):
    """Protocol: audiences defined as lists of profile ids (``kit.audiences.define``)."""

    def define(self, name: str, profile_ids: Sequence[str]) -> None:
        """Create or replace audience ``name``."""
        ...

    def count(self, name: str) -> int | None:
        """How many members ``name`` has, or None if it is not defined."""
        ...

    def members(self, name: str, offset: int, limit: int) -> Sequence[str]:
        """Up to ``limit`` member ids from position ``offset``, in definition order."""
        ...

    def names(self) -> Sequence[str]:
        """The name of every static audience, in order."""
        ...


class ExecutionRepository(Protocol):
    """Protocol: API executions, unique per (campaign, request id)."""

    def add(self, execution: ExecutionRecord) -> ExecutionRecord:
        """Store a new execution at revision 1.

        Raises ``ConflictError`` if the id, or the request id for that campaign, exists.
        """
        ...

    def get(self, execution_id: str) -> ExecutionRecord:
        """Return the execution; raise ``NotFound`` if there is none."""
        ...

    def by_request(self, campaign_id: str, request_id: str) -> ExecutionRecord | None:
        """The execution of this request id for this campaign, or None."""
        ...

    def save(self, execution: ExecutionRecord) -> ExecutionRecord:
        """Replace the execution loaded at its revision (``ConflictError`` if stale)."""
        ...

    def scan(self, batch_size: int) -> Iterator[Sequence[ExecutionRecord]]:
        """Every execution in id order, in batches of at most ``batch_size`` (copying a store)."""
        ...

    def restore(self, execution: ExecutionRecord) -> None:
        """Store ``execution`` as given (revision included), replacing one with its id."""
        ...


class ShardRepository(Protocol):
    """Protocol: the frozen audiences and shards of runs delivered by many workers (optional).

    A store whose units of work have a ``shards`` attribute satisfying this
    lets a run's audience be frozen and split into shards (SQLite and
    PostgreSQL do; the in-memory store does not: one process delivers its
    runs whole). Every method runs in the caller's unit of work.
    """

    def freeze(self, run_id: str, start: int, profile_ids: Sequence[str]) -> None:
        """Append members to the run's frozen audience at positions ``start`` onwards."""
        ...

    def frozen(self, run_id: str) -> int:
        """How many members of the run are frozen."""
        ...

    def freeze_audience(self, run_id: str, audience: str, start: int) -> int:
        """Freeze the members of the static audience ``audience`` from position ``start`` on.

        Positions are the audience's own (the store holds it); returns how many
        members of the run are frozen afterwards.
        """
        ...

    def members(self, run_id: str, first: int, end: int) -> list[str]:
        """The profile ids at positions ``first .. end - 1``, in order."""
        ...

    def plan(self, shards: Sequence[Shard]) -> None:
        """Store a run's shards (all at once, once)."""
        ...

    def for_run(self, run_id: str) -> list[Shard]:
        """The run's shards in order (none: the run is not sharded)."""
        ...

    def claim(
        self,
        run_id: str | None,
        number: int | None,
        owner: str,
        now: pendulum.DateTime,
        expires: pendulum.DateTime,
    ) -> Shard | None:
        """Claim a free shard (not done, no lease in force at ``now``): its epoch moves on.

        ``run_id`` and ``number`` narrow the choice (None: any run, any shard);
        the first free shard in ``(run, number)`` order is taken, skipping any
        another unit is claiming at the same moment. None when none is free.
        """
        ...

    def hold(self, shard: Shard) -> Shard:
        """The shard as stored, locked for the unit, if still held at ``shard.epoch``.

        Raises:
            ShardLost: another claim moved the epoch on (nothing may be written).
        """
        ...

    def save(self, shard: Shard) -> Shard:
        """Store the shard's lease, counts and ``done`` at its epoch (see :meth:`hold`)."""
        ...


class UnitOfWork(Protocol):
    """Protocol: one all-or-nothing transaction over the repositories.

    It commits when its ``with`` block ends normally and rolls back when the
    block raises. A unit opened while another is open on the same thread joins
    the outer one.
    """

    @property
    def campaigns(self) -> CampaignRepository:
        """The campaigns."""
        ...

    @property
    def surfaces(self) -> SurfaceRepository:
        """The channel surfaces."""
        ...

    @property
    def access(self) -> AccessRepository:
        """The access assignments, group memberships and audit log."""
        ...

    @property
    def approval_policies(self) -> ApprovalPolicyRepository:
        """The approval policies."""
        ...

    @property
    def runs(self) -> RunRepository:
        """The delivery runs."""
        ...

    @property
    def ledger(self) -> LedgerRepository:
        """The delivery ledger."""
        ...

    @property
    def feedback(self) -> FeedbackRepository:
        """Feedback records."""
        ...

    @property
    def suppressions(self) -> SuppressionRepository:
        """Suppressed addresses."""
        ...

    @property
    def audiences(self) -> StaticAudienceRepository:
        """Static audiences."""
        ...

    @property
    def executions(self) -> ExecutionRepository:
        """API executions."""
        ...

    @property
    def contacts(self) -> ContactRepository:
        """Marketing contacts per profile and channel."""
        ...

    @property
    def rules(self) -> RuleRepository:
        """Business rules."""
        ...


class Store(Protocol):
    """Protocol: where campaigns and their companions are kept."""

    def unit_of_work(self) -> AbstractContextManager[UnitOfWork]:
        """Open a unit of work: ``with store.unit_of_work() as uow: ...``."""
        ...
