"""The profile table (SPEC 6): the permission enum, each profile's permissions, assigning and
revoking profiles, and custom profile mappings."""

from __future__ import annotations

import pytest

import campaignkit as ck
from tests.factories import World, make_world
from tests.unit.permissions.support import (
    NO_PROFILE_REASON,
    SPEC_PERMISSIONS,
    SPEC_PROFILE_PERMISSIONS,
    USER,
    P,
    Profile,
    S,
    custom_world,
    session_with,
    snapshot,
)

# ---------------------------------------------------------------- the table


def test_permission_enum_has_exactly_the_spec_permissions() -> None:
    assert {p.value for p in ck.Permission} == SPEC_PERMISSIONS
    assert {str(p) for p in ck.Permission} == SPEC_PERMISSIONS


def test_profile_permissions_equal_spec_section_6_exactly() -> None:
    actual = {
        profile.value: frozenset(p.value for p in perms)
        for profile, perms in ck.PROFILE_PERMISSIONS.items()
    }
    assert actual == SPEC_PROFILE_PERMISSIONS
    assert {p.value for p in ck.ProductProfile} == set(SPEC_PROFILE_PERMISSIONS)


@pytest.mark.parametrize("profile", list(ck.ProductProfile), ids=str)
def test_default_policy_grants_exactly_the_table_row(
    world: World, profile: ck.ProductProfile
) -> None:
    session_with(world, profile)
    policy = world.kit.policy
    assert isinstance(policy, ck.ProfilePolicy)
    expected = SPEC_PROFILE_PERMISSIONS[profile.value]
    assert {p.value for p in policy.permissions_of(USER)} == expected
    for permission in ck.Permission:
        decision = policy.decide(USER, permission, None)
        assert decision.allowed is (permission.value in expected), permission
        assert decision.reason


# ---------------------------------------------------------------- assign / revoke


def test_revoke_removes_the_profile_and_its_permissions(world: World) -> None:
    campaign_id = world.draft().id
    manager = session_with(world, Profile.MANAGER, Profile.VIEWER)
    assert manager.update_draft(campaign_id, name="By manager").name == "By manager"

    world.kit.access.revoke(USER, Profile.MANAGER)

    assert world.kit.access.profiles_of(USER) == {Profile.VIEWER}
    before = snapshot(world)
    with pytest.raises(ck.PermissionDenied) as caught:
        manager.update_draft(campaign_id, name="Again")
    assert (caught.value.permission, caught.value.campaign_id) == ("campaign.write", campaign_id)
    assert "VIEWER" in caught.value.reason
    assert snapshot(world) == before
    assert manager.get(campaign_id).name == "By manager"  # still a viewer

    world.kit.access.revoke(USER, Profile.VIEWER)
    world.kit.access.revoke(USER, Profile.VIEWER)  # idempotent

    assert world.kit.access.profiles_of(USER) == frozenset()
    assert all(principal.id != USER for principal in world.kit.access.assignments())
    with pytest.raises(ck.PermissionDenied, match=NO_PROFILE_REASON):
        manager.get(campaign_id)


def test_assign_is_idempotent(world: World) -> None:
    world.kit.access.assign(USER, Profile.MANAGER)
    once = dict(world.kit.access.assignments())
    world.kit.access.assign(USER, Profile.MANAGER)
    assert dict(world.kit.access.assignments()) == once
    assert world.kit.access.profiles_of(USER) == {Profile.MANAGER}
    assert world.kit.access.profiles_of("ada") == {Profile.ADMINISTRATOR}
    assert {(p.kind, p.id): v for p, v in once.items()} == {
        ("user", "ada"): {Profile.ADMINISTRATOR},
        ("user", USER): {Profile.MANAGER},
    }


def test_revoking_a_profile_not_held_changes_nothing(world: World) -> None:
    world.kit.access.assign(USER, Profile.VIEWER)
    before = dict(world.kit.access.assignments())
    world.kit.access.revoke(USER, Profile.APPROVER)
    world.kit.access.revoke("stranger", Profile.VIEWER)
    assert dict(world.kit.access.assignments()) == before


