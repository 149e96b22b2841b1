"""The verb x profile matrix (SPEC 6): every session verb, called by every profile held
directly or through a group, succeeds exactly when the table grants it and a denial changes
nothing."""

from __future__ import annotations

import pytest

import campaignkit as ck
from campaignkit.domain.access import Principal
from tests.factories import make_world
from tests.unit.permissions.support import (
    GROUP,
    NO_PROFILE_REASON,
    SPEC_PROFILE_PERMISSIONS,
    USER,
    VIAS,
    Via,
    _attempt,
    session_with,
    snapshot,
)
from tests.unit.permissions.verb_setups import VerbCase
from tests.unit.permissions.verbs import PROFILES, SESSION_VERBS, VERBS, _profile_id


def test_matrix_covers_every_session_verb() -> None:
    # The verbs live in mixins (session/campaigns.py, approvals.py, access.py, ...):
    # look through the whole class, not only its own ``vars``.
    public = {
        name
        for name in dir(ck.UserSession)
        if not name.startswith("_") and callable(getattr(ck.UserSession, name))
    }
    assert {v.name for v in VERBS} == SESSION_VERBS
    assert len({v.id for v in VERBS}) == len(VERBS)
    # A new verb must be added to the matrix (update this test and VERBS together).
    assert public == SESSION_VERBS


def _first_missing(verb: VerbCase, profile: ck.ProductProfile | None) -> str | None:
    granted = SPEC_PROFILE_PERMISSIONS[profile.value] if profile is not None else frozenset()
    return next((p for p in verb.needs if p not in granted), None)


def _run_cell(verb: VerbCase, profile: ck.ProductProfile | None, via: Via) -> str | None:
    """Run one cell of the matrix; return the permission it was denied, or None.

    A success is checked by the verb's ``check``; a denial must name the user, the
    permission and the campaign, explain itself and leave the store as it was.
    """
    world = make_world()
    target = verb.setup(world)
    session = session_with(world, *([] if profile is None else [profile]), via=via)
    if via == "group":  # nothing held directly: every permission comes through the group
        assert Principal.user(USER) not in world.kit.access.assignments()
        assert world.kit.access.groups_of(USER) == {GROUP}
    before = snapshot(world)
    result, error = _attempt(lambda: verb.call(session, world, target))
    if error is None:
        verb.check(world, target, result)
        return None
    assert isinstance(error, ck.PermissionDenied), error
    expected_campaign = verb.named_campaign(world, target)
    assert (error.user, error.campaign_id) == (USER, expected_campaign)
    assert type(error.permission) is str
    message = str(error)
    assert repr(USER) in message
    assert repr(error.permission) in message
    if expected_campaign is not None:
        assert repr(expected_campaign) in message
    assert error.reason
    assert error.reason in message
    if profile is None:
        assert NO_PROFILE_REASON in message
    elif error.permission != verb.workflow_permission:
        assert profile.value in error.reason
    assert snapshot(world) == before
    return error.permission


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("profile", PROFILES, ids=_profile_id)
@pytest.mark.parametrize("verb", VERBS, ids=lambda v: v.id)
def test_verb_by_profile(verb: VerbCase, profile: ck.ProductProfile | None, via: Via) -> None:
    """4 profiles + no profile x every verb, the profile held directly or only via a group.

    Both ways are held to the same expectation (the SPEC table), so a group-derived
    profile allows and denies exactly what the same profile held directly does.
    """
    assert _run_cell(verb, profile, via) == _first_missing(verb, profile)


def test_the_matrix_expectations_follow_the_spec_table() -> None:
    """Sanity of the matrix itself: who may do what, spelled out for the new verbs."""
    allowed = {
        v.id: sorted(_profile_id(p) for p in PROFILES if _first_missing(v, p) is None)
        for v in VERBS
    }
    everyone_reading = ["ADMINISTRATOR", "APPROVER", "MANAGER", "VIEWER"]
    writers = ["ADMINISTRATOR", "APPROVER", "MANAGER"]
    publishers = ["ADMINISTRATOR", "APPROVER"]
    assert allowed["approval_history"] == everyone_reading
    assert allowed["request_approval"] == writers
    assert allowed["request_approval[no policy]"] == publishers
    assert allowed["cancel_approval"] == writers
    assert allowed["approve"] == publishers
    assert allowed["request_changes"] == publishers
    for name in ("trigger", "trigger_many", "execute_audience", "cancel_execution"):
        assert allowed[name] == publishers, name
    assert allowed["trigger[creates a profile]"] == publishers
    assert allowed["execute_audience[scheduled]"] == publishers
    assert allowed["execution"] == everyone_reading
    assert allowed["check"] == everyone_reading
    for name in SESSION_VERBS:
        if "approval_polic" in name or name.endswith(("_profile", "_member", "audit_log")):
            assert allowed[name] == ["ADMINISTRATOR"], name
