"""Property test: random users, groups, profiles and verbs never act beyond their effective
permissions, checked against an access model of the campaigns."""

from __future__ import annotations

from collections.abc import Callable

import attrs
import pendulum
from hypothesis import event, given, settings
from hypothesis import strategies as st

import campaignkit as ck
from campaignkit.domain.access import Principal
from campaignkit.domain.approval import Review
from tests.factories import T0, make_world
from tests.unit.permissions.support import (
    ANN,
    API,
    POOL_GROUPS,
    POOL_USERS,
    SPEC_PROFILE_PERMISSIONS,
    Profile,
    S,
    _attempt,
    snapshot,
)
from tests.unit.permissions.verb_setups import _campaign, _policy_result
from tests.unit.permissions.verb_triggers import _api_marketing, _execution, _recipient
from tests.unit.permissions.verbs import SESSION_VERBS, VERBS, _answer

# ---------------------------------------------------------------- property: random populations

REQUIRED: dict[str, tuple[str, ...]] = {v.name: v.needs for v in VERBS if not v.variant}
"""What each verb needs (SPEC 6), taken from the literal matrix above."""

WORKFLOW_VERBS = frozenset({"request_approval", "cancel_approval", "approve", "request_changes"})

ABOUT_A_CAMPAIGN = frozenset(v.name for v in VERBS if v.about_campaign)

ON_AN_EXECUTION = frozenset(v.name for v in VERBS if v.campaign_of is not None)
"""Verbs on an execution: a denial names the execution's campaign."""

PROFILE_SETS = st.frozensets(st.sampled_from(list(ck.ProductProfile)), max_size=2)


@attrs.frozen
class Population:
    """Random users with random direct profiles, groups and group profiles."""

    users: tuple[str, ...]
    direct: tuple[frozenset[ck.ProductProfile], ...]
    memberships: tuple[frozenset[str], ...]
    group_profiles: tuple[frozenset[ck.ProductProfile], ...]
    reviewers: frozenset[str]
    reviewer_groups: frozenset[str]
    block_self_approval: bool


@st.composite
def populations(draw: st.DrawFn) -> Population:
    size = draw(st.integers(min_value=4, max_value=6))
    users = POOL_USERS[:size]
    reviewers = draw(st.frozensets(st.sampled_from(users), max_size=3))
    reviewer_groups = draw(st.frozensets(st.sampled_from(POOL_GROUPS), max_size=2))
    return Population(
        users=users,
        direct=tuple(draw(PROFILE_SETS) for _ in users),
        memberships=tuple(
            draw(st.frozensets(st.sampled_from(POOL_GROUPS), max_size=2)) for _ in users
        ),
        group_profiles=tuple(draw(PROFILE_SETS) for _ in POOL_GROUPS),
        reviewers=reviewers if reviewers or reviewer_groups else frozenset({users[0]}),
        reviewer_groups=reviewer_groups,
        block_self_approval=draw(st.booleans()),
    )


@attrs.frozen
class Op:
    """One random step: ``user`` (index) calls ``verb``; the other fields pick arguments."""

    user: int
    verb: str
    a: int
    b: int
    profile: ck.ProductProfile
    flag: bool


OPS = st.builds(
    Op,
    user=st.integers(min_value=0, max_value=5),
    verb=st.one_of(
        st.sampled_from([*sorted(SESSION_VERBS), "tick"]),
        st.sampled_from([*sorted(WORKFLOW_VERBS), "create_campaign", "tick"]),  # more workflow
    ),
    a=st.integers(min_value=0, max_value=40),
    b=st.integers(min_value=0, max_value=40),
    profile=st.sampled_from(list(ck.ProductProfile)),
    flag=st.booleans(),
)


class AccessModel:
    """The test's own account of who holds what (never read back from campaignkit)."""

    def __init__(self) -> None:
        self.direct: dict[str, set[ck.ProductProfile]] = {}
        self.group_profiles: dict[str, set[ck.ProductProfile]] = {}
        self.members: dict[str, set[str]] = {}

    def groups_of(self, user: str) -> frozenset[str]:
        return frozenset(g for g, users in self.members.items() if user in users)

    def permissions(self, user: str) -> frozenset[str]:
        profiles = set(self.direct.get(user, ()))
        for group in self.groups_of(user):
            profiles |= self.group_profiles.get(group, set())
        granted: frozenset[str] = frozenset()
        for profile in profiles:
            granted |= SPEC_PROFILE_PERMISSIONS[profile.value]
        return granted

    def assignments(self) -> dict[Principal, frozenset[ck.ProductProfile]]:
        users = {Principal.user(u): frozenset(p) for u, p in self.direct.items() if p}
        groups = {Principal.group(g): frozenset(p) for g, p in self.group_profiles.items() if p}
        return users | groups


