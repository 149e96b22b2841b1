"""Every script in examples/ runs to completion, and the CLI demo works."""

from __future__ import annotations

import contextlib
import runpy
import sqlite3
import subprocess
import sys
from pathlib import Path

import pendulum
import pytest

import campaignkit as ck
from campaignkit.cli import main
from campaignkit.demo import DEFAULT_DATABASE, DEMO_MARKER, is_demo_database
from campaignkit.testing import ManualClock

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((ROOT / "examples").glob("*.py"))


def test_there_are_examples() -> None:
    assert SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_example_runs(
    script: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", [str(script)])  # as `python script.py`, no arguments
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


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m campaignkit ARGS`` in a fresh process started in ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "campaignkit", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=cwd,
    )


def test_python_dash_m_campaignkit_demo_runs_in_a_fresh_process(tmp_path: Path) -> None:
    done = run_cli("demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "SCHEDULED -> LIVE" in done.stdout
    assert is_demo_database(tmp_path / DEFAULT_DATABASE)


# ---------------------------------------------------------------- the demo never destroys data


def real_store(path: Path) -> str:
    """A store holding a real campaign (written by a kit, not the demo); its campaign id."""
    kit = ck.CampaignKit.sqlite(path, ManualClock(pendulum.datetime(2026, 1, 5, tz="UTC")))
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    campaign = kit.as_user("ada").create_campaign(name="Q1 launch", audience="customers")
    kit.close()
    return campaign.id


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of ``folder`` and its bytes."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_the_demo_refuses_a_real_store_and_leaves_every_byte(tmp_path: Path) -> None:
    campaign_id = real_store(tmp_path / "mydata.db")
    before = snapshot(tmp_path)
    done = run_cli("demo", "--db", "mydata.db", cwd=tmp_path)
    assert done.returncode == 1, done.stdout
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("campaignkit demo: error: mydata.db exists and is not a demo")
    assert "--force" in lines[0]
    assert snapshot(tmp_path) == before  # byte for byte, and no -wal/-shm left
    with ck.CampaignKit.sqlite(tmp_path / "mydata.db") as kit:
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        assert kit.as_user("ada").get(campaign_id).name == "Q1 launch"


def test_force_replaces_a_store_the_demo_did_not_write(tmp_path: Path) -> None:
    real_store(tmp_path / "mydata.db")
    done = run_cli("demo", "--db", "mydata.db", "--force", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "1 campaign(s) in mydata.db" in done.stdout
    assert is_demo_database(tmp_path / "mydata.db")


def test_a_demo_database_is_replaced_by_the_next_demo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "demo.db"
    assert main(["demo", "--db", str(database)]) == 0
    assert is_demo_database(database)
    assert main(["demo", "--db", str(database)]) == 0
    assert capsys.readouterr().out.count("1 campaign(s) in") == 2  # replaced, not added to
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.db"]


@pytest.mark.parametrize(
    ("content", "accepted"),
    [
        (b"", True),  # an empty file holds nothing to lose
        (b"shopping list: milk\n", False),
        (b"SQLite format 3\x00", False),  # too short to carry the marker
    ],
    ids=["empty", "text", "short-header"],
)
def test_an_existing_file_is_used_only_if_it_holds_nothing_to_lose(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, accepted: bool
) -> None:
    path = tmp_path / "existing.db"
    path.write_bytes(content)
    code = main(["demo", "--db", str(path)])
    captured = capsys.readouterr()
    if accepted:
        assert code == 0, captured.err
        assert is_demo_database(path)
    else:
        assert code == 1
        assert "not a demo database" in captured.err
        assert path.read_bytes() == content


def test_a_store_of_another_application_with_the_marker_is_not_a_demo_database(
    tmp_path: Path,
) -> None:
    path = tmp_path / "other.db"
    with contextlib.closing(sqlite3.connect(path)) as raw:
        raw.execute(f"PRAGMA user_version = {DEMO_MARKER}")
        raw.execute("PRAGMA application_id = 1234")
    assert not is_demo_database(path)


def test_a_file_that_cannot_be_created_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "missing-folder" / "demo.db"
    assert main(["demo", "--db", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("campaignkit demo: error: cannot create the demo database")
    assert len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_a_directory_is_refused_not_removed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "folder.db"
    folder.mkdir()
    (folder / "keep.txt").write_text("kept")
    assert not is_demo_database(folder)
    assert main(["demo", "--db", str(folder), "--force"]) == 1
    assert "not a regular file" in capsys.readouterr().err
    assert (folder / "keep.txt").read_text() == "kept"


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
