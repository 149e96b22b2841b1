"""The installed ``campaignkit`` script, as a user runs it: a real process on a SQLite file.

Few on purpose (each process pays the interpreter's start-up); every branch
is covered in-process by tests/unit/test_cli_*.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest

from tests.cli_store import DONE, DRAFT, RECEIPTS, make_store

SCRIPT: Final = Path(sys.executable).parent / "campaignkit"


def campaignkit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``campaignkit ARGS`` in a fresh process (without the CAMPAIGNKIT_* variables)."""
    assert SCRIPT.is_file(), f"{SCRIPT} is missing: pip install -e '.[dev]' installs it"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGNKIT_")}
    return subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=cwd,
        env=env,
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("entry") / "kit.db")


def test_list_as_json_and_show_as_a_table(store: Path) -> None:
    listed = campaignkit(
        "--db", str(store), "--as", "ada", "campaigns", "list", "--status", "all", "--json",
        cwd=store.parent,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert listed.stderr == ""
    page = json.loads(listed.stdout)
    assert [item["id"] for item in page["items"]] == [RECEIPTS, DRAFT, "cmp_0002", DONE]
    assert {item["status"] for item in page["items"]} == {
        "LIVE", "DRAFT", "SCHEDULED", "COMPLETED",
    }  # fmt: skip
    shown = campaignkit(
        "campaigns", "show", DONE, "--db", "kit.db", "--as", "vic", cwd=store.parent
    )
    assert shown.returncode == 0, shown.stderr
    assert "Done sale" in shown.stdout
    assert "LIVE       │ COMPLETED" in shown.stdout


def test_the_demo_file_then_its_report(tmp_path: Path) -> None:
    demo = campaignkit("demo", "--db", "demo.db", cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert "status timeline of 'Winter sale'" in demo.stdout
    report = campaignkit(
        "report", "cmp_0001", "--db", "demo.db", "--as", "ada", "--json", cwd=tmp_path
    )
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["counts"]["sent"] == 3


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["campaigns", "list", "--db", "missing.db", "--as", "ada"],
            "campaignkit: error: no campaignkit database at missing.db; create one with "
            "'campaignkit demo --db missing.db' or 'campaignkit access assign USER "
            "ADMINISTRATOR --db missing.db'",
        ),
        (
            ["campaigns", "list", "--db", "nowhere/kit.db", "--as", "ada"],
            "campaignkit: error: the directory nowhere does not exist (--db nowhere/kit.db); "
            "create it first or pass --db with a file in an existing directory",
        ),
        (
            ["campaigns", "show", "cmp_9999", "--db", "kit.db", "--as", "ada"],
            "campaignkit: error: unknown campaign 'cmp_9999'; list them with "
            "'campaignkit campaigns list --status all'",
        ),
        (
            ["campaigns", "activate", DRAFT, "--db", "kit.db", "--as", "vic"],
            f"campaignkit: error: user 'vic' lacks permission 'campaign.publish' on campaign "
            f"'{DRAFT}': profile VIEWER does not grant campaign.publish; an administrator can "
            "give a product profile with 'campaignkit access assign vic PROFILE'",
        ),
    ],
    ids=["missing-file", "missing-directory", "unknown-campaign", "denied-user"],
)
def test_errors_are_one_line_and_exit_1(store: Path, args: list[str], line: str) -> None:
    done = campaignkit(*args, cwd=store.parent)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", line + "\n")
    assert not (store.parent / "missing.db").exists()