def _editable(c: ck.Campaign) -> bool:
    return c.review is None and (c.status is S.DRAFT or c.has_open_draft)


def _running(c: ck.Campaign) -> bool:
    return c.status in (S.SCHEDULED, S.LIVE)


def _accepting_triggers(c: ck.Campaign) -> bool:
    return c.type is API and c.status is S.LIVE


def _cancellable(execution: ck.Execution, now: pendulum.DateTime) -> bool:
    at = execution.execute_at
    return execution.schedule_status is ck.ScheduleStatus.SCHEDULED and at is not None and at > now


CAN_ACT_ON: dict[str, Callable[[ck.Campaign, str], bool]] = {
    "update_draft": lambda c, u: _editable(c),
    "delete": lambda c, u: c.status is S.DRAFT,
    "activate": lambda c, u: _editable(c),
    "modify": lambda c, u: _running(c) and not c.has_open_draft,
    "discard_draft": lambda c, u: _editable(c) and _running(c),
    "stop": lambda c, u: _running(c),
    "archive": lambda c, u: c.status in (S.COMPLETED, S.STOPPED, S.FAILED),
    "request_approval": lambda c, u: _editable(c),
    "cancel_approval": lambda c, u: c.review is not None,
    "approve": lambda c, u: c.review is not None,
    "request_changes": lambda c, u: c.review is not None,
    "trigger": lambda c, u: _accepting_triggers(c),
    "trigger_many": lambda c, u: _accepting_triggers(c),
    "execute_audience": lambda c, u: _accepting_triggers(c),
}
"""For each verb on a campaign, which campaigns it could act on (used to pick arguments)."""


class Arena:
    """A world populated from a ``Population``, with the model kept beside it."""

    def __init__(self, population: Population) -> None:
        self.world = world = make_world()
        self.users = population.users
        self.model = model = AccessModel()
        access = world.kit.access
        model.direct["ada"] = {Profile.ADMINISTRATOR}
        for user, profiles in zip(population.users, population.direct, strict=True):
            for profile in profiles:
                access.assign(user, profile)
                model.direct.setdefault(user, set()).add(profile)
        for group, profiles in zip(POOL_GROUPS, population.group_profiles, strict=True):
            for profile in profiles:
                access.assign_group(group, profile)
                model.group_profiles.setdefault(group, set()).add(profile)
        for user, groups in zip(population.users, population.memberships, strict=True):
            for group in groups:
                access.add_member(group, user)
                model.members.setdefault(group, set()).add(user)
        admin = world.admin
        world.kit.profiles.upsert(
            ck.Profile("tester", identities={"email": "t@example.com"}, test=True)
        )
        winter = world.draft("Winter sale")
        self.package = admin.export([winter.id])
        legal = admin.create_approval_policy(
            name="Legal",
            reviewers=population.reviewers,
            reviewer_groups=population.reviewer_groups,
            block_self_approval=population.block_self_approval,
            tags=["legal"],
        )
        sale = admin.create_approval_policy(
            name="Sale", reviewers=[population.users[0]], name_contains="sale"
        )
        recurring = ck.Recurrence.daily(at="10:00")
        self.campaign_ids = [
            winter.id,
            world.draft("Legal notice", tags=["legal"]).id,
            world.live("Daily deals", recurrence=recurring).id,
            world.scheduled("Spring preview", days=2).id,
        ]
        orders = _api_marketing(world)
        self.campaign_ids.append(orders)
        seeds = [
            admin.execute_audience(
                orders, request_id="seed-audience", execute_at=world.clock.now().add(hours=6)
            ),
            admin.trigger(orders, [_recipient()], request_id="seed-trigger"),
        ]
        # every execution made, and the campaign it was asked for
        self.execution_campaigns = {e.id: orders for e in seeds}
        admin.activate_approval_policy(legal.id)
        in_review = world.draft("Legal update", tags=["legal"]).id
        admin.request_approval(in_review, "please")
        self.campaign_ids.append(in_review)
        self.policy_ids = [legal.id, sale.id]
        self.surface_ids = [world.email.id, world.sms.id, world.push.id]
        self.created = 0

    def campaign(self, op: Op) -> str:
        """Any campaign ever made (deleted ones too); with ``flag``, preferably one the
        verb could act on, so that successes of every verb are exercised often."""
        fits = CAN_ACT_ON.get(op.verb)
        if op.flag and fits is not None:
            user = self.users[op.user % len(self.users)]
            page = self.world.admin.list_campaigns(statuses=ck.ALL_STATUSES, limit=500)
            wanted = sorted(c.id for c in page.items if fits(c, user))
            if wanted:
                return wanted[op.a % len(wanted)]
        return self.campaign_ids[op.a % len(self.campaign_ids)]

    def policy(self, op: Op) -> str:
        return self.policy_ids[op.a % len(self.policy_ids)]

    def target(self, op: Op) -> str:
        return self.users[op.b % len(self.users)]

    def group(self, op: Op) -> str:
        return POOL_GROUPS[op.b % len(POOL_GROUPS)]

    def surface(self, op: Op) -> str:
        return self.surface_ids[op.a % len(self.surface_ids)]

    def execution(self, op: Op) -> str:
        """Any execution made; with ``flag``, for ``cancel_execution`` preferably one
        still scheduled, so that cancellations succeed often."""
        ids = list(self.execution_campaigns)
        if op.flag and op.verb == "cancel_execution":
            now = self.world.clock.now()
            wanted = [i for i in ids if _cancellable(self.world.admin.execution(i), now)]
            if wanted:
                return wanted[op.a % len(wanted)]
        return ids[op.a % len(ids)]

    def recipient(self, op: Op) -> ck.Recipient:
        """Ann (who has a profile), or now and then a guest who has none; the payload
        depends on ``b`` only, like the request id, so a repeated call is a replay."""
        user_id = f"guest{op.b}@example.com" if op.b % 3 == 0 else ANN.identities["email"]
        return _recipient(user_id, f"A{op.b}")

    def named_campaign(self, op: Op) -> str | None:
        """The campaign a denial of ``op`` names: the one it acts on, or its execution's."""
        if op.verb in ON_AN_EXECUTION:
            return self.execution_campaigns[self.execution(op)]
        return self.campaign(op) if op.verb in ABOUT_A_CAMPAIGN else None

    def fresh_name(self, prefix: str) -> str:
        self.created += 1
        return f"{prefix} {self.created}"

    def review_of(self, campaign_id: str) -> Review | None:
        try:
            return self.world.admin.get(campaign_id).review
        except ck.NotFound:
            return None


