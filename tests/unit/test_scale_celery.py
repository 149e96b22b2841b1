"""``campaignkit.celery`` without a broker: registration, options, eager runs, a broker down.

The same code on real brokers and real workers runs in
tests/integration/test_scale_celery.py.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest

import campaignkit as ck
from campaignkit.scale import forget_kits
from tests.integration import scale_kits


def needs(module: str) -> Any:
    """Import an optional test dependency: skip without it, except under CI=true (fail)."""
    if os.environ.get("CI") == "true":
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"needs {module}: pip install -e '.[dev]'")


celery = needs("celery")
import campaignkit.celery as ck_celery  # noqa: E402 - after the check that celery is there

RECORDER: Final = "tests.integration.scale_kits:make_recorder"


@pytest.fixture(autouse=True)
def call_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    log = tmp_path / "calls.log"
    monkeypatch.setenv(scale_kits.LOG, str(log))
    monkeypatch.delenv(scale_kits.REPORT, raising=False)
    forget_kits()
    yield log
    forget_kits()


def test_register_refuses_a_wrong_app_and_factory_together() -> None:
    with pytest.raises(ck.ValidationError) as caught:
        ck_celery.register(object(), "nope")  # type: ignore[arg-type]
    assert caught.value.subject == "campaignkit.celery.register"
    assert [p.split()[0] for p in caught.value.problems] == ["app", "factory"]


def test_register_sets_the_task_options_and_prefetch_one() -> None:
    app = celery.Celery("host", broker="memory://")
    app.conf.worker_prefetch_multiplier = 4
    submitter = ck_celery.register(app, RECORDER)
    assert app.conf.worker_prefetch_multiplier == 1
    task = app.tasks[ck_celery.TASK_NAME]
    assert submitter.task.name == task.name == "campaignkit.work_shard"
    assert (task.acks_late, task.reject_on_worker_lost, task.ignore_result) == (True, True, True)
    assert submitter.factory == RECORDER
    assert repr(submitter) == f"CelerySubmitter('host', factory={RECORDER!r})"


def test_registering_again_gives_the_same_submitter_unless_the_factory_differs() -> None:
    app = celery.Celery("host", broker="memory://")
    submitter = ck_celery.register(app, RECORDER)
    assert ck_celery.register(app, RECORDER) is submitter
    with pytest.raises(ck.ValidationError, match="with the factory") as caught:
        ck_celery.register(app, "tests.integration.scale_kits:make_kit")
    assert caught.value.problems[0].startswith("factory ")
    other = celery.Celery("other", broker="memory://")
    assert ck_celery.register(other, RECORDER) is not submitter


def test_the_task_works_the_shard_with_the_registered_factorys_kit(call_log: Path) -> None:
    app = celery.Celery("host", broker="memory://")
    app.conf.task_always_eager = True  # runs in this process: the task body itself
    submitter = ck_celery.register(app, RECORDER)
    submitter.submit("run_1", 2)
    submitter.submit("boom", 3)  # a task that raises is the worker's problem, not the sender's
    assert [line.split()[:2] for line in call_log.read_text().splitlines()] == [
        ["run_1", "2"],
        ["boom", "3"],
    ]
    assert submitter.failures == []


def test_a_broker_that_cannot_be_reached_is_logged_and_kept_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = celery.Celery("host", broker="amqp://guest:guest@127.0.0.1:1//")
    app.conf.task_publish_retry = False
    app.conf.broker_connection_timeout = 2
    submitter = ck_celery.register(app, RECORDER)
    submitter.submit("run_1", 0)
    (failure,) = submitter.failures
    assert (failure.run_id, failure.number) == ("run_1", 0)
    assert "shard 0 of run run_1 could not be sent to the broker" in caplog.text


def test_without_the_extra_the_module_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "celery", None)  # import celery raises ImportError
    monkeypatch.delitem(sys.modules, "campaignkit.celery")
    with pytest.raises(ck.MissingDependency, match=r"pip install 'campaignkit\[celery\]'"):
        importlib.import_module("campaignkit.celery")
