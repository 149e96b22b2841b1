"""A worker whose channel call outlasts its lease loses the run cleanly.

Two kits (two workers) share a SQLite file and one ManualClock. Worker A's
channel takes 90 seconds over its first message (longer than the one-minute
lease); meanwhile worker B ticks, finds the lease lapsed, takes the run over
and re-sends what A had in flight with the same idempotency keys (the
documented guarantee). When A's slow call returns, A must record nothing: the
run's counts and the frequency-cap contacts count every recipient once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pendulum

import campaignkit as ck
from campaignkit.testing import CallbackChannel, ManualClock, SequentialIds

T0 = pendulum.datetime(2027, 6, 1, 9, tz="UTC")
EMAIL = ck.ChannelType.EMAIL
PEOPLE = [f"p{i}" for i in range(6)]


def _seed(path: Path, clock: ManualClock) -> str:
    with ck.CampaignKit.sqlite(path, clock=clock, ids=SequentialIds()) as kit:
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        ada = kit.as_user("ada")
        surface = ada.create_surface(
            name="News", channel=EMAIL, settings=ck.EmailSettings(sender="n@example.com")
        )
        for pid in PEOPLE:
            kit.profiles.upsert(
                ck.Profile(pid, identities={"email": f"{pid}@example.com"}, consents={EMAIL: True})
            )
        kit.audiences.define("all", PEOPLE)
        campaign = ada.create_campaign(
            name="News",
            audience="all",
            namespace="email",
            actions=[ck.Action(surface.id, ck.EmailContent(subject="Hi", html="<p>Hi</p>"))],
        )
        ada.activate(campaign.id)
        return campaign.id


def _workers(
    path: Path, clock: ManualClock, **channels: Callable[[ck.Message], ck.SendResult]
) -> dict[str, ck.CampaignKit]:
    """One kit (worker) per name on the same file and clock, each with its email channel."""
    return {
        name: ck.CampaignKit.sqlite(
            path,
            clock=clock,
            channels={EMAIL: CallbackChannel(deliver)},
            delivery=ck.DeliverySettings(batch_size=2),
        )
        for name, deliver in channels.items()
    }


def test_a_worker_that_lost_its_lease_records_nothing(tmp_path: Path) -> None:
    path = tmp_path / "kit.db"
    clock = ManualClock(T0)
    campaign_id = _seed(path, clock)
    handed: list[tuple[str, str]] = []  # (idempotency key, worker)
    kits: dict[str, ck.CampaignKit] = {}

    def slow(message: ck.Message) -> ck.SendResult:
        handed.append((message.idempotency_key, "A"))
        if len(handed) == 1:  # the first call hangs past the lease; B ticks meanwhile
            clock.set(clock.now().add(seconds=90))
            kits["B"].tick()
        return ck.Accepted(f"mail-{message.idempotency_key}")

    def quick(message: ck.Message) -> ck.SendResult:
        handed.append((message.idempotency_key, "B"))
        return ck.Accepted(f"mail-{message.idempotency_key}")

    kits.update(_workers(path, clock, A=slow, B=quick))
    try:
        kits["A"].tick()
        kits["A"].run_until(T0.add(minutes=10))

        copies = Counter(key for key, _ in handed)
        assert len(copies) == len(PEOPLE)  # everyone reached
        assert set(copies.values()) <= {1, 2}  # a copy only of what A had in flight
        assert any(worker == "B" for _, worker in handed)  # B did take the run over
        report = kits["A"].as_user("ada").report(campaign_id)
        assert (report.counts.targeted, report.sent, report.counts.pending) == (6, 6, 0)
        assert dict(report.excluded) == {}
        with kits["A"].store.unit_of_work() as uow:
            contacts = uow.contacts.counts(EMAIL, PEOPLE, T0.subtract(days=1))
        assert {pid: contacts.get(pid, 0) for pid in PEOPLE} == dict.fromkeys(PEOPLE, 1)
    finally:
        for kit in kits.values():
            kit.close()


def test_a_message_in_flight_counts_towards_another_campaigns_frequency_cap(
    tmp_path: Path,
) -> None:
    """While worker A's call is in flight, worker B runs a second campaign to the same people."""
    path = tmp_path / "kit.db"
    clock = ManualClock(T0)
    first_id = _seed(path, clock)
    kits: dict[str, ck.CampaignKit] = {}
    second: list[str] = []

    def slow(message: ck.Message) -> ck.SendResult:
        if not second:  # mid-call, another worker sends a second campaign
            ada = kits["B"].as_user("ada")
            surface = ada.list_surfaces()[0]
            campaign = ada.create_campaign(
                name="Second",
                audience="all",
                namespace="email",
                actions=[ck.Action(surface.id, ck.EmailContent(subject="Again", html="<p>2</p>"))],
            )
            ada.activate(campaign.id)
            second.append(campaign.id)
            kits["B"].tick()
        return ck.Accepted(f"mail-{message.idempotency_key}")

    kits.update(_workers(path, clock, A=slow, B=lambda m: ck.Accepted(f"b-{m.idempotency_key}")))
    try:
        kits["A"].rules.add_frequency_cap(
            EMAIL, ck.FrequencyCap(max=1, per=pendulum.duration(days=1))
        )
        kits["A"].tick()
        kits["A"].run_until(T0.add(minutes=10))
        ada = kits["A"].as_user("ada")
        capped = {ck.ExclusionReason.FREQUENCY_CAP: 2}
        first, later = ada.report(first_id), ada.report(second[0])
        # A's batch in flight (p0, p1) was already counted, so B left those two out;
        # B reached the other four first, so A's later batches left them out
        assert (later.sent, dict(later.excluded)) == (4, capped)
        assert (first.sent, dict(first.excluded)) == (2, {ck.ExclusionReason.FREQUENCY_CAP: 4})
        with kits["A"].store.unit_of_work() as uow:
            contacts = uow.contacts.counts(EMAIL, PEOPLE, T0.subtract(days=1))
        assert {pid: contacts.get(pid, 0) for pid in PEOPLE} == dict.fromkeys(PEOPLE, 1)
    finally:
        for kit in kits.values():
            kit.close()
