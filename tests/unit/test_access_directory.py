"""The access directory (issue 3, SPEC section 6): users, groups, profiles and the audit log.

Host set-up code calls ``kit.access`` directly (recorded as actor ``"host"``);
users change assignments through their session, which needs ``access.manage``
and records them as the actor.
"""

from __future__ import annotations

from collections.abc import Callable

import pendulum
import pytest

import campaignkit as ck
from campaignkit.testing import ManualClock
from tests.factories import T0, World, make_world

Profile = ck.ProductProfile
Change = ck.AccessChange
P = ck.Permission
user = ck.Principal.user
group = ck.Principal.group


def later(world: World, minutes: int = 1) -> pendulum.DateTime:
    world.clock.advance(minutes=minutes)
    return world.clock.now()


def new_entries(world: World, since: int) -> list[ck.AccessAuditEntry]:
    return list(world.kit.access.audit_log()[since:])


# ---------------------------------------------------------------- a directory on its own


def test_a_directory_on_its_own_store_records_changes_at_its_clock_time() -> None:
    clock = ManualClock(T0)
    directory = ck.AccessDirectory(ck.InMemoryStore(), clock)
    directory.assign("max", Profile.MANAGER)
    clock.advance(hours=2)
    directory.add_member("brand", "max")
    assert directory.audit_log() == (
        ck.AccessAuditEntry(T0, "host", Change.ASSIGN, user("max"), profile=Profile.MANAGER),
        ck.AccessAuditEntry(T0.add(hours=2), "host", Change.ADD_MEMBER, user("max"), group="brand"),
    )
    assert directory.profiles_of("max") == {Profile.MANAGER}
    assert directory.groups_of("max") == {"brand"}


# ---------------------------------------------------------------- users and groups


def test_assign_and_revoke_user_profiles(world: World) -> None:
    access = world.kit.access
    access.assign("max", Profile.MANAGER)
    access.assign("max", Profile.VIEWER)
    assert access.profiles_of("max") == {Profile.MANAGER, Profile.VIEWER}
    assert access.assignments()[user("max")] == {Profile.MANAGER, Profile.VIEWER}

    access.revoke("max", Profile.VIEWER)
    assert access.profiles_of("max") == {Profile.MANAGER}
    access.revoke("max", Profile.MANAGER)
    assert access.profiles_of("max") == frozenset()
    assert user("max") not in access.assignments()
    assert access.assignments() == {user("ada"): {Profile.ADMINISTRATOR}}


def test_add_and_remove_group_members(world: World) -> None:
    access = world.kit.access
    access.add_member("brand", "april")
    access.add_member("brand", "bob")
    access.add_member("legal", "april")
    assert access.members_of("brand") == {"april", "bob"}
    assert access.groups_of("april") == {"brand", "legal"}

    access.remove_member("brand", "april")
    assert access.members_of("brand") == {"bob"}
    assert access.groups_of("april") == {"legal"}
    assert access.members_of("nobody-here") == frozenset()
    assert access.groups_of("stranger") == frozenset()


def test_group_profiles_are_kept_apart_from_user_profiles(world: World) -> None:
    access = world.kit.access
    access.assign_group("brand", Profile.APPROVER)
    assert access.assignments()[group("brand")] == {Profile.APPROVER}
    assert user("brand") not in access.assignments()
    assert access.profiles_of("brand") == frozenset()  # a user named like the group gets nothing
    access.revoke_group("brand", Profile.APPROVER)
    assert group("brand") not in access.assignments()


def test_effective_profiles_are_the_union_of_direct_and_group_profiles(world: World) -> None:
    access = world.kit.access
    access.assign("april", Profile.VIEWER)
    access.assign_group("brand", Profile.APPROVER)
    access.assign_group("legal", Profile.MANAGER)
    access.add_member("brand", "april")
    access.add_member("legal", "april")

    assert access.profiles_of("april") == {Profile.VIEWER, Profile.APPROVER, Profile.MANAGER}
    assert access.profile_sources("april") == {
        Profile.VIEWER: ("direct",),
        Profile.APPROVER: ("group brand",),
        Profile.MANAGER: ("group legal",),
    }

    access.assign("april", Profile.APPROVER)  # the same profile directly and through a group
    assert access.profile_sources("april")[Profile.APPROVER] == ("direct", "group brand")


