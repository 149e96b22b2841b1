"""Modifying a running campaign: open draft versions, editing, discarding, activating."""

from __future__ import annotations

import pendulum
import pytest

import campaignkit as ck
from tests.factories import T0, World, campaign_in

S = ck.CampaignStatus
V = ck.Verb
SECOND = pendulum.duration(seconds=1)
DAILY = ck.Recurrence.daily(at="09:00")


def recurring(world: World, *, end: pendulum.DateTime | None = None) -> ck.Campaign:
    """A LIVE daily campaign (went live at T0)."""
    return world.live("Daily deal", recurrence=DAILY, end=end)


def api_triggered(world: World, *, end: pendulum.DateTime | None = None) -> ck.Campaign:
    """A LIVE API-triggered campaign (went live at T0)."""
    return world.live("Password reset", type=ck.CampaignType.API_TRIGGERED, end=end)


def status_at(world: World, campaign_id: str, when: pendulum.DateTime) -> S:
    world.clock.set(when)
    world.kit.tick()
    return world.admin.get(campaign_id).status


def running(world: World, kind: str) -> ck.Campaign:
    if kind == "recurring LIVE":
        return recurring(world)
    if kind == "api-triggered LIVE":
        return api_triggered(world)
    return world.scheduled()


RUNNING_KINDS = ["recurring LIVE", "api-triggered LIVE", "one-shot SCHEDULED"]


# ---------------------------------------------------------------- modify


@pytest.mark.parametrize("kind", RUNNING_KINDS)
def test_modify_opens_draft_version_two_and_leaves_the_running_campaign_alone(
    world: World, kind: str
) -> None:
    before = running(world, kind)
    assert before.status in (S.LIVE, S.SCHEDULED)
    assert not before.has_open_draft
    world.clock.set(T0.add(hours=1))

    modified = world.admin.modify(before.id)

    assert modified.has_open_draft
    assert modified.status is before.status
    assert modified.live_version == before.live_version
    assert modified.went_live_at == before.went_live_at
    assert modified.due_at == before.due_at
    draft = modified.draft_version
    assert draft is not None
    assert before.live_version is not None
    assert draft.number == 2
    assert (draft.created_at, draft.created_by) == (T0.add(hours=1), "ada")
    assert (draft.actions, draft.audience, draft.namespace, draft.schedule) == (
        before.live_version.actions,
        before.live_version.audience,
        before.live_version.namespace,
        before.live_version.schedule,
    )
    assert modified.newest_version == draft
    entry = modified.history[-1]
    assert (entry.action, entry.from_status, entry.to_status, entry.detail) == (
        V.MODIFY,
        before.status,
        before.status,
        "version 2",
    )
    listed = world.admin.list_campaigns().items
    assert [c.has_open_draft for c in listed if c.id == before.id] == [True]


def test_modify_twice_is_refused(world: World) -> None:
    campaign = recurring(world)
    world.admin.modify(campaign.id)

    with pytest.raises(ck.TransitionNotAllowed, match="already has an open draft"):
        world.admin.modify(campaign.id)


def test_one_shot_live_campaign_cannot_be_modified_but_can_be_duplicated(
    world: World,
) -> None:
    campaign = world.live()
    world.clock.set(T0.add(hours=1))

    with pytest.raises(ck.TransitionNotAllowed, match=r"duplicate\(\)") as caught:
        world.admin.modify(campaign.id)
    assert (caught.value.status, caught.value.action) == ("LIVE", "modify")
    assert world.admin.get(campaign.id) == campaign

    copy = world.admin.duplicate(campaign.id)

    assert copy.id != campaign.id
    assert copy.status is S.DRAFT
    assert copy.name == "Winter sale (copy)"
    assert copy.draft_version is not None
    assert campaign.live_version is not None
    assert copy.draft_version.number == 1
    assert copy.draft_version.actions == campaign.live_version.actions
    assert copy.draft_version.created_at == T0.add(hours=1)
    assert world.admin.get(campaign.id).status is S.LIVE


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        (S.IN_REVIEW, "cancel_approval()"),
        (S.STOPPED, "duplicate()"),
        (S.COMPLETED, "duplicate()"),
        (S.FAILED, "duplicate()"),
        (S.ARCHIVED, "duplicate()"),
    ],
)
def test_modify_is_refused_outside_scheduled_and_live(world: World, status: S, hint: str) -> None:
    with world.kit.store.unit_of_work() as uow:
        stored = uow.campaigns.add(campaign_in(status))

    with pytest.raises(ck.TransitionNotAllowed) as caught:
        world.admin.modify(stored.id)

    assert (caught.value.status, caught.value.action) == (status.value, "modify")
    assert hint in str(caught.value)
    assert world.admin.get(stored.id) == stored


