"""``campaignkit worker --factory`` in this process: refusals and the run path (typer and argparse).

The worker really running from a factory, in its own process, is in
tests/integration/test_scale_cli.py.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from campaignkit.cli import main
from tests.integration import scale_kits

KITS = "tests.integration.scale_kits"


@pytest.fixture(autouse=True)
def _campaignkit_log_level() -> Iterator[None]:
    """The worker sets the campaignkit loggers' level: put it back."""
    logger = logging.getLogger("campaignkit")
    level = logger.level
    yield
    logger.setLevel(level)


@pytest.fixture(params=["typer", "argparse"])
def cli(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "argparse":
        monkeypatch.setitem(sys.modules, "typer", None)  # the fallback without the cli extra
    return str(request.param)


def usage_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    return capsys.readouterr().err


def test_factory_excludes_config(cli: str, capsys: pytest.CaptureFixture[str]) -> None:
    said = usage_error(["worker", "--factory", f"{KITS}:make_kit", "--config", "w.toml"], capsys)
    assert "leave out --config" in said


def test_db_is_the_factorys_one_argument(
    cli: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the issue's own example: campaignkit worker --db ... --factory pkg.mod:make_kit
    database = str(tmp_path / "given.db")
    args = ["worker", "--db", database, "--factory", f"{KITS}:make_interrupted_on"]
    assert main([*args, "--log-level", "DEBUG"]) == 130
    assert scale_kits.given[-1] == database
    # a factory without a parameter cannot take it: refused in one line, naming both
    assert main(["worker", "--db", database, "--factory", f"{KITS}:make_interrupted"]) == 1
    err = capsys.readouterr().err
    assert "takes no argument, so it cannot be given --db" in err


def test_an_empty_db_is_not_handed_to_the_factory(
    cli: str, capsys: pytest.CaptureFixture[str]
) -> None:
    said = usage_error(["worker", "--db", "", "--factory", f"{KITS}:make_interrupted_on"], capsys)
    assert "--db is empty" in said


def test_the_fallback_worker_needs_db_or_factory(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "typer", None)
    assert "--db (or --factory)" in usage_error(["worker"], capsys)


def test_a_wrong_or_failing_factory_is_refused_in_one_line(
    cli: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = [
        ("make_kit", "factory must read"),
        (f"{KITS}:make_nothing", "must return a ck.CampaignKit, not int 7"),
        (
            f"{KITS}:make_broken",
            f"the factory {KITS}:make_broken raised RuntimeError: "
            "the factory cannot reach its store",
        ),
    ]
    for factory, said in cases:
        assert main(["worker", "--factory", factory]) == 1
        err = capsys.readouterr().err
        assert err.startswith("campaignkit worker: error: ")
        assert said in err


def test_the_factorys_kit_runs_the_worker_loop(cli: str) -> None:
    # its tick raises KeyboardInterrupt, as a second Ctrl-C would: the loop ran, and ends
    assert main(["worker", "--factory", f"{KITS}:make_interrupted", "--log-level", "DEBUG"]) == 130
