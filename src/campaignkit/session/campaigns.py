"""Campaign verbs: reading, authoring and the lifecycle."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import TypeVar

import pendulum

from campaignkit.domain import checks
from campaignkit.domain.calendar import Calendar, calendar_entries
from campaignkit.domain.campaign import Action, Campaign, CampaignVersion, Verb
from campaignkit.domain.campaign_enums import (
    DEFAULT_LIST_STATUSES,
    CampaignStatus,
    CampaignType,
    Category,
)
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.lifecycle import (
    UNSET,
    Activate,
    ActivateVersion,
    Archive,
    Command,
    Delete,
    DiscardDraft,
    Maybe,
    Modify,
    Outcome,
    Stop,
    UpdateDraft,
    apply,
    create,
    duplicate,
    pending_version,
)
from campaignkit.domain.listing import (
    DEFAULT_PAGE_SIZE,
    CampaignQuery,
    Page,
    filtered_page,
)
from campaignkit.domain.rules import QuietHours
from campaignkit.domain.schedule import Schedule
from campaignkit.engine import wake_runs
from campaignkit.errors import ApprovalRequired, ValidationError
from campaignkit.permissions import Permission as P
from campaignkit.permissions import ProfilePolicy
from campaignkit.ports import UnitOfWork
from campaignkit.session.base import SessionBase, as_set
from campaignkit.timeutil import ensure_utc

T = TypeVar("T")


class CampaignVerbs(SessionBase):
    """Reading, authoring and lifecycle verbs of a user session."""

    # ------------------------------------------------------------ reading

    def get(self, campaign_id: str) -> Campaign:
        """Return one campaign (needs ``campaign.read``).

        Raises:
            NotFound: no such campaign.
            PermissionDenied: the user may not read campaigns.
        """
        with self._kit.store.unit_of_work() as uow:
            return self._load(uow, campaign_id, P.CAMPAIGN_READ)

    def list_campaigns(
        self,
        *,
        statuses: CampaignStatus | Iterable[CampaignStatus] = DEFAULT_LIST_STATUSES,
        types: CampaignType | Iterable[CampaignType] | None = None,
        channels: ChannelType | Iterable[ChannelType] | None = None,
        tag: str | None = None,
        created_from: pendulum.DateTime | None = None,
        created_to: pendulum.DateTime | None = None,
        search: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[Campaign]:
        """List campaigns, newest first, one page at a time (needs ``campaign.read``).

        By default only DRAFT, SCHEDULED and LIVE campaigns are listed; pass
        ``statuses=ALL_STATUSES`` to list every one. A host permission policy
        is asked about each campaign (``decide(user, CAMPAIGN_READ, campaign)``)
        and the campaigns it denies are left out; pages stay full (only the
        last may be shorter than ``limit``) and cursors never repeat or skip
        a campaign. The default profile policy answers once for all.

        Args:
            statuses: Statuses to include.
            types: Campaign type(s) to include.
            channels: Include campaigns with an action on any of these channels.
            tag: Include only campaigns with this tag.
            created_from: Created at or after.
            created_to: Created before.
            search: Case-insensitive substring of the name.
            limit: Page size, 1 to 500 (default 50).
            cursor: ``next_cursor`` of the previous page.

        Raises:
            ValidationError: a bad limit, range or cursor.
        """
        self._require(P.CAMPAIGN_READ)  # the policy first, then the arguments (SPEC 6)
        problems: list[str] = []
        checks.optional_text(problems, "tag", tag, max_length=checks.MAX_TAG)
        checks.optional_text(problems, "search", search, allow_empty=True)
        if isinstance(limit, bool) or not isinstance(limit, int):  # its range: CampaignQuery
            problems.append(f"limit must be a whole number, not {checks.describe(limit)}")
        given: object = cursor  # hosts without a type checker pass anything
        if given is not None and not isinstance(given, str):  # its form: CampaignQuery
            problems.append(
                "cursor must be the next_cursor string of a previous page, "
                f"not {checks.describe(given)}"
            )
        bounds: tuple[tuple[str, object], ...] = (
            ("created_from", created_from),
            ("created_to", created_to),
        )
        for label, instant in bounds:
            if instant is not None and not isinstance(instant, datetime.datetime):
                checks.aware_datetime(problems, label, instant)
        checks.raise_if(problems, "list_campaigns")
        query = CampaignQuery(
            statuses=as_set(statuses, CampaignStatus, "statuses") or frozenset(),
            types=as_set(types, CampaignType, "types"),
            channels=as_set(channels, ChannelType, "channels"),
            tag=tag,
            created_from=None if created_from is None else ensure_utc(created_from, "created_from"),
            created_to=None if created_to is None else ensure_utc(created_to, "created_to"),
            search=search,
            limit=limit,
            cursor=cursor,
        )
        with self._kit.store.unit_of_work() as uow:
            if not self._policy_per_campaign():
                return uow.campaigns.query(query)
            return filtered_page(query, uow.campaigns.query, self._readable)

    def calendar(self, start: pendulum.DateTime, end: pendulum.DateTime) -> Calendar:
        """SCHEDULED and LIVE campaigns on air during ``[start, end)`` (needs ``campaign.read``).

        Like :meth:`list_campaigns`, a host policy is asked about each campaign
        and the ones it denies are left out. The :class:`Calendar` is a list
        of entries that also shows itself in notebooks (``to_pandas()``, ``plot()``).

        Raises:
            ValidationError: ``start`` or ``end`` is not an aware date-time, or
                ``end`` is not after ``start``.
        """
        self._require(P.CAMPAIGN_READ)
        problems: list[str] = []
        bounds: tuple[tuple[str, object], ...] = (("calendar start", start), ("calendar end", end))
        for label, instant in bounds:
            if not isinstance(instant, datetime.datetime):  # naive ones: ensure_utc
                checks.aware_datetime(problems, label, instant)
        checks.raise_if(problems, "calendar")
        start_utc, end_utc = ensure_utc(start, "calendar start"), ensure_utc(end, "calendar end")
        if end_utc <= start_utc:
            raise ValidationError(["calendar end must be after its start"])
        running = frozenset({CampaignStatus.SCHEDULED, CampaignStatus.LIVE})
        campaigns: list[Campaign] = []
        with self._kit.store.unit_of_work() as uow:
            cursor: str | None = None
            while True:
                page = uow.campaigns.query(
                    CampaignQuery(statuses=running, limit=500, cursor=cursor)
                )
                if self._policy_per_campaign():
                    campaigns.extend(filter(self._readable, page.items))
                else:
                    campaigns.extend(page.items)
                cursor = page.next_cursor
                if cursor is None:
                    break
        entries = calendar_entries(campaigns, start_utc, end_utc, self._kit.lifecycle)
        return Calendar(entries, start_utc, end_utc)

    def _policy_per_campaign(self) -> bool:
        """False for the default policy (its answer does not depend on the campaign)."""
        return type(self._kit.policy).decide is not ProfilePolicy.decide

    def _readable(self, campaign: Campaign) -> bool:
        return self._allowed(P.CAMPAIGN_READ, campaign)

    # ------------------------------------------------------------ authoring

    def create_campaign(
        self,
        *,
        name: str,
        type: CampaignType = CampaignType.SCHEDULED,
        category: Category = Category.MARKETING,
        audience: str | None = None,
        namespace: str | None = None,
        actions: Iterable[Action] = (),
        schedule: Schedule | None = None,
        quiet_hours: Iterable[QuietHours] = (),
        tags: Iterable[str] = (),
        description: str = "",
        create_profiles: bool = False,
    ) -> Campaign:
        """Create a DRAFT campaign (needs ``campaign.write``).

        A draft may be incomplete; activation reports every missing piece.
        ``create_profiles`` (API-triggered transactional campaigns only) lets a
        trigger for an unknown recipient create its profile. ``quiet_hours``
        apply to this campaign's marketing messages on top of ``kit.rules``.

        Raises:
            ValidationError: an argument of the wrong type or beyond its limit
                (each named), empty name or tags, or TRANSACTIONAL on a
                SCHEDULED type. Nothing is stored.
        """
        self._require(P.CAMPAIGN_WRITE)
        actions, quiet_hours, tags = _listed(actions), _listed(quiet_hours), _listed(tags)
        problems: list[str] = []
        kind = checks.member(problems, "type", type, CampaignType)
        group = checks.member(problems, "category", category, Category)
        _check_fields(
            problems,
            name=name,
            description=description,
            tags=tags,
            actions=actions,
            audience=audience,
            namespace=namespace,
            schedule=schedule if schedule is not None else Schedule(),
            quiet_hours=quiet_hours,
        )
        checks.boolean(problems, "create_profiles", create_profiles)
        checks.raise_if(problems, "create_campaign")
        assert kind is not None
        assert group is not None
        kit = self._kit
        now = kit.clock.now()
        version = CampaignVersion(
            number=1,
            created_at=now,
            created_by=self.user,
            actions=self._with_ids(actions),
            audience=audience,
            namespace=namespace,
            schedule=schedule if schedule is not None else Schedule(),
            quiet_hours=_quiet_hours(quiet_hours),
        )
        outcome = create(
            campaign_id=self._new_id("cmp"),
            name=name,
            type=kind,
            category=group,
            version=version,
            now=now,
            actor=self.user,
            description=description,
            tags=tuple(tags),
            create_profiles=create_profiles,
        )
        with kit.store.unit_of_work() as uow:
            saved = uow.campaigns.add(outcome.campaign)
        kit.publish(outcome.events)
        return saved

    def update_draft(
        self,
        campaign_id: str,
        *,
        name: Maybe[str] = UNSET,
        description: Maybe[str] = UNSET,
        tags: Maybe[Iterable[str]] = UNSET,
        actions: Maybe[Iterable[Action]] = UNSET,
        audience: Maybe[str | None] = UNSET,
        namespace: Maybe[str | None] = UNSET,
        schedule: Maybe[Schedule] = UNSET,
        quiet_hours: Maybe[Iterable[QuietHours]] = UNSET,
        expected_revision: int | None = None,
    ) -> Campaign:
        """Edit a DRAFT campaign, or the open draft version of a running one.

        Needs ``campaign.write``. Fields left out keep their value. Name,
        description and tags can only change while the campaign is DRAFT.

        Args:
            campaign_id: The campaign.
            name: New name.
            description: New description.
            tags: New tags (replaces them all).
            actions: New actions (replaces them all).
            audience: New audience name.
            namespace: New identity namespace.
            schedule: New schedule.
            quiet_hours: New campaign quiet hours (replaces them all).
            expected_revision: Refuse with ``ConflictError`` if the campaign is
                no longer at this revision (someone else edited it).

        Raises:
            ValidationError: an argument of the wrong type or beyond its limit
                (each named, before the campaign is read), or a field that
                cannot change in this status.
        """
        actions, quiet_hours, tags = _listed(actions), _listed(quiet_hours), _listed(tags)
        given = {
            key: value
            for key, value in (
                ("name", name),
                ("description", description),
                ("tags", tags),
                ("actions", actions),
                ("audience", audience),
                ("namespace", namespace),
                ("schedule", schedule),
                ("quiet_hours", quiet_hours),
            )
            if value is not UNSET
        }
        if expected_revision is not None:
            problems: list[str] = []
            checks.whole_number(problems, "expected_revision", expected_revision, minimum=0)
            checks.raise_if(problems, "update_draft")

        def build(_: UnitOfWork, campaign: Campaign, now: pendulum.DateTime) -> Outcome:
            problems: list[str] = []  # checked after the policy (SPEC 6), before any change
            _check_fields(problems, **given)
            checks.raise_if(problems, "update_draft")
            command = UpdateDraft(  # built after the permission check
                name=name,
                description=description,
                tags=UNSET if tags is UNSET else tuple(tags),
                actions=UNSET if actions is UNSET else self._with_ids(actions),
                audience=audience,
                namespace=namespace,
                schedule=schedule,
                quiet_hours=UNSET if quiet_hours is UNSET else _quiet_hours(quiet_hours),
            )
            return apply(campaign, command, now=now, actor=self.user, rules=self._kit.lifecycle)

        saved = self._mutate(
            campaign_id, P.CAMPAIGN_WRITE, build, expected_revision=expected_revision
        )
        assert saved is not None
        return saved

    def delete(self, campaign_id: str) -> None:
        """Delete a DRAFT campaign for good (needs ``campaign.delete``)."""
        self._mutate(campaign_id, P.CAMPAIGN_DELETE, self._applying(Delete()))

    def duplicate(self, campaign_id: str, name: str | None = None) -> Campaign:
        """Copy the newest version of any campaign into a new DRAFT (needs ``campaign.write``).

        Args:
            campaign_id: The campaign to copy, in any status.
            name: Name of the copy; default ``"<name> (copy)"``.

        Raises:
            ValidationError: ``name`` is not a string of at most ``MAX_NAME`` characters.
        """
        kit = self._kit
        now = kit.clock.now()
        with kit.store.unit_of_work() as uow:
            source = self._load(uow, campaign_id, P.CAMPAIGN_READ)
            self._require(P.CAMPAIGN_WRITE, source)
            problems: list[str] = []
            checks.optional_text(problems, "name", name)
            checks.raise_if(problems, "duplicate")
            outcome = duplicate(
                source, campaign_id=self._new_id("cmp"), name=name, now=now, actor=self.user
            )
            saved = uow.campaigns.add(outcome.campaign)
        kit.publish(outcome.events)
        return saved

    # ------------------------------------------------------------ lifecycle

    def activate(self, campaign_id: str) -> Campaign:
        """Activate a DRAFT campaign, or the open draft version of a running one.

        Needs ``campaign.publish``. A DRAFT goes to ACTIVATING (the next tick
        makes it SCHEDULED or LIVE). On a SCHEDULED or LIVE campaign with an
        open draft, the draft replaces the live version at once.

        Raises:
            ApprovalRequired: an active approval policy applies; use request_approval().
            ValidationError: every problem that keeps it from running; nothing changes.
            TransitionNotAllowed: its status does not allow activation.
        """

        def build(uow: UnitOfWork, campaign: Campaign, now: pendulum.DateTime) -> Outcome:
            version = pending_version(campaign, Verb.ACTIVATE)
            policy = self._governing_policy(uow, campaign, version)
            if policy is not None:
                raise ApprovalRequired(campaign.id, policy.name)
            check_start = campaign.status is not CampaignStatus.LIVE
            self._validate(uow, campaign, version, now, check_start=check_start)
            command: Command = (
                Activate() if campaign.status is CampaignStatus.DRAFT else ActivateVersion()
            )
            return apply(campaign, command, now=now, actor=self.user, rules=self._kit.lifecycle)

        saved = self._mutate(campaign_id, P.CAMPAIGN_PUBLISH, build)
        assert saved is not None
        return saved

    def modify(self, campaign_id: str) -> Campaign:
        """Open a new draft version of a SCHEDULED or LIVE campaign (needs ``campaign.write``).

        The live version keeps running; ``has_open_draft`` becomes True.
        """
        return self._command(campaign_id, P.CAMPAIGN_WRITE, Modify())

    def discard_draft(self, campaign_id: str) -> Campaign:
        """Throw away the open draft version (needs ``campaign.write``)."""
        return self._command(campaign_id, P.CAMPAIGN_WRITE, DiscardDraft())

    def stop(self, campaign_id: str) -> Campaign:
        """Stop a SCHEDULED or LIVE campaign for good (needs ``campaign.publish``)."""

        def build(uow: UnitOfWork, campaign: Campaign, now: pendulum.DateTime) -> Outcome:
            outcome = apply(campaign, Stop(), now=now, actor=self.user, rules=self._kit.lifecycle)
            wake_runs(uow, campaign.id, now)  # queued messages settle at the next tick
            return outcome

        saved = self._mutate(campaign_id, P.CAMPAIGN_PUBLISH, build)
        assert saved is not None
        return saved

    def archive(self, campaign_id: str) -> Campaign:
        """Archive a COMPLETED, STOPPED or FAILED campaign (needs ``campaign.write``)."""
        return self._command(campaign_id, P.CAMPAIGN_WRITE, Archive())


def _check_fields(problems: list[str], **given: object) -> None:
    """Check the authoring arguments given (by name) before anything is read or stored.

    Types, UTF-8 and the documented limits of ``campaignkit.domain.checks``;
    rules that depend on the campaign (what may change in its status) are
    checked by the domain.
    """
    if "name" in given:
        checks.text(problems, "name", given["name"])
    if "description" in given:
        checks.text(
            problems,
            "description",
            given["description"],
            max_length=checks.MAX_DESCRIPTION,
            allow_empty=True,
        )
    if "tags" in given:
        checks.strings(
            problems, "tags", given["tags"], max_items=checks.MAX_TAGS, max_length=checks.MAX_TAG
        )
    for label in ("audience", "namespace"):
        if label in given:
            checks.optional_text(problems, label, given[label])
    if "schedule" in given:
        checks.instance(problems, "schedule", given["schedule"], Schedule)
    for label, what in (("actions", "Action values"), ("quiet_hours", "QuietHours values")):
        if label in given:  # each item is checked where it is used
            checks.collection(
                problems, label, given[label], max_items=checks.MAX_ACTIONS, what=what
            )


def _listed(value: T) -> T:
    """A one-shot iterable (a generator) as a tuple, so checking it does not use it up.

    Anything else is returned as it is, for the checks to name.
    """
    if isinstance(value, (str, bytes, Mapping, list, tuple, set, frozenset)):
        return value
    if isinstance(value, Iterable):
        return tuple(value)  # type: ignore[return-value]
    return value


def _quiet_hours(rules: Iterable[QuietHours]) -> tuple[QuietHours, ...]:
    """Campaign quiet hours as a tuple, refusing anything that is not ``QuietHours``."""
    given: tuple[object, ...] = tuple(rules)  # hosts without a type checker pass anything
    chosen = tuple(rule for rule in given if isinstance(rule, QuietHours))
    if len(chosen) != len(given):
        wrong = ", ".join(repr(rule) for rule in given if not isinstance(rule, QuietHours))
        raise ValidationError([f"quiet_hours takes ck.QuietHours values, not {wrong}"])
    return chosen
