"""Shared fixtures-by-value of the permission tests: the SPEC tables (sections 6 and 7), the
user and group under test, the recipients of API-triggered campaigns, and the snapshot a
denial must leave unchanged."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs

import campaignkit as ck
from campaignkit.domain.access import Principal
from tests.factories import World, make_world

P = ck.Permission
Profile = ck.ProductProfile
S = ck.CampaignStatus

USER = "uma"
"""The user under test; the administrator of the world is ``"ada"``."""

NO_PROFILE_REASON = "has no campaign product profile"

# SPEC section 6, written out literally (not derived from the code):
#
# | Profile       | read | write | delete | publish | approve | report | surfaces | policy, access |
# | administrator |  ✓   |   ✓   |   ✓    |    ✓    |    ✓    |   ✓    |  manage  |     manage     |
# | approver      |  ✓   |   ✓   |   ✓    |    ✓    |    ✓    |   ✓    |  read    |       —        |
# | manager       |  ✓   |   ✓   |   ✓    |    —    |    —    |   ✓    |  read    |       —        |
# | viewer        |  ✓   |   —   |   —    |    —    |    —    |   ✓    |   —      |       —        |
SPEC_PROFILE_PERMISSIONS: dict[str, frozenset[str]] = {
    "ADMINISTRATOR": frozenset(
        {
            "campaign.read",
            "campaign.write",
            "campaign.delete",
            "campaign.publish",
            "campaign.approve",
            "campaign_report.read",
            "surface.read",
            "surface.manage",
            "approval_policy.manage",
            "access.manage",
        }
    ),
    "APPROVER": frozenset(
        {
            "campaign.read",
            "campaign.write",
            "campaign.delete",
            "campaign.publish",
            "campaign.approve",
            "campaign_report.read",
            "surface.read",
        }
    ),
    "MANAGER": frozenset(
        {
            "campaign.read",
            "campaign.write",
            "campaign.delete",
            "campaign_report.read",
            "surface.read",
        }
    ),
    "VIEWER": frozenset({"campaign.read", "campaign_report.read"}),
}

SPEC_PERMISSIONS = frozenset(
    {
        "campaign.read",
        "campaign.write",
        "campaign.delete",
        "campaign.publish",
        "campaign.approve",
        "campaign_report.read",
        "surface.read",
        "surface.manage",
        "approval_policy.manage",
        "access.manage",
    }
)


# ---------------------------------------------------------------- helpers

GROUP = "squad"
"""The group through which ``USER`` holds a group-derived profile."""

POOL_USERS = ("u0", "u1", "u2", "u3", "u4", "u5")
"""Users of the random-population property test."""
POOL_GROUPS = ("g0", "g1", "g2")
"""Groups of the random-population property test."""

API = ck.CampaignType.API_TRIGGERED
AUDIENCE_RUN = ck.RunKind.AUDIENCE_EXECUTION
IN_PROGRESS = ck.ExecutionStatus.IN_PROGRESS
SUCCEEDED = ck.ExecutionStatus.SUCCEEDED
TRIGGERED = ck.ScheduleStatus.TRIGGERED
ORDER_SUBJECT = "Order {{ context.order }}"
"""The subject of the API-triggered campaigns here: it shows the call's context arrived."""
ANN = ck.Profile(
    "p-ann",
    identities={"email": "ann@example.com"},
    attributes={"firstName": "Ann"},
    consents={ck.ChannelType.EMAIL: True},
)
"""The recipient of the unitary triggers (found by her email identity)."""
VIP = tuple(
    ck.Profile(
        pid, identities={"email": f"{pid}@example.com"}, consents={ck.ChannelType.EMAIL: True}
    )
    for pid in ("p1", "p2")
)
"""The profiles of the world's ``vip`` audience (audience executions run on them)."""
NEW_CUSTOMER = "new@example.com"
"""A recipient with no profile yet: only the transactional campaign creates it."""
KNOWN_PROFILES = ("tester", ANN.id, *(p.id for p in VIP), NEW_CUSTOMER)
"""Every profile id a test here may create (a denial must leave each as it was)."""

