"""Commands that move data: profiles, audiences, trigger, export/import, tick, worker, demo."""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

import campaignkit as ck
from campaignkit.cli import admin, main, output
from campaignkit.cli.records import audience_ids, counted, csv_profiles, jsonl_profiles
from tests.cli_store import DONE, RECEIPTS, make_store


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("cli") / "template.db")


@pytest.fixture
def store(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CAMPAIGNKIT_USER", "ada")
    monkeypatch.delenv("CAMPAIGNKIT_DB", raising=False)
    return Path(shutil.copy(template, tmp_path / "kit.db"))


def run(store: Path, capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> str:
    assert main([*args, "--db", str(store)]) == code, capsys.readouterr().err
    return capsys.readouterr().out


def run_json(store: Path, capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> Any:
    return json.loads(run(store, capsys, *args, "--json", code=code))


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- profiles import

CSV = (
    "id,identity.email,consent.email,channel_data.sms,timezone,language,test,firstName,"
    "address.city\n"
    """n1,n1@example.com,yes,+33600000001,Europe/Paris,fr,false,Ann,Paris
n2,n2@example.com,maybe,,,,,Bob,
n3,n3@example.com,no,,,,true,,Lyon
,nobody@example.com,,,,,,,
n4,n4@example.com
"""
)


def test_import_csv_reports_bad_rows_by_line_and_loads_the_rest(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(store.parent, "people.csv", CSV)
    assert main(["profiles", "import", str(path), "--db", str(store)]) == 1
    captured = capsys.readouterr()
    assert captured.out.strip() == f"imported 2 profile(s) from {path}; rejected 3"
    assert captured.err.splitlines() == [
        f"campaignkit: {path} line 3: consent.email must be true or false, not 'maybe'",
        f"campaignkit: {path} line 5: has no id",
        f"campaignkit: {path} line 6: has 2 fields; the header has 9",
    ]
    with ck.CampaignKit.sqlite(store) as kit:
        ann = kit.profiles.get("n1")
        assert ann is not None
        assert ann.identities == {"email": "n1@example.com"}
        assert ann.consents == {ck.ChannelType.EMAIL: True}
        assert ann.channel_data == {ck.ChannelType.SMS: "+33600000001"}
        assert (ann.timezone, ann.language, ann.test) == ("Europe/Paris", "fr", False)
        assert ann.attributes == {"firstName": "Ann", "address": {"city": "Paris"}}
        lyon = kit.profiles.get("n3")
        assert lyon is not None
        assert lyon.test
        assert lyon.consents == {ck.ChannelType.EMAIL: False}


def test_import_jsonl_in_chunks_with_json_output(
    store: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(admin, "CHUNK", 2)
    monkeypatch.setattr(admin, "MAX_LISTED", 3)
    lines = [
        json.dumps({"id": "j1", "identities": {"email": "j1@example.com"}}),
        "",
        json.dumps({"id": "j2", "consents": {"email": True}}),
        "{not json",
        json.dumps([1, 2]),
        json.dumps({"id": "j3", "colour": "red"}),
        json.dumps({"identities": {}}),
        json.dumps({"id": "j4", "consents": {"fax": True}}),
        json.dumps({"id": "j5"}),
    ]
    path = write(store.parent, "people.JSONL", "\n".join(lines) + "\n")
    result = run_json(store, capsys, "profiles", "import", str(path), code=1)
    assert result["imported"] == 3
    assert result["rejected"] == 5
    assert [p["line"] for p in result["problems"]] == [4, 5, 6]
    assert result["problems"][0]["problem"].startswith("is not JSON: ")
    assert result["problems"][1]["problem"] == "must be a JSON object with an id, not list"
    assert result["problems"][2]["problem"].startswith("unknown field(s) colour (known: id,")
    with ck.CampaignKit.sqlite(store) as kit:
        assert set(kit.profiles.get_many(["j1", "j2", "j5", "j4"])) == {"j1", "j2", "j5"}


def test_import_lists_the_first_problems_then_counts(
    store: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(admin, "MAX_LISTED", 1)
    path = write(store.parent, "bad.jsonl", "[]\n[]\n[]\n")
    assert main(["profiles", "import", str(path), "--db", str(store)]) == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines()[1:] == [f"campaignkit: {path}: 2 more rejected"]
    assert "imported 0 profile(s)" in captured.out


def test_import_of_a_clean_file_exits_0_and_can_create_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "ok.csv", "id,identity.email\nq1,q1@example.com\n\nq2,q2@example.com\n")
    database = tmp_path / "new.db"
    assert main(["profiles", "import", str(path), "--db", str(database)]) == 0
    assert "imported 2 profile(s)" in capsys.readouterr().out


def test_import_shows_a_progress_bar_on_a_terminal(
    store: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = io.StringIO()
    monkeypatch.setattr(terminal, "isatty", lambda: True)
    monkeypatch.setattr(sys, "stderr", terminal)
    path = write(store.parent, "ok.csv", "id\nt1\nt2\n")
    assert main(["profiles", "import", str(path), "--db", str(store)]) == 0
    assert "imported 2 profile(s)" in capsys.readouterr().out
    assert "importing ok.csv" in terminal.getvalue()


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("people.txt", "id\n", "profiles import reads .csv or .jsonl files, not '.txt'"),
        ("empty.csv", "", "is empty; the first line must be a header"),
        ("noid.csv", "email\nx\n", "has no id column in its header"),
        ("twice.csv", "id,a,a\n", "has the column(s) a twice in its header"),
    ],
)
def test_import_refuses_a_file_it_cannot_read(
    store: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, message: str
) -> None:
    path = write(store.parent, name, text)
    assert main(["profiles", "import", str(path), "--db", str(store)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"campaignkit: error: {path}")
    assert message in err


def test_write_without_bulk_upsert() -> None:
    kit = ck.CampaignKit.in_memory()
    admin._write(kit, [ck.Profile(id="m1"), ck.Profile(id="m2")])
    assert kit.profiles.get("m2") is not None


def test_records_details() -> None:
    rows = list(csv_profiles(["id,a,a.b\n", "x1,1,2\n", 'x2,"multi\n', 'line",\n', '"bad"x,1,\n']))
    assert rows[0] == (2, "column a.b nests under a, which is a value")
    assert rows[1][0] == 3
    assert isinstance(rows[1][1], ck.Profile)
    assert rows[1][1].attributes == {"a": "multi\nline"}
    assert rows[2][0] == 5
    assert isinstance(rows[2][1], str)
    bad_header = list(jsonl_profiles(['{"id": 5}\n']))
    assert bad_header[0][0] == 1
    assert bad_header[0][1] == "id must be a string, not int 5"
    with pytest.raises(ValueError, match="line 1"):
        list(csv_profiles(['"id\n', "x"]))
    assert list(audience_ids(["# vip\n", "p1\n", "\n", " p2 \n"], csv_file=False)) == ["p1", "p2"]
    raw = io.BytesIO(b"id,name\nx1,\xffbad\nx2,ok\n")
    sizes: list[int] = []
    decoded = list(csv_profiles(counted(raw, sizes.append)))
    assert decoded[0] == (2, "attributes.name holds characters that cannot be encoded as UTF-8")
    assert decoded[1][0] == 3
    assert sum(sizes) == len(raw.getvalue())


# ---------------------------------------------------------------- audiences


def test_define_an_audience_from_lines_and_from_csv(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listed = write(store.parent, "vip.txt", "# the best\np1\n\np2\n")
    assert run(store, capsys, "audiences", "define", "best", str(listed)).strip() == (
        "audience 'best': 2 profile(s)"
    )
    table = write(store.parent, "vip.csv", "name, id\nAnn,p1\nBob,\nCy,p3\n")
    assert run_json(store, capsys, "audiences", "define", "csv", str(table)) == {
        "audience": "csv",
        "profiles": 2,
    }
    bad = write(store.parent, "bad.csv", "name\nAnn\n")
    assert main(["audiences", "define", "x", str(bad), "--db", str(store)]) == 1
    assert "has no id column" in capsys.readouterr().err


# ---------------------------------------------------------------- trigger


def test_trigger_with_an_ajo_unitary_body(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = {
        "requestId": "order-1",
        "recipients": [{"type": "aep", "userId": "p1@example.com", "namespace": "email"}],
    }
    path = write(store.parent, "body.json", json.dumps(body))
    response = run_json(store, capsys, "trigger", RECEIPTS, "--body", str(path))
    assert response["requestId"] == "order-1"  # AJO's execution response has no campaignId
    assert response["executionId"].startswith("exe_")
    out = run(store, capsys, "trigger", RECEIPTS, "--body", str(path))
    assert f"execution {response['executionId']}" in out  # the same request: the same execution


def test_trigger_refusals(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        ("list.json", "[1]", "must hold a JSON object"),
        ("text.json", "hello", "is not a JSON document"),
        ("other.json", json.dumps({"campaignId": DONE}), f"names campaign '{DONE}' but"),
        ("audience.json", json.dumps({"requestId": "a1"}), "campaignkit: error: "),
    ]
    for name, text, message in cases:
        path = write(store.parent, name, text)
        assert main(["trigger", RECEIPTS, "--body", str(path), "--db", str(store)]) == 1
        assert message in capsys.readouterr().err


# ---------------------------------------------------------------- export and import


def test_export_then_import(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    package = json.loads(run(store, capsys, "export", DONE, RECEIPTS))
    assert package["format"] == "campaignkit.package"
    assert len(package["campaigns"]) == 2
    out_file = store.parent / "package.json"
    written = run_json(store, capsys, "export", DONE, "--out", str(out_file))
    assert written == {"out": str(out_file), "campaigns": 1}
    assert run(store, capsys, "export", DONE, "--out", str(out_file)).strip() == (
        f"exported 1 campaign(s) to {out_file}"
    )
    created = run_json(store, capsys, "import", str(out_file))
    assert [(c["name"], c["status"]) for c in created] == [("Done sale", "DRAFT")]
    out = run(store, capsys, "import", str(out_file))
    assert out.splitlines()[0] == f"imported 1 campaign(s) from {out_file}"


# ---------------------------------------------------------------- tick, worker, demo


def test_tick_delivers_through_the_configured_channels(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(store.parent, "worker.toml", '[channels.email]\ntype = "console"\n')
    body = {
        "requestId": "r1",
        "recipients": [{"type": "aep", "userId": "p2@example.com", "namespace": "email"}],
    }
    path = write(store.parent, "body.json", json.dumps(body))
    run(store, capsys, "trigger", RECEIPTS, "--body", str(path))
    assert main(["tick", "--config", str(config), "--db", str(store), "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)  # the console channel's line went to stderr
    assert result["next_due_at"] == "2100-01-01T09:00:00+00:00"
    assert "to p2@example.com: subject='Receipt'" in captured.err
    out = run(store, capsys, "campaigns", "activate", "cmp_0003")
    assert "ACTIVATING" in out
    out = run(store, capsys, "tick", "--config", str(config))
    assert "1 event(s)" in out
    assert "ACTIVATING" in out
    assert "next due: 2100-01-01T09:00:00+00:00" in out


def test_tick_needs_a_channel(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tick", "--db", str(store)]) == 1
    assert "configures no channel" in capsys.readouterr().err


def test_event_rows_of_every_kind() -> None:
    from campaignkit.cli.operations import event_row

    kit = ck.CampaignKit.in_memory()
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    events: list[ck.DomainEvent] = []
    kit.subscribe(events.append)
    ada = kit.as_user("ada")
    draft = ada.create_campaign(name="x")
    ada.delete(draft.id)
    rows = [event_row(e) for e in events]
    assert [r["action"] for r in rows] == [ck.Verb.CREATE, ck.Verb.DELETE]
    approval = ck.ApprovalEvent(
        campaign_id="c",
        campaign_name="n",
        entry=ck.ApprovalEntry(
            at=kit.clock.now(), actor="ada", action=ck.ApprovalAction.REQUESTED, version=1
        ),
        review=None,
    )
    assert event_row(approval)["action"] == ck.ApprovalAction.REQUESTED


def test_worker_options(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["worker", "--db", str(store.parent / "nope.db")]) == 1
    assert "nope.db does not exist" in capsys.readouterr().err
    for option, value in (("--poll", "abc"), ("--log-level", "LOUD")):
        with pytest.raises(SystemExit) as exited:
            main(["worker", "--db", str(store), option, value])
        assert exited.value.code == 2
        assert f"usage error: {option}: must be " in capsys.readouterr().err


def test_the_demo_refuses_a_file_it_did_not_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "mine.db"
    mine.write_text("mine")
    assert main(["demo", "--db", str(mine)]) == 1
    assert capsys.readouterr().err.startswith("campaignkit demo: error: ")
    assert mine.read_text() == "mine"


def test_demo_with_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    database = tmp_path / "d.db"
    assert main(["demo", "--db", str(database)]) == 0
    assert "status timeline" in capsys.readouterr().out
    assert main(["demo", "--db", str(database), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["database"] == str(database)
    assert any("LIVE -> COMPLETED" in line for line in result["lines"])


def test_jsonable_values() -> None:
    import datetime

    import pendulum

    value = {
        "when": datetime.date(2026, 1, 2),
        "span": pendulum.duration(minutes=2),
        "set": frozenset({"b", "a"}),
    }
    assert output.jsonable(value) == {"when": "2026-01-02", "span": 120.0, "set": ["a", "b"]}
    assert output.plain(None) == "-"
    assert output.plain([]) == "-"