def test_effective_profiles_shrink_when_a_user_leaves_a_group(world: World) -> None:
    access = world.kit.access
    access.assign("april", Profile.VIEWER)
    access.assign_group("brand", Profile.APPROVER)
    access.add_member("brand", "april")
    access.add_member("brand", "bob")
    assert access.profiles_of("april") == {Profile.VIEWER, Profile.APPROVER}

    access.remove_member("brand", "april")
    assert access.profiles_of("april") == {Profile.VIEWER}
    assert access.profile_sources("april") == {Profile.VIEWER: ("direct",)}
    assert access.profiles_of("bob") == {Profile.APPROVER}

    access.revoke_group("brand", Profile.APPROVER)  # every member loses it
    assert access.profiles_of("bob") == frozenset()
    assert access.profile_sources("bob") == {}


def test_a_direct_profile_survives_leaving_a_group_that_also_grants_it(world: World) -> None:
    access = world.kit.access
    access.assign("april", Profile.APPROVER)
    access.assign_group("brand", Profile.APPROVER)
    access.add_member("brand", "april")
    access.remove_member("brand", "april")
    assert access.profiles_of("april") == {Profile.APPROVER}


# ---------------------------------------------------------------- the audit log


def test_every_real_change_is_audited_with_time_actor_kind_and_target(world: World) -> None:
    access = world.kit.access
    start = len(access.audit_log())
    t1 = later(world)
    access.assign("max", Profile.MANAGER)
    t2 = later(world)
    access.assign_group("brand", Profile.APPROVER)
    t3 = later(world)
    access.add_member("brand", "april")
    t4 = later(world)
    access.remove_member("brand", "april")
    t5 = later(world)
    access.revoke_group("brand", Profile.APPROVER)
    t6 = later(world)
    access.revoke("max", Profile.MANAGER, actor="setup-script")

    E = ck.AccessAuditEntry
    assert new_entries(world, start) == [
        E(t1, "host", Change.ASSIGN, user("max"), profile=Profile.MANAGER),
        E(t2, "host", Change.ASSIGN, group("brand"), profile=Profile.APPROVER),
        E(t3, "host", Change.ADD_MEMBER, user("april"), group="brand"),
        E(t4, "host", Change.REMOVE_MEMBER, user("april"), group="brand"),
        E(t5, "host", Change.REVOKE, group("brand"), profile=Profile.APPROVER),
        E(t6, "setup-script", Change.REVOKE, user("max"), profile=Profile.MANAGER),
    ]


def test_the_world_set_up_is_in_the_log(world: World) -> None:
    assert world.kit.access.audit_log()[0] == ck.AccessAuditEntry(
        T0, "host", Change.ASSIGN, user("ada"), profile=Profile.ADMINISTRATOR
    )


IDEMPOTENT: list[tuple[str, Callable[[ck.AccessDirectory], None]]] = [
    ("assign again", lambda a: a.assign("max", Profile.MANAGER)),
    ("revoke a profile not held", lambda a: a.revoke("max", Profile.VIEWER)),
    ("revoke from a stranger", lambda a: a.revoke("stranger", Profile.VIEWER)),
    ("assign to a group again", lambda a: a.assign_group("brand", Profile.APPROVER)),
    ("revoke from a group not holding it", lambda a: a.revoke_group("brand", Profile.VIEWER)),
    ("revoke from an unknown group", lambda a: a.revoke_group("ghosts", Profile.VIEWER)),
    ("add a member again", lambda a: a.add_member("brand", "april")),
    ("remove a non-member", lambda a: a.remove_member("brand", "max")),
    ("remove from an unknown group", lambda a: a.remove_member("ghosts", "april")),
]


@pytest.mark.parametrize("operation", [c[1] for c in IDEMPOTENT], ids=[c[0] for c in IDEMPOTENT])
def test_operations_that_change_nothing_are_not_audited(
    world: World, operation: Callable[[ck.AccessDirectory], None]
) -> None:
    access = world.kit.access
    access.assign("max", Profile.MANAGER)
    access.assign_group("brand", Profile.APPROVER)
    access.add_member("brand", "april")
    log, assignments = access.audit_log(), access.assignments()
    memberships = {name: access.groups_of(name) for name in ("max", "april", "stranger")}

    later(world)
    operation(access)

    assert access.audit_log() == log
    assert access.assignments() == assignments
    assert {name: access.groups_of(name) for name in memberships} == memberships


