"""What the ``campaignkit.lifecycle`` logger says: every status change, approval and removal.

Campaigns are driven through the kit on a ManualClock; the records are read
through caplog, their structured ``extra`` fields included.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

import campaignkit as ck
from campaignkit import logs
from campaignkit.testing import ManualClock
from tests.factories import T0, make_world
from tests.unit.engine.support import SwitchableAudiences, small_kit

S = ck.CampaignStatus


def lifecycle(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == logs.LIFECYCLE_LOGGER]


def fields(record: logging.LogRecord, *names: str) -> tuple[Any, ...]:
    return tuple(getattr(record, name) for name in names)


TRANSITION = ("event", "campaign_id", "version", "action", "from_status", "to_status", "actor")


def test_a_campaign_logs_each_status_change_with_its_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = make_world()
    with caplog.at_level(logging.INFO, logger="campaignkit"):
        draft = world.draft(start=T0.add(hours=1))
        world.admin.activate(draft.id)
        world.kit.run_until(T0.add(days=4))
        world.admin.archive(draft.id)
    cid = draft.id
    records = lifecycle(caplog)
    assert [fields(r, *TRANSITION) for r in records] == [
        ("campaign_changed", cid, 1, "create", None, "DRAFT", "ada"),
        ("campaign_changed", cid, 1, "activate", "DRAFT", "ACTIVATING", "ada"),
        ("campaign_changed", cid, 1, "prepare", "ACTIVATING", "SCHEDULED", "system"),
        ("campaign_changed", cid, 1, "go_live", "SCHEDULED", "LIVE", "system"),
        ("campaign_changed", cid, 1, "complete", "LIVE", "COMPLETED", "system"),
        ("campaign_changed", cid, 1, "archive", "COMPLETED", "ARCHIVED", "ada"),
    ]
    assert {r.levelno for r in records} == {logging.INFO}
    assert records[2].at == T0.isoformat()  # type: ignore[attr-defined]
    assert records[1].getMessage() == (
        f"campaign {cid}: activate by ada, DRAFT -> ACTIVATING (version 1)"
    )
    assert records[0].getMessage().startswith(f"campaign {cid}: create by ada, new -> DRAFT")


def test_edits_log_at_debug_and_stay_silent_at_info(caplog: pytest.LogCaptureFixture) -> None:
    world = make_world()
    live = world.scheduled()
    with caplog.at_level(logging.INFO, logger="campaignkit"):
        world.admin.modify(live.id)
    assert lifecycle(caplog) == []
    with caplog.at_level(logging.DEBUG, logger="campaignkit"):
        world.admin.discard_draft(live.id)
    (record,) = lifecycle(caplog)
    assert record.levelno == logging.DEBUG
    assert fields(record, *TRANSITION, "detail") == (
        "campaign_changed",
        live.id,
        1,
        "discard_draft",
        "SCHEDULED",
        "SCHEDULED",
        "ada",
        "version 2",
    )
    assert record.getMessage().endswith("(version 1): version 2")


def test_a_stop_and_a_deletion_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    world = make_world()
    live = world.live()
    draft = world.draft("Spring")
    with caplog.at_level(logging.INFO, logger="campaignkit"):
        world.admin.stop(live.id)
        world.admin.delete(draft.id)
    stopped, removed = lifecycle(caplog)
    assert fields(stopped, *TRANSITION) == (
        "campaign_changed",
        live.id,
        1,
        "stop",
        "LIVE",
        "STOPPED",
        "ada",
    )
    assert fields(removed, "event", "campaign_id", "action", "actor", "at") == (
        "campaign_removed",
        draft.id,
        "delete",
        "ada",
        world.clock.now().isoformat(),
    )
    assert removed.levelno == logging.INFO
    assert removed.getMessage() == f"campaign {draft.id}: delete by ada"


def test_a_failed_campaign_logs_a_warning_with_its_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock(T0)
    audiences = SwitchableAudiences()
    audiences.statuses["vip"] = ck.AudienceStatus.READY
    kit, ada, action = small_kit(clock, audiences=audiences)
    campaign = ada.create_campaign(
        name="Promo", audience="vip", namespace="email", actions=[action]
    )
    ada.activate(campaign.id)
    audiences.statuses["vip"] = None
    with caplog.at_level(logging.WARNING, logger="campaignkit"):
        kit.tick()
    (record,) = lifecycle(caplog)
    assert record.levelno == logging.WARNING
    assert fields(record, "action", "from_status", "to_status", "actor") == (
        "prepare",
        "ACTIVATING",
        "FAILED",
        "system",
    )
    assert "audience 'vip'" in record.detail  # type: ignore[attr-defined]
    assert "audience 'vip'" in record.getMessage()


def test_approval_steps_are_logged_with_the_policy_and_note(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = make_world()
    kit = world.kit
    kit.access.assign("max", ck.ProductProfile.MANAGER)
    kit.access.assign("april", ck.ProductProfile.APPROVER)
    created = world.admin.create_approval_policy(name="Brand review", reviewers=["april"])
    policy = world.admin.activate_approval_policy(created.id)
    max_, april = kit.as_user("max"), kit.as_user("april")
    draft = world.draft(session=max_)
    with caplog.at_level(logging.INFO, logger="campaignkit"):
        max_.request_approval(draft.id, message="Ready for review")
        april.approve(draft.id, comment="Fine")
    approvals = [r for r in lifecycle(caplog) if r.event == "approval"]  # type: ignore[attr-defined]
    names = ("campaign_id", "campaign_name", "version", "approval", "actor", "policy_id", "note")
    assert [fields(r, *names) for r in approvals] == [
        (draft.id, "Winter sale", 1, "requested", "max", policy.id, "Ready for review"),
        (draft.id, "Winter sale", 1, "approved", "april", policy.id, "Fine"),
    ]
    assert approvals[0].getMessage() == (
        f"campaign {draft.id} (Winter sale): approval requested by max (version 1)"
    )
    changes = [r for r in lifecycle(caplog) if r.event == "campaign_changed"]  # type: ignore[attr-defined]
    assert [fields(r, "action", "to_status") for r in changes] == [
        ("request_approval", "IN_REVIEW"),
        ("approve", "ACTIVATING"),
    ]


def test_nothing_is_worked_out_while_the_logger_is_disabled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = make_world()
    with caplog.at_level(logging.ERROR, logger="campaignkit"):
        world.live()
        world.admin.delete(world.draft("Spring").id)
        world.kit.access.assign("april", ck.ProductProfile.APPROVER)
        created = world.admin.create_approval_policy(name="Brand", reviewers=["april"])
        world.admin.activate_approval_policy(created.id)
        world.admin.request_approval(world.draft("Autumn").id)
    assert lifecycle(caplog) == []


def test_the_event_carries_the_live_version_after_a_new_one_is_activated() -> None:
    world = make_world()
    live = world.scheduled()
    world.admin.modify(live.id)
    world.admin.activate(live.id)
    event = world.events[-1]
    assert isinstance(event, ck.CampaignChanged)
    assert event.version == 2
    assert event == ck.CampaignChanged(live.id, event.entry)  # the version is derived
