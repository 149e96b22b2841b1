"""Set-ups and checks of the verb x profile matrix for API-triggered and audience campaigns
(SPEC 9): unitary triggers, audience executions, cancellation and reading executions."""

from __future__ import annotations

import pendulum

import campaignkit as ck
from tests.factories import World
from tests.unit.permissions.support import (
    ANN,
    API,
    AUDIENCE_RUN,
    IN_PROGRESS,
    NEW_CUSTOMER,
    ORDER_SUBJECT,
    SUCCEEDED,
    TRIGGERED,
    USER,
    VIP,
    S,
)

# ----- API-triggered campaigns (SPEC 9) set-ups and checks


def _recipient(user_id: str = ANN.identities["email"], order: str = "A1") -> ck.Recipient:
    return ck.Recipient(user_id=user_id, namespace="email", context={"order": order})


def _api_marketing(world: World) -> str:
    """A LIVE API-triggered marketing campaign on ``vip``; ann and the audience exist."""
    for profile in (ANN, *VIP):
        world.kit.profiles.upsert(profile)
    campaign = world.live("Order updates", type=API, actions=[world.email_action(ORDER_SUBJECT)])
    assert (campaign.type, campaign.category, campaign.status) == (
        API,
        ck.Category.MARKETING,
        S.LIVE,
    )
    return campaign.id


def _api_transactional(world: World) -> str:
    """A LIVE API-triggered transactional campaign that creates unknown recipients."""
    receipts = world.admin.create_surface(
        name="Receipts",
        channel=ck.ChannelType.EMAIL,
        settings=ck.EmailSettings(sender="orders@example.com"),
        category=ck.Category.TRANSACTIONAL,
    )
    campaign = world.admin.create_campaign(
        name="Receipts",
        type=API,
        category=ck.Category.TRANSACTIONAL,
        namespace="email",
        actions=[ck.Action(receipts.id, ck.EmailContent(subject=ORDER_SUBJECT, html="<p>.</p>"))],
        create_profiles=True,
    )
    world.admin.activate(campaign.id)
    world.kit.tick()
    assert world.admin.get(campaign.id).status is S.LIVE
    assert world.kit.profiles.get(NEW_CUSTOMER) is None
    return campaign.id


def _scheduled_execution(world: World) -> str:
    """An audience execution of the marketing campaign, scheduled a day ahead."""
    campaign_id = _api_marketing(world)
    execution = world.admin.execute_audience(
        campaign_id, request_id="flash-sale", execute_at=world.clock.now().add(days=1)
    )
    assert execution.schedule_status is ck.ScheduleStatus.SCHEDULED
    return execution.id


def _delivered_trigger(world: World) -> str:
    """A unitary trigger of the marketing campaign to ann, delivered by a tick."""
    campaign_id = _api_marketing(world)
    execution = world.admin.trigger(campaign_id, [_recipient()], request_id="order-A1")
    world.kit.tick()
    return execution.id


def _the_api_campaign(world: World, target: str) -> str:
    """The campaign of execution ``target``: the world's only API-triggered campaign."""
    page = world.admin.list_campaigns(statuses=ck.ALL_STATUSES, limit=500)
    (campaign,) = [c for c in page.items if c.type is API]
    return campaign.id


def _execution(result: object) -> ck.Execution:
    assert isinstance(result, ck.Execution)
    return result


def _runs(world: World, campaign_id: str) -> list[ck.Run]:
    with world.kit.store.unit_of_work() as uow:
        return list(uow.runs.for_campaign(campaign_id))


def _emails(world: World) -> list[tuple[str, str, bool]]:
    """(address, subject, transactional) of every email sent so far, in address order."""
    sent = world.kit.channels[ck.ChannelType.EMAIL].sent
    return sorted((m.address, m.fields["subject"], m.transactional) for m in sent)


