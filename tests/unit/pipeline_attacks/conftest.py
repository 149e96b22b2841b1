"""Fixtures of the pipeline attack tests: the backend, an env factory, and the garbage
collector switched back on around every test."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import campaignkit as ck
from campaignkit.testing import CallbackChannel, ManualClock, SequentialIds
from tests.unit.pipeline_attacks.support import EMAIL, T0, Env, HostAudiences, accept


@pytest.fixture(params=["memory", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_env(backend: str, tmp_path: Path) -> Iterator[Callable[..., Env]]:
    kits: list[ck.CampaignKit] = []

    def make(
        audiences: HostAudiences | None = None,
        channel: ck.Channel | None = None,
        delivery: ck.DeliverySettings | None = None,
        clock: ManualClock | None = None,
        name: str = "kit.db",
    ) -> Env:
        clock = clock or ManualClock(T0)
        options: dict[str, object] = {
            "clock": clock,
            "ids": SequentialIds(),
            "audiences": audiences,
            "delivery": delivery or ck.DeliverySettings(batch_size=10),
            "channels": {EMAIL: channel or CallbackChannel(accept)},
        }
        kit = (
            ck.CampaignKit.sqlite(tmp_path / name, **options)  # type: ignore[arg-type]
            if backend == "sqlite"
            else ck.CampaignKit.in_memory(**options)  # type: ignore[arg-type]
        )
        kits.append(kit)
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        admin = kit.as_user("ada")
        surface = admin.create_surface(
            name="News", channel=EMAIL, settings=ck.EmailSettings(sender="n@example.com")
        )
        return Env(kit, clock, admin, surface)

    yield make
    for kit in kits:
        kit.close()


@pytest.fixture(autouse=True)
def _gc_on() -> Iterator[None]:
    """Every test starts and ends with the collector on, as a host would have it."""
    gc.enable()
    yield
    gc.enable()
