"""A careless or hostile user at the command line: every refusal is one typed line.

Each test here failed before the fix it names: a raw exception, an unbounded
read, a quadratic header check, a value silently lost, a half-written file.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from campaignkit.cli import main, transfer
from campaignkit.cli.records import MAX_LINE_BYTES, audience_ids, counted, csv_profiles
from campaignkit.cli.state import open_kit
from tests.cli_store import RECEIPTS, make_store


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("attacks") / "template.db")


@pytest.fixture
def store(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CAMPAIGNKIT_USER", "ada")
    for name in ("CAMPAIGNKIT_DB", "CAMPAIGNKIT_SCHEMA"):
        monkeypatch.delenv(name, raising=False)
    return Path(shutil.copy(template, tmp_path / "kit.db"))


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """Standard error, checked to be one line without a traceback."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err, err
    assert "unexpected" not in err, err
    return err


# ---------------------------------------------------------------- calendar dates


def test_an_offset_of_a_day_or_more_is_a_usage_error(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # was: "unexpected ValueError: offset must be a timedelta strictly between ..." (exit 1)
    args = ["calendar", "--from", "2026-01-01", "--to", "2027-01-01T00:00+99:00"]
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--db", str(store)])
    assert exit_info.value.code == 2
    err = error_line(capsys)
    assert "--to" in err
    assert "+99:00" in err


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["campaigns", "list", "--as", ""], "--as"),
        (["access", "list", "--as", ""], "--as"),
        (["campaigns", "list", "--db", ""], "--db"),
    ],
)
def test_an_empty_store_or_user_never_falls_back_on_the_environment(
    store: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    option: str,
) -> None:
    # was: --as "$UNSET" acted as $CAMPAIGNKIT_USER, --db "$UNSET" opened $CAMPAIGNKIT_DB
    monkeypatch.setenv("CAMPAIGNKIT_DB", str(store))
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert f"{option} is empty" in error_line(capsys)


# ---------------------------------------------------------------- JSON files