def test_modify_is_refused_after_stop_completion_and_archive(world: World) -> None:
    stopped = recurring(world)
    world.admin.stop(stopped.id)
    completed = world.live("One shot")
    world.kit.run_until(T0.add(days=3))
    archived = world.admin.archive(completed.id)
    world.clock.set(T0.add(days=4))
    completed_too = world.live("Another")
    world.kit.run_until(T0.add(days=7))

    for campaign_id, status in [
        (stopped.id, "STOPPED"),
        (archived.id, "ARCHIVED"),
        (completed_too.id, "COMPLETED"),
    ]:
        with pytest.raises(ck.TransitionNotAllowed, match="duplicate") as caught:
            world.admin.modify(campaign_id)
        assert caught.value.status == status


def test_modify_is_refused_on_a_draft(world: World) -> None:
    draft = world.draft()

    with pytest.raises(ck.TransitionNotAllowed):
        world.admin.modify(draft.id)
    assert world.admin.get(draft.id) == draft


# ---------------------------------------------------------------- update_draft / discard


def test_update_draft_changes_only_the_draft_version(world: World) -> None:
    campaign = recurring(world)
    world.admin.modify(campaign.id)
    new_schedule = ck.Schedule(recurrence=ck.Recurrence.daily(at="18:00"), end=T0.add(days=9))

    edited = world.admin.update_draft(
        campaign.id,
        actions=[world.sms_action("Hats!")],
        audience="everyone",
        namespace="phone",
        schedule=new_schedule,
    )

    assert edited.live_version == campaign.live_version
    draft = edited.draft_version
    assert draft is not None
    assert draft.number == 2
    assert [a.content for a in draft.actions] == [ck.SmsContent(text="Hats!")]
    assert all(a.id for a in draft.actions)
    assert (draft.audience, draft.namespace, draft.schedule) == ("everyone", "phone", new_schedule)
    assert edited.status is S.LIVE
    assert edited.due_at == T0.add(days=1)  # the live version's next occurrence still governs
    assert edited.history[-1].action is V.UPDATE_DRAFT
    assert edited.history[-1].detail == "version 2"


@pytest.mark.parametrize(
    "field",
    [{"name": "Renamed"}, {"description": "New words"}, {"tags": ["sale"]}],
)
def test_campaign_fields_cannot_change_on_a_running_campaign(
    world: World, field: dict[str, object]
) -> None:
    campaign = recurring(world)
    opened = world.admin.modify(campaign.id)

    with pytest.raises(ck.TransitionNotAllowed, match="only change while the campaign is DRAFT"):
        world.admin.update_draft(campaign.id, **field)  # type: ignore[arg-type]

    assert world.admin.get(campaign.id) == opened


def test_update_draft_on_a_running_campaign_needs_an_open_draft(world: World) -> None:
    campaign = recurring(world)

    with pytest.raises(ck.TransitionNotAllowed, match=r"modify\(\) it first"):
        world.admin.update_draft(campaign.id, audience="everyone")

    assert world.admin.get(campaign.id) == campaign


def test_discard_draft_removes_the_open_draft(world: World) -> None:
    campaign = recurring(world)
    world.admin.modify(campaign.id)
    world.admin.update_draft(campaign.id, actions=[world.sms_action()])

    discarded = world.admin.discard_draft(campaign.id)

    assert discarded.draft_version is None
    assert not discarded.has_open_draft
    assert discarded.live_version == campaign.live_version
    assert discarded.status is S.LIVE
    assert discarded.superseded_versions == ()
    assert (discarded.history[-1].action, discarded.history[-1].detail) == (
        V.DISCARD_DRAFT,
        "version 2",
    )
    with pytest.raises(ck.TransitionNotAllowed, match="no open draft"):
        world.admin.discard_draft(campaign.id)
    reopened = world.admin.modify(campaign.id)
    assert reopened.draft_version is not None
    assert reopened.draft_version.number == 2


