"""The SQLite statements of the shared repositories, translated to PostgreSQL once each.

The SQLite repositories (``campaignkit.adapters.sqlite``) run unchanged on
PostgreSQL: every statement they send goes through :func:`translate`, which
rewrites the few SQLite-only forms they use and caches the result per
statement text:

- ``?`` placeholders become ``%s``; numbered ones (``?1``, ``?2``) become
  ``%s`` too, with the order in which to pass the parameters;
- ``INSERT OR IGNORE`` becomes ``ON CONFLICT DO NOTHING``, ``INSERT OR
  REPLACE`` an upsert on the table's primary key (:data:`PRIMARY_KEYS`);
- ``json_each(...)`` becomes ``ck_json_each(...)``, a function of the schema
  giving the same ``(key, value)`` rows of a JSON object or array as text;
- the listing's search ``instr(c.name_fold, ?) > 0`` becomes a ``LIKE`` of the
  escaped text (served by a trigram index when ``pg_trgm`` is there), any
  other ``instr(a, b)`` ``strpos(a, b)``; ``INDEXED BY`` hints are dropped;
  ``LIMIT -1`` becomes ``LIMIT ALL``; ``x IS ?`` becomes ``IS NOT DISTINCT
  FROM``; ``CASE WHEN ? THEN`` (an integer flag) compares it with 0;
- a subquery in ``FROM`` without an alias gets one (PostgreSQL 15 needs it);
- a literal ``%`` is doubled (psycopg's placeholder character).
"""

from __future__ import annotations

import functools
import re
from typing import Final

import attrs

from campaignkit.errors import StorageError

PRIMARY_KEYS: Final = {
    "profiles": ("id",),
    "profile_identities": ("namespace", "value"),
    "audiences": ("name",),
}
"""The conflict target of ``INSERT OR REPLACE`` per table (the only tables it is used on)."""

GUARDED_UPDATES: Final = frozenset({"surfaces", "ledger"})
"""Tables whose ``UPDATE`` can break a unique index (a surface's name, a provider id)."""
APPEND_ONLY: Final = frozenset({"contacts", "feedback", "access_log"})
"""Tables whose ``INSERT`` cannot break a unique index (no key but a generated one)."""

_NUMBERED = re.compile(r"\?(\d+)")
_INSERT_OR = re.compile(r"^\s*INSERT\s+OR\s+(IGNORE|REPLACE)\s+INTO\s+", re.IGNORECASE)
_REPLACE = re.compile(
    r"^INSERT INTO\s+(\w+)\s*\(([^)]*)\)\s*(VALUES\s*\(.*\)|SELECT\s.*)$",
    re.IGNORECASE | re.DOTALL,
)
_TARGET = re.compile(r"^\s*(INSERT\s+INTO|UPDATE)\s+(\w+)", re.IGNORECASE)
_DEPTH: Final = {"(": 1, ")": -1}
_KEYWORDS: Final = frozenset(
    {"UNION", "LIMIT", "ORDER", "WHERE", "GROUP", "JOIN", "LEFT", "INNER", "ON", ")", ""}
)


_SEARCH: Final = "instr(c.name_fold, ?) > 0"
"""The listing's case-insensitive search (``adapters/sqlite/campaigns.listing_sql``)."""
_SEARCH_LIKE: Final = (
    "c.name_fold LIKE '%' || replace(replace(replace(?, '\\', '\\\\'), '%', '\\%'), "
    "'_', '\\_') || '%'"
)
"""The same test as a ``LIKE`` of the escaped text, which ``campaigns_by_name_trgm`` serves."""
GUARDED_CALLS: Final = ("ck_settle_keyed(",)
"""Functions of the schema whose call can break a unique index (run inside a savepoint)."""