def test_a_deeply_nested_body_is_refused_in_one_line(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # was: "unexpected RecursionError: maximum recursion depth exceeded ..."
    body = tmp_path / "deep.json"
    body.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    assert main(["trigger", RECEIPTS, "--body", str(body), "--db", str(store)]) == 1
    err = error_line(capsys)
    assert "deep.json is not a JSON document" in err
    assert "nested" in err


def test_a_body_larger_than_any_request_is_refused_without_reading_it_all(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # was: read whole (--body /dev/zero grew to 24 GB before the kernel killed it)
    monkeypatch.setattr(transfer, "MAX_BODY_BYTES", 1000)
    body = tmp_path / "big.json"
    body.write_text(json.dumps({"requestId": "r", "padding": "x" * 5000}), encoding="utf-8")
    assert main(["trigger", RECEIPTS, "--body", str(body), "--db", str(store)]) == 1
    err = error_line(capsys)
    assert "big.json is larger than 1,000 bytes" in err


def test_an_import_package_larger_than_the_limit_is_refused(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transfer, "MAX_PACKAGE_BYTES", 10)
    package = tmp_path / "package.json"
    package.write_text(json.dumps({"campaigns": []}), encoding="utf-8")
    assert main(["import", str(package), "--db", str(store)]) == 1
    assert "package.json is larger than 10 bytes" in error_line(capsys)


def test_a_body_that_keeps_coming_is_read_only_up_to_the_limit(
    store: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transfer, "MAX_BODY_BYTES", 1 << 20)
    assert main(["trigger", RECEIPTS, "--body", "/dev/zero", "--db", str(store)]) == 1
    assert "/dev/zero is larger than 1,048,576 bytes" in error_line(capsys)


# ---------------------------------------------------------------- profile files


def test_a_header_of_100k_columns_is_checked_in_linear_time() -> None:
    # was: header.count(name) for each name: 96 s for 100,000 columns
    header = ",".join(["id", *(f"c{n}" for n in range(100_000))]) + "\n"
    twice = header.rstrip("\n") + ",c5\n"
    assert list(csv_profiles([header])) == []
    with pytest.raises(ValueError, match="c5 twice"):
        list(csv_profiles([twice]))


def test_a_value_column_never_silently_replaces_nested_ones(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # was: id,a.b,a imported {"a": "2"} and dropped a.b without a word
    people = tmp_path / "people.csv"
    people.write_text("id,a.b,a\nx1,1,2\nx2,,3\n", encoding="utf-8")
    args = ["profiles", "import", str(people), "--db", str(store), "--json"]
    assert main(args) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["imported"] == 1
    [problem] = result["problems"]
    assert problem["line"] == 2
    assert "column a" in problem["problem"]
    with open_kit(str(store)) as kit:
        assert kit.profiles.get("x2") is not None
        assert kit.profiles.get("x1") is None


def test_a_byte_order_mark_does_not_hide_the_id_column(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # was: "people.csv has no id column in its header" for a file Excel saved as UTF-8
    people = tmp_path / "people.csv"
    people.write_bytes(b"\xef\xbb\xbfid,firstName\nb1,Bea\n")
    assert main(["profiles", "import", str(people), "--db", str(store)]) == 0, capsys.readouterr()
    ids = tmp_path / "ids.csv"
    ids.write_bytes(b"\xef\xbb\xbfid\nb1\n")
    assert main(["audiences", "define", "boms", str(ids), "--db", str(store)]) == 0
    with open_kit(str(store)) as kit:
        assert kit.audiences.count("boms") == 1


def lines_of(data: bytes, tmp_path: Path) -> list[str]:
    path = tmp_path / "data"
    path.write_bytes(data)
    sizes: list[int] = []
    with path.open("rb") as handle:
        found = list(counted(handle, sizes.append))
    assert sum(sizes) == len(data)  # the progress bar still sees every byte
    return found


def test_an_over_long_line_is_never_held_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # was: a 300 MB line took 1.3 GB (JSON Lines) or 680 MB (CSV) of memory
    monkeypatch.setattr("campaignkit.cli.records.MAX_LINE_BYTES", 100)
    long = b"x" * 1000
    found = lines_of(b"a\n" + long + b"\nb\n" + long, tmp_path)
    assert found[0] == "a\n"
    assert found[2] == "b\n"
    for line in (found[1], found[3]):
        assert getattr(line, "size", None) == 1001 - (line is found[3])
        assert len(line) < 100


def test_over_long_records_are_rejected_with_their_line_and_the_others_load(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("campaignkit.cli.records.MAX_LINE_BYTES", 200)
    long = "y" * 1000
    people = tmp_path / "people.csv"
    people.write_text(f'id,note\nl1,ok\nl2,{long}\nl3,"two\n{long}"\nl4,ok\n', encoding="utf-8")
    jsonl = tmp_path / "people.jsonl"
    jsonl.write_text(
        f'{{"id": "j1"}}\n{{"id": "j2", "attributes": {{"x": "{long}"}}}}\n{{"id": "j3"}}\n',
        encoding="utf-8",
    )
    for path, expected in ((people, [3, 4]), (jsonl, [2])):
        assert main(["profiles", "import", str(path), "--db", str(store), "--json"]) == 1
        result = json.loads(capsys.readouterr().out)
        assert [p["line"] for p in result["problems"]] == expected
        assert all("longer than 200 bytes" in p["problem"] for p in result["problems"])
        assert result["imported"] == 2


def test_an_over_long_header_is_a_file_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("campaignkit.cli.records.MAX_LINE_BYTES", 50)
    lines = lines_of(b"id," + b"c" * 100 + b"\np1,x\n", tmp_path)
    with pytest.raises(ValueError, match="line 1 is longer than 50 bytes"):
        list(csv_profiles(lines))


def test_an_over_long_audience_line_is_a_file_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("campaignkit.cli.records.MAX_LINE_BYTES", 50)
    for suffix, data in (("txt", b"a\n" + b"z" * 100 + b"\n"), ("csv", b"id\n" + b"z" * 100)):
        lines = lines_of(data, tmp_path)
        with pytest.raises(ValueError, match="line 2 is longer than 50 bytes"):
            list(audience_ids(lines, csv_file=suffix == "csv"))


def test_the_line_limit_holds_any_profile() -> None:
    assert MAX_LINE_BYTES >= 4 << 20  # a profile's attributes alone may be 200 KiB of JSON


# ---------------------------------------------------------------- copy-store


def counts_of(db: Path) -> dict[str, int]:
    from campaignkit.adapters.copying import count_store

    with open_kit(str(db)) as kit:
        return count_store(kit)


def test_a_copy_into_a_new_file_that_fails_leaves_no_file(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # was: the half-copied file stayed, and a second try said "pass --merge",
    # which appends the logs (contacts, access log) a second time
    def fail(*_args: Any, **_kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr("campaignkit.adapters.copying._Copy._profiles", fail)
    copy = tmp_path / "copy.db"
    assert main(["copy-store", str(store), str(copy)]) == 130  # as after Ctrl-C
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kit.db"]
    monkeypatch.undo()
    monkeypatch.setenv("CAMPAIGNKIT_USER", "ada")
    assert main(["copy-store", str(store), str(copy)]) == 0, capsys.readouterr().err
    assert counts_of(copy) == counts_of(store)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.db", "kit.db"]


def test_a_copy_into_a_missing_directory_names_the_destination_given(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dst = tmp_path / "nowhere" / "copy.db"
    assert main(["copy-store", str(store), str(dst)]) == 1
    err = error_line(capsys)
    assert f"--db {dst});" in err
    assert "copying" not in err


def test_a_copy_into_an_existing_file_is_made_in_place(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    assert main(["copy-store", str(store), str(empty)]) == 0, capsys.readouterr().err
    assert counts_of(empty) == counts_of(store)
