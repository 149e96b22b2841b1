"""Helpers of the pipeline attack tests: host audiences, bounded waits, and the ``Env`` of a
kit on the in-memory store or a SQLite file."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence

import attrs
import pendulum

import campaignkit as ck
from campaignkit.testing import ManualClock
from tests.factories import person

T0 = pendulum.datetime(2027, 3, 1, 9, tz="UTC")
EMAIL = ck.ChannelType.EMAIL


# ---------------------------------------------------------------- helpers


class HostAudiences:
    """A host audience source handing over whatever profiles it was given."""

    def __init__(self, audiences: Mapping[str, Sequence[ck.Profile]]) -> None:
        self.audiences = dict(audiences)
        self.raise_at: int | None = None
        self.interrupt = False

    def status(self, name: str) -> ck.AudienceStatus | None:
        return ck.AudienceStatus.READY if name in self.audiences else None

    def count(self, name: str) -> int | None:
        return len(self.audiences[name]) if name in self.audiences else None

    def members(
        self, name: str, *, namespace: str, batch_size: int
    ) -> Iterator[Sequence[ck.Profile]]:
        members = self.audiences[name]
        for number, start in enumerate(range(0, len(members), batch_size)):
            if number == self.raise_at:
                if self.interrupt:
                    raise KeyboardInterrupt
                raise RuntimeError("audience service down")
            yield members[start : start + batch_size]


def _wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    """Poll ``condition()`` every 10 ms of real time, up to ``seconds``."""
    pause = threading.Event()
    for _ in range(int(seconds * 100)):
        if condition():
            return True
        pause.wait(0.01)
    return False


@attrs.define
class Env:
    kit: ck.CampaignKit
    clock: ManualClock
    admin: ck.UserSession
    surface: ck.ChannelSurface

    def campaign(
        self,
        audience: str,
        subject: str = "Hi",
        *,
        schedule: ck.Schedule | None = None,
        name: str = "Crowd",
    ) -> ck.Campaign:
        return self.admin.create_campaign(
            name=name,
            audience=audience,
            namespace="email",
            actions=[ck.Action(self.surface.id, ck.EmailContent(subject=subject, html="<p>x</p>"))],
            schedule=schedule or ck.Schedule(),
        )

    def start(self, audience: str, subject: str = "Hi", **kwargs: object) -> ck.Campaign:
        campaign = self.campaign(audience, subject, **kwargs)  # type: ignore[arg-type]
        self.admin.activate(campaign.id)
        return campaign

    def run_of(self, campaign_id: str) -> ck.Run:
        with self.kit.store.unit_of_work() as uow:
            (run,) = uow.runs.for_campaign(campaign_id)
        return run

    def entries(self, campaign_id: str) -> list[ck.LedgerEntry]:
        run = self.run_of(campaign_id)
        with self.kit.store.unit_of_work() as uow:
            return list(uow.ledger.entries(run.id))


def accept(message: ck.Message) -> ck.SendResult:
    return ck.Accepted(f"id-{message.idempotency_key}")


def crowd(count: int, **attributes: object) -> list[ck.Profile]:
    return [person(f"p{i:03d}", **attributes) for i in range(count)]
