"""Custom permission policy objects: the protocol, deciding on the campaign (or none), the
denial reason reaching the error, and denials at a fixed instant."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import campaignkit as ck
from campaignkit.testing import SequentialIds
from tests.factories import T0, World, make_world
from tests.unit.permissions.support import (
    MISSING_EXECUTION,
    USER,
    Call,
    P,
    Profile,
    S,
    custom_world,
    session_with,
    snapshot,
)
from tests.unit.permissions.verb_triggers import _api_marketing, _recipient

# ---------------------------------------------------------------- custom policy object


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
    listed = session.list_campaigns()
    session.calendar(T0, T0.add(days=1))
    session.list_surfaces()
    # listing asks once for the verb, then about each campaign it could show (issue 10)
    assert [c.name for c in listed] == ["New", "Winter sale"]  # "Running" was stopped
    assert policy.calls == [
        (USER, P.CAMPAIGN_READ, None),
        *((USER, P.CAMPAIGN_READ, c) for c in listed),
        (USER, P.CAMPAIGN_READ, None),
        (USER, P.SURFACE_READ, None),
    ]

    policy.calls.clear()
    session.duplicate(campaign.id)
    assert policy.calls == [
        (USER, P.CAMPAIGN_READ, campaign),
        (USER, P.CAMPAIGN_WRITE, campaign),
    ]


def test_custom_policy_decides_on_the_campaign_of_an_api_call() -> None:
    """A verb on an execution asks about the execution's campaign (None when it is missing)."""
    policy = HostPolicy(legal_hold)
    world = custom_world(policy=policy)
    campaign = world.admin.get(_api_marketing(world))
    session = world.kit.as_user(USER)
    policy.calls.clear()

    triggered = session.trigger(campaign.id, [_recipient()], request_id="order-A1")
    scheduled = session.execute_audience(
        campaign.id, request_id="flash-sale", execute_at=T0.add(days=1)
    )
    session.execution(triggered.id)
    session.cancel_execution(scheduled.id)
    with pytest.raises(ck.NotFound):
        session.execution(MISSING_EXECUTION)

    assert policy.calls == [
        (USER, P.CAMPAIGN_PUBLISH, campaign),
        (USER, P.CAMPAIGN_PUBLISH, campaign),
        (USER, P.CAMPAIGN_READ, campaign),
        (USER, P.CAMPAIGN_PUBLISH, campaign),
        (USER, P.CAMPAIGN_READ, None),
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
