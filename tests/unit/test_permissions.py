"""Permissions (SPEC section 6): the profile table, the verb x profile matrix, custom policies."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import attrs
import pytest

import campaignkit as ck
from campaignkit.domain.access import Principal
from campaignkit.testing import SequentialIds
from tests.factories import T0, World, make_world

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


@attrs.frozen
class Snapshot:
    """Everything a denial must leave untouched."""

    campaigns: tuple[ck.Campaign, ...]
    surfaces: tuple[ck.ChannelSurface, ...]
    assignments: dict[Principal, frozenset[ck.ProductProfile]]
    events: tuple[ck.DomainEvent, ...]


def snapshot(world: World) -> Snapshot:
    page = world.admin.list_campaigns(statuses=ck.ALL_STATUSES, limit=500)
    assert page.next_cursor is None
    return Snapshot(
        campaigns=tuple(page.items),
        surfaces=tuple(world.admin.list_surfaces()),
        assignments=dict(world.kit.access.assignments()),
        events=tuple(world.events),
    )


def session_with(world: World, *profiles: ck.ProductProfile) -> ck.UserSession:
    for profile in profiles:
        world.kit.access.assign(USER, profile)
    return world.kit.as_user(USER)


def custom_world(
    *,
    policy: ck.PermissionPolicy | None = None,
    profile_permissions: Mapping[ck.ProductProfile, frozenset[ck.Permission]] | None = None,
) -> World:
    """Like ``make_world`` but with a custom policy or profile mapping."""
    return make_world(policy=policy, profile_permissions=profile_permissions)


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


# ---------------------------------------------------------------- the verb matrix


@attrs.frozen
class VerbCase:
    """One session verb: what it needs, how to set it up, call it and check success.

    ``needs`` lists the permissions the verb requires, in the order a denial names
    the first one missing. ``setup`` returns the id the verb acts on (a campaign id
    when ``about_campaign``, a surface id, or ``""``).
    """

    name: str
    needs: tuple[str, ...]
    about_campaign: bool
    setup: Callable[[World], str]
    call: Callable[[ck.UserSession, World, str], object]
    check: Callable[[World, str, object], None]


def _draft(world: World) -> str:
    return world.draft().id


def _live(world: World) -> str:
    campaign = world.live()
    assert campaign.status is S.LIVE
    return campaign.id


def _scheduled(world: World) -> str:
    campaign = world.scheduled()
    assert campaign.status is S.SCHEDULED
    return campaign.id


def _scheduled_with_open_draft(world: World) -> str:
    campaign_id = _scheduled(world)
    assert world.admin.modify(campaign_id).has_open_draft
    return campaign_id


def _stopped(world: World) -> str:
    campaign_id = _live(world)
    assert world.admin.stop(campaign_id).status is S.STOPPED
    return campaign_id


def _nothing(world: World) -> str:
    return ""


def _unused_surface(world: World) -> str:
    return world.push.id


def _email_surface(world: World) -> str:
    return world.email.id


def _campaign(result: object) -> ck.Campaign:
    assert isinstance(result, ck.Campaign)
    return result


def _check_get(world: World, target: str, result: object) -> None:
    assert _campaign(result) == world.admin.get(target)


def _check_list(world: World, target: str, result: object) -> None:
    assert isinstance(result, ck.Page)
    assert [c.id for c in result.items] == [target]


def _check_calendar(world: World, target: str, result: object) -> None:
    assert isinstance(result, list)
    assert [(e.campaign_id, e.status) for e in result] == [(target, S.LIVE)]


def _check_created(world: World, target: str, result: object) -> None:
    created = _campaign(result)
    assert (created.status, created.name, created.created_by) == (S.DRAFT, "Spring sale", USER)
    assert world.admin.get(created.id) == created


def _check_updated(world: World, target: str, result: object) -> None:
    assert _campaign(result).name == "Renamed"
    assert world.admin.get(target).name == "Renamed"


def _check_deleted(world: World, target: str, result: object) -> None:
    assert result is None
    with pytest.raises(ck.NotFound):
        world.admin.get(target)


def _check_duplicated(world: World, target: str, result: object) -> None:
    copy = _campaign(result)
    assert copy.id != target
    assert (copy.status, copy.name, copy.created_by) == (S.DRAFT, "Winter sale (copy)", USER)


def _status_is(status: ck.CampaignStatus) -> Callable[[World, str, object], None]:
    def check(world: World, target: str, result: object) -> None:
        campaign = _campaign(result)
        assert (campaign.id, campaign.status) == (target, status)
        assert world.admin.get(target) == campaign

    return check


def _check_modified(world: World, target: str, result: object) -> None:
    campaign = _campaign(result)
    assert campaign.status is S.SCHEDULED
    assert campaign.has_open_draft


def _check_discarded(world: World, target: str, result: object) -> None:
    campaign = _campaign(result)
    assert campaign.status is S.SCHEDULED
    assert not campaign.has_open_draft


def _check_surface_created(world: World, target: str, result: object) -> None:
    assert isinstance(result, ck.ChannelSurface)
    assert (result.name, result.created_by) == ("Promo", USER)
    assert result in world.admin.list_surfaces()


def _check_deactivated(world: World, target: str, result: object) -> None:
    assert isinstance(result, ck.ChannelSurface)
    assert (result.id, result.status) == (target, ck.SurfaceStatus.DEACTIVATED)


def _check_got_surface(world: World, target: str, result: object) -> None:
    assert result == world.email


def _check_listed_surfaces(world: World, target: str, result: object) -> None:
    assert isinstance(result, list)
    assert [s.name for s in result] == ["Alerts", "App", "Newsletter"]


VERBS: list[VerbCase] = [
    VerbCase(
        "get",
        ("campaign.read",),
        True,
        _draft,
        lambda s, w, t: s.get(t),
        _check_get,
    ),
    VerbCase(
        "list_campaigns",
        ("campaign.read",),
        False,
        _draft,
        lambda s, w, t: s.list_campaigns(),
        _check_list,
    ),
    VerbCase(
        "calendar",
        ("campaign.read",),
        False,
        _live,
        lambda s, w, t: s.calendar(T0, T0.add(days=7)),
        _check_calendar,
    ),
    VerbCase(
        "create_campaign",
        ("campaign.write",),
        False,
        _nothing,
        lambda s, w, t: s.create_campaign(name="Spring sale"),
        _check_created,
    ),
    VerbCase(
        "update_draft",
        ("campaign.write",),
        True,
        _draft,
        lambda s, w, t: s.update_draft(t, name="Renamed", actions=[w.sms_action()]),
        _check_updated,
    ),
    VerbCase(
        "delete",
        ("campaign.delete",),
        True,
        _draft,
        lambda s, w, t: s.delete(t),
        _check_deleted,
    ),
    VerbCase(
        "duplicate",
        ("campaign.read", "campaign.write"),
        True,
        _live,
        lambda s, w, t: s.duplicate(t),
        _check_duplicated,
    ),
    VerbCase(
        "activate",
        ("campaign.publish",),
        True,
        _draft,
        lambda s, w, t: s.activate(t),
        _status_is(S.ACTIVATING),
    ),
    VerbCase(
        "modify",
        ("campaign.write",),
        True,
        _scheduled,
        lambda s, w, t: s.modify(t),
        _check_modified,
    ),
    VerbCase(
        "discard_draft",
        ("campaign.write",),
        True,
        _scheduled_with_open_draft,
        lambda s, w, t: s.discard_draft(t),
        _check_discarded,
    ),
    VerbCase(
        "stop",
        ("campaign.publish",),
        True,
        _live,
        lambda s, w, t: s.stop(t),
        _status_is(S.STOPPED),
    ),
    VerbCase(
        "archive",
        ("campaign.write",),
        True,
        _stopped,
        lambda s, w, t: s.archive(t),
        _status_is(S.ARCHIVED),
    ),
    VerbCase(
        "create_surface",
        ("surface.manage",),
        False,
        _nothing,
        lambda s, w, t: s.create_surface(
            name="Promo", channel=ck.ChannelType.SMS, settings=ck.SmsSettings(sender_id="PROMO")
        ),
        _check_surface_created,
    ),
    VerbCase(
        "deactivate_surface",
        ("surface.manage",),
        False,
        _unused_surface,
        lambda s, w, t: s.deactivate_surface(t),
        _check_deactivated,
    ),
    VerbCase(
        "get_surface",
        ("surface.read",),
        False,
        _email_surface,
        lambda s, w, t: s.get_surface(t),
        _check_got_surface,
    ),
    VerbCase(
        "list_surfaces",
        ("surface.read",),
        False,
        _nothing,
        lambda s, w, t: s.list_surfaces(),
        _check_listed_surfaces,
    ),
]

SESSION_VERBS = {
    "get",
    "list_campaigns",
    "calendar",
    "create_campaign",
    "update_draft",
    "delete",
    "duplicate",
    "activate",
    "modify",
    "discard_draft",
    "stop",
    "archive",
    "create_surface",
    "deactivate_surface",
    "get_surface",
    "list_surfaces",
}

PROFILES: list[ck.ProductProfile | None] = [*ck.ProductProfile, None]


def test_matrix_covers_every_session_verb() -> None:
    public = {
        name
        for name in vars(ck.UserSession)
        if not name.startswith("_") and callable(getattr(ck.UserSession, name))
    }
    assert {v.name for v in VERBS} == SESSION_VERBS
    # A new verb must be added to the matrix (update this test and VERBS together).
    assert public == SESSION_VERBS


def _first_missing(verb: VerbCase, profile: ck.ProductProfile | None) -> str | None:
    granted = SPEC_PROFILE_PERMISSIONS[profile.value] if profile is not None else frozenset()
    return next((p for p in verb.needs if p not in granted), None)


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: "no-profile" if p is None else str(p))
@pytest.mark.parametrize("verb", VERBS, ids=lambda v: v.name)
def test_verb_by_profile(verb: VerbCase, profile: ck.ProductProfile | None) -> None:
    world = make_world()
    target = verb.setup(world)
    session = session_with(world, *([] if profile is None else [profile]))
    missing = _first_missing(verb, profile)

    if missing is None:
        result = verb.call(session, world, target)
        verb.check(world, target, result)
        return

    before = snapshot(world)
    with pytest.raises(ck.PermissionDenied) as caught:
        verb.call(session, world, target)
    denied = caught.value
    expected_campaign = target if verb.about_campaign else None
    assert (denied.user, denied.permission, denied.campaign_id) == (
        USER,
        missing,
        expected_campaign,
    )
    assert type(denied.permission) is str
    message = str(denied)
    assert repr(USER) in message
    assert missing in message
    if expected_campaign is not None:
        assert expected_campaign in message
    assert denied.reason
    assert denied.reason in message
    if profile is None:
        assert NO_PROFILE_REASON in message
    else:
        assert profile.value in denied.reason
    assert snapshot(world) == before


# ---------------------------------------------------------------- no profile, missing ids


@pytest.mark.parametrize("verb", VERBS, ids=lambda v: v.name)
def test_user_without_profile_is_told_so(verb: VerbCase) -> None:
    world = make_world()
    target = verb.setup(world)
    # Holding a profile once and losing it leaves the user with none.
    world.kit.access.assign(USER, Profile.ADMINISTRATOR)
    world.kit.access.revoke(USER, Profile.ADMINISTRATOR)
    with pytest.raises(ck.PermissionDenied, match=NO_PROFILE_REASON) as caught:
        verb.call(world.kit.as_user(USER), world, target)
    assert caught.value.reason == f"user {USER!r} has no campaign product profile"


MISSING_CAMPAIGN = "cmp_missing"

CampaignCall = Callable[[ck.UserSession, str], object]

CAMPAIGN_VERBS: list[tuple[str, str, CampaignCall]] = [
    ("get", "campaign.read", lambda s, c: s.get(c)),
    ("update_draft", "campaign.write", lambda s, c: s.update_draft(c, name="X")),
    ("delete", "campaign.delete", lambda s, c: s.delete(c)),
    ("duplicate", "campaign.read", lambda s, c: s.duplicate(c)),
    ("activate", "campaign.publish", lambda s, c: s.activate(c)),
    ("modify", "campaign.write", lambda s, c: s.modify(c)),
    ("discard_draft", "campaign.write", lambda s, c: s.discard_draft(c)),
    ("stop", "campaign.publish", lambda s, c: s.stop(c)),
    ("archive", "campaign.write", lambda s, c: s.archive(c)),
]


@pytest.mark.parametrize(
    ("name", "permission", "call"), CAMPAIGN_VERBS, ids=[v[0] for v in CAMPAIGN_VERBS]
)
def test_missing_campaign_is_permission_denied_for_the_unauthorized(
    world: World, name: str, permission: str, call: CampaignCall
) -> None:
    world.draft()
    before = snapshot(world)
    with pytest.raises(ck.PermissionDenied) as caught:
        call(world.kit.as_user("nobody"), MISSING_CAMPAIGN)
    assert not isinstance(caught.value, ck.NotFound)
    assert (caught.value.user, caught.value.permission) == ("nobody", permission)
    assert NO_PROFILE_REASON in str(caught.value)
    assert snapshot(world) == before


@pytest.mark.parametrize(
    ("name", "permission", "call"), CAMPAIGN_VERBS, ids=[v[0] for v in CAMPAIGN_VERBS]
)
def test_missing_campaign_is_not_found_for_the_authorized(
    world: World, name: str, permission: str, call: CampaignCall
) -> None:
    before = snapshot(world)
    with pytest.raises(ck.NotFound) as caught:
        call(world.admin, MISSING_CAMPAIGN)
    assert (caught.value.kind, caught.value.key) == ("campaign", MISSING_CAMPAIGN)
    assert snapshot(world) == before


def test_missing_campaign_for_a_profile_lacking_the_permission(world: World) -> None:
    viewer = session_with(world, Profile.VIEWER)
    with pytest.raises(ck.PermissionDenied) as caught:
        viewer.stop(MISSING_CAMPAIGN)
    assert (caught.value.user, caught.value.permission) == (USER, "campaign.publish")
    # The same profile may read, so reading a missing campaign is a plain NotFound.
    with pytest.raises(ck.NotFound):
        viewer.get(MISSING_CAMPAIGN)


@pytest.mark.parametrize(
    ("name", "permission", "call"), CAMPAIGN_VERBS, ids=[v[0] for v in CAMPAIGN_VERBS]
)
def test_denial_on_a_missing_campaign_looks_like_one_on_an_existing_campaign(
    name: str, permission: str, call: CampaignCall
) -> None:
    """Existence must not leak through ``campaign_id`` or the message (SPEC 6)."""
    world = make_world()
    existing = world.draft().id
    nobody = world.kit.as_user("nobody")
    with pytest.raises(ck.PermissionDenied) as on_existing:
        call(nobody, existing)
    with pytest.raises(ck.PermissionDenied) as on_missing:
        call(nobody, MISSING_CAMPAIGN)
    assert on_existing.value.campaign_id == existing
    assert on_missing.value.campaign_id == MISSING_CAMPAIGN
    assert str(on_missing.value) == str(on_existing.value).replace(existing, MISSING_CAMPAIGN)


SurfaceCall = Callable[[ck.UserSession, str], object]


@pytest.mark.parametrize(
    "call",
    [lambda s, i: s.get_surface(i), lambda s, i: s.deactivate_surface(i)],
    ids=["get_surface", "deactivate_surface"],
)
def test_missing_surface_is_denied_to_the_unauthorized_and_not_found_otherwise(
    world: World, call: SurfaceCall
) -> None:
    with pytest.raises(ck.PermissionDenied, match=NO_PROFILE_REASON):
        call(world.kit.as_user("nobody"), "srf_missing")
    with pytest.raises(ck.NotFound):
        call(world.admin, "srf_missing")


InvalidCall = Callable[[ck.UserSession, World, str], object]


@pytest.mark.parametrize(
    "call",
    [
        lambda s, w, c: s.list_campaigns(limit=0),
        lambda s, w, c: s.calendar(T0, T0),
        lambda s, w, c: s.create_campaign(name=""),
        lambda s, w, c: s.update_draft(c, actions=w.sms_action()),  # not a list
        lambda s, w, c: s.create_surface(
            name="", channel=ck.ChannelType.SMS, settings=ck.SmsSettings(sender_id="")
        ),
    ],
    ids=["list_campaigns", "calendar", "create_campaign", "update_draft", "create_surface"],
)
def test_policy_is_checked_before_the_arguments(world: World, call: InvalidCall) -> None:
    """SPEC 6: every operation checks the policy first, so a no-profile user
    learns nothing from argument validation."""
    campaign_id = world.draft().id
    with pytest.raises(ck.PermissionDenied, match=NO_PROFILE_REASON):
        call(world.kit.as_user("nobody"), world, campaign_id)
    with pytest.raises(ck.ValidationError):
        call(world.admin, world, campaign_id)


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


# ---------------------------------------------------------------- custom policy object

Call = tuple[str, ck.Permission, ck.Campaign | None]


def legal_hold(user: str, permission: ck.Permission, campaign: ck.Campaign | None) -> ck.Decision:
    """The host's own authorization function: everything but deleting legal campaigns."""
    if permission is P.CAMPAIGN_DELETE and campaign is not None and "legal" in campaign.tags:
        return ck.Decision(False, f"campaign {campaign.name!r} is under legal hold")
    return ck.Decision(True, "host allows")


