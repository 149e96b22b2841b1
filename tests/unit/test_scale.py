"""Scale-out plumbing in one process: factories, the kit's keywords, the executor submitter.

Factories are named by their dotted path in ``tests.integration.scale_kits``;
executors are thread pools or small fakes here (the process pool runs in
tests/integration/test_scale_executor.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Final

import pytest

import campaignkit as ck
from campaignkit.scale import (
    ExecutorSubmitter,
    ShardFailure,
    forget_kits,
    kit_for,
    load_factory,
    work_shard_task,
)
from campaignkit.scale import factory as factory_module
from campaignkit.testing import ManualClock
from tests.integration import scale_kits

KITS: Final = "tests.integration.scale_kits"
RECORDER: Final = f"{KITS}:make_recorder"


@pytest.fixture(autouse=True)
def call_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No kit kept from another test; the recorder's log in a fresh file."""
    log = tmp_path / "calls.log"
    monkeypatch.setenv(scale_kits.LOG, str(log))
    monkeypatch.delenv(scale_kits.REPORT, raising=False)
    forget_kits()
    yield log
    forget_kits()


def submit_of(kit: ck.CampaignKit) -> Callable[[str, int], None] | None:
    assert kit.runner.shards is not None
    return kit.runner.shards.submit


def calls(log: Path) -> list[list[str]]:
    return [line.split() for line in log.read_text(encoding="utf-8").splitlines()]


# ---------------------------------------------------------------- factories


@pytest.mark.parametrize(
    ("reference", "said"),
    [
        (42, "factory must be a string"),
        ("make_kit", "factory must read"),
        ("myshop.kits:", "factory must read"),
        (":make_kit", "factory must read"),
        ("my shop:make_kit", "factory must read"),
        ("myshop..kits:make_kit", "factory must read"),
        ("..kits:make_kit", "factory must read"),
        ("a:" + "b" * 1000, "factory must read"),
        (f"{KITS}_absent:make_kit", "cannot import module 'tests.integration.scale_kits_absent'"),
        (f"{KITS}:make_absent", "has no attribute 'make_absent'"),
        (f"{KITS}:Recorder.absent", "has no attribute 'Recorder.absent'"),
        (f"{KITS}:not_a_function", "must name a function, not int 42"),
    ],
)
def test_a_wrong_factory_is_refused_naming_it(reference: object, said: str) -> None:
    with pytest.raises(ck.ValidationError, match="factory") as caught:
        load_factory(reference)  # type: ignore[arg-type]
    assert caught.value.subject == "factory"
    assert said in caught.value.problems[0]
    assert caught.value.problems[0].startswith("factory")


def test_load_factory_gives_the_function_and_follows_dotted_attributes() -> None:
    found: object = load_factory(RECORDER)
    assert found is scale_kits.make_recorder
    method: object = load_factory(f"{KITS}:Recorder.work_shard")
    assert method is scale_kits.Recorder.work_shard


