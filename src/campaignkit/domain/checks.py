"""Argument checks shared by every public verb and value constructor.

Each function appends to a ``problems`` list (so one ``ValidationError`` can
list every problem) and names the argument it checks, what it expects and
what it got. Pure: no I/O, no clock. The documented limits live here, so the
memory, SQLite and PostgreSQL stores accept and refuse exactly the same
values (the check happens before anything reaches a store).
"""

from __future__ import annotations

import datetime
import enum
import itertools
import math
import reprlib
from collections.abc import Iterable, Mapping
from typing import TypeVar

import pendulum

from campaignkit.errors import ValidationError

MAX_NAME = 256
"""Characters in a name (campaign, surface, policy, audience, group)."""
MAX_ID = 256
"""Characters in an identifier (user, profile, campaign, request id)."""
MAX_DESCRIPTION = 10_000
"""Characters in a description."""
MAX_TAG = 64
"""Characters in one tag."""
MAX_TAGS = 50
"""Tags on one campaign."""
MAX_JSON_DEPTH = 32
"""Nesting depth of a JSON-like value (context, attributes, overlays)."""
MAX_JSON_BYTES = 200 * 1024
"""UTF-8 bytes of one JSON-like value when no tighter limit applies."""
MAX_JSON_INT = 2**63 - 1
"""The largest integer in a JSON value (a SQLite INTEGER); larger ones are refused."""
MIN_JSON_INT = -(2**63)
"""The smallest integer in a JSON value."""


class _ShortRepr(reprlib.Repr):
    """``reprlib`` that keeps a dict's insertion order (as ``repr`` does)."""

    def repr_dict(self, x: dict[object, object], level: int) -> str:
        if not x:
            return "{}"
        if level <= 0:
            return "{...}"
        pieces = [
            f"{self.repr1(key, level - 1)}: {self.repr1(x[key], level - 1)}"
            for key in itertools.islice(x, self.maxdict)
        ]
        more = ", ..." if len(x) > self.maxdict else ""
        return "{" + ", ".join(pieces) + more + "}"


_SHORT = _ShortRepr()
_SHORT.maxlevel = 3
_SHORT.maxstring = 60
_SHORT.maxother = 60


def shown(value: object) -> str:
    """A short ``repr`` of ``value`` for error messages (see :func:`describe`)."""
    try:
        text = _SHORT.repr(value)
    except Exception:  # a caller's broken __repr__ must not hide the real problem
        text = f"<{type(value).__name__} object>"
    if len(text) > 60:
        text = text[:57] + "..."
    return text


def describe(value: object) -> str:
    """A short description of what a caller passed, for error messages.

    Safe for any value: nesting is cut short (a 100,000-deep dict has no
    ``repr``) and a ``__repr__`` that raises is not called again.
    """
    return f"{type(value).__name__} {shown(value)}"


def encodable(value: str) -> bool:
    """True if ``value`` can be encoded as UTF-8 (no lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text(
    problems: list[str],
    name: str,
    value: object,
    *,
    max_length: int = MAX_NAME,
    allow_empty: bool = False,
) -> None:
    """Check that ``value`` is a UTF-8 encodable ``str`` of a bounded length.

    Args:
        problems: Receives one string per problem.
        name: The argument's name, as the caller wrote it.
        value: What the caller passed.
        max_length: The longest accepted string, in characters.
        allow_empty: Whether an empty (or all-blank) string is accepted.
    """
    if not isinstance(value, str):
        problems.append(f"{name} must be a string, not {describe(value)}")
        return
    if not allow_empty and not value.strip():
        problems.append(f"{name} must not be empty")
    if len(value) > max_length:
        problems.append(
            f"{name} is {len(value)} characters long; the limit is {max_length}: shorten it"
        )
    if not encodable(value):
        problems.append(
            f"{name} holds characters that cannot be encoded as UTF-8 (a lone surrogate?)"
        )


def optional_text(
    problems: list[str],
    name: str,
    value: object,
    *,
    max_length: int = MAX_NAME,
    allow_empty: bool = False,
) -> None:
    """Like :func:`text`, but ``None`` is accepted."""
    if value is not None:
        text(problems, name, value, max_length=max_length, allow_empty=allow_empty)


def strings(
    problems: list[str],
    name: str,
    value: object,
    *,
    max_items: int,
    max_length: int = MAX_NAME,
) -> None:
    """Check a collection of strings (a list or tuple, never one bare string).

    A bare ``str`` is refused: iterating it would silently give one-letter
    items (``tags="winter"``).
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, set, frozenset)):
        problems.append(f"{name} must be a list of strings, not {describe(value)}")
        return
    if len(value) > max_items:
        problems.append(f"{name} has {len(value)} items; the limit is {max_items}")
        return
    for index, item in enumerate(value):
        text(problems, f"{name}[{index}]", item, max_length=max_length)