class HostPolicy:
    """A policy object delegating to a host function, recording each question."""

    def __init__(
        self, authorize: Callable[[str, ck.Permission, ck.Campaign | None], ck.Decision]
    ) -> None:
        self._authorize = authorize
        self.calls: list[Call] = []

    def decide(
        self, user: str, permission: ck.Permission, campaign: ck.Campaign | None
    ) -> ck.Decision:
        self.calls.append((user, permission, campaign))
        return self._authorize(user, permission, campaign)


def test_policy_object_satisfies_the_protocol() -> None:
    policy = HostPolicy(legal_hold)
    assert isinstance(policy, ck.PermissionPolicy)
    assert isinstance(ck.ProfilePolicy(ck.AccessDirectory(ck.InMemoryStore())), ck.PermissionPolicy)
    assert not isinstance(object(), ck.PermissionPolicy)
    world = custom_world(policy=policy)
    assert world.kit.policy is policy


def test_custom_policy_refuses_deleting_a_legal_campaign() -> None:
    policy = HostPolicy(legal_hold)
    world = custom_world(policy=policy)
    held = world.draft("Contract notice", tags=["legal"])
    free = world.draft("Newsletter")
    session = world.kit.as_user(USER)  # no profile: the custom policy ignores profiles
    before = snapshot(world)
    policy.calls.clear()

    with pytest.raises(ck.PermissionDenied) as caught:
        session.delete(held.id)

    denied = caught.value
    assert (denied.user, denied.permission, denied.campaign_id) == (
        USER,
        "campaign.delete",
        held.id,
    )
    assert denied.reason == "campaign 'Contract notice' is under legal hold"
    assert "campaign 'Contract notice' is under legal hold" in str(denied)
    assert policy.calls == [(USER, P.CAMPAIGN_DELETE, held)]
    assert snapshot(world) == before

    session.delete(free.id)
    with pytest.raises(ck.NotFound):
        world.admin.get(free.id)
    # Other verbs on the legal campaign are allowed.
    assert session.update_draft(held.id, name="Contract notice v2").name == "Contract notice v2"