Verb = Callable[[Arena, ck.UserSession, Op], object]

CALLS: dict[str, Verb] = {
    "get": lambda w, s, o: s.get(w.campaign(o)),
    "list_campaigns": lambda w, s, o: s.list_campaigns(statuses=ck.ALL_STATUSES),
    "calendar": lambda w, s, o: s.calendar(T0, T0.add(days=30)),
    "create_campaign": lambda w, s, o: w.world.draft(
        w.fresh_name("Sale" if o.flag else "Promo"),
        tags=["legal"] if o.b % 2 else [],
        session=s,
    ),
    "update_draft": lambda w, s, o: s.update_draft(
        w.campaign(o), actions=[w.world.email_action(f"Edit {o.b}")]
    ),
    "delete": lambda w, s, o: s.delete(w.campaign(o)),
    "duplicate": lambda w, s, o: s.duplicate(w.campaign(o), w.fresh_name("Copy")),
    "activate": lambda w, s, o: s.activate(w.campaign(o)),
    "modify": lambda w, s, o: s.modify(w.campaign(o)),
    "discard_draft": lambda w, s, o: s.discard_draft(w.campaign(o)),
    "stop": lambda w, s, o: s.stop(w.campaign(o)),
    "archive": lambda w, s, o: s.archive(w.campaign(o)),
    "create_surface": lambda w, s, o: s.create_surface(
        name=w.fresh_name("Surface"),
        channel=ck.ChannelType.SMS,
        settings=ck.SmsSettings(sender_id="SHOP"),
    ),
    "deactivate_surface": lambda w, s, o: s.deactivate_surface(w.surface(o)),
    "get_surface": lambda w, s, o: s.get_surface(w.surface(o)),
    "list_surfaces": lambda w, s, o: s.list_surfaces(),
    "export": lambda w, s, o: s.export([w.campaign(o)]),
    "import_": lambda w, s, o: s.import_(w.package),
    "report": lambda w, s, o: s.report(w.campaign(o)),
    "check": lambda w, s, o: s.check(w.campaign(o)),
    "send_proof": lambda w, s, o: s.send_proof(w.campaign(o), ["tester"]),
    "request_approval": lambda w, s, o: s.request_approval(w.campaign(o), "please"),
    "cancel_approval": lambda w, s, o: s.cancel_approval(w.campaign(o)),
    "approve": lambda w, s, o: s.approve(w.campaign(o), "ok"),
    "request_changes": lambda w, s, o: s.request_changes(w.campaign(o), "change it"),
    "approval_history": lambda w, s, o: s.approval_history(w.campaign(o)),
    "create_approval_policy": lambda w, s, o: s.create_approval_policy(
        name=w.fresh_name("Policy"),
        reviewers=[w.target(o)],
        reviewer_groups=[w.group(o)] if o.flag else [],
        block_self_approval=o.flag,
        name_contains="sale" if o.a % 2 else None,
    ),
    "update_approval_policy": lambda w, s, o: s.update_approval_policy(
        w.policy(o), reviewers=[w.target(o)], block_self_approval=o.flag
    ),
    "activate_approval_policy": lambda w, s, o: s.activate_approval_policy(w.policy(o)),
    "deactivate_approval_policy": lambda w, s, o: s.deactivate_approval_policy(w.policy(o)),
    "duplicate_approval_policy": lambda w, s, o: s.duplicate_approval_policy(w.policy(o)),
    "list_approval_policies": lambda w, s, o: s.list_approval_policies(),
    "get_approval_policy": lambda w, s, o: s.get_approval_policy(w.policy(o)),
    "assign_profile": lambda w, s, o: s.assign_profile(w.target(o), o.profile),
    "revoke_profile": lambda w, s, o: s.revoke_profile(w.target(o), o.profile),
    "assign_group_profile": lambda w, s, o: s.assign_group_profile(w.group(o), o.profile),
    "revoke_group_profile": lambda w, s, o: s.revoke_group_profile(w.group(o), o.profile),
    "add_group_member": lambda w, s, o: s.add_group_member(w.group(o), w.target(o)),
    "remove_group_member": lambda w, s, o: s.remove_group_member(w.group(o), w.target(o)),
    "access_audit_log": lambda w, s, o: s.access_audit_log(),
    "trigger": lambda w, s, o: s.trigger(
        w.campaign(o), [w.recipient(o)], request_id=f"order-{o.b}"
    ),
    "trigger_many": lambda w, s, o: _answer(
        s.trigger_many([ck.TriggerRequest(w.campaign(o), [w.recipient(o)], f"order-{o.b}")])
    ),
    "execute_audience": lambda w, s, o: s.execute_audience(
        w.campaign(o),
        request_id=f"audience-{o.b}",
        context={"order": f"S{o.b}"},
        execute_at=T0.add(hours=o.b + 1) if o.b % 2 else None,  # may be past by now
    ),
    "cancel_execution": lambda w, s, o: s.cancel_execution(w.execution(o)),
    "execution": lambda w, s, o: s.execution(w.execution(o)),
}


