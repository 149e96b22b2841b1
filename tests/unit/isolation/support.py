"""Shared helpers of the isolation tests: the start instant, a value that cannot be printed,
a host audience source handing over whatever profiles it was given, and the test environment."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import attrs
import pendulum

import campaignkit as ck
from campaignkit.testing import ManualClock

T0 = pendulum.datetime(2027, 3, 1, 9, tz="UTC")
EMAIL = ck.ChannelType.EMAIL


class Unprintable(str):
    """An attribute value (text, so templates may print it) whose text cannot be produced."""

    def __str__(self) -> str:
        raise RuntimeError("cannot print me")


class HostAudiences:
    """A host audience source handing over whatever profiles it was given."""

    def __init__(self, audiences: Mapping[str, Sequence[ck.Profile]]) -> None:
        self.audiences = dict(audiences)
        self.broken: set[str] = set()

    def status(self, name: str) -> ck.AudienceStatus | None:
        return ck.AudienceStatus.READY if name in self.audiences else None

    def count(self, name: str) -> int | None:
        return len(self.audiences[name]) if name in self.audiences else None

    def members(
        self, name: str, *, namespace: str, batch_size: int
    ) -> Iterator[Sequence[ck.Profile]]:
        if name in self.broken:
            raise RuntimeError(f"audience service down for {name}")
        members = self.audiences[name]
        for start in range(0, len(members), batch_size):
            yield members[start : start + batch_size]


@attrs.define
class Env:
    kit: ck.CampaignKit
    clock: ManualClock
    admin: ck.UserSession
    surface: ck.ChannelSurface
    path: Path | None

    def campaign(self, name: str, audience: str, subject: str = "Hi") -> ck.Campaign:
        return self.admin.create_campaign(
            name=name,
            audience=audience,
            namespace="email",
            actions=[ck.Action(self.surface.id, ck.EmailContent(subject=subject, html="<p>x</p>"))],
        )

    def run_of(self, campaign_id: str) -> ck.Run:
        with self.kit.store.unit_of_work() as uow:
            (run,) = uow.runs.for_campaign(campaign_id)
        return run

    def entries(self, run_id: str) -> list[ck.LedgerEntry]:
        with self.kit.store.unit_of_work() as uow:
            return list(uow.ledger.entries(run_id))
