"""Fixtures of the bounded rendering tests: a world, and a kit with small limits per store
backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import campaignkit as ck
from tests.factories import World, make_world
from tests.unit.render_limits.support import SMALL, C, kit_with


@pytest.fixture
def world() -> World:
    """The shared test world; p1 and p2 (audience vip) are sendable."""
    built = make_world()
    for pid in ("p1", "p2"):
        built.kit.profiles.upsert(
            ck.Profile(
                id=pid,
                identities={"email": f"{pid}@example.com"},
                attributes={"firstName": pid.upper()},
                consents={C.EMAIL: True},
            )
        )
    return built


@pytest.fixture(params=["memory", "sqlite"])
def small_kit(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ck.CampaignKit]:
    kit = kit_with(SMALL, tmp_path / "kit.db" if request.param == "sqlite" else None)
    yield kit
    kit.close()
