"""Denials before lookups: a user without a profile, and missing campaigns, executions,
surfaces and approval policies, are refused to the unauthorized exactly as existing ones are,
and the policy is checked before the arguments."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import campaignkit as ck
from tests.factories import T0, World, make_world
from tests.unit.permissions.support import (
    MISSING_EXECUTION,
    NO_PROFILE_REASON,
    SPEC_PROFILE_PERMISSIONS,
    USER,
    Profile,
    session_with,
    snapshot,
)
from tests.unit.permissions.verb_setups import VerbCase, _policy
from tests.unit.permissions.verb_triggers import _api_marketing, _recipient, _scheduled_execution
from tests.unit.permissions.verbs import PROFILES, VERBS, _profile_id

# ---------------------------------------------------------------- no profile, missing ids


@pytest.mark.parametrize("verb", VERBS, ids=lambda v: v.id)
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
    ("export", "campaign.read", lambda s, c: s.export([c])),
    ("report", "campaign_report.read", lambda s, c: s.report(c)),
    ("send_proof", "campaign.write", lambda s, c: s.send_proof(c, ["tester"])),
    ("request_approval", "campaign.write", lambda s, c: s.request_approval(c)),
    ("cancel_approval", "campaign.write", lambda s, c: s.cancel_approval(c)),
    ("approve", "campaign.approve", lambda s, c: s.approve(c)),
    ("request_changes", "campaign.approve", lambda s, c: s.request_changes(c, "why")),
    ("approval_history", "campaign.read", lambda s, c: s.approval_history(c)),
    ("trigger", "campaign.publish", lambda s, c: s.trigger(c, [_recipient()], request_id="r")),
    ("execute_audience", "campaign.publish", lambda s, c: s.execute_audience(c, request_id="r")),
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


ExecutionCall = Callable[[ck.UserSession, str], object]

EXECUTION_VERBS: list[tuple[str, str, ExecutionCall]] = [
    ("cancel_execution", "campaign.publish", lambda s, e: s.cancel_execution(e)),
    ("execution", "campaign.read", lambda s, e: s.execution(e)),
]


@pytest.mark.parametrize("profile", PROFILES, ids=_profile_id)
@pytest.mark.parametrize(
    ("name", "permission", "call"), EXECUTION_VERBS, ids=[v[0] for v in EXECUTION_VERBS]
)
def test_missing_execution_is_denied_to_the_unauthorized_and_not_found_otherwise(
    name: str, permission: str, call: ExecutionCall, profile: ck.ProductProfile | None
) -> None:
    """With no execution there is no campaign to ask about: the policy is asked
    without one, so only a profile granting ``permission`` learns it is missing."""
    world = make_world()
    _scheduled_execution(world)  # another execution exists
    session = session_with(world, *([] if profile is None else [profile]))
    before = snapshot(world)
    granted = SPEC_PROFILE_PERMISSIONS[profile.value] if profile is not None else frozenset()
    if permission not in granted:
        with pytest.raises(ck.PermissionDenied) as caught:
            call(session, MISSING_EXECUTION)
        denied = caught.value
        assert (denied.user, denied.permission, denied.campaign_id) == (USER, permission, None)
        if profile is None:
            assert NO_PROFILE_REASON in str(denied)
    else:
        with pytest.raises(ck.NotFound) as missing:
            call(session, MISSING_EXECUTION)
        assert (missing.value.kind, missing.value.key) == ("execution", MISSING_EXECUTION)
    assert snapshot(world) == before


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
        lambda s, w, c: s.create_approval_policy(name=" ", reviewers=[]),
        lambda s, w, c: s.assign_profile(" ", Profile.VIEWER),
        lambda s, w, c: s.assign_group_profile("staff", "NOBODY"),
        lambda s, w, c: s.add_group_member("", "bob"),
    ],
    ids=[
        "list_campaigns",
        "calendar",
        "create_campaign",
        "update_draft",
        "create_surface",
        "create_approval_policy",
        "assign_profile",
        "assign_group_profile",
        "add_group_member",
    ],
)
def test_policy_is_checked_before_the_arguments(world: World, call: InvalidCall) -> None:
    """SPEC 6: every operation checks the policy first, so a no-profile user
    learns nothing from argument validation."""
    campaign_id = world.draft().id
    with pytest.raises(ck.PermissionDenied, match=NO_PROFILE_REASON):
        call(world.kit.as_user("nobody"), world, campaign_id)
    with pytest.raises(ck.ValidationError):
        call(world.admin, world, campaign_id)


TriggerCall = Callable[[ck.UserSession, str], object]


@pytest.mark.parametrize(
    "call",
    [
        lambda s, c: s.trigger(c, [], request_id="r"),
        lambda s, c: s.trigger(c, [_recipient()], request_id=" "),
        lambda s, c: s.trigger(c, [_recipient("stranger@example.com")], request_id="r"),
        lambda s, c: s.trigger(
            c, [ck.Recipient("ann@example.com", "email", context={"system": {}})], request_id="r"
        ),
        lambda s, c: s.execute_audience(c, request_id=""),
        lambda s, c: s.execute_audience(c, request_id="r", context={"system": {}}),
        lambda s, c: s.execute_audience(c, request_id="r", context={"at": object()}),
        lambda s, c: s.execute_audience(c, request_id="r", execute_at=T0.subtract(hours=1)),
        lambda s, c: s.execute_audience(c, request_id="r", execute_at=T0.add(hours=1).naive()),
    ],
    ids=[
        "trigger-no recipients",
        "trigger-blank request id",
        "trigger-unknown recipient",
        "trigger-reserved context key",
        "execute_audience-blank request id",
        "execute_audience-reserved context key",
        "execute_audience-context not JSON",
        "execute_audience-execute_at past",
        "execute_audience-execute_at naive",
    ],
)
def test_trigger_verbs_check_the_policy_before_the_arguments(call: TriggerCall) -> None:
    """The same for the API verbs, on a campaign that accepts triggers (so only the
    arguments are wrong): neither a user with no profile nor one lacking
    campaign.publish learns anything from validation, and a refusal changes nothing."""
    world = make_world()
    campaign_id = _api_marketing(world)
    viewer = session_with(world, Profile.VIEWER)
    before = snapshot(world)
    with pytest.raises(ck.PermissionDenied, match=NO_PROFILE_REASON):
        call(world.kit.as_user("nobody"), campaign_id)
    with pytest.raises(ck.PermissionDenied) as caught:
        call(viewer, campaign_id)
    assert (caught.value.permission, caught.value.campaign_id) == ("campaign.publish", campaign_id)
    with pytest.raises(ck.ValidationError):
        call(world.admin, campaign_id)
    assert snapshot(world) == before


# ---------------------------------------------------------------- approval policies: missing ids

PolicyCall = Callable[[ck.UserSession, str], object]


@pytest.mark.parametrize(
    "call",
    [
        lambda s, p: s.get_approval_policy(p),
        lambda s, p: s.update_approval_policy(p, name="X"),
        lambda s, p: s.activate_approval_policy(p),
        lambda s, p: s.deactivate_approval_policy(p),
        lambda s, p: s.duplicate_approval_policy(p),
    ],
    ids=["get", "update", "activate", "deactivate", "duplicate"],
)
def test_missing_policy_is_denied_to_non_managers_and_not_found_otherwise(
    world: World, call: PolicyCall
) -> None:
    _policy(world)
    for profile in (Profile.APPROVER, Profile.MANAGER, Profile.VIEWER):
        world.kit.access.assign(f"user-{profile}", profile)
        with pytest.raises(ck.PermissionDenied) as caught:
            call(world.kit.as_user(f"user-{profile}"), "apr_missing")
        assert caught.value.permission == "approval_policy.manage"
    with pytest.raises(ck.PermissionDenied, match=NO_PROFILE_REASON):
        call(world.kit.as_user("nobody"), "apr_missing")
    with pytest.raises(ck.NotFound):
        call(world.admin, "apr_missing")