def test_two_profiles_grant_the_union(world: World) -> None:
    campaign_id = world.draft().id
    session = session_with(world, Profile.VIEWER, Profile.MANAGER)
    policy = world.kit.policy
    assert isinstance(policy, ck.ProfilePolicy)
    assert {p.value for p in policy.permissions_of(USER)} == (
        SPEC_PROFILE_PERMISSIONS["VIEWER"] | SPEC_PROFILE_PERMISSIONS["MANAGER"]
    )
    # MANAGER grants what VIEWER lacks.
    assert session.update_draft(campaign_id, name="Union").name == "Union"
    assert [s.name for s in session.list_surfaces()] == ["Alerts", "App", "Newsletter"]
    assert "MANAGER" in policy.decide(USER, P.CAMPAIGN_WRITE, None).reason
    # Neither grants publish.
    with pytest.raises(ck.PermissionDenied) as caught:
        session.activate(campaign_id)
    assert caught.value.permission == "campaign.publish"
    assert "MANAGER" in caught.value.reason
    assert "VIEWER" in caught.value.reason


def test_profiles_can_be_assigned_by_their_string_value(world: World) -> None:
    world.kit.access.assign(USER, "VIEWER")  # type: ignore[arg-type]
    assert world.kit.access.profiles_of(USER) == {Profile.VIEWER}
    with pytest.raises(ValueError, match="NOBODY"):
        world.kit.access.assign(USER, "NOBODY")  # type: ignore[arg-type]


# ---------------------------------------------------------------- custom mapping


MANAGER_WHO_PUBLISHES: dict[ck.ProductProfile, frozenset[ck.Permission]] = {
    Profile.ADMINISTRATOR: frozenset(ck.Permission),
    Profile.MANAGER: frozenset(
        {
            P.CAMPAIGN_READ,
            P.CAMPAIGN_WRITE,
            P.CAMPAIGN_DELETE,
            P.CAMPAIGN_PUBLISH,
            P.CAMPAIGN_REPORT_READ,
            P.SURFACE_READ,
        }
    ),
}


def test_custom_mapping_lets_a_manager_publish() -> None:
    world = custom_world(profile_permissions=MANAGER_WHO_PUBLISHES)
    campaign_id = world.draft().id
    manager = session_with(world, Profile.MANAGER)

    activated = manager.activate(campaign_id)

    assert activated.status is S.ACTIVATING
    world.kit.tick()
    assert manager.stop(campaign_id).status is S.STOPPED
    # The default table is untouched: elsewhere a manager still may not publish.
    assert P.CAMPAIGN_PUBLISH not in ck.PROFILE_PERMISSIONS[Profile.MANAGER]
    default = make_world()
    other = default.draft().id
    with pytest.raises(ck.PermissionDenied):
        session_with(default, Profile.MANAGER).activate(other)


def test_custom_mapping_without_a_profile_grants_it_nothing() -> None:
    world = custom_world(profile_permissions=MANAGER_WHO_PUBLISHES)
    campaign_id = world.draft().id
    viewer = session_with(world, Profile.VIEWER)
    before = snapshot(world)
    with pytest.raises(ck.PermissionDenied) as caught:
        viewer.get(campaign_id)
    assert (caught.value.permission, caught.value.campaign_id) == ("campaign.read", campaign_id)
    assert "VIEWER" in caught.value.reason
    assert snapshot(world) == before


def test_custom_mapping_is_copied_not_referenced() -> None:
    mapping = dict(MANAGER_WHO_PUBLISHES)
    world = custom_world(profile_permissions=mapping)
    mapping[Profile.VIEWER] = frozenset(ck.Permission)
    campaign_id = world.draft().id
    with pytest.raises(ck.PermissionDenied):
        session_with(world, Profile.VIEWER).get(campaign_id)
