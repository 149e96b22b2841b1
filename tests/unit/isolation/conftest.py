"""Fixtures of the isolation tests: the store backend, and an environment builder on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import campaignkit as ck
from campaignkit.testing import ManualClock, RecordingChannel, SequentialIds
from tests.unit.isolation.support import EMAIL, T0, Env, HostAudiences


@pytest.fixture(params=["memory", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_env(backend: str, tmp_path: Path) -> Iterator[object]:
    kits: list[ck.CampaignKit] = []

    def make(
        audiences: HostAudiences | None = None,
        channel: ck.Channel | None = None,
        delivery: ck.DeliverySettings | None = None,
    ) -> Env:
        clock = ManualClock(T0)
        path = tmp_path / "kit.db" if backend == "sqlite" else None
        options: dict[str, object] = {
            "clock": clock,
            "ids": SequentialIds(),
            "audiences": audiences,
            "delivery": delivery or ck.DeliverySettings(batch_size=100),
            "channels": {EMAIL: channel or RecordingChannel("email")},
        }
        kit = (
            ck.CampaignKit.sqlite(path, **options)  # type: ignore[arg-type]
            if path is not None
            else ck.CampaignKit.in_memory(**options)  # type: ignore[arg-type]
        )
        kits.append(kit)
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        admin = kit.as_user("ada")
        surface = admin.create_surface(
            name="News", channel=EMAIL, settings=ck.EmailSettings(sender="n@example.com")
        )
        return Env(kit, clock, admin, surface, path)

    yield make
    for kit in kits:
        kit.close()