def _workflow_refusal(
    model: AccessModel,
    user: str,
    verb: str,
    review: Review | None,
    editors: frozenset[str] = frozenset(),
) -> str | None:
    """The permission the workflow must refuse on (SPEC 7), or None if it does not refuse.

    Only for users holding the verb's own permissions; ``request_approval`` is
    refused or not depending on the matching policy, so it is left to the outcome.
    ``editors`` wrote the version under review (they count as its authors).
    """
    if review is None:
        return None
    named = user in review.reviewers or bool(review.reviewer_groups & model.groups_of(user))
    if verb == "cancel_approval" and review.requester != user:
        if not named:
            return "campaign.write"
        return None if "campaign.approve" in model.permissions(user) else "campaign.approve"
    if verb in ("approve", "request_changes"):
        authors = {review.requester, *editors}
        self_blocked = verb == "approve" and review.block_self_approval and user in authors
        if not named or self_blocked:
            return "campaign.approve"
    return None


_OPENS_VERSION = frozenset({"create", "duplicate", "modify"})


def _editors(campaign: ck.Campaign) -> frozenset[str]:
    """Who wrote the open draft: its history back to the entry that opened it (the model's own)."""
    editors = set()
    for entry in reversed(campaign.history):
        if entry.action.value == "update_draft":
            editors.add(entry.actor)
        elif entry.action.value in _OPENS_VERSION:
            editors.add(entry.actor)
            break
    return frozenset(editors)


