"""Every Python code block of README.md and docs/**/*.md runs as written.

Each block runs on its own, in a fresh namespace, so a reader can copy any
one of them into a file and run it. A block that builds on the one before
says so on its first line, ``# continued from the previous block``, and runs
in that block's namespace. Pages made only of mkdocstrings ``::: name``
directives (the API reference) hold no code and are left out.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
CONTINUED = "# continued from the previous block"


def only_directives(text: str) -> bool:
    """Whether a page holds no code: only headings, prose and ``::: name`` directives."""
    return "::: " in text and not BLOCK.search(text)


def documents() -> list[Path]:
    """README.md and every page under docs/ that may hold code, in a stable order."""
    pages = sorted((ROOT / "docs").rglob("*.md"))
    return [ROOT / "README.md"] + [
        page for page in pages if not only_directives(page.read_text(encoding="utf-8"))
    ]


def blocks(path: Path) -> list[str]:
    """The Python code blocks of one page, in order."""
    return BLOCK.findall(path.read_text(encoding="utf-8"))


def run_blocks(name: str, codes: list[str]) -> list[dict[str, object]]:
    """Run each block in a fresh namespace, or its predecessor's when marked continued.

    Returns:
        The namespace each block ran in, one per block.

    Raises:
        ValueError: The first block is marked as continuing a previous one.
    """
    spaces: list[dict[str, object]] = []
    for number, code in enumerate(codes, start=1):
        continued = code.lstrip().startswith(CONTINUED)
        if continued and not spaces:
            raise ValueError(f"{name}[block 1] is marked {CONTINUED!r} but no block precedes it")
        fresh: dict[str, object] = {"__name__": f"docs_{Path(name).stem}"}
        namespace = spaces[-1] if continued else fresh
        exec(compile(code, f"{name}[block {number}]", "exec"), namespace)
        spaces.append(namespace)
    return spaces


def test_documents_have_python_examples() -> None:
    assert blocks(ROOT / "README.md"), "the README must show the API"


def test_the_site_index_shows_the_readme_taste_unchanged() -> None:
    assert blocks(ROOT / "docs" / "index.md")[0] == blocks(ROOT / "README.md")[0]


def test_readme_taste_sends_to_profiles_it_creates() -> None:
    taste = blocks(ROOT / "README.md")[0]
    assert "kit.profiles.upsert(" in taste
    [namespace] = run_blocks("README.md", [taste])
    sent = namespace["sent"]
    assert isinstance(sent, list)
    assert len(sent) == 2


def test_documents_cover_subfolders_and_leave_out_api_pages() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in documents()}
    assert {"README.md", "docs/index.md", "docs/tutorial.md"} <= names
    assert "docs/reference/kit.md" not in names  # only `::: campaignkit.kit`


def test_only_directives_needs_a_directive_and_no_code() -> None:
    assert only_directives("# Errors\n\n::: campaignkit.errors\n")
    assert not only_directives("# Prose\n\nNo directive here.\n")
    assert not only_directives("::: campaignkit\n\n```python\nx = 1\n```\n")


def test_each_block_runs_alone_unless_marked_as_continued() -> None:
    first, alone, continued = run_blocks(
        "page.md", ["x = 1\n", "y = 2\n", f"{CONTINUED}\nz = y + 1\n"]
    )
    assert first["x"] == 1
    assert "x" not in alone
    assert continued is alone
    assert continued["z"] == 3


def test_a_block_using_a_name_from_an_unmarked_block_fails() -> None:
    with pytest.raises(NameError, match="'x'"):
        run_blocks("page.md", ["x = 1\n", "print(x)\n"])


def test_the_first_block_cannot_continue() -> None:
    with pytest.raises(ValueError, match=r"page\.md\[block 1\].*no block precedes it"):
        run_blocks("page.md", [f"{CONTINUED}\nx = 1\n"])


@pytest.mark.parametrize(
    "path", documents(), ids=lambda p: p.relative_to(ROOT).as_posix().removeprefix("docs/")
)
def test_code_blocks_run(path: Path) -> None:
    run_blocks(path.relative_to(ROOT).as_posix(), blocks(path))
