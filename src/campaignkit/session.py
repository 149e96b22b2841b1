"""User sessions: every verb a person can perform, each checked by the policy first.

A verb reads the clock once, opens one unit of work, checks the permission
policy, brings the campaign's due lifecycle steps up to date, applies the
pure domain command, saves, and publishes the events after the commit. A
denial or an error leaves the store exactly as it was.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, TypeVar

import attrs
import pendulum

from campaignkit.domain.calendar import CalendarEntry, calendar_entries
from campaignkit.domain.campaign import Action, Campaign, CampaignVersion
from campaignkit.domain.campaign_enums import (
    DEFAULT_LIST_STATUSES,
    CampaignStatus,
    CampaignType,
    Category,
)
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.events import DomainEvent
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
)
from campaignkit.domain.listing import DEFAULT_PAGE_SIZE, CampaignQuery, Page
from campaignkit.domain.schedule import Schedule
from campaignkit.domain.surface import (
    ChannelSurface,
    SurfaceSettings,
    SurfaceStatus,
    surface_problems,
)
from campaignkit.errors import (
    CampaignKitError,
    ConflictError,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from campaignkit.permissions import Permission
from campaignkit.ports import UnitOfWork
from campaignkit.timeutil import ensure_utc

if TYPE_CHECKING:
    from campaignkit.kit import CampaignKit

P = Permission
E = TypeVar("E", bound=enum.Enum)

SURFACE_HOLDING_STATUSES = frozenset(
    {CampaignStatus.ACTIVATING, CampaignStatus.SCHEDULED, CampaignStatus.LIVE}
)
"""A surface used by a campaign in one of these statuses cannot be deactivated."""


class SurfaceInUse(CampaignKitError):
    """A surface cannot be deactivated while running campaigns use it.

    Attributes:
        surface_id: The surface.
        campaign_ids: The campaigns that hold it.
    """

    def __init__(self, surface_id: str, campaign_ids: Sequence[str]) -> None:
        self.surface_id = surface_id
        self.campaign_ids = list(campaign_ids)
        super().__init__(
            f"surface {surface_id!r} is used by running campaign(s) "
            f"{', '.join(self.campaign_ids)}; stop them first"
        )


def _as_set(value: E | str | Iterable[E | str] | None, kind: type[E]) -> frozenset[E] | None:
    """Accept one value, its string form, or an iterable of either."""
    if value is None:
        return None
    items = [value] if isinstance(value, (str, kind)) else list(value)  # type: ignore[arg-type]
    try:
        return frozenset(kind(item) for item in items)
    except ValueError as exc:
        known = ", ".join(m.value for m in kind)
        raise ValidationError([f"{exc}; expected one of {known}"]) from exc


class UserSession:
    """Acts for one user. Obtain it with ``kit.as_user(user_id)``.

    Attributes:
        user: The acting user id.
    """

    def __init__(self, kit: CampaignKit, user: str) -> None:
        if not user.strip():
            raise ValidationError([f"user id {user!r} must be a non-empty string"])
        self._kit = kit
        self.user = user

    def __repr__(self) -> str:
        return f"UserSession(user={self.user!r})"

    # ------------------------------------------------------------ plumbing

    def _require(
        self,
        permission: Permission,
        campaign: Campaign | None = None,
        *,
        campaign_id: str | None = None,
    ) -> None:
        decision = self._kit.policy.decide(self.user, permission, campaign)
        if not decision.allowed:
            target = campaign.id if campaign is not None else campaign_id
            raise PermissionDenied(self.user, permission.value, target, decision.reason)

    def _load(self, uow: UnitOfWork, campaign_id: str, permission: Permission) -> Campaign:
        campaign = uow.campaigns.find(campaign_id)
        if campaign is None:
            # ask without a campaign, and name the id either way: a denial must
            # not reveal whether the campaign exists
            self._require(permission, campaign_id=campaign_id)
            raise NotFound("campaign", campaign_id)
        self._require(permission, campaign)
        return campaign

    def _new_id(self, prefix: str) -> str:
        return self._kit.ids(prefix)

    def _with_ids(self, actions: object) -> tuple[Action, ...]:
        if isinstance(actions, Action) or not isinstance(actions, Iterable):
            raise ValidationError([f"actions must be a list of Action, not {actions!r}"])
        result = []
        problems = []
        for number, action in enumerate(actions, start=1):
            if not isinstance(action, Action):
                problems.append(f"action {number} is a {type(action).__name__}, not an Action")
            elif not action.id:
                result.append(Action(action.surface_id, action.content, self._new_id("act")))
            else:
                result.append(action)
        if problems:
            raise ValidationError(problems)
        return tuple(result)

    def _mutate(
        self,
        campaign_id: str,
        permission: Permission,
        build: Callable[[UnitOfWork, Campaign, pendulum.DateTime], Outcome],
        *,
        expected_revision: int | None = None,
    ) -> Campaign | None:
        kit = self._kit
        now = kit.clock.now()
        events: list[DomainEvent] = []
        with kit.store.unit_of_work() as uow:
            campaign = self._load(uow, campaign_id, permission)
            if expected_revision is not None and campaign.revision != expected_revision:
                raise ConflictError(
                    f"campaign {campaign_id!r} is at revision {campaign.revision}, "
                    f"not {expected_revision}: it changed meanwhile; reload and retry"
                )
            caught = kit.engine.catch_up(uow, campaign, now)
            events.extend(caught.events)
            if caught.campaign is None:
                raise NotFound("campaign", campaign_id)
            outcome = build(uow, caught.campaign, now)
            saved: Campaign | None = None
            if outcome.removed:
                uow.campaigns.remove(caught.campaign)
            else:
                saved = uow.campaigns.save(outcome.campaign)
            events.extend(outcome.events)
        kit.publish(events)
        return saved

    def _applying(
        self, command: Command
    ) -> Callable[[UnitOfWork, Campaign, pendulum.DateTime], Outcome]:
        def build(_: UnitOfWork, campaign: Campaign, now: pendulum.DateTime) -> Outcome:
            return apply(campaign, command, now=now, actor=self.user, rules=self._kit.rules)

        return build

    def _command(
        self,
        campaign_id: str,
        permission: Permission,
        command: Command,
        *,
        expected_revision: int | None = None,
    ) -> Campaign:
        saved = self._mutate(
            campaign_id, permission, self._applying(command), expected_revision=expected_revision
        )
        assert saved is not None
        return saved

    def _validate(
        self,
        uow: UnitOfWork,
        campaign: Campaign,
        version: CampaignVersion,
        now: pendulum.DateTime,
        *,
        check_start: bool,
    ) -> None:
        problems = self._kit.preflight.problems(
            uow, campaign, version, now=now, check_start=check_start
        )
        if problems:
            raise ValidationError(problems, subject=f"campaign {campaign.id!r}")

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
        ``statuses=ALL_STATUSES`` to list every one.

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
        query = CampaignQuery(
            statuses=_as_set(statuses, CampaignStatus) or frozenset(),
            types=_as_set(types, CampaignType),
            channels=_as_set(channels, ChannelType),
            tag=tag,
            created_from=None if created_from is None else ensure_utc(created_from, "created_from"),
            created_to=None if created_to is None else ensure_utc(created_to, "created_to"),
            search=search,
            limit=limit,
            cursor=cursor,
        )
        self._require(P.CAMPAIGN_READ)
        with self._kit.store.unit_of_work() as uow:
            return uow.campaigns.query(query)

    def calendar(self, start: pendulum.DateTime, end: pendulum.DateTime) -> list[CalendarEntry]:
        """SCHEDULED and LIVE campaigns on air during ``[start, end)`` (needs ``campaign.read``)."""
        self._require(P.CAMPAIGN_READ)
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
                campaigns.extend(page.items)
                cursor = page.next_cursor
                if cursor is None:
                    break
        return calendar_entries(campaigns, start_utc, end_utc, self._kit.rules)

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
        tags: Iterable[str] = (),
        description: str = "",
    ) -> Campaign:
        """Create a DRAFT campaign (needs ``campaign.write``).

        A draft may be incomplete; activation reports every missing piece.

        Raises:
            ValidationError: empty name, bad tags, or TRANSACTIONAL on a SCHEDULED type.
        """
        self._require(P.CAMPAIGN_WRITE)
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
        )
        outcome = create(
            campaign_id=self._new_id("cmp"),
            name=name,
            type=CampaignType(type),
            category=Category(category),
            version=version,
            now=now,
            actor=self.user,
            description=description,
            tags=tuple(tags),
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
            expected_revision: Refuse with ``ConflictError`` if the campaign is
                no longer at this revision (someone else edited it).
        """

        def build(_: UnitOfWork, campaign: Campaign, now: pendulum.DateTime) -> Outcome:
            command = UpdateDraft(  # built after the permission check
                name=name,
                description=description,
                tags=UNSET if tags is UNSET else tuple(tags),
                actions=UNSET if actions is UNSET else self._with_ids(actions),
                audience=audience,
                namespace=namespace,
                schedule=schedule,
            )
            return apply(campaign, command, now=now, actor=self.user, rules=self._kit.rules)

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
        """
        kit = self._kit
        now = kit.clock.now()
        with kit.store.unit_of_work() as uow:
            source = self._load(uow, campaign_id, P.CAMPAIGN_READ)
            self._require(P.CAMPAIGN_WRITE, source)
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
            ValidationError: every problem that keeps it from running; nothing changes.
            TransitionNotAllowed: its status does not allow activation.
        """

        def build(uow: UnitOfWork, campaign: Campaign, now: pendulum.DateTime) -> Outcome:
            command: Command
            if campaign.status is CampaignStatus.DRAFT and campaign.draft_version is not None:
                self._validate(uow, campaign, campaign.draft_version, now, check_start=True)
                command = Activate()
            elif campaign.has_open_draft and campaign.draft_version is not None:
                is_scheduled = campaign.status is CampaignStatus.SCHEDULED
                self._validate(uow, campaign, campaign.draft_version, now, check_start=is_scheduled)
                command = ActivateVersion()
            else:
                command = Activate()  # refused by the transition table, with a hint
            return apply(campaign, command, now=now, actor=self.user, rules=self._kit.rules)

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
        return self._command(campaign_id, P.CAMPAIGN_PUBLISH, Stop())

    def archive(self, campaign_id: str) -> Campaign:
        """Archive a COMPLETED, STOPPED or FAILED campaign (needs ``campaign.write``)."""
        return self._command(campaign_id, P.CAMPAIGN_WRITE, Archive())

    # ------------------------------------------------------------ surfaces

    def create_surface(
        self,
        *,
        name: str,
        channel: ChannelType,
        settings: SurfaceSettings,
        category: Category = Category.MARKETING,
    ) -> ChannelSurface:
        """Create an ACTIVE channel surface (needs ``surface.manage``).

        Raises:
            ValidationError: settings that do not fit the channel, or a name in use.
        """
        self._require(P.SURFACE_MANAGE)
        channel, category = ChannelType(channel), Category(category)
        problems = surface_problems(name, channel, settings)
        kit = self._kit
        with kit.store.unit_of_work() as uow:
            if name.strip() and uow.surfaces.find_by_name(name.strip()) is not None:
                problems.append(f"a surface named {name.strip()!r} exists already")
            if problems:
                raise ValidationError(problems, subject=f"surface {name!r}")
            surface = ChannelSurface(
                id=self._new_id("srf"),
                name=name.strip(),
                channel=channel,
                category=category,
                settings=settings,
                created_at=kit.clock.now(),
                created_by=self.user,
            )
            return uow.surfaces.add(surface)

    def deactivate_surface(self, surface_id: str) -> ChannelSurface:
        """Deactivate a surface (needs ``surface.manage``); idempotent.

        Raises:
            SurfaceInUse: an ACTIVATING, SCHEDULED or LIVE campaign uses it.
        """
        self._require(P.SURFACE_MANAGE)
        with self._kit.store.unit_of_work() as uow:
            surface = uow.surfaces.get(surface_id)
            if surface.status is SurfaceStatus.DEACTIVATED:
                return surface
            holders = uow.campaigns.query(
                CampaignQuery(statuses=SURFACE_HOLDING_STATUSES, surface_id=surface_id, limit=20)
            )
            if holders.items:
                raise SurfaceInUse(surface_id, [c.id for c in holders.items])
            return uow.surfaces.save(attrs.evolve(surface, status=SurfaceStatus.DEACTIVATED))

    def get_surface(self, surface_id: str) -> ChannelSurface:
        """Return one surface (needs ``surface.read``)."""
        self._require(P.SURFACE_READ)
        with self._kit.store.unit_of_work() as uow:
            return uow.surfaces.get(surface_id)

    def list_surfaces(self) -> list[ChannelSurface]:
        """Every surface, by name (needs ``surface.read``)."""
        self._require(P.SURFACE_READ)
        with self._kit.store.unit_of_work() as uow:
            return list(uow.surfaces.list())
