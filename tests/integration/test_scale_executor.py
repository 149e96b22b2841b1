"""Shards handed to a real ``ProcessPoolExecutor`` (spawned processes, as Dask's would be).

The pool's workers import ``tests.integration.scale_kits`` by the factory's
name and build their kit once per process. The first test only observes the
calls (a recorder stands in for the kit); the second delivers a real run on
a SQLite file and on PostgreSQL (a fresh schema): the scheduling kit plans
the run and submits its shards, and works none itself (a kit with a
submitter hands its shards over), so every shard is delivered by a pool
process. Nothing sleeps: the test waits on the submitter.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Final

import pendulum
import pytest

import campaignkit as ck
from campaignkit.domain.shards import total
from campaignkit.scale import ExecutorSubmitter, ShardFailure
from campaignkit.testing import ManualClock
from tests.integration import scale_kits

T0: Final = pendulum.datetime(2027, 3, 1, 9, tz="UTC")
PEOPLE: Final = 23
DEADLINE: Final = 120.0
"""Seconds a wait may take at most (a safety net: spawning takes about a second)."""


@pytest.fixture
def pool() -> Iterator[ProcessPoolExecutor]:
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as p:
        yield p


def lines(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text(encoding="utf-8").splitlines()]


def test_each_worker_builds_its_kit_once_and_failures_are_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "calls.log"
    monkeypatch.setenv(scale_kits.LOG, str(log))
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as p:
        submitter = ExecutorSubmitter(p, "tests.integration.scale_kits:make_recorder")
        for number in range(3):
            submitter.submit("run_1", number)
        submitter.submit("boom", 3)
        assert submitter.wait(DEADLINE)
    seen = lines(log)
    assert [(run, number) for run, number, _, _ in seen] == [
        ("run_1", "0"),
        ("run_1", "1"),
        ("run_1", "2"),
        ("boom", "3"),
    ]
    assert {pid for _, _, pid, _ in seen} != {str(os.getpid())}
    assert len({pid for _, _, pid, _ in seen}) == 1  # one worker process
    assert {builds for *_, builds in seen} == {"1"}  # its kit built once, for four tasks
    assert submitter.failures == [ShardFailure("boom", 3, "RuntimeError: shard 3 exploded")]


def seed(kit: ck.CampaignKit) -> str:
    """``PEOPLE`` profiles with gaps in their ids and an activated email campaign; its id."""
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    admin = kit.as_user("ada")
    mail = admin.create_surface(
        name="News",
        channel=ck.ChannelType.EMAIL,
        settings=ck.EmailSettings(sender="news@example.com"),
    )
    ids = [f"p{7 * i:04d}" for i in range(PEOPLE)]
    for pid in ids:
        kit.profiles.upsert(
            ck.Profile(
                id=pid,
                identities={"email": f"{pid}@example.com"},
                consents={ck.ChannelType.EMAIL: True},
            )
        )
    kit.audiences.define("everyone", ids)
    campaign = admin.create_campaign(
        name="Split",
        audience="everyone",
        namespace="email",
        actions=[ck.Action(mail.id, ck.EmailContent(subject="Hi", html="<p>Hi</p>"))],
    )
    admin.activate(campaign.id)
    return campaign.id


@pytest.fixture(params=["sqlite", "postgres"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., ck.CampaignKit]:
    """Opens the scheduling kit on the database the pool's factory opens too."""
    monkeypatch.setenv(scale_kits.NOW, T0.isoformat())
    if request.param == "sqlite":
        database = tmp_path / "shared.db"
        monkeypatch.setenv(scale_kits.DB, str(database))
        return functools.partial(ck.CampaignKit.sqlite, database)
    dsn: str = request.getfixturevalue("postgres_dsn")
    schema: str = request.getfixturevalue("postgres_schema")
    monkeypatch.setenv(scale_kits.DB, dsn)
    monkeypatch.setenv(scale_kits.SCHEMA, schema)
    return functools.partial(ck.CampaignKit.postgres, dsn, schema=schema)


def test_a_process_pool_delivers_every_shard_of_a_run(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    pool: ProcessPoolExecutor,
    store: Callable[..., ck.CampaignKit],
) -> None:
    log = tmp_path / "calls.log"
    monkeypatch.setenv(scale_kits.LOG, str(log))
    clock = ManualClock(T0)
    with store(
        clock=clock,
        delivery=scale_kits.SETTINGS,
        executor=pool,
        factory="tests.integration.scale_kits:make_kit",
    ) as kit:
        submitter = kit.shard_submitter
        assert isinstance(submitter, ExecutorSubmitter)
        campaign_id = seed(kit)
        kit.tick()  # plans the run and hands every shard to the pool, working none itself
        assert submitter.wait(DEADLINE)
        assert submitter.failures == []
        with kit.store.unit_of_work() as uow:
            (run,) = uow.runs.for_campaign(campaign_id)
        shards = kit.shards(run.id)
        assert [s.size for s in shards] == [5, 5, 5, 4, 4]
        assert all(s.done and s.epoch == 1 for s in shards)
        assert kit.worker_id not in {s.owner for s in shards}  # every one done by the pool
        seen = sorted(lines(log), key=lambda c: int(c[1]))
        assert [(r, n, done) for r, n, _, done in seen] == [
            (run.id, str(s.number), "True") for s in shards
        ]
        assert str(os.getpid()) not in {pid for _, _, pid, _ in seen}
        # a redelivered task is just another claim: the shard is done, nothing happens
        submitter.submit(run.id, 0)
        assert submitter.wait(DEADLINE)
        assert [lines(log)[-1][i] for i in (0, 1, 3)] == [run.id, "0", "False"]
        # the run is due again when the first shard lease could lapse; a worker ticking
        # then ends it, its counts the sum of the shards'
        clock.advance(scale_kits.SETTINGS.lease)
        kit.tick()
        with kit.store.unit_of_work() as uow:
            run = uow.runs.get(run.id)
            ledger = list(uow.ledger.entries(run.id))
    assert run.status is ck.RunStatus.SUCCEEDED
    assert run.counts == total(shards)
    assert len(ledger) == PEOPLE
    assert {e.state for e in ledger} == {ck.LedgerState.SENT}
