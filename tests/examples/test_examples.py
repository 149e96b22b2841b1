"""Every script in examples/ runs to completion, and the CLI demo works."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from campaignkit.cli import main

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((ROOT / "examples").glob("*.py"))


def test_there_are_examples() -> None:
    assert SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_example_runs(script: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(script), run_name="__main__")
    assert capsys.readouterr().out.strip(), f"{script.name} should print what it shows"


def test_demo_prints_the_status_timeline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "demo.db"
    assert main(["demo", "--db", str(database)]) == 0
    assert database.exists()
    out = capsys.readouterr().out
    timeline = [line.split()[1] for line in out.splitlines() if line.startswith("  2026-")]
    assert timeline == ["create", "activate", "prepare", "go_live", "complete"]
    assert "LIVE -> COMPLETED" in out


def test_python_dash_m_campaignkit_demo_runs_in_a_fresh_process() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "campaignkit", "demo"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "SCHEDULED -> LIVE" in done.stdout


def test_cli_without_a_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2
    assert "usage" in capsys.readouterr().err


def test_python_dash_m_entry_point_runs_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["campaignkit", "demo"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_module("campaignkit", run_name="__main__")
    assert exited.value.code == 0
    assert "status timeline" in capsys.readouterr().out