@attrs.frozen
class Statement:
    """A statement translated for psycopg.

    Attributes:
        sql: The PostgreSQL text, with ``%s`` placeholders.
        order: For numbered placeholders, the index of the parameter each
            ``%s`` takes, in order; None when they are taken as given.
        guarded: Whether it may break a unique index (run inside a savepoint,
            so the error leaves the transaction usable, as in SQLite).
    """

    sql: str
    order: tuple[int, ...] | None
    guarded: bool

    def parameters(self, params: object) -> object:
        """``params`` in the order the translated text takes them."""
        if self.order is None:
            return params
        values = list(params)  # type: ignore[call-overload]
        return [values[index] for index in self.order]


@functools.lru_cache(maxsize=1024)
def translate(sql: str) -> Statement:
    """The PostgreSQL form of one SQLite statement (cached per text).

    Raises:
        StorageError: an ``INSERT OR REPLACE`` on a table without a known key.
    """
    text = sql.strip()
    conflict = ""
    match = _INSERT_OR.match(text)
    if match is not None:
        text = "INSERT INTO " + text[match.end() :]
        if match.group(1).upper() == "IGNORE":
            conflict = " ON CONFLICT DO NOTHING"
        else:
            conflict = _upsert(text)
    text = re.sub(r"\s+INDEXED BY \w+", "", text)
    text = text.replace("LIMIT -1", "LIMIT ALL")
    text = re.sub(r"\bjson_each\(", "ck_json_each(", text)
    text = text.replace(_SEARCH, _SEARCH_LIKE)
    text = re.sub(r"\binstr\(", "strpos(", text)
    text = text.replace("CASE WHEN ? THEN", "CASE WHEN ? <> 0 THEN")
    text = re.sub(r"\bIS \?", "IS NOT DISTINCT FROM ?", text)
    text = _alias_subqueries(text) + conflict
    text = text.replace("%", "%%")
    order: tuple[int, ...] | None = None
    if _NUMBERED.search(text):
        order = tuple(int(number) - 1 for number in _NUMBERED.findall(text))
        text = _NUMBERED.sub("%s", text)
    text = text.replace("?", "%s")
    return Statement(text, order, _guarded(text, conflict))


def _upsert(text: str) -> str:
    match = _REPLACE.match(text)
    table = match.group(1) if match is not None else None
    keys = PRIMARY_KEYS.get(table or "")
    if match is None or keys is None:
        raise StorageError(
            f"cannot translate an INSERT OR REPLACE to PostgreSQL: {text[:80]!r} "
            "(add its table's key to campaignkit.adapters.postgres.dialect.PRIMARY_KEYS)"
        )
    columns = [column.strip() for column in match.group(2).split(",")]
    rest = [column for column in columns if column not in keys]
    updates = ", ".join(f"{column} = excluded.{column}" for column in rest)
    action = f"DO UPDATE SET {updates}" if rest else "DO NOTHING"
    return f" ON CONFLICT ({', '.join(keys)}) {action}"


def _alias_subqueries(text: str) -> str:
    """Give every ``FROM (subquery)`` without an alias one (innermost last, so nested work)."""
    for number, match in enumerate(reversed(list(re.finditer(r"\bFROM \(", text))), start=1):
        depth, end = 0, match.end() - 1
        while True:
            depth += _DEPTH.get(text[end], 0)
            if depth == 0:
                break
            end += 1
        token = (re.findall(r"^(\w+|\))", text[end + 1 :].lstrip()) or [""])[0]
        if token.upper() in _KEYWORDS:
            text = f"{text[: end + 1]} AS _ck{number}{text[end + 1 :]}"
    return text


def _guarded(text: str, conflict: str) -> bool:
    if any(call in text for call in GUARDED_CALLS):
        return True
    match = _TARGET.match(text)
    if match is None or conflict.endswith("DO NOTHING"):
        return False
    verb, table = match.group(1).upper(), match.group(2)
    if verb == "UPDATE":
        return table in GUARDED_UPDATES
    return table not in APPEND_ONLY