def test_kit_for_builds_once_per_process_and_again_after_a_fork(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = scale_kits.builds
    kit = kit_for(RECORDER)
    assert kit_for(RECORDER) is kit
    assert scale_kits.builds == before + 1
    # a child process (another pid) never reuses the parent's kit
    monkeypatch.setattr(factory_module, "os", SimpleNamespace(getpid=lambda: -1))
    child = kit_for(RECORDER)
    assert child is not kit
    assert kit_for(RECORDER) is child
    assert scale_kits.builds == before + 2
    forget_kits()
    assert kit_for(RECORDER) is not child


def test_kit_for_refuses_a_factory_that_returns_no_kit() -> None:
    with pytest.raises(ck.ValidationError, match=r"must return a ck\.CampaignKit, not int 7"):
        kit_for(f"{KITS}:make_nothing")


def test_a_factory_that_raises_is_called_again_by_the_next_task() -> None:
    for _ in range(2):
        with pytest.raises(RuntimeError, match="cannot reach its store"):
            kit_for(f"{KITS}:make_broken")


def test_work_shard_task_calls_the_factorys_kit(
    call_log: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="campaignkit.scale"):
        assert work_shard_task(RECORDER, "run_1", 2)
        assert not work_shard_task(RECORDER, "run_1", 3)
    assert [c[:2] for c in calls(call_log)] == [["run_1", "2"], ["run_1", "3"]]
    assert "shard 2 of run run_1: finished here" in caplog.text
    assert "shard 3 of run run_1: left alone" in caplog.text


# ---------------------------------------------------------------- the executor submitter


class Refusing:
    """An executor that was shut down."""

    def submit(self, fn: Callable[..., bool], /, *args: Any) -> Future[bool]:
        raise RuntimeError("cannot schedule new futures after shutdown")


class Holding:
    """An executor that keeps every task pending (the test settles its futures)."""

    def __init__(self) -> None:
        self.futures: list[Future[bool]] = []

    def submit(self, fn: Callable[..., bool], /, *args: Any) -> Future[bool]:
        future: Future[bool] = Future()
        self.futures.append(future)
        return future


def test_the_submitter_checks_its_executor_and_factory_together() -> None:
    with pytest.raises(ck.ValidationError) as caught:
        ExecutorSubmitter(object(), "nope")  # type: ignore[arg-type]
    assert caught.value.subject == "ExecutorSubmitter"
    assert [p.split()[0] for p in caught.value.problems] == ["executor", "factory"]


def test_thread_pool_tasks_finish_and_failures_are_kept(
    call_log: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        submitter = ExecutorSubmitter(pool, RECORDER)
        submitter.submit("run_1", 0)
        submitter.submit("boom", 1)
        assert submitter.wait(30)
    assert submitter.outstanding == 0
    assert sorted(c[:2] for c in calls(call_log)) == [["boom", "1"], ["run_1", "0"]]
    assert submitter.failures == [ShardFailure("boom", 1, "RuntimeError: shard 1 exploded")]
    assert "shard 1 of run boom failed (RuntimeError: shard 1 exploded)" in caplog.text
    assert "its lease lapses" in caplog.text
    assert repr(submitter).startswith("ExecutorSubmitter(<concurrent.futures.thread")


def test_a_refused_submission_is_logged_and_kept_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    submitter = ExecutorSubmitter(Refusing(), RECORDER)
    submitter.submit("run_1", 4)  # does not raise into the engine
    assert submitter.outstanding == 0
    assert submitter.wait(0)
    (failure,) = submitter.failures
    assert failure.error == "RuntimeError: cannot schedule new futures after shutdown"
    assert "shard 4 of run run_1 could not be submitted" in caplog.text


def test_a_cancelled_task_is_kept_and_wait_times_out_while_one_is_pending() -> None:
    executor = Holding()
    submitter = ExecutorSubmitter(executor, RECORDER)
    submitter.submit("run_1", 0)
    submitter.submit("run_1", 1)
    assert submitter.outstanding == 2
    assert not submitter.wait(0)
    assert executor.futures[0].cancel()
    executor.futures[1].set_result(True)
    assert submitter.wait(0)
    assert submitter.failures == [ShardFailure("run_1", 0, "cancelled")]


class Merging:
    """Dask's executor as it submits (``pure=True``): an equal call while one is held
    returns that one's future and runs nothing new."""

    def __init__(self) -> None:
        self.tasks: dict[tuple[Callable[..., bool], tuple[Any, ...]], Future[bool]] = {}

    def submit(self, fn: Callable[..., bool], /, *args: Any) -> Future[bool]:
        return self.tasks.setdefault((fn, args), Future())


def test_a_shard_handed_over_again_is_a_new_task_on_an_engine_merging_equal_calls(
    call_log: Path,
) -> None:
    executor = Merging()
    submitter = ExecutorSubmitter(executor, RECORDER)
    submitter.submit("run_1", 0)  # its worker stalls: the task stays pending
    submitter.submit("run_1", 0)  # the lease lapsed: handed over again, must run again
    assert len(executor.tasks) == 2
    assert submitter.outstanding == 2
    (fn, args), _ = executor.tasks
    assert fn(*args)  # the token changes nothing in the work
    assert [c[:2] for c in calls(call_log)] == [["run_1", "0"]]


def test_failures_keep_only_the_latest() -> None:
    submitter = ExecutorSubmitter(Refusing(), RECORDER)
    for number in range(1005):
        submitter.submit("run_1", number)
    kept = submitter.failures
    assert len(kept) == 1000
    assert (kept[0].number, kept[-1].number) == (5, 1004)


# ---------------------------------------------------------------- the kit's keywords


def test_a_kit_with_an_executor_hands_its_shards_to_an_executor_submitter() -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        kit = ck.CampaignKit.in_memory(ManualClock())
        assert kit.shard_submitter is None
        assert submit_of(kit) is None
        kit = ck.CampaignKit(
            store=kit.store, clock=kit.clock, executor=pool, factory=f"{KITS}:make_kit"
        )
        submitter = kit.shard_submitter
        assert isinstance(submitter, ExecutorSubmitter)
        assert (submitter.executor, submitter.factory) == (pool, f"{KITS}:make_kit")
        assert submit_of(kit) == submitter.submit


def test_a_shard_submitter_can_be_set_and_removed_later() -> None:
    kit = ck.CampaignKit.in_memory(ManualClock())
    seen: list[tuple[str, int]] = []
    mine = SimpleNamespace(submit=lambda run_id, number: seen.append((run_id, number)))
    kit.shard_submitter = mine
    assert kit.shard_submitter is mine
    submit = submit_of(kit)
    assert submit is not None
    submit("run_1", 3)
    assert seen == [("run_1", 3)]
    kit.shard_submitter = None
    assert submit_of(kit) is None
    with pytest.raises(ck.ValidationError, match="shard_submitter must be a ShardSubmitter"):
        kit.shard_submitter = threading.Event()  # type: ignore[assignment]


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ({"executor": ThreadPoolExecutor}, ["executor and factory go together"]),
        ({"factory": f"{KITS}:make_kit"}, ["executor and factory go together"]),
        (
            {"executor": "pool", "factory": "make_kit"},
            ["executor must be a concurrent.futures.Executor", "factory must read"],
        ),
    ],
)
def test_the_kit_refuses_wrong_executor_or_factory_keywords(
    given: dict[str, Any], said: list[str], tmp_path: Path
) -> None:
    kit = ck.CampaignKit.in_memory(ManualClock())
    path = tmp_path / "never.db"
    attempts: list[Callable[[], object]] = [
        lambda: ck.CampaignKit(store=kit.store, clock=kit.clock, **given),
        lambda: ck.CampaignKit.sqlite(path, **given),
        lambda: ck.CampaignKit.postgres("postgresql://127.0.0.1:1/none", **given),
    ]
    for attempt in attempts:
        with pytest.raises(ck.ValidationError) as caught:
            attempt()
        assert caught.value.subject == "CampaignKit"
        for fragment in said:
            assert any(fragment in p for p in caught.value.problems), caught.value.problems
    assert not path.exists()  # refused before the file was created


def test_sqlite_kits_take_the_executor_keywords(tmp_path: Path) -> None:
    with (
        ThreadPoolExecutor(max_workers=1) as pool,
        ck.CampaignKit.sqlite(
            tmp_path / "s.db", clock=ManualClock(), executor=pool, factory=RECORDER
        ) as kit,
    ):
        assert isinstance(kit.shard_submitter, ExecutorSubmitter)