def instance(problems: list[str], name: str, value: object, kind: type | tuple[type, ...]) -> bool:
    """Check ``isinstance(value, kind)``; return whether it holds."""
    if isinstance(value, kind):
        return True
    kinds = kind if isinstance(kind, tuple) else (kind,)
    expected = " or ".join(k.__name__ for k in kinds)
    problems.append(f"{name} must be a {expected}, not {describe(value)}")
    return False


def json_value(
    problems: list[str],
    name: str,
    value: object,
    *,
    max_depth: int = MAX_JSON_DEPTH,
    max_bytes: int | None = MAX_JSON_BYTES,
) -> int:
    """Check a JSON-like value: string keys, JSON scalars, bounded depth and size.

    Walks the value without recursion, so a 100,000-deep value is refused, not
    a ``RecursionError``.

    Returns:
        An estimate of the value's size in UTF-8 bytes as JSON (0 if refused).
    """
    size = 0
    stack: list[tuple[object, str, int]] = [(value, name, 1)]
    while stack:
        item, where, depth = stack.pop()
        if depth > max_depth:
            problems.append(f"{name} is nested more than {max_depth} levels deep (at {where})")
            return 0
        if item is None or isinstance(item, bool):
            size += 5
        elif isinstance(item, (int, float)):
            if isinstance(item, float) and not math.isfinite(item):  # JSON has no NaN or inf
                problems.append(f"{where} is {item}, which JSON cannot hold")
                return 0
            if isinstance(item, int) and not MIN_JSON_INT <= item <= MAX_JSON_INT:
                # a 5,000-digit int cannot even be turned into text (ValueError)
                problems.append(
                    f"{where} is an integer beyond 64 bits: the limit is ±{MAX_JSON_INT:,}"
                )
                return 0
            size += 24
        elif isinstance(item, str):
            if not encodable(item):
                problems.append(f"{where} holds characters that cannot be encoded as UTF-8")
                return 0
            size += len(item.encode("utf-8")) + 2
        elif isinstance(item, Mapping):
            for key, sub in item.items():
                if not isinstance(key, str):
                    problems.append(f"{where} has a key {describe(key)}: keys must be strings")
                    return 0
                if not encodable(key):
                    problems.append(f"{where} has a key that cannot be encoded as UTF-8")
                    return 0
                size += len(key.encode("utf-8")) + 4
                stack.append((sub, f"{where}.{key}", depth + 1))
        elif isinstance(item, (list, tuple)):
            for index, sub in enumerate(item):
                size += 1
                stack.append((sub, f"{where}[{index}]", depth + 1))
        else:
            problems.append(
                f"{where} must be a JSON value (str, number, bool, None, list, dict), "
                f"not {describe(item)}"
            )
            return 0
        if max_bytes is not None and size > max_bytes:
            problems.append(f"{name} is larger than {max_bytes:,} bytes as JSON: send less data")
            return 0
    return size


