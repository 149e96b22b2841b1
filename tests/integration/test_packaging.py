"""The built wheel and sdist install in a clean venv and run the demo.

``python -m build`` builds both (in an isolated environment: hatchling comes
from the package index, as it would for any user), the archives are checked
for what they must and must not hold, then a fresh ``python -m venv`` installs
the wheel (its dependencies from the index), runs ``campaignkit demo`` and
imports the package from there; the sdist is then built and installed over it.

Needs the package index; skips when it is unreachable, except under
``CI=true`` where it fails. About 30 to 60 seconds.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import attrs
import pytest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 240
OFFLINE = re.compile(
    r"No matching distribution|Could not find a version|NewConnectionError|"
    r"Network is unreachable|Temporary failure in name resolution|Name or service not known|"
    r"Failed to establish a new connection|ConnectTimeoutError|ReadTimeoutError",
)
JUNK = re.compile(
    r"(^|/)(__pycache__|\.venv|\.nox|site|benchmarks|\.ci|\.pytest_cache|\.mypy_cache|"
    r"\.ruff_cache|\.hypothesis|htmlcov|dist|build)(/|$)|\.py[cod]$|\.db(-\w+)?$|\.coverage"
)


@attrs.frozen
class Built:
    sdist: Path
    wheel: Path


def clean_env() -> dict[str, str]:
    """The environment without anything that would import the checkout instead."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``args``; skip when the package index is unreachable (fail under CI)."""
    result = subprocess.run(
        args,
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    output = result.stdout + result.stderr
    if result.returncode and OFFLINE.search(output):
        if os.environ.get("CI") == "true":
            pytest.fail(f"the package index is unreachable under CI:\n{output[-3000:]}")
        pytest.skip("the package index is unreachable: run with network access to pip's index")
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{output[-3000:]}"
    return result


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out), str(ROOT)], out)
    (sdist,) = out.glob("campaignkit-*.tar.gz")
    (wheel,) = out.glob("campaignkit-*-py3-none-any.whl")
    return Built(sdist, wheel)


def test_the_sdist_holds_the_sources_docs_and_license_and_no_junk(built: Built) -> None:
    with tarfile.open(built.sdist) as archive:
        names = [name.split("/", 1)[1] for name in archive.getnames() if "/" in name]
    for needed in (
        "README.md",
        "LICENSE",
        "pyproject.toml",
        "PKG-INFO",
        "src/campaignkit/py.typed",
        "src/campaignkit/__init__.py",
        "src/campaignkit/otel.py",
    ):
        assert needed in names, f"the sdist lacks {needed}"
    assert any(n.startswith("docs/") for n in names)
    assert any(n.startswith("tests/unit/") for n in names)
    # hatchling ships .gitignore so that a build from the sdist excludes the same files
    junk = [n for n in names if JUNK.search(n) or (n.startswith(".") and n != ".gitignore")]
    assert junk == []


def test_the_wheel_holds_the_package_typed_with_its_license(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA")))
    assert "campaignkit/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert {n.split("/")[0] for n in names} <= {"campaignkit", "campaignkit-0.1.0.dist-info"}
    assert [n for n in names if JUNK.search(n)] == []
    text = metadata.decode()
    for line in (
        "License-Expression: MIT",
        "Requires-Python: >=3.10",
        "Classifier: Programming Language :: Python :: 3.10",
        "Classifier: Programming Language :: Python :: 3.13",
        "Classifier: Operating System :: OS Independent",
        "Classifier: Typing :: Typed",
        "Project-URL: Documentation, https://campaignkit.github.io/campaignkit/",
        "Project-URL: Source, https://github.com/campaignkit/campaignkit",
        "Provides-Extra: otel",
        "Provides-Extra: cli",
    ):
        assert line in text.splitlines(), f"METADATA lacks {line!r}"


def test_the_wheel_and_the_sdist_install_in_a_clean_venv_and_run_the_demo(
    built: Built, tmp_path: Path
) -> None:
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True)
    bin_ = tmp_path / "venv" / ("Scripts" if os.name == "nt" else "bin")
    python = str(bin_ / "python")
    run([python, "-m", "pip", "install", "-q", str(built.wheel)], tmp_path)

    (tmp_path / "tmp").mkdir()
    demo = run([str(bin_ / "campaignkit"), "demo", "--db", "tmp/demo.db"], tmp_path)
    assert "database: tmp/demo.db" in demo.stdout
    assert (tmp_path / "tmp" / "demo.db").stat().st_size > 0

    check = (
        "import pathlib, campaignkit as ck\n"
        "import campaignkit.otel, campaignkit.logs\n"
        "root = pathlib.Path(ck.__file__).parent\n"
        "assert 'site-packages' in str(root), root\n"
        "assert (root / 'py.typed').is_file()\n"
        "kit = ck.CampaignKit.in_memory()\n"
        "try:\n"
        "    campaignkit.otel.instrument(kit)\n"
        "except ck.MissingDependency as error:\n"
        "    print(error)\n"
        "print(ck.__version__)\n"
    )
    imported = run([python, "-c", check], tmp_path)
    assert imported.stdout.splitlines() == [
        "campaignkit.otel needs opentelemetry-api: pip install 'campaignkit[otel]'",
        "0.1.0",
    ]

    # the sdist builds (hatchling from the index) and installs over it
    run(
        [python, "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", str(built.sdist)],
        tmp_path,
    )
    again = run([python, "-m", "campaignkit", "demo", "--db", "tmp/again.db"], tmp_path)
    assert "database: tmp/again.db" in again.stdout
