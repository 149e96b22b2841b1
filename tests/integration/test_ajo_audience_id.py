"""``audience.id`` on a stored kit: an audience execution naming another audience delivers
to that audience's members only, on SQLite and on PostgreSQL, and the audience the run
records survives a restart (a new kit on the same store fires the schedule)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import campaignkit as ck
from campaignkit import ajo
from campaignkit.kit import IdFactory, random_ids
from campaignkit.testing import ManualClock, SequentialIds
from tests.unit.ajo_fidelity.support import T0, World, make_world
from tests.unit.ajo_fidelity.test_audience_id import (
    OTHER,
    assert_delivers_to_the_other_audience_only,
    define_other_audience,
)

Opener = Callable[[ManualClock], ck.CampaignKit]


@pytest.fixture(params=["sqlite", "postgres"])
def open_kit(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens kits on one store: the first with ``SequentialIds``, a restart with random ids."""
    opened: list[ck.CampaignKit] = []

    def opening(clock: ManualClock) -> ck.CampaignKit:
        ids: IdFactory = SequentialIds() if not opened else random_ids
        if request.param == "sqlite":
            kit = ck.CampaignKit.sqlite(tmp_path / "kit.db", clock, ids=ids)
        else:
            dsn = request.getfixturevalue("postgres_dsn")
            schema = request.getfixturevalue("postgres_schema")
            kit = ck.CampaignKit.postgres(dsn, clock, schema=schema, ids=ids)
        opened.append(kit)
        return kit

    yield opening
    for kit in reversed(opened):
        kit.close()


def test_an_execution_naming_another_audience_delivers_to_its_members_only(
    open_kit: Opener,
) -> None:
    assert_delivers_to_the_other_audience_only(make_world(open_kit))


def test_a_scheduled_execution_keeps_its_audience_across_a_restart(open_kit: Opener) -> None:
    world = make_world(open_kit)
    define_other_audience(world)
    body = world.body("09-audience-id-scheduled.json") | {"audience": {"id": OTHER}}
    answer = ajo.execute_audience(world.admin, body)

    restarted = World(open_kit(world.clock), world.clock, world.campaigns)
    restarted.kit.run_until(T0.add(hours=2))

    assert sorted(m.address for m in restarted.sent()) == [
        "owen@example.com",
        "pia@example.com",
    ]
    status = ajo.get_execution(restarted.admin, answer["scheduleId"])
    assert (status["audienceId"], status["targetedProfileCount"]) == (OTHER, 3)
