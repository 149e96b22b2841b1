"""``campaignkit copy-store SRC DST [--merge]``, in-process (and once through the real script)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from campaignkit.adapters.copying import TABLES, count_store
from campaignkit.cli import main
from campaignkit.cli.state import open_kit
from tests.cli_store import make_store


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("copy") / "template.db")


@pytest.fixture
def store(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("CAMPAIGNKIT_USER", "CAMPAIGNKIT_DB", "CAMPAIGNKIT_SCHEMA"):
        monkeypatch.delenv(name, raising=False)
    return Path(shutil.copy(template, tmp_path / "kit.db"))


def counts(db: str) -> dict[str, int]:
    """What the store ``db`` holds, per table."""
    with open_kit(db) as kit:
        return count_store(kit)


def listed(db: str, capsys: pytest.CaptureFixture[str]) -> Any:
    """Every campaign of ``db`` as ``campaigns list --json`` prints it."""
    args = ["campaigns", "list", "--status", "all", "--db", db, "--as", "ada", "--json"]
    assert main(args) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_copy_into_a_new_file_prints_the_counts(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "copy.db"
    assert main(["copy-store", str(store), str(copy)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    expected = counts(str(store))
    assert f"copied {sum(expected.values()):,} record(s) from {store} to {copy}" in out
    for table in TABLES:
        assert table in out
    assert counts(str(copy)) == expected
    assert listed(str(copy), capsys) == listed(str(store), capsys)


def test_json_output_and_merge(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "copy.db"
    assert main(["copy-store", str(store), str(copy), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first == {
        "merged": False,
        "counts": counts(str(store)),
        "total": sum(first["counts"].values()),
    }
    # again into the same (now full) destination: refused, then merged
    assert main(["copy-store", str(store), str(copy)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"cannot copy {store} to {copy}: dst is not empty" in err
    assert "pass --merge to add to it" in err
    assert main(["copy-store", "--merge", str(store), str(copy), "--json"]) == 0
    merged = json.loads(capsys.readouterr().out)
    assert merged["merged"] is True
    assert merged["counts"]["campaigns"] == first["counts"]["campaigns"]


def test_a_missing_source_or_the_same_store_is_one_error_line(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.db"
    assert main(["copy-store", str(missing), str(tmp_path / "copy.db")]) == 1
    assert f"no campaignkit database at {missing}" in capsys.readouterr().err
    assert not (tmp_path / "copy.db").exists()
    assert main(["copy-store", str(store), str(store)]) == 1
    assert "src and dst are the same store" in capsys.readouterr().err


@pytest.fixture
def postgres_db(postgres_dsn: str, postgres_schema: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A PostgreSQL DSN whose commands use a fresh schema (through ``CAMPAIGNKIT_SCHEMA``)."""
    monkeypatch.setenv("CAMPAIGNKIT_SCHEMA", postgres_schema)
    return postgres_dsn


def test_copy_to_postgresql_and_back(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], postgres_db: str
) -> None:
    postgres_dsn = postgres_db
    assert main(["copy-store", str(store), postgres_dsn]) == 0, capsys.readouterr().err
    capsys.readouterr()
    back = tmp_path / "back.db"
    assert main(["copy-store", postgres_dsn, str(back)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert counts(str(back)) == counts(str(store))
    assert listed(postgres_dsn, capsys) == listed(str(store), capsys)
    assert listed(str(back), capsys) == listed(str(store), capsys)
