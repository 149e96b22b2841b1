"""The plumbing shared by every user-session verb.

A verb reads the clock once, opens one unit of work, checks the permission
policy, brings the campaign's due lifecycle steps up to date, applies the
pure domain command, saves, and publishes the events after the commit. A
denial or an error leaves the store exactly as it was.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Final, TypeVar

import attrs
import pendulum

from campaignkit.domain import checks
from campaignkit.domain.approval import ApprovalPolicy, governing_policy
from campaignkit.domain.campaign import Action, Campaign, CampaignVersion
from campaignkit.domain.events import DomainEvent
from campaignkit.domain.lifecycle import Command, Outcome, apply
from campaignkit.errors import ConflictError, NotFound, PermissionDenied, ValidationError
from campaignkit.permissions import Permission, ProfilePolicy
from campaignkit.ports import UnitOfWork

if TYPE_CHECKING:
    from campaignkit.kit import CampaignKit

E = TypeVar("E", bound=enum.Enum)
_DEFAULT_DECIDE: Final = ProfilePolicy.decide
"""The default policy's ``decide``: while it is in place, ``allows`` gives its answer."""
Build = Callable[[UnitOfWork, Campaign, pendulum.DateTime], Outcome]
"""Computes a campaign's outcome inside a verb's unit of work."""


def as_set(
    value: E | str | Iterable[E | str] | None, kind: type[E], name: str | None = None
) -> frozenset[E] | None:
    """Accept one value, its string form, or a list, tuple or set of either.

    Raises:
        ValidationError: naming ``name`` (default: the enum's name) and the values expected.
    """
    if value is None:
        return None
    known = ", ".join(m.value for m in kind)
    label = name or kind.__name__
    if isinstance(value, (bytes, Mapping)) or not isinstance(value, (str, kind, Iterable)):
        raise ValidationError(
            [
                f"{label} must be a {kind.__name__}, its value or a list of them; "
                f"expected one of {known}, not {checks.describe(value)}"
            ]
        )
    items: list[object] = [value] if isinstance(value, (str, kind)) else list(value)  # type: ignore[arg-type]
    problems: list[str] = []
    chosen = [checks.member(problems, label, item, kind) for item in items[:100]]
    if len(items) > 100:
        problems.append(f"{label} has {len(items)} items; there are only {len(kind)} values")
    checks.raise_if(problems, "arguments")
    return frozenset(item for item in chosen if item is not None)


class SessionBase:
    """The plumbing every group of session verbs shares.

    Attributes:
        user: The acting user id.
    """

    def __init__(self, kit: CampaignKit, user: str) -> None:
        checks.require_ids(user_id=user)
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
        policy = self._kit.policy
        if (
            type(policy) is ProfilePolicy
            # decide not replaced, on the class or the instance (e.g. to count calls)
            and getattr(policy.decide, "__func__", None) is _DEFAULT_DECIDE
            and policy.allows(self.user, permission)
        ):
            return  # the reason is only for a denial: asked for below
        decision = policy.decide(self.user, permission, campaign)
        if not decision.allowed:
            target = campaign.id if campaign is not None else campaign_id
            raise PermissionDenied(self.user, permission.value, target, decision.reason)

    def _load(self, uow: UnitOfWork, campaign_id: str, permission: Permission) -> Campaign:
        checks.require_ids(campaign_id=campaign_id)  # before SQLite sees it
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

    def _with_ids(self, actions: Iterable[object]) -> tuple[Action, ...]:
        """The actions with an id each; the collection itself was checked by the verb."""
        result = []
        problems = []
        for number, action in enumerate(actions, start=1):
            if not isinstance(action, Action):
                problems.append(f"action {number} is a {type(action).__name__}, not an Action")
            elif not action.id:
                result.append(attrs.evolve(action, id=self._new_id("act")))
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
            return apply(campaign, command, now=now, actor=self.user, rules=self._kit.lifecycle)

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

    def _allowed(self, permission: Permission, campaign: Campaign | None) -> bool:
        return self._kit.policy.decide(self.user, permission, campaign).allowed

    def _governing_policy(
        self, uow: UnitOfWork, campaign: Campaign, version: CampaignVersion
    ) -> ApprovalPolicy | None:
        """The active approval policy that applies when this user submits ``version``."""
        return governing_policy(
            uow.approval_policies.list(),
            type=campaign.type,
            channels=version.channels,
            tags=campaign.tags,
            name=campaign.name,
            requester=self.user,
            requester_groups=uow.access.groups_of(self.user),
        )