def test_custom_policy_receives_the_campaign_or_none() -> None:
    policy = HostPolicy(legal_hold)
    world = custom_world(policy=policy)
    campaign = world.draft(tags=["legal"])
    session = world.kit.as_user(USER)

    policy.calls.clear()
    assert session.get(campaign.id) == campaign
    assert policy.calls == [(USER, P.CAMPAIGN_READ, campaign)]

    running = world.live("Running").id
    policy.calls.clear()
    session.stop(running)
    ((user, permission, received),) = policy.calls
    assert (user, permission) == (USER, P.CAMPAIGN_PUBLISH)
    assert received is not None
    assert (received.name, received.status) == ("Running", S.LIVE)

    policy.calls.clear()
    created = session.create_campaign(name="New")
    assert policy.calls == [(USER, P.CAMPAIGN_WRITE, None)]
    assert created.created_by == USER

    policy.calls.clear()
    session.list_campaigns()
    session.calendar(T0, T0.add(days=1))
    session.list_surfaces()
    assert policy.calls == [
        (USER, P.CAMPAIGN_READ, None),
        (USER, P.CAMPAIGN_READ, None),
        (USER, P.SURFACE_READ, None),
    ]

    policy.calls.clear()
    session.duplicate(campaign.id)
    assert policy.calls == [
        (USER, P.CAMPAIGN_READ, campaign),
        (USER, P.CAMPAIGN_WRITE, campaign),
    ]


