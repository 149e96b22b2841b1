"""The team of the approval workflow tests: a manager who drafts, an approver who reviews
(directly or through a group) and an administrator who manages approval policies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import pendulum

import campaignkit as ck
from tests.factories import World, make_world

A = ck.ApprovalAction
S = ck.CampaignStatus


@attrs.define
class Team:
    """A world with a manager, an approver and an administrator."""

    world: World
    ada: ck.UserSession
    max: ck.UserSession
    april: ck.UserSession

    @property
    def kit(self) -> ck.CampaignKit:
        return self.world.kit

    def now(self) -> pendulum.DateTime:
        return self.world.clock.now()

    def advance(self, *, minutes: int = 0, hours: int = 0) -> pendulum.DateTime:
        self.world.clock.advance(minutes=minutes, hours=hours)
        return self.world.clock.now()

    def user(self, name: str, profile: ck.ProductProfile | None = None) -> ck.UserSession:
        if profile is not None:
            self.kit.access.assign(name, profile)
        return self.kit.as_user(name)

    def policy(self, name: str = "Brand review", **kwargs: Any) -> ck.ApprovalPolicy:
        """Create and activate an approval policy (reviewer april unless told otherwise)."""
        if "reviewers" not in kwargs and "reviewer_groups" not in kwargs:
            kwargs["reviewers"] = ["april"]
        created = self.ada.create_approval_policy(name=name, **kwargs)
        return self.ada.activate_approval_policy(created.id)

    def approval_events(self) -> list[ck.ApprovalEvent]:
        return [e for e in self.world.events if isinstance(e, ck.ApprovalEvent)]


def make_team(*, april_via_group: bool = False) -> Team:
    world = make_world()
    kit = world.kit
    kit.access.assign("max", ck.ProductProfile.MANAGER)
    if april_via_group:
        kit.access.add_member("brand", "april")
        kit.access.assign_group("brand", ck.ProductProfile.APPROVER)
    else:
        kit.access.assign("april", ck.ProductProfile.APPROVER)
    return Team(world, world.admin, kit.as_user("max"), kit.as_user("april"))


def entry_facts(
    entries: Sequence[ck.ApprovalEntry],
) -> list[tuple[ck.ApprovalAction, str, int, str | None, str | None, pendulum.DateTime]]:
    return [(e.action, e.actor, e.version, e.policy_id, e.message, e.at) for e in entries]


def live_recurring(team: Team) -> ck.Campaign:
    live = team.world.live(recurrence=ck.Recurrence.daily(at="09:00"))
    assert live.status is S.LIVE
    return live


# ---------------------------------------------------------------- new version of a LIVE campaign


def submit_new_version(team: Team, campaign_id: str) -> ck.Campaign:
    team.max.modify(campaign_id)
    team.max.update_draft(campaign_id, actions=[team.world.email_action("Version 2")])
    return team.max.request_approval(campaign_id, message="v2 please")