def test_stale_expected_revision_is_a_conflict(world: World) -> None:
    campaign = recurring(world)
    opened = world.admin.modify(campaign.id)

    first = world.admin.update_draft(
        campaign.id, audience="tab one", expected_revision=opened.revision
    )
    assert first.revision == opened.revision + 1

    with pytest.raises(ck.ConflictError, match="reload and retry"):
        world.admin.update_draft(campaign.id, audience="tab two", expected_revision=opened.revision)

    current = world.admin.get(campaign.id)
    assert current == first
    assert current.draft_version is not None
    assert current.draft_version.audience == "tab one"


# ---------------------------------------------------------------- activate a new version


@pytest.mark.parametrize("kind", ["recurring", "api-triggered"])
def test_activating_the_draft_of_a_live_campaign_replaces_the_live_version_at_once(
    world: World, kind: str
) -> None:
    end = T0.add(days=20)
    campaign = recurring(world, end=end) if kind == "recurring" else api_triggered(world, end=end)
    next_work = T0.add(days=1) if kind == "recurring" else end  # next occurrence, or the end
    assert campaign.due_at == next_work
    old_live = campaign.live_version
    world.clock.set(T0.add(days=2))
    world.admin.modify(campaign.id)
    world.admin.update_draft(campaign.id, actions=[world.sms_action("New!")])
    world.events.clear()

    activated = world.admin.activate(campaign.id)

    assert activated.status is S.LIVE
    assert not activated.has_open_draft
    assert activated.draft_version is None
    assert activated.live_version is not None
    assert activated.live_version.number == 2
    assert [a.content for a in activated.live_version.actions] == [ck.SmsContent(text="New!")]
    assert activated.superseded_versions == (old_live,)
    assert activated.went_live_at == T0
    assert activated.activated_at == campaign.activated_at
    entry = activated.history[-1]
    assert (entry.action, entry.from_status, entry.to_status, entry.at, entry.detail) == (
        V.ACTIVATE_VERSION,
        S.LIVE,
        S.LIVE,
        T0.add(days=2),
        "version 2",
    )
    assert S.ACTIVATING not in {e.to_status for e in activated.history[-3:]}
    assert len(world.events) == 1
    assert world.kit.tick().events == ()
    # Completion is where it was: not restarted by the new version.
    assert activated.due_at == (T0.add(days=3) if kind == "recurring" else end)
    assert status_at(world, campaign.id, end - SECOND) is S.LIVE
    assert status_at(world, campaign.id, end) is S.COMPLETED


def test_a_new_end_in_the_new_version_moves_completion(world: World) -> None:
    campaign = recurring(world, end=T0.add(days=20))
    world.admin.modify(campaign.id)
    new_end = T0.add(days=5)
    world.admin.update_draft(campaign.id, schedule=ck.Schedule(recurrence=DAILY, end=new_end))

    activated = world.admin.activate(campaign.id)

    assert activated.due_at == T0.add(days=1)  # its next occurrence comes before the end
    assert status_at(world, campaign.id, new_end - SECOND) is S.LIVE
    assert status_at(world, campaign.id, new_end) is S.COMPLETED


def test_a_new_version_of_a_live_campaign_ignores_its_past_start(world: World) -> None:
    campaign = world.draft("Daily", start=T0.add(hours=1), recurrence=DAILY)
    world.admin.activate(campaign.id)
    world.kit.run_until(T0.add(days=2))
    world.admin.modify(campaign.id)  # the draft keeps the start, now in the past

    activated = world.admin.activate(campaign.id)

    assert activated.status is S.LIVE
    assert activated.went_live_at == T0.add(hours=1)