def test_session_changes_are_audited_with_the_session_user_as_actor(world: World) -> None:
    ada = world.admin
    start = len(world.kit.access.audit_log())
    t1 = later(world)
    ada.assign_profile("max", Profile.MANAGER)
    t2 = later(world)
    ada.assign_group_profile("brand", Profile.APPROVER)
    t3 = later(world)
    ada.add_group_member("brand", "april")
    t4 = later(world)
    ada.remove_group_member("brand", "april")
    t5 = later(world)
    ada.revoke_group_profile("brand", Profile.APPROVER)
    t6 = later(world)
    ada.revoke_profile("max", Profile.MANAGER)
    ada.revoke_profile("max", Profile.MANAGER)  # idempotent through a session too

    E = ck.AccessAuditEntry
    assert new_entries(world, start) == [
        E(t1, "ada", Change.ASSIGN, user("max"), profile=Profile.MANAGER),
        E(t2, "ada", Change.ASSIGN, group("brand"), profile=Profile.APPROVER),
        E(t3, "ada", Change.ADD_MEMBER, user("april"), group="brand"),
        E(t4, "ada", Change.REMOVE_MEMBER, user("april"), group="brand"),
        E(t5, "ada", Change.REVOKE, group("brand"), profile=Profile.APPROVER),
        E(t6, "ada", Change.REVOKE, user("max"), profile=Profile.MANAGER),
    ]
    assert tuple(ada.access_audit_log()) == tuple(world.kit.access.audit_log())


def test_an_administrator_through_a_group_manages_access(world: World) -> None:
    access = world.kit.access
    access.assign_group("ops", Profile.ADMINISTRATOR)
    access.add_member("ops", "oscar")
    oscar = world.kit.as_user("oscar")
    oscar.assign_profile("max", Profile.MANAGER)
    assert access.profiles_of("max") == {Profile.MANAGER}
    assert access.audit_log()[-1].actor == "oscar"


# ---------------------------------------------------------------- invalid ids


BLANK_ID_CHANGES: list[tuple[str, Callable[[ck.AccessDirectory], None]]] = [
    ("assign empty user", lambda a: a.assign("", Profile.MANAGER)),
    ("assign blank user", lambda a: a.assign("   ", Profile.MANAGER)),
    ("revoke empty user", lambda a: a.revoke("", Profile.MANAGER)),
    ("assign empty group", lambda a: a.assign_group("", Profile.MANAGER)),
    ("revoke blank group", lambda a: a.revoke_group(" ", Profile.MANAGER)),
    ("add to empty group", lambda a: a.add_member("", "april")),
    ("add empty user", lambda a: a.add_member("brand", "")),
    ("remove from blank group", lambda a: a.remove_member("\t", "april")),
    ("remove blank user", lambda a: a.remove_member("brand", "  ")),
]


@pytest.mark.parametrize(
    "change", [c[1] for c in BLANK_ID_CHANGES], ids=[c[0] for c in BLANK_ID_CHANGES]
)
def test_empty_user_or_group_ids_are_refused(
    world: World, change: Callable[[ck.AccessDirectory], None]
) -> None:
    access = world.kit.access
    log, assignments = access.audit_log(), access.assignments()
    with pytest.raises(ck.ValidationError) as invalid:
        change(access)
    assert any("must be a non-empty string" in p for p in invalid.value.problems)
    assert access.audit_log() == log
    assert access.assignments() == assignments


def test_empty_ids_are_refused_through_a_session_too(world: World) -> None:
    log = world.kit.access.audit_log()
    with pytest.raises(ck.ValidationError):
        world.admin.assign_profile("", Profile.MANAGER)
    with pytest.raises(ck.ValidationError):
        world.admin.add_group_member("brand", " ")
    assert world.kit.access.audit_log() == log


def test_an_unknown_profile_name_is_a_validation_error(world: World) -> None:
    log = world.kit.access.audit_log()
    with pytest.raises(ck.ValidationError):
        world.kit.access.assign("max", "OWNER")  # type: ignore[arg-type]
    assert world.kit.access.audit_log() == log


# ---------------------------------------------------------------- the permission policy


def test_the_default_policy_honours_group_derived_profiles(world: World) -> None:
    access, policy = world.kit.access, world.kit.policy
    access.assign_group("authors", Profile.MANAGER)
    access.add_member("authors", "max")

    decision = policy.decide("max", P.CAMPAIGN_WRITE, None)
    assert decision.allowed
    assert "group authors" in decision.reason
    assert not policy.decide("max", P.CAMPAIGN_PUBLISH, None).allowed

    max_ = world.kit.as_user("max")
    draft = world.draft(session=max_)
    assert draft.created_by == "max"
    with pytest.raises(ck.PermissionDenied) as denied:
        max_.activate(draft.id)
    assert (denied.value.user, denied.value.permission, denied.value.campaign_id) == (
        "max",
        "campaign.publish",
        draft.id,
    )

    access.remove_member("authors", "max")
    with pytest.raises(ck.PermissionDenied, match="has no campaign product profile"):
        max_.get(draft.id)