def test_custom_policy_denial_reason_reaches_the_error() -> None:
    def deny_all(user: str, permission: ck.Permission, campaign: ck.Campaign | None) -> ck.Decision:
        return ck.Decision(False, f"ask the host about {permission}")

    world = make_world()
    campaign_id = world.draft().id
    kit = ck.CampaignKit(
        store=world.kit.store, clock=world.clock, policy=HostPolicy(deny_all), ids=SequentialIds()
    )
    before = snapshot(world)
    session = kit.as_user(USER)
    with pytest.raises(ck.PermissionDenied, match=r"ask the host about campaign\.write") as caught:
        session.modify(campaign_id)
    assert caught.value.campaign_id == campaign_id
    with pytest.raises(ck.PermissionDenied, match=r"ask the host about campaign\.read"):
        session.list_campaigns()
    with pytest.raises(ck.PermissionDenied, match=r"ask the host about surface\.manage"):
        session.deactivate_surface(world.push.id)
    assert snapshot(world) == before


def test_denials_are_checked_at_a_fixed_instant_without_moving_time(world: World) -> None:
    """A denied verb on a campaign with due lifecycle work does not run that work."""
    campaign_id = world.scheduled(days=1).id
    world.clock.set(T0.add(days=2))  # now past its start: the engine would make it LIVE
    viewer = session_with(world, Profile.VIEWER)
    before = snapshot(world)
    with pytest.raises(ck.PermissionDenied):
        viewer.stop(campaign_id)
    assert snapshot(world) == before
    assert world.admin.get(campaign_id).status is S.SCHEDULED