def test_activating_the_draft_of_a_scheduled_one_shot_uses_its_new_start(world: World) -> None:
    campaign = world.scheduled(days=1)
    world.clock.set(T0.add(hours=1))
    world.admin.modify(campaign.id)
    new_start = T0.add(days=2)
    world.admin.update_draft(campaign.id, schedule=ck.Schedule(start=new_start))

    activated = world.admin.activate(campaign.id)

    assert activated.status is S.SCHEDULED
    assert activated.live_version is not None
    assert activated.live_version.schedule.start == new_start
    assert activated.superseded_versions == (campaign.live_version,)
    assert activated.due_at == new_start
    assert status_at(world, campaign.id, T0.add(days=1)) is S.SCHEDULED  # the old start
    assert status_at(world, campaign.id, new_start - SECOND) is S.SCHEDULED
    assert status_at(world, campaign.id, new_start) is S.LIVE
    assert world.admin.get(campaign.id).went_live_at == new_start
    assert status_at(world, campaign.id, new_start.add(days=3) - SECOND) is S.LIVE
    assert status_at(world, campaign.id, new_start.add(days=3)) is S.COMPLETED


def test_a_scheduled_one_shot_whose_new_version_has_no_start_goes_live_on_activation(
    world: World,
) -> None:
    campaign = world.scheduled(days=1)
    world.clock.set(T0.add(hours=2))
    world.admin.modify(campaign.id)
    world.admin.update_draft(campaign.id, schedule=ck.Schedule())
    world.admin.activate(campaign.id)

    world.kit.tick()

    live = world.admin.get(campaign.id)
    assert live.status is S.LIVE
    assert live.went_live_at == T0.add(hours=2)
    times = [entry.at for entry in live.history]
    assert times == sorted(times)
    assert status_at(world, campaign.id, T0.add(days=3, hours=2) - SECOND) is S.LIVE
    assert status_at(world, campaign.id, T0.add(days=3, hours=2)) is S.COMPLETED


def test_a_draft_opened_while_scheduled_cannot_replace_a_one_shot_run_that_started(
    world: World,
) -> None:
    # SPEC 2: a one-shot LIVE campaign whose run has started cannot be modified
    # (duplicate it instead); a draft opened before the start must not change it.
    campaign = world.scheduled(days=1)
    world.admin.modify(campaign.id)
    world.admin.update_draft(
        campaign.id,
        schedule=ck.Schedule(start=T0.add(days=2)),
        actions=[world.sms_action("Never sent")],
    )
    world.kit.run_until(T0.add(days=1, hours=1))  # the old version went live at its start
    before = world.admin.get(campaign.id)
    assert before.status is S.LIVE

    with pytest.raises(ck.TransitionNotAllowed, match="duplicate"):
        world.admin.activate(campaign.id)

    after = world.admin.get(campaign.id)
    assert after.live_version == campaign.live_version
    assert after.revision == before.revision


def test_a_scheduled_draft_with_a_past_start_is_refused(world: World) -> None:
    campaign = world.scheduled(days=1)
    world.clock.set(T0.add(hours=2))
    world.admin.modify(campaign.id)
    world.admin.update_draft(campaign.id, schedule=ck.Schedule(start=T0.add(hours=1)))
    before = world.admin.get(campaign.id)

    with pytest.raises(ck.ValidationError) as caught:
        world.admin.activate(campaign.id)

    assert len(caught.value.problems) == 1
    assert "in the past" in caught.value.problems[0]
    assert world.admin.get(campaign.id) == before


def test_activating_an_invalid_draft_lists_every_problem_and_changes_nothing(
    world: World,
) -> None:
    campaign = recurring(world)
    world.admin.deactivate_surface(world.sms.id)  # unused by the live version
    world.clock.set(T0.add(days=1))
    world.admin.modify(campaign.id)
    world.admin.update_draft(
        campaign.id,
        actions=[world.sms_action(), world.email_action(subject="Hi {{ profile.firstName")],
        audience="ghosts",
        namespace=None,
        schedule=ck.Schedule(recurrence=DAILY, end=T0.add(hours=12)),
    )
    before = world.admin.get(campaign.id)
    world.events.clear()

    with pytest.raises(ck.ValidationError) as caught:
        world.admin.activate(campaign.id)

    problems = caught.value.problems
    assert len(problems) == 5, problems
    expected = ["deactivated", "syntax error", "'ghosts' does not exist", "namespace", "end"]
    for needle, problem in zip(expected, problems, strict=True):
        assert needle in problem
    assert world.admin.get(campaign.id) == before
    assert before.has_open_draft
    assert before.live_version == campaign.live_version
    assert world.events == []


# ---------------------------------------------------------------- history, stop, duplicate