def test_profile_policy_permissions_are_the_union_over_groups(world: World) -> None:
    access = world.kit.access
    access.assign("april", Profile.VIEWER)
    access.assign_group("publishers", Profile.APPROVER)
    access.add_member("publishers", "april")
    policy = ck.ProfilePolicy(access)
    assert policy.permissions_of("april") == ck.PROFILE_PERMISSIONS[Profile.APPROVER]
    access.remove_member("publishers", "april")
    assert policy.permissions_of("april") == ck.PROFILE_PERMISSIONS[Profile.VIEWER]


def test_a_custom_mapping_applies_to_group_derived_profiles() -> None:
    writers_viewer = ck.PROFILE_PERMISSIONS[Profile.VIEWER] | {P.CAMPAIGN_WRITE}
    world = make_world(
        profile_permissions={**ck.PROFILE_PERMISSIONS, Profile.VIEWER: writers_viewer}
    )
    access = world.kit.access
    access.assign_group("interns", Profile.VIEWER)
    access.add_member("interns", "ivy")
    ivy = world.kit.as_user("ivy")

    draft = world.draft(session=ivy)  # campaign.write, granted by the custom mapping
    assert draft.status is ck.CampaignStatus.DRAFT
    with pytest.raises(ck.PermissionDenied) as denied:
        ivy.delete(draft.id)
    assert denied.value.permission == "campaign.delete"
    decision = world.kit.policy.decide("ivy", P.CAMPAIGN_WRITE, draft)
    assert decision.allowed
    assert "VIEWER (group interns)" in decision.reason

    # the default mapping does not let a viewer write
    default = make_world()
    default.kit.access.assign_group("interns", Profile.VIEWER)
    default.kit.access.add_member("interns", "ivy")
    with pytest.raises(ck.PermissionDenied):
        default.draft(session=default.kit.as_user("ivy"))


def test_a_custom_mapping_can_take_a_permission_away_from_a_group() -> None:
    no_delete = ck.PROFILE_PERMISSIONS[Profile.MANAGER] - {P.CAMPAIGN_DELETE}
    custom = make_world(profile_permissions={**ck.PROFILE_PERMISSIONS, Profile.MANAGER: no_delete})
    custom.kit.access.assign_group("authors", Profile.MANAGER)
    custom.kit.access.add_member("authors", "max")
    max_ = custom.kit.as_user("max")
    draft = custom.draft(session=max_)
    with pytest.raises(ck.PermissionDenied):
        max_.delete(draft.id)
    assert max_.get(draft.id) == draft


# ---------------------------------------------------------------- denied access verbs


ACCESS_VERBS: list[tuple[str, Callable[[ck.UserSession], object]]] = [
    ("assign_profile", lambda s: s.assign_profile("eve", Profile.ADMINISTRATOR)),
    ("revoke_profile", lambda s: s.revoke_profile("ada", Profile.ADMINISTRATOR)),
    ("assign_group_profile", lambda s: s.assign_group_profile("brand", Profile.ADMINISTRATOR)),
    ("revoke_group_profile", lambda s: s.revoke_group_profile("brand", Profile.APPROVER)),
    ("add_group_member", lambda s: s.add_group_member("admins", "eve")),
    ("remove_group_member", lambda s: s.remove_group_member("brand", "april")),
    ("access_audit_log", lambda s: s.access_audit_log()),
]

DENIED_USERS: list[tuple[str, Profile | None, bool]] = [
    ("max", Profile.MANAGER, False),
    ("april", Profile.APPROVER, False),
    ("vera", Profile.VIEWER, False),
    ("gus", Profile.APPROVER, True),  # through a group
    ("nobody", None, False),
]


@pytest.mark.parametrize(
    ("name", "profile", "via_group"), DENIED_USERS, ids=[u[0] for u in DENIED_USERS]
)
@pytest.mark.parametrize("verb", [v[1] for v in ACCESS_VERBS], ids=[v[0] for v in ACCESS_VERBS])
def test_access_verbs_without_access_manage_are_denied_and_not_audited(
    world: World,
    name: str,
    profile: Profile | None,
    via_group: bool,
    verb: Callable[[ck.UserSession], object],
) -> None:
    access = world.kit.access
    access.assign_group("brand", Profile.APPROVER)
    access.add_member("brand", "april")
    if profile is not None and via_group:
        access.assign_group("staff", profile)
        access.add_member("staff", name)
    elif profile is not None:
        access.assign(name, profile)
    log, assignments = access.audit_log(), access.assignments()
    memberships = {g: access.members_of(g) for g in ("brand", "admins", "staff")}

    later(world)
    with pytest.raises(ck.PermissionDenied) as denied:
        verb(world.kit.as_user(name))
    assert denied.value.user == name
    assert denied.value.permission == "access.manage"
    assert denied.value.campaign_id is None

    assert access.audit_log() == log
    assert access.assignments() == assignments
    assert {g: access.members_of(g) for g in memberships} == memberships