Via = Literal["direct", "group"]
VIAS: list[Via] = ["direct", "group"]

Record = dict[str, Any]
"""A value serialized with ``attrs.asdict``."""


@attrs.frozen
class Snapshot:
    """Everything a denial must leave untouched (SPEC 6: "changes nothing")."""

    campaigns: tuple[Record, ...]
    policies: tuple[Record, ...]
    surfaces: tuple[Record, ...]
    assignments: dict[Principal, frozenset[ck.ProductProfile]]
    memberships: dict[str, frozenset[str]]
    audit_log: tuple[ck.AccessAuditEntry, ...]
    events: tuple[ck.DomainEvent, ...]
    runs: tuple[ck.Run, ...]
    """Every run of every campaign: each API execution has one (a cancellation ends it)."""
    profiles: dict[str, ck.Profile]
    """The ``KNOWN_PROFILES`` that exist (a trigger may create one)."""


def _known_principals(world: World) -> tuple[set[str], set[str]]:
    """Every user and group id the store could hold memberships for."""
    access = world.kit.access
    users = {USER, "ada", "bob", "april", "rita", *POOL_USERS}
    groups = {GROUP, "staff", "brand", *POOL_GROUPS}
    for entry in access.audit_log():
        (users if entry.principal.kind == "user" else groups).add(entry.principal.id)
        if entry.group is not None:
            groups.add(entry.group)
    for principal in access.assignments():
        (users if principal.kind == "user" else groups).add(principal.id)
    return users, groups


def snapshot(world: World) -> Snapshot:
    page = world.admin.list_campaigns(statuses=ck.ALL_STATUSES, limit=500)
    assert page.next_cursor is None
    access = world.kit.access
    users, groups = _known_principals(world)
    memberships = {f"user {u}": access.groups_of(u) for u in sorted(users)}
    memberships |= {f"group {g}": access.members_of(g) for g in sorted(groups)}
    with world.kit.store.unit_of_work() as uow:
        runs = tuple(run for c in page.items for run in uow.runs.for_campaign(c.id))
    return Snapshot(
        campaigns=tuple(attrs.asdict(c) for c in page.items),
        policies=tuple(attrs.asdict(p) for p in world.admin.list_approval_policies()),
        surfaces=tuple(attrs.asdict(s) for s in world.admin.list_surfaces()),
        assignments=dict(access.assignments()),
        memberships=memberships,
        audit_log=tuple(access.audit_log()),
        events=tuple(world.events),
        runs=runs,
        profiles=dict(world.kit.profiles.get_many(KNOWN_PROFILES)),
    )


def session_with(world: World, *profiles: ck.ProductProfile, via: Via = "direct") -> ck.UserSession:
    """``USER``'s session holding ``profiles`` directly or only through ``GROUP``."""
    access = world.kit.access
    if via == "group":
        access.add_member(GROUP, USER)
    for profile in profiles:
        if via == "group":
            access.assign_group(GROUP, profile)
        else:
            access.assign(USER, profile)
    return world.kit.as_user(USER)


def custom_world(
    *,
    policy: ck.PermissionPolicy | None = None,
    profile_permissions: Mapping[ck.ProductProfile, frozenset[ck.Permission]] | None = None,
) -> World:
    """Like ``make_world`` but with a custom policy or profile mapping."""
    return make_world(policy=policy, profile_permissions=profile_permissions)


def _attempt(call: Callable[[], object]) -> tuple[object, ck.CampaignKitError | None]:
    """Call; return its result, or the campaignkit error it raised."""
    try:
        return call(), None
    except ck.CampaignKitError as error:
        return None, error


MISSING_EXECUTION = "exe_missing"


Call = tuple[str, ck.Permission, ck.Campaign | None]