MAX_ADDRESS = 1024
"""Characters in one address (an email address, a phone number, a push token)."""
MAX_IDENTITIES = 50
"""Identities (namespaces) of one profile, and channels of one address map."""


def count_in_range(problems: list[str], name: str, value: object, *, maximum: int) -> None:
    """Check that ``value`` is an ``int`` (not a bool) from 1 to ``maximum`` (pool sizes)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        problems.append(f"{name} must be an integer from 1 to {maximum}, not {shown(value)}")


def seconds(problems: list[str], name: str, value: object, *, maximum: float) -> None:
    """Check that ``value`` is a finite number of seconds above 0 and at most ``maximum``.

    NaN, infinities and ints too large for a float are refused too.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= maximum:
        problems.append(
            f"{name} must be a finite number of seconds > 0 and at most {maximum:g}, "
            f"not {shown(value)}"
        )


def boolean(problems: list[str], name: str, value: object) -> None:
    """Check that ``value`` is ``True`` or ``False`` (not 0, 1 or a string)."""
    if not isinstance(value, bool):
        problems.append(f"{name} must be True or False, not {describe(value)}")


def identifiers(
    problems: list[str], name: str, value: object, *, max_items: int | None = None
) -> tuple[str, ...]:
    """Check a collection of identifiers: any iterable but a bare string or a mapping.

    Fast for large collections (an audience of a million ids): the common,
    valid case costs a few passes in C.

    Returns:
        The identifiers as a tuple (empty if refused).
    """
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        problems.append(f"{name} must be a list of identifiers, not {describe(value)}")
        return ()
    items = tuple(value)
    if max_items is not None and len(items) > max_items:
        problems.append(f"{name} has {len(items)} items; the limit is {max_items}")
        return ()
    valid = (
        all(type(item) is str for item in items)
        and (not items or max(map(len, items)) <= MAX_ID)
        and encodable("\n".join(items))
        and all(item.strip() for item in items)
    )
    if not valid:
        before = len(problems)
        for index, item in enumerate(items):
            text(problems, f"{name}[{index}]", item, max_length=MAX_ID)
            if len(problems) - before >= 5:  # enough for the caller to fix
                problems.append(f"{name}: further items not checked")
                break
        return ()
    return items


def require_ids(**ids: object) -> None:
    """Refuse identifiers that are not non-empty UTF-8 strings of at most ``MAX_ID`` characters.

    Call it before a store sees the ids (SQLite cannot bind a lone surrogate).

    Raises:
        ValidationError: naming each bad argument.
    """
    problems: list[str] = []
    for name, value in ids.items():
        if not isinstance(value, str) or not value.strip():
            shown = "" if isinstance(value, str) else f", not {describe(value)}"
            problems.append(f"{name} must be a non-empty string{shown}")
        else:
            text(problems, name, value, max_length=MAX_ID)
    raise_if(problems, "arguments")


def utf8_string(problems: list[str], name: str, value: object, *, optional: bool = False) -> None:
    """Check only that ``value`` is a ``str`` UTF-8 can encode (``None`` too when ``optional``).

    For stored aggregates (a campaign, a version): their constructors check
    types, the verbs check sizes, so a store written before the limits loads.
    """
    if value is None and optional:
        return
    if not isinstance(value, str):
        problems.append(f"{name} must be a string, not {describe(value)}")
    elif not encodable(value):
        problems.append(
            f"{name} holds characters that cannot be encoded as UTF-8 (a lone surrogate?)"
        )


MAX_PERIOD = datetime.timedelta(days=366)
"""Longest send window, frequency-cap period or time between two waves.

A period of a million days made every run of its campaign (or, for a cap,
of its channel) fail with ``OverflowError``; a year is more than any real one.
"""
MAX_POLICY_NAMES = 1000
"""Reviewers, reviewer groups, requesters or tags named by one approval policy."""
MAX_ACTIONS = 50
"""Actions of one campaign version (AJO allows up to 10 inbound actions)."""
MAX_TEMPLATE = 500_000
"""Characters in one template field of an action's content (subject, HTML body...)."""
MAX_SETTING = 1024
"""Characters in one channel surface setting (sender address, app id...)."""

