"""Permissions of API-triggered campaigns: a manager cannot trigger, execute or cancel, and
reading an execution needs campaign.read."""

from __future__ import annotations

import pytest

import campaignkit as ck
from tests.unit.triggers.support import MANAGER, MKT, NOBODY, T0, VIEWER, Env, ann

# ---------------------------------------------------------------------- permissions


def test_a_manager_cannot_trigger_execute_or_cancel(env: Env) -> None:
    transactional = env.campaign()
    marketing = env.campaign(category=MKT, audience="vip")
    scheduled = env.admin.execute_audience(marketing.id, request_id="s", execute_at=T0.add(hours=1))
    manager = env.session(MANAGER)

    with pytest.raises(ck.PermissionDenied, match=r"campaign\.publish"):
        manager.trigger(transactional.id, [ann()], request_id="r")
    with pytest.raises(ck.PermissionDenied, match=r"campaign\.publish"):
        manager.execute_audience(marketing.id, request_id="a")
    with pytest.raises(ck.PermissionDenied, match=r"campaign\.publish"):
        manager.cancel_execution(scheduled.id)

    env.assert_nothing_happened(transactional.id, "r")
    assert env.record(marketing.id, "a") is None
    assert manager.execution(scheduled.id).schedule_status is ck.ScheduleStatus.SCHEDULED
    env.kit.run_until(T0.add(hours=1))
    assert len(env.sent()) == 2  # the schedule was not cancelled


@pytest.mark.parametrize("user", [MANAGER, VIEWER])
def test_reading_an_execution_needs_campaign_read(env: Env, user: str) -> None:
    campaign = env.campaign()
    execution = env.admin.trigger(campaign.id, [ann()], request_id="r")

    assert env.session(user).execution(execution.id).id == execution.id
    with pytest.raises(ck.PermissionDenied, match=r"campaign\.read"):
        env.session(NOBODY).execution(execution.id)
    with pytest.raises(ck.PermissionDenied):
        env.session(NOBODY).execution("exe_missing")
