"""examples/notebook.ipynb runs through a real Jupyter kernel, showing HTML tables and plots."""

from __future__ import annotations

import importlib
import os
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "examples" / "notebook.ipynb"
WHICH_PYTHON = "import sys; print(sys.executable)"


def needs(module: str) -> Any:
    """Import an optional test dependency: skip without it, except under CI=true (fail)."""
    if os.environ.get("CI") == "true":
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"needs {module}: pip install -e '.[dev]'")


class Titles(HTMLParser):
    """The bold titles of a campaignkit HTML repr."""

    def __init__(self) -> None:
        super().__init__()
        self.titles: list[str] = []
        self._bold = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._bold = tag == "b"

    def handle_endtag(self, tag: str) -> None:
        self._bold = False

    def handle_data(self, data: str) -> None:
        if self._bold:
            self.titles.append(data)


def test_the_stored_notebook_is_clean() -> None:
    nbformat = needs("nbformat")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code
    assert all(not cell.outputs and cell.execution_count is None for cell in code)


def test_the_notebook_runs_in_a_jupyter_kernel_of_this_python(tmp_path: Path) -> None:
    nbformat = needs("nbformat")
    nbclient = needs("nbclient")
    needs("ipykernel")
    kernelspec = needs("jupyter_client.kernelspec")
    spec = kernelspec.KernelSpecManager().get_kernel_spec("python3")
    assert spec.language == "python"
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    notebook.cells.insert(0, nbformat.v4.new_code_cell(WHICH_PYTHON))
    client = nbclient.NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=60,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    began = time.perf_counter()
    client.execute()  # raises CellExecutionError on the first failing cell
    assert time.perf_counter() - began < 60
    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    which = notebook.cells[0].outputs[0]
    assert Path(which.text.strip()).resolve() == Path(sys.executable).resolve(), (
        "the python3 kernel must run this interpreter (python -m ipykernel install --sys-prefix)"
    )
    shown = [o.data for o in outputs if o.output_type == "execute_result"]
    pictures = [data for data in shown if "image/png" in data]
    assert len(pictures) == 2  # the calendar and the report plot
    titles: list[str] = []
    for data in shown:
        if "text/html" in data and "campaignkit-" in data["text/html"]:
            parser = Titles()
            parser.feed(data["text/html"])
            titles.extend(parser.titles)
    assert "Winter countdown" in titles  # the campaign and the report
    assert "1 campaign(s)" in titles  # the page
    assert "Approval history: 1 entry" in titles
    assert any(title.endswith("calendar entries") for title in titles)
    texts = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "200/200" in texts  # the tqdm bars
    assert "Campaign(id='cmp_" in texts  # the one-line repr