def _check_accepted(
    world: World,
    target: str,
    result: object,
    *,
    kind: ck.ExecutionKind,
    request_id: str,
    execute_at: pendulum.DateTime | None = None,
) -> ck.Execution:
    """Accepted at once, for ``USER``, with one pending run; nothing is sent before a tick."""
    execution = _execution(result)
    assert (
        execution.campaign_id,
        execution.request_id,
        execution.kind,
        execution.created_by,
        execution.created_at,
        execution.execute_at,
        execution.status,
        execution.targeted,
    ) == (target, request_id, kind, USER, world.clock.now(), execute_at, IN_PROGRESS, 0)
    assert world.admin.execution(execution.id) == execution
    run_kind = ck.RunKind.TRIGGER if kind is ck.ExecutionKind.UNITARY else AUDIENCE_RUN
    (run,) = _runs(world, target)
    assert (run.id, run.kind, run.status) == (execution.run_id, run_kind, ck.RunStatus.PENDING)
    assert _emails(world) == []
    return execution


def _delivered(world: World, execution_id: str, targeted: int) -> None:
    done = world.admin.execution(execution_id)
    assert (done.schedule_status, done.status, done.targeted) == (TRIGGERED, SUCCEEDED, targeted)


def _check_triggered(world: World, target: str, result: object) -> None:
    execution = _check_accepted(
        world, target, result, kind=ck.ExecutionKind.UNITARY, request_id="order-A1"
    )
    assert execution.schedule_status is TRIGGERED
    world.kit.tick()
    assert _emails(world) == [("ann@example.com", "Order A1", False)]
    _delivered(world, execution.id, 1)


def _check_triggered_a_new_customer(world: World, target: str, result: object) -> None:
    execution = _check_accepted(
        world, target, result, kind=ck.ExecutionKind.UNITARY, request_id="order-B2"
    )
    created = world.kit.profiles.get(NEW_CUSTOMER)
    assert created is not None
    assert created.identities == {"email": NEW_CUSTOMER}
    world.kit.tick()
    assert _emails(world) == [(NEW_CUSTOMER, "Order B2", True)]
    _delivered(world, execution.id, 1)


def _check_audience_executed(world: World, target: str, result: object) -> None:
    execution = _check_accepted(
        world, target, result, kind=ck.ExecutionKind.AUDIENCE, request_id="flash-sale"
    )
    assert execution.schedule_status is TRIGGERED  # not scheduled: it runs on the next tick
    world.kit.tick()
    assert _emails(world) == [
        ("p1@example.com", "Order S1", False),
        ("p2@example.com", "Order S1", False),
    ]
    _delivered(world, execution.id, 2)


def _check_audience_scheduled(world: World, target: str, result: object) -> None:
    at = world.clock.now().add(hours=2)
    execution = _check_accepted(
        world,
        target,
        result,
        kind=ck.ExecutionKind.AUDIENCE,
        request_id="flash-sale",
        execute_at=at,
    )
    assert execution.schedule_status is ck.ScheduleStatus.SCHEDULED
    world.kit.tick()
    assert _emails(world) == []  # not before its execute_at
    world.kit.run_until(at)
    assert [address for address, _, _ in _emails(world)] == ["p1@example.com", "p2@example.com"]
    _delivered(world, execution.id, 2)


def _check_execution_cancelled(world: World, target: str, result: object) -> None:
    execution = _execution(result)
    assert (execution.id, execution.schedule_status, execution.status) == (
        target,
        ck.ScheduleStatus.CANCELLED,
        ck.ExecutionStatus.CANCELLED,
    )
    assert world.admin.execution(target) == execution
    (run,) = _runs(world, execution.campaign_id)
    assert (run.id, run.status) == (execution.run_id, ck.RunStatus.CANCELLED)
    assert execution.execute_at is not None
    world.kit.run_until(execution.execute_at.add(hours=1))
    assert _emails(world) == []  # it never fires
    assert world.admin.execution(target) == execution


def _check_execution_read(world: World, target: str, result: object) -> None:
    execution = _execution(result)
    assert execution == world.admin.execution(target)
    assert (execution.id, execution.kind, execution.request_id, execution.created_by) == (
        target,
        ck.ExecutionKind.UNITARY,
        "order-A1",
        "ada",
    )
    assert (execution.schedule_status, execution.status, execution.targeted) == (
        TRIGGERED,
        SUCCEEDED,
        1,
    )