E = TypeVar("E", bound=enum.Enum)


def member(problems: list[str], name: str, value: object, kind: type[E]) -> E | None:
    """Check that ``value`` is a member of the enum ``kind`` or its value (``"SCHEDULED"``).

    Returns:
        The member, or None when refused.
    """
    if isinstance(value, kind):
        return value
    if isinstance(value, str) and len(value) <= MAX_NAME:
        try:
            return kind(value)
        except ValueError:
            pass
    known = ", ".join(str(m.value) for m in kind)
    problems.append(f"{name}: {describe(value)} is not a {kind.__name__}; expected one of {known}")
    return None


def aware_datetime(problems: list[str], name: str, value: object) -> bool:
    """Check that ``value`` is a time-zone aware ``datetime`` (a pendulum ``DateTime`` is one)."""
    if not isinstance(value, datetime.datetime):
        problems.append(
            f"{name} must be a date-time such as pendulum.datetime(2026, 12, 1, tz='UTC'), "
            f"not {describe(value)}"
        )
        return False
    if value.tzinfo is None or value.utcoffset() is None:
        problems.append(
            f"{name} must be timezone-aware, got naive {value.isoformat()}; "
            "pass tz=... (for example pendulum.datetime(..., tz='UTC'))"
        )
        return False
    return True


def as_duration(value: datetime.timedelta) -> pendulum.Duration:
    """A standard-library ``timedelta`` as the equal ``pendulum.Duration``; anything else as is.

    An attrs converter: a store that round-trips through JSON gives back a
    ``pendulum.Duration``, so the in-memory store must hold one too. Values of
    other types are left for the field's check to name.
    """
    given: object = value  # hosts without a type checker pass anything
    if isinstance(given, datetime.timedelta) and not isinstance(given, pendulum.Duration):
        return pendulum.duration(
            days=given.days, seconds=given.seconds, microseconds=given.microseconds
        )
    return value  # type: ignore[return-value]  # a Duration, or a wrong type to be named


def whole_number(
    problems: list[str], name: str, value: object, *, minimum: int, maximum: int | None = None
) -> bool:
    """Check that ``value`` is an ``int`` (not a bool) within ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(f"{name} must be a whole number, not {describe(value)}")
        return False
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and at most {maximum}"
        problems.append(f"{name} is {value}; it must be at least {minimum}{upper}")
        return False
    return True


def collection(problems: list[str], name: str, value: object, *, max_items: int, what: str) -> bool:
    """Check a list, tuple or set of at most ``max_items`` (never one bare value or a string).

    The items are left to the caller (who names each one as it likes).
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, set, frozenset)):
        problems.append(f"{name} must be a list of {what}, not {describe(value)}")
        return False
    if len(value) > max_items:
        problems.append(f"{name} has {len(value)} items; the limit is {max_items}")
        return False
    return True


def sequence_of(problems: list[str], name: str, value: object, kind: type) -> tuple[object, ...]:
    """Check a list or tuple whose items are all ``kind`` (never one bare value).

    Returns:
        The items as a tuple (empty if refused).
    """
    if not isinstance(value, (list, tuple)):
        problems.append(f"{name} must be a list of {kind.__name__} values, not {describe(value)}")
        return ()
    before = len(problems)
    for index, item in enumerate(value):
        if not isinstance(item, kind):
            problems.append(f"{name}[{index}] must be a {kind.__name__}, not {describe(item)}")
    return tuple(value) if len(problems) == before else ()


def raise_if(problems: Iterable[str], subject: str) -> None:
    """Raise one ``ValidationError`` listing ``problems`` if there are any."""
    found = list(problems)
    if found:
        raise ValidationError(found, subject=subject)