def _record_success(arena: Arena, op: Op, result: object) -> None:
    """Keep the model and the id lists in step with a verb that succeeded."""
    model = arena.model
    if op.verb in ("create_campaign", "duplicate"):
        arena.campaign_ids.append(_campaign(result).id)
    elif op.verb == "import_":
        assert isinstance(result, list)
        arena.campaign_ids.extend(c.id for c in result)
    elif op.verb in ("create_approval_policy", "duplicate_approval_policy"):
        arena.policy_ids.append(_policy_result(result).id)
    elif op.verb == "assign_profile":
        model.direct.setdefault(arena.target(op), set()).add(op.profile)
    elif op.verb == "revoke_profile":
        model.direct.setdefault(arena.target(op), set()).discard(op.profile)
    elif op.verb == "assign_group_profile":
        model.group_profiles.setdefault(arena.group(op), set()).add(op.profile)
    elif op.verb == "revoke_group_profile":
        model.group_profiles.setdefault(arena.group(op), set()).discard(op.profile)
    elif op.verb == "add_group_member":
        model.members.setdefault(arena.group(op), set()).add(arena.target(op))
    elif op.verb == "remove_group_member":
        model.members.setdefault(arena.group(op), set()).discard(arena.target(op))
    elif op.verb in ("trigger", "trigger_many", "execute_audience"):
        execution = _execution(result)
        asked = arena.campaign(op)  # the same pick: a trigger leaves the campaign as it was
        assert execution.campaign_id == asked
        arena.execution_campaigns.setdefault(execution.id, asked)


def _step(arena: Arena, op: Op) -> str:
    """Run one op and check it against the model; return how it ended (for statistics)."""
    world = arena.world
    if op.verb == "tick":
        world.clock.advance(hours=op.a % 12 + 1)
        world.kit.tick()
        return "tick"
    user = arena.users[op.user % len(arena.users)]
    held = arena.model.permissions(user)
    lacking = [p for p in REQUIRED[op.verb] if p not in held]
    review = arena.review_of(arena.campaign(op)) if op.verb in WORKFLOW_VERBS else None
    editors = _editors(world.admin.get(arena.campaign(op))) if review is not None else frozenset()
    refusal = None if lacking else _workflow_refusal(arena.model, user, op.verb, review, editors)
    before = snapshot(world) if lacking or op.verb in WORKFLOW_VERBS else None
    result, error = _attempt(lambda: CALLS[op.verb](arena, world.kit.as_user(user), op))
    if isinstance(error, ck.PermissionDenied):
        assert (error.user, error.campaign_id) == (user, arena.named_campaign(op))
        if lacking:
            # the policy is asked first, for the first permission the verb needs
            assert error.permission == lacking[0], (op, held)
        elif op.verb == "request_approval":
            # no policy applied, and the requester may not publish
            assert error.permission == "campaign.publish"
            assert "campaign.publish" not in held
        else:
            assert refusal is not None, (op, held, review, error)
            assert error.permission == refusal
        assert before is not None
        assert snapshot(world) == before
        return "denied"
    if error is not None:
        # a refusal for any other reason is only for those the model lets in
        assert not lacking, (op, held, error)
        assert refusal is None, (op, review, error)
        return "refused otherwise"
    assert not lacking, (op, held)
    assert refusal is None, (op, review)
    if op.verb == "request_approval":
        trail = _campaign(result).approvals
        if trail[-1].action is ck.ApprovalAction.ACTIVATED_WITHOUT_POLICY:
            assert "campaign.publish" in held, (op, held)
    if op.verb in ("approve", "request_changes", "cancel_approval"):
        assert review is not None  # something was in review
    _record_success(arena, op, result)
    return "allowed"


def _access_matches_the_model(arena: Arena) -> None:
    access = arena.world.kit.access
    assert dict(access.assignments()) == arena.model.assignments()
    for group in POOL_GROUPS:
        assert access.members_of(group) == arena.model.members.get(group, set())
    for user in arena.users:
        assert access.groups_of(user) == arena.model.groups_of(user)


@settings(max_examples=250, deadline=None)
@given(population=populations(), ops=st.lists(OPS, min_size=5, max_size=40))
def test_random_users_never_act_beyond_their_effective_permissions(
    population: Population, ops: list[Op]
) -> None:
    """Random users, profiles, groups and verbs: every success is one the SPEC table
    (union of direct and group profiles) allows; every lacking permission is a denial
    that changes nothing."""
    arena = Arena(population)
    _access_matches_the_model(arena)
    for op in ops:
        outcome = _step(arena, op)
        event(f"{op.verb}: {outcome}")
        _access_matches_the_model(arena)
