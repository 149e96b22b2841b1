"""The command line's frame, in-process: global options, errors, exit codes, the fallback."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import pytest
import typer

import campaignkit as ck
from campaignkit.cli import app, fallback, main
from campaignkit.cli.state import CommandError, open_kit
from tests.cli_store import DONE, DRAFT, make_store


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("cli") / "template.db")


@pytest.fixture
def store(template: Path, tmp_path: Path) -> Path:
    return Path(shutil.copy(template, tmp_path / "kit.db"))


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAMPAIGNKIT_DB", raising=False)
    monkeypatch.delenv("CAMPAIGNKIT_USER", raising=False)


def one_error(capsys: pytest.CaptureFixture[str]) -> str:
    """The single line on standard error (asserting there is exactly one and no output)."""
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert captured.out == ""
    return lines[0]


# ---------------------------------------------------------------- usage


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2
    assert (
        one_error(capsys) == "campaignkit: usage error: Missing command. (see 'campaignkit --help')"
    )


def test_an_unknown_option_is_a_usage_error_naming_the_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["campaigns", "list", "--colour", "red"])
    assert exited.value.code == 2
    line = one_error(capsys)
    assert line.startswith("campaignkit: usage error: No such option: --colour")
    assert line.endswith("(see 'campaignkit campaigns list --help')")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"campaignkit {ck.__version__}\n"


def test_help_lists_the_global_options_on_a_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["campaigns", "show", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--db", "--as", "--json", "--debug"):
        assert option in out


def test_a_store_is_needed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["campaigns", "list", "--as", "ada"])
    assert exited.value.code == 2
    assert one_error(capsys) == (
        "campaignkit: usage error: this command needs a store: pass --db FILE or set "
        "CAMPAIGNKIT_DB (see 'campaignkit campaigns list --help')"
    )


def test_a_user_is_needed(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["campaigns", "list", "--db", str(store)])
    assert exited.value.code == 2
    assert "pass --as USER or set CAMPAIGNKIT_USER" in one_error(capsys)


def test_environment_variables_stand_in_for_db_and_as(
    store: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAMPAIGNKIT_DB", str(store))
    monkeypatch.setenv("CAMPAIGNKIT_USER", "ada")
    assert main(["campaigns", "list", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["items"]) == 3


def test_global_options_before_and_after_the_command(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", str(store), "--json", "campaigns", "list", "--as", "ada"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert main(["campaigns", "--as", "ada", "list", "--db", str(store), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == before


# ---------------------------------------------------------------- opening the store


def test_a_missing_file_is_not_created(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nope.db"
    assert main(["campaigns", "list", "--db", str(path), "--as", "ada"]) == 1
    assert one_error(capsys) == (
        f"campaignkit: error: no campaignkit database at {path}; create one with "
        f"'campaignkit demo --db {path}' or 'campaignkit access assign USER ADMINISTRATOR "
        f"--db {path}'"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_missing_directory_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "gone" / "kit.db"
    assert main(["report", DONE, "--db", str(path), "--as", "ada"]) == 1
    assert one_error(capsys).startswith(
        f"campaignkit: error: the directory {tmp_path / 'gone'} does not exist (--db {path})"
    )


def test_a_directory_or_a_file_as_directory_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["surfaces", "list", "--db", str(tmp_path), "--as", "ada"]) == 1
    assert f"{tmp_path} is a directory" in one_error(capsys)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["surfaces", "list", "--db", str(blocker / "kit.db"), "--as", "ada"]) == 1
    assert f"{blocker} is not a directory" in one_error(capsys)


def test_an_unreachable_postgresql_dsn_is_one_line_without_the_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    dsn = "postgresql://u:secret@127.0.0.1:1/db"  # a port nothing listens on
    assert main(["campaigns", "list", "--db", dsn, "--as", "ada"]) == 1
    line = one_error(capsys)
    assert "cannot connect to PostgreSQL at 127.0.0.1:1/db" in line
    assert "secret" not in line


def test_a_file_that_is_not_a_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "notes.db"
    path.write_text("shopping list\n" * 20)
    assert main(["campaigns", "list", "--db", str(path), "--as", "ada"]) == 1
    assert one_error(capsys).startswith("campaignkit: error: ")
    assert path.read_text() == "shopping list\n" * 20


def test_open_kit_can_create_a_store(tmp_path: Path) -> None:
    with open_kit(str(tmp_path / "new.db"), create=True) as kit:
        assert kit.access.assignments() == {}
    assert (tmp_path / "new.db").is_file()


# ---------------------------------------------------------------- errors of the library


def test_an_unknown_campaign(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["campaigns", "show", "cmp_nope", "--db", str(store), "--as", "ada"]) == 1
    assert one_error(capsys) == (
        "campaignkit: error: unknown campaign 'cmp_nope'; list them with "
        "'campaignkit campaigns list --status all'"
    )


def test_a_viewer_cannot_activate(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["campaigns", "activate", DRAFT, "--db", str(store), "--as", "vic"]) == 1
    assert one_error(capsys) == (
        f"campaignkit: error: user 'vic' lacks permission 'campaign.publish' on campaign "
        f"'{DRAFT}': profile VIEWER does not grant campaign.publish; an administrator can "
        "give a product profile with 'campaignkit access assign vic PROFILE'"
    )


def test_a_validation_error_is_one_line(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["calendar", "--from", "2026-02-01", "--to", "2026-01-01"]
    assert main([*args, "--db", str(store), "--as", "ada"]) == 1
    assert one_error(capsys) == "campaignkit: error: input: calendar end must be after its start"


def test_a_transition_not_allowed(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["campaigns", "stop", DONE, "--db", str(store), "--as", "ada"]) == 1
    assert one_error(capsys).startswith(f"campaignkit: error: cannot stop campaign '{DONE}'")


def test_debug_adds_the_traceback(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["campaigns", "show", "cmp_nope", "--db", str(store), "--as", "ada", "--debug"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.splitlines()[-1].startswith("campaignkit: error: unknown campaign")


def test_an_unexpected_error_suggests_debug(
    store: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(ck.UserSession, "list_surfaces", broken)
    assert main(["surfaces", "list", "--db", str(store), "--as", "ada"]) == 1
    assert one_error(capsys) == (
        "campaignkit: error: unexpected RuntimeError: boom (rerun with --debug for the traceback)"
    )


def test_a_missing_input_file_names_it(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = store.parent / "absent.json"
    args = ["trigger", "cmp_x", "--body", str(body), "--db", str(store), "--as", "ada"]
    assert main(args) == 1
    assert one_error(capsys) == f"campaignkit: error: {body}: No such file or directory"


@pytest.mark.parametrize(
    ("raised", "code", "line"),
    [
        (typer.Abort(), 130, "campaignkit: aborted"),
        (typer.TyperException("it broke"), 1, "campaignkit: error: it broke"),
    ],
    ids=["abort", "typer-exception"],
)
def test_typer_exceptions(  # noqa: PLR0917 - fixtures and parameters
    store: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    raised: Exception,
    code: int,
    line: str,
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise raised

    monkeypatch.setattr(ck.UserSession, "list_surfaces", broken)
    assert main(["surfaces", "list", "--db", str(store), "--as", "ada"]) == code
    assert one_error(capsys) == line


def test_a_non_campaign_not_found_is_its_message() -> None:
    assert app.describe(ck.NotFound("surface", "s1")) == "no surface with id 's1'"
    assert app.describe(CommandError("plain")) == "plain"


def test_the_click_command_runs_without_main(tmp_path: Path) -> None:
    missing = str(tmp_path / "x.db")
    with pytest.raises(CommandError, match="no campaignkit database"):
        app.command().main(
            args=["surfaces", "list", "--db", missing, "--as", "a"], standalone_mode=False
        )


# ---------------------------------------------------------------- without the extra


@pytest.fixture
def no_typer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "typer", None)  # import typer raises ImportError


@pytest.mark.usefixtures("no_typer")
def test_without_the_extra_other_commands_name_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", "x.db", "campaigns", "list"]) == 1
    assert one_error(capsys) == fallback.NEEDS_EXTRA
    assert fallback.NEEDS_EXTRA == (
        "campaignkit: this command needs the command-line extra: pip install 'campaignkit[cli]'"
    )


@pytest.mark.usefixtures("no_typer")
def test_without_the_extra_the_demo_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--db", str(tmp_path / "d.db")]) == 0
    assert "status timeline" in capsys.readouterr().out
    (tmp_path / "mine.db").write_text("mine")
    assert main(["demo", "--db", str(tmp_path / "mine.db")]) == 1
    assert one_error(capsys).startswith("campaignkit demo: error: ")


@pytest.mark.usefixtures("no_typer")
def test_without_the_extra_the_worker_refuses_as_before(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["worker", "--db", str(tmp_path / "nope.db")]) == 1
    assert "nope.db does not exist" in one_error(capsys)
    with pytest.raises(SystemExit) as exited:
        main(["worker", "--db", "x.db", "--poll", "0"])
    assert exited.value.code == 2
    assert "must be a positive number of seconds" in capsys.readouterr().err


@pytest.mark.usefixtures("no_typer")
def test_without_the_extra_usage_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2
    assert "usage" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"campaignkit {ck.__version__}\n"


def test_the_fallback_poll_interval() -> None:
    assert fallback.seconds("2.5") == 2.5
    with pytest.raises(argparse.ArgumentTypeError, match="not 'abc'"):
        fallback.seconds("abc")


def test_the_fallback_reads_sys_argv(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["campaignkit", "report", "x"])
    assert fallback.main() == 1
    assert one_error(capsys) == fallback.NEEDS_EXTRA
