"""Each command of the command line, in-process on a SQLite store (tables and --json)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

import campaignkit as ck
from campaignkit.cli import main
from tests.cli_store import DONE, DRAFT, FUTURE_ID, RECEIPTS, make_store


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("cli") / "template.db")


@pytest.fixture
def store(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CAMPAIGNKIT_USER", "ada")
    monkeypatch.delenv("CAMPAIGNKIT_DB", raising=False)
    return Path(shutil.copy(template, tmp_path / "kit.db"))


def run(store: Path, capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> str:
    """Run a command on ``store``; its standard output (asserting the exit code)."""
    assert main([*args, "--db", str(store)]) == code, capsys.readouterr().err
    return capsys.readouterr().out


def run_json(store: Path, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    """Run a command with --json; its output, parsed (it must be one JSON document)."""
    return json.loads(run(store, capsys, *args, "--json"))


# ---------------------------------------------------------------- campaigns list


def ids(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["items"]]


def test_list_defaults_to_draft_scheduled_and_live(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = run_json(store, capsys, "campaigns", "list")
    assert ids(page) == [RECEIPTS, DRAFT, FUTURE_ID]
    assert page["next_cursor"] is None
    assert page["items"][0] == {
        "id": RECEIPTS,
        "name": "Receipts",
        "status": "LIVE",
        "type": "API_TRIGGERED",
        "category": "TRANSACTIONAL",
        "tags": [],
        "channels": ["email"],
        "created_at": "2025-01-06T09:00:00+00:00",
        "next_occurrence_at": None,
    }


def test_list_as_a_table(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = run(store, capsys, "campaigns", "list", "--status", "all")
    assert out.splitlines()[0] == "4 campaign(s), page 1"
    row = next(line for line in out.splitlines() if DONE in line)
    assert "Done sale" in row
    assert "COMPLETED" in row
    assert "CampaignStatus" not in out


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (["--status", "completed"], [DONE]),
        (["--status", "all", "--tag", "sale"], [DRAFT, DONE]),
        (["--status", "ALL", "--search", "SPRING"], [DRAFT]),
        (["--status", "draft", "--status", "live"], [RECEIPTS, DRAFT]),
    ],
)
def test_list_filters(
    store: Path, capsys: pytest.CaptureFixture[str], filters: list[str], expected: list[str]
) -> None:
    assert ids(run_json(store, capsys, "campaigns", "list", *filters)) == expected


def test_list_pages_by_number_and_by_cursor(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ("campaigns", "list", "--status", "all", "--page-size", "3")
    first = run_json(store, capsys, *common)
    assert ids(first) == [RECEIPTS, DRAFT, FUTURE_ID]
    second = run_json(store, capsys, *common, "--page", "2")
    assert ids(second) == [DONE]
    assert second["next_cursor"] is None
    by_cursor = run_json(store, capsys, *common, "--cursor", first["next_cursor"])
    assert by_cursor == second
    beyond = run_json(store, capsys, *common, "--page", "3")
    assert beyond == {"items": [], "next_cursor": None}
    table = run(store, capsys, *common)
    assert f"next page: --page 2 (or --cursor {first['next_cursor']})" in table


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--status", "done"], "unknown status 'done'; expected all or one of DRAFT"),
        (["--page", "2", "--cursor", "x"], "pass --page or --cursor, not both"),
        (["--page-size", "0"], "--page-size"),
    ],
)
def test_list_usage_errors(
    store: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["campaigns", "list", "--db", str(store), *args])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("campaignkit: usage error: ")
    assert message in err


# ---------------------------------------------------------------- show and lifecycle


def test_show_a_campaign(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = run(store, capsys, "campaigns", "show", DONE)
    assert "campaign cmp_0001" in out
    assert "start 2025-01-06T10:00:00+00:00, zone UTC" in out
    history = [line.split("│")[3].strip() for line in out.splitlines() if "2025-01-0" in line]
    assert history[-5:] == ["create", "activate", "prepare", "go_live", "complete"]
    document = run_json(store, capsys, "campaigns", "show", DONE)
    assert document["id"] == DONE
    assert document["status"] == "COMPLETED"
    assert [entry["action"] for entry in document["history"]][-1] == "complete"


def test_show_describes_a_repeat_rule_and_a_draft(tmp_path: Path) -> None:
    from campaignkit.cli.campaigns import schedule_text

    start = ck.Schedule(start=None, end=pendulum_instant(), timezone="Europe/Paris")
    assert schedule_text(start) == (
        "start on activation, end 2100-01-01T00:00:00+00:00, zone Europe/Paris"
    )
    rules = [
        (ck.Recurrence.daily(at="09:00"), "repeats daily at 09:00"),
        (
            ck.Recurrence.weekly(days=["MO", "WE"], at="18:30", every=2),
            "weekly every 2 at 18:30 on MO,WE",
        ),
        (ck.Recurrence.monthly(day=31, at="08:00"), "monthly at 08:00 on day 31"),
        (ck.Recurrence.rrule("FREQ=WEEKLY;BYDAY=MO"), "RRULE FREQ=WEEKLY;BYDAY=MO"),
    ]
    for rule, text in rules:
        assert text in schedule_text(ck.Schedule(recurrence=rule))


def pendulum_instant() -> Any:
    import pendulum

    return pendulum.datetime(2100, 1, 1, tz="UTC")


def test_show_lists_live_draft_and_superseded_versions(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with ck.CampaignKit.sqlite(store) as kit:
        ada = kit.as_user("ada")
        ada.modify(FUTURE_ID)
    out = run(store, capsys, "campaigns", "show", FUTURE_ID)
    roles = [
        line.split("│")[2].strip()
        for line in out.splitlines()
        if "│ live" in line or "│ draft" in line
    ]
    assert roles == ["live", "draft"]


def test_show_a_draft(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = run(store, capsys, "campaigns", "show", DRAFT)
    assert "│ draft │" in out.replace("  ", " ").replace("  ", " ")
    assert "sale, spring" in out


def test_activate_stop_archive(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = run(store, capsys, "campaigns", "activate", DRAFT)
    assert out.strip() == f"activate: {DRAFT} 'Spring draft' DRAFT -> ACTIVATING"
    stopped = run_json(store, capsys, "campaigns", "stop", FUTURE_ID)
    assert stopped["status"] == "STOPPED"
    out = run(store, capsys, "campaigns", "archive", DONE)
    assert out.strip() == f"archive: {DONE} 'Done sale' COMPLETED -> ARCHIVED"


# ---------------------------------------------------------------- report and calendar


def test_report(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = run_json(store, capsys, "report", DONE)
    assert report["counts"]["targeted"] == 3
    assert report["counts"]["sent"] == 3
    assert report["runs"][0]["status"] == "succeeded"
    assert report["runs"][0]["kind"] == "scheduled"
    out = run(store, capsys, "report", DONE)
    assert out.splitlines()[0] == "report of 'Done sale' (cmp_0001): 1 run(s)"
    total = next(line for line in out.splitlines() if "total" in line)
    assert [cell.strip() for cell in total.split("│")[1:-1]] == [
        "total",
        "3",
        "3",
        "0",
        "0",
        "0",
        "0",
    ]


def test_report_lists_exclusions_by_reason(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from campaignkit.cli.campaigns import _count_row

    counts = ck.ActionCounts(targeted=3, sent=1, excluded={ck.ExclusionReason.NO_CONSENT: 2})
    assert _count_row("a", counts)[4] == "2 (no_consent 2)"


def test_calendar(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    entries = run_json(store, capsys, "calendar", "--from", "2099-12-01", "--to", "2100-02-01")
    assert [(e["campaign_id"], e["at"], e["status"]) for e in entries] == [
        (RECEIPTS, "2025-01-06T09:00:00+00:00", "LIVE"),
        (FUTURE_ID, "2100-01-01T09:00:00+00:00", "SCHEDULED"),
    ]
    out = run(store, capsys, "calendar", "--from", "2100-01-01T10:00+01:00", "--to", "2100-01-02")
    assert out.splitlines()[0] == (
        "2 entries from 2100-01-01T10:00:00+01:00 to 2100-01-02T00:00:00+00:00"
    )
    out = run(
        store, capsys, "calendar", "--from", "2030-01-01", "--to", "2030-01-02", "--as", "vic"
    )
    assert out.splitlines()[0].startswith("1 entry from")


@pytest.mark.parametrize(
    "value", ["tomorrow", "2026-13-01", "12:00", "2026-01-01/P1D", "2026-01-01/2026-02-01"]
)
def test_calendar_refuses_what_is_not_a_date(
    store: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["calendar", "--from", value, "--to", "2030-01-01", "--db", str(store)])
    assert exited.value.code == 2
    assert "Invalid value for '--from'" in capsys.readouterr().err


# ---------------------------------------------------------------- access and surfaces


def test_access_as_the_host(
    store: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CAMPAIGNKIT_USER")
    out = run(store, capsys, "access", "assign", "max", "manager")
    assert out.strip() == "assign MANAGER to max: now holds MANAGER"
    listed = run_json(store, capsys, "access", "list")
    assert {"kind": "user", "id": "max", "profiles": ["MANAGER"]} in listed
    revoked = run_json(store, capsys, "access", "revoke", "max", "MANAGER")
    assert revoked == {"user": "max", "profiles": [], "actor": "host"}
    table = run(store, capsys, "access", "list")
    assert "ADMINISTRATOR" in table
    assert "max" not in table


def test_access_as_a_user_is_checked_and_recorded(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    done = run_json(store, capsys, "access", "assign", "max", "APPROVER", "--as", "ada")
    assert done == {"user": "max", "profiles": ["APPROVER"], "actor": "ada"}
    out = run(store, capsys, "access", "revoke", "max", "approver", "--as", "ada")
    assert out.strip() == "revoke APPROVER from max: now holds -"
    with ck.CampaignKit.sqlite(store) as kit:
        assert [e.actor for e in kit.access.audit_log()][-2:] == ["ada", "ada"]
    assert (
        main(["access", "assign", "vic", "ADMINISTRATOR", "--as", "vic", "--db", str(store)]) == 1
    )
    assert "lacks permission 'access.manage'" in capsys.readouterr().err
    assert main(["access", "list", "--as", "vic", "--db", str(store)]) == 1
    assert "lacks permission 'access.manage'" in capsys.readouterr().err
    assert run_json(store, capsys, "access", "list", "--as", "ada")


def test_access_assign_creates_a_new_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "new.db"
    assert main(["access", "assign", "ada", "administrator", "--db", str(path)]) == 0
    assert path.is_file()
    assert "now holds ADMINISTRATOR" in capsys.readouterr().out


def test_access_refuses_an_unknown_profile(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["access", "assign", "max", "boss", "--db", str(store)])
    assert exited.value.code == 2
    assert (
        "unknown product profile 'boss'; expected one of ADMINISTRATOR" in capsys.readouterr().err
    )


def test_surfaces_list(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    surfaces = run_json(store, capsys, "surfaces", "list")
    assert [(s["name"], s["channel"], s["category"], s["status"]) for s in surfaces] == [
        ("Newsletter", "email", "MARKETING", "ACTIVE"),
        ("Receipts", "email", "TRANSACTIONAL", "ACTIVE"),
    ]
    out = run(store, capsys, "surfaces", "list")
    assert "Newsletter" in out
    assert "ChannelType" not in out
