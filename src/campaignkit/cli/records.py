"""Reading profile and audience files a line at a time (never the whole file).

Profiles come as CSV or JSON Lines:

- **CSV** with a header row. ``id`` is required; ``identity.<namespace>``,
  ``consent.<channel>`` (true/false, yes/no, 1/0), ``channel_data.<channel>``,
  ``timezone``, ``language`` and ``test`` fill those fields; any other column
  is an attribute (``address.city`` nests). Empty cells are left out.
- **JSON Lines**: one object per line with the fields of ``ck.Profile``
  (``id``, ``identities``, ``attributes``, ``consents``, ``channel_data``,
  ``timezone``, ``language``, ``test``).

Each record is read, checked and yielded with the line it starts on; a bad
record is yielded as its problem, so the records after it still load. A line
longer than :data:`MAX_LINE_BYTES` is never held whole: it is skipped and its
record refused. A UTF-8 byte order mark (spreadsheets write one) is ignored.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any, Final

from campaignkit.domain.profile import PROFILE_FIELDS, Profile
from campaignkit.errors import ValidationError

Record = tuple[int, Profile | str]
"""A line number and its profile, or what is wrong with it."""

_TRUE: Final = frozenset({"true", "yes", "1", "y", "t"})
_FALSE: Final = frozenset({"false", "no", "0", "n", "f"})
_PREFIXES: Final = ("identity.", "consent.", "channel_data.")
_SCALARS: Final = ("timezone", "language")
_BOM: Final = b"\xef\xbb\xbf"
_DRAIN: Final = 1 << 16

MAX_LINE_BYTES: int = 4 << 20
"""The longest line read (4 MiB): far more than any profile needs (its
attributes are at most 200 KiB of JSON); a longer one is skipped unread."""


class FileProblem(ValueError):
    """The file as a whole cannot be read (no header, no ``id`` column)."""


class Overlong(str):
    """The stand-in for a line longer than :data:`MAX_LINE_BYTES`, which is never held.

    Its text is a newline, after a double quote when the line held an odd
    number of them, so a CSV reader's quoting state is the same after it as
    after the real line and the records that follow still parse.

    Attributes:
        size: The line's length in bytes.
    """

    size: int

    def __new__(cls, size: int, *, odd_quotes: bool) -> Overlong:  # noqa: D102
        line = super().__new__(cls, '"\n' if odd_quotes else "\n")
        line.size = size
        return line

    def problem(self) -> str:
        """What is wrong with the line, for a record's or a file's message."""
        return (
            f"is longer than {MAX_LINE_BYTES:,} bytes ({self.size:,}); no record needs that "
            "much: check that this is the right file"
        )


def _skip(handle: IO[bytes], start: bytes, advance: Callable[[int], object]) -> Overlong:
    """Read the rest of an over-long line a chunk at a time; its stand-in."""
    size, odd, raw = len(start), start.count(b'"') % 2, start
    while not raw.endswith(b"\n"):
        raw = handle.readline(_DRAIN)
        if not raw:
            break
        advance(len(raw))
        size += len(raw)
        odd ^= raw.count(b'"') % 2
    return Overlong(size, odd_quotes=bool(odd))


def counted(handle: IO[bytes], advance: Callable[[int], object]) -> Iterator[str]:
    """The lines of ``handle`` as text, calling ``advance`` with each line's size in bytes.

    Bytes that are not UTF-8 are kept as surrogates, so the record holding
    them is refused by the profile's own check and the others still load. A
    byte order mark opening the file is dropped. A line longer than
    :data:`MAX_LINE_BYTES` is read a chunk at a time and comes as an
    :class:`Overlong`, so memory stays bounded whatever the file holds.
    """
    limit = MAX_LINE_BYTES
    first = True
    while raw := handle.readline(limit + 1):
        advance(len(raw))
        if len(raw) > limit and not raw.endswith(b"\n"):
            yield _skip(handle, raw, advance)
        else:
            yield raw.removeprefix(_BOM if first else b"").decode("utf-8", errors="surrogateescape")
        first = False


def _flag(name: str, cell: str) -> bool:
    word = cell.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"{name} must be true or false, not {cell!r}")


def _nest(target: dict[str, Any], name: str, value: str) -> None:
    *parents, leaf = name.split(".")
    for part in parents:
        child = target.setdefault(part, {})
        if not isinstance(child, dict):
            raise ValueError(f"column {name} nests under {part}, which is a value")
        target = child
    if isinstance(target.get(leaf), dict):
        raise ValueError(f"column {name} is a value, but other columns nest under {leaf}")
    target[leaf] = value


def profile_from_row(header: list[str], row: list[str]) -> Profile:
    """The profile of one CSV row.

    Raises:
        ValueError: a row of the wrong width, no id, a bad flag.
        ValidationError: a field ``ck.Profile`` refuses.
    """
    if len(row) != len(header):
        raise ValueError(f"has {len(row)} fields; the header has {len(header)}")
    parts: dict[str, dict[str, Any]] = {
        "identity.": {},
        "consent.": {},
        "channel_data.": {},
    }
    attributes: dict[str, Any] = {}
    scalars: dict[str, Any] = {}
    for name, cell in zip(header, row, strict=True):
        if cell == "":
            continue
        prefix = next((p for p in _PREFIXES if name.startswith(p)), None)
        if prefix is not None:
            key = name[len(prefix) :]
            parts[prefix][key] = _flag(name, cell) if prefix == "consent." else cell
        elif name == "id" or name in _SCALARS:
            scalars[name] = cell
        elif name == "test":
            scalars[name] = _flag(name, cell)
        else:
            _nest(attributes, name, cell)
    if "id" not in scalars:
        raise ValueError("has no id")
    return Profile(
        identities=parts["identity."],
        consents=parts["consent."],
        channel_data=parts["channel_data."],
        attributes=attributes,
        **scalars,
    )


def _explain(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(exc.problems)
    return str(exc)


def csv_profiles(lines: Iterable[str]) -> Iterator[Record]:
    """The profiles of a CSV file, one record per row after the header.

    Raises:
        FileProblem: the file has no header, or its header no ``id`` column
            or a column twice, or is too long.
    """
    skipped: list[Overlong] = []  # over-long lines read since the last record

    def watched() -> Iterator[str]:
        for text in lines:
            if isinstance(text, Overlong):
                skipped.append(text)
            yield text

    reader = csv.reader(watched(), strict=True)
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise FileProblem(
            "is empty; the first line must be a header such as id,identity.email"
        ) from None
    except csv.Error as exc:
        raise FileProblem(f"line 1: {exc}") from exc
    if skipped:
        raise FileProblem(f"line 1 {skipped[0].problem()}")
    if "id" not in header:
        raise FileProblem("has no id column in its header (the first line)")
    twice = sorted(name for name, seen in Counter(header).items() if seen > 1)
    if twice:
        raise FileProblem(f"has the column(s) {', '.join(twice)} twice in its header")
    line = reader.line_num
    while True:
        start = line + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            row, problem = [], str(exc)
        else:
            problem = ""
        line = reader.line_num
        if skipped:
            problem = skipped[0].problem()
            skipped.clear()
        if problem:
            yield start, problem
            continue
        if not row:
            continue
        try:
            yield start, profile_from_row(header, row)
        except (ValueError, ValidationError) as exc:
            yield start, _explain(exc)


def jsonl_profiles(lines: Iterable[str]) -> Iterator[Record]:
    """The profiles of a JSON Lines file, one object per non-blank line."""
    known = set(PROFILE_FIELDS)
    for number, text in enumerate(lines, start=1):
        if isinstance(text, Overlong):
            yield number, text.problem()
            continue
        if not text.strip():
            continue
        try:
            data = json.loads(text)
        except ValueError as exc:
            yield number, f"is not JSON: {exc}"
            continue
        if not isinstance(data, dict):
            yield number, f"must be a JSON object with an id, not {type(data).__name__}"
            continue
        unknown = sorted(set(data) - known)
        if unknown:
            yield (
                number,
                f"unknown field(s) {', '.join(unknown)} (known: {', '.join(PROFILE_FIELDS)})",
            )
            continue
        if "id" not in data:
            yield number, "has no id"
            continue
        try:
            yield number, Profile(**data)
        except (ValueError, TypeError, ValidationError) as exc:
            yield number, _explain(exc)


def audience_ids(lines: Iterable[str], *, csv_file: bool) -> Iterator[str]:
    """Profile ids: one per line (blank lines and ``#`` comments skipped), or a CSV ``id`` column.

    Raises:
        FileProblem: a CSV file without an ``id`` column, or an over-long line.
    """
    lines = _refusing_overlong(lines)
    if not csv_file:
        for text in lines:
            value = text.strip()
            if value and not value.startswith("#"):
                yield value
        return
    reader = csv.DictReader(lines)
    if reader.fieldnames is None or "id" not in [n.strip() for n in reader.fieldnames]:
        raise FileProblem("has no id column in its header (the first line)")
    column = next(n for n in reader.fieldnames if n.strip() == "id")
    for row in reader:
        value = (row.get(column) or "").strip()
        if value:
            yield value


def _refusing_overlong(lines: Iterable[str]) -> Iterator[str]:
    """``lines``, raising :class:`FileProblem` at an :class:`Overlong` one."""
    for number, text in enumerate(lines, start=1):
        if isinstance(text, Overlong):
            raise FileProblem(f"line {number} {text.problem()}")
        yield text