def test_history_records_who_did_what_and_when(world: World) -> None:
    for user in ("bob", "cy"):
        world.kit.access.assign(user, ck.ProductProfile.ADMINISTRATOR)
    bob, cy = world.kit.as_user("bob"), world.kit.as_user("cy")
    campaign = recurring(world)

    world.clock.set(T0.add(hours=1))
    bob.modify(campaign.id)
    world.clock.set(T0.add(hours=2))
    cy.update_draft(campaign.id, actions=[world.sms_action()])
    world.clock.set(T0.add(hours=3))
    cy.discard_draft(campaign.id)
    world.clock.set(T0.add(hours=4))
    cy.modify(campaign.id)
    world.clock.set(T0.add(hours=5))
    bob.update_draft(campaign.id, audience="everyone")
    world.clock.set(T0.add(hours=6))
    world.kit.audiences.define("everyone", ["p1", "p2", "p3"])
    bob.activate(campaign.id)
    world.clock.set(T0.add(hours=7))
    final = cy.stop(campaign.id)

    assert [
        (e.at, e.actor, e.action, e.from_status, e.to_status, e.detail) for e in final.history
    ] == [
        (T0, "ada", V.CREATE, None, S.DRAFT, ""),
        (T0, "ada", V.ACTIVATE, S.DRAFT, S.ACTIVATING, ""),
        (T0, "system", V.PREPARE, S.ACTIVATING, S.LIVE, ""),
        (T0.add(hours=1), "bob", V.MODIFY, S.LIVE, S.LIVE, "version 2"),
        (T0.add(hours=2), "cy", V.UPDATE_DRAFT, S.LIVE, S.LIVE, "version 2"),
        (T0.add(hours=3), "cy", V.DISCARD_DRAFT, S.LIVE, S.LIVE, "version 2"),
        (T0.add(hours=4), "cy", V.MODIFY, S.LIVE, S.LIVE, "version 2"),
        (T0.add(hours=5), "bob", V.UPDATE_DRAFT, S.LIVE, S.LIVE, "version 2"),
        (T0.add(hours=6), "bob", V.ACTIVATE_VERSION, S.LIVE, S.LIVE, "version 2"),
        (T0.add(hours=7), "cy", V.STOP, S.LIVE, S.STOPPED, ""),
    ]
    assert final.live_version is not None
    assert (final.live_version.created_at, final.live_version.created_by) == (
        T0.add(hours=4),
        "cy",
    )
    assert final.live_version.audience == "everyone"
    assert [v.number for v in final.superseded_versions] == [1]
    assert final.updated_at == T0.add(hours=7)


def test_stop_keeps_the_draft_but_it_is_no_longer_open_and_duplicate_copies_it(
    world: World,
) -> None:
    campaign = recurring(world)
    world.admin.modify(campaign.id)
    world.admin.update_draft(campaign.id, actions=[world.sms_action("Draft text")])
    world.clock.set(T0.add(hours=1))

    stopped = world.admin.stop(campaign.id)

    assert stopped.status is S.STOPPED
    assert not stopped.has_open_draft
    assert stopped.draft_version is not None
    assert [a.content for a in stopped.draft_version.actions] == [ck.SmsContent(text="Draft text")]
    assert stopped.live_version == campaign.live_version
    with pytest.raises(ck.TransitionNotAllowed):
        world.admin.activate(campaign.id)
    with pytest.raises(ck.TransitionNotAllowed):
        world.admin.discard_draft(campaign.id)
    with pytest.raises(ck.TransitionNotAllowed):
        world.admin.update_draft(campaign.id, audience="everyone")
    assert world.admin.get(campaign.id) == stopped

    world.clock.set(T0.add(hours=2))
    copy = world.admin.duplicate(campaign.id, name="Daily deal again")

    assert copy.status is S.DRAFT
    assert copy.name == "Daily deal again"
    version = copy.draft_version
    assert version is not None
    assert version.number == 1
    assert [a.content for a in version.actions] == [ck.SmsContent(text="Draft text")]
    assert version.schedule == stopped.draft_version.schedule
    assert (version.created_at, version.created_by) == (T0.add(hours=2), "ada")
    assert copy.history[-1].detail == f"from {campaign.id} version 2"
