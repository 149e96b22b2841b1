"""Output: rich tables for people, JSON for programs (``--json``).

Under ``--json`` standard output carries exactly one JSON document and
nothing else; messages for people go to standard error. Enumerations are
written by their value, instants in ISO 8601.
"""

from __future__ import annotations

import datetime
import enum
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pendulum
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

WIDE: int = 200
"""Columns used when standard output is not a terminal (pipes, files, tests)."""


def plain(value: object) -> str:
    """``value`` for a table cell: enums by value, instants in ISO 8601, None as ``-``."""
    if value is None:
        return "-"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple, frozenset, set)):
        return ", ".join(plain(item) for item in value) or "-"
    return str(value)


def jsonable(value: object) -> Any:
    """``value`` as JSON types: enums by value, instants as ISO 8601 text."""
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, pendulum.Duration):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return {str(jsonable(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, (frozenset, set)):
        return sorted((jsonable(item) for item in value), key=str)
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    return value


def console(*, stderr: bool = False) -> Console:
    """A console on standard output (or error), wide when it is not a terminal."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or os.environ.get("COLUMNS") else WIDE
    return Console(file=stream, width=width, highlight=False, soft_wrap=False)


def emit_json(value: object) -> None:
    """Write ``value`` as one JSON document on standard output."""
    sys.stdout.write(json.dumps(jsonable(value), indent=2, ensure_ascii=False) + "\n")


def _titled(title: str | None, grid: Table) -> RenderableType:
    return grid if title is None else Group(Text(title, style="bold"), grid)


def table(
    title: str | None, columns: Sequence[str], rows: Iterable[Sequence[object]]
) -> RenderableType:
    """A rich table of ``rows`` under ``title`` (cells shown with :func:`plain`, never markup)."""
    grid = Table()
    for column in columns:
        grid.add_column(column, overflow="fold")
    for row in rows:
        grid.add_row(*(Text(plain(cell)) for cell in row))
    return _titled(title, grid)


def fields(title: str | None, pairs: Iterable[tuple[str, object]]) -> RenderableType:
    """A two-column table of named values under ``title``."""
    grid = Table(show_header=False)
    grid.add_column("field", style="bold")
    grid.add_column("value", overflow="fold")
    for name, value in pairs:
        grid.add_row(Text(name), Text(plain(value)))
    return _titled(title, grid)


def show(*renderables: RenderableType) -> None:
    """Print tables and plain lines (not read as markup) on standard output."""
    out = console()
    for item in renderables:
        if isinstance(item, str):
            out.print(Text(item))
        else:
            out.print(item)


def note(line: str) -> None:
    """A line for people on standard error (so ``--json`` output stays clean)."""
    print(line, file=sys.stderr)
