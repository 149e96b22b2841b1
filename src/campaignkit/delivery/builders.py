"""Capped builders and bounded filters: each checks its size before it builds (see ``sandbox``)."""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.filters import make_attrgetter
from jinja2.sandbox import SandboxedFormatter
from jinja2.utils import generate_lorem_ipsum
from markupsafe import EscapeFormatter

from campaignkit.delivery.budget import (
    CHARS_PER_STEP,
    MAX_REPEAT,
    Budget,
    LimitExceeded,
    _walk_data,
    current_budget,
    require_printable,
    weight,
)

# ---------------------------------------------------------------- capped builders


def _number(digits: str) -> int:
    """A decimal written in a format, without converting a huge one."""
    return int(digits) if len(digits) < 19 else 1 << 63


_SPEC_NUMBERS: Final = re.compile(r"\d+")
_PRINTF: Final = re.compile(
    r"%(?:\((?P<key>[^)]*)\))?[-#0 +]*(?P<width>\*|\d+)?(?:\.(?P<precision>\*|\d+))?"
    r"[hlL]?(?P<kind>.)",
    re.DOTALL,
)
_NUMBER_TEXT: Final = 4400
"""The longest text of one number (Python prints at most 4,300 digits)."""
_FLOAT_TEXT: Final = 330
"""The longest text of a float in ``%f`` (309 digits, sign and point), precision apart."""


def _printed_length(arg: object, kind: str) -> int:
    """An upper bound of the text of one ``%`` conversion of ``arg`` (before width)."""
    if isinstance(arg, str):
        return 4 * len(arg) + 2 if kind in "ra" else len(arg)
    if isinstance(arg, float):
        return _FLOAT_TEXT
    try:
        return len(str(arg)) + 2  # an int, a bool, None (an Undefined raises: missing data)
    except ValueError:  # an int too long for Python to print
        return _NUMBER_TEXT


@functools.lru_cache(maxsize=1024)
def _printf_specs(text: str) -> tuple[tuple[str | None, str | None, str | None, str], ...]:
    """The conversions of a ``%`` format (key, width, precision, kind), ``%%`` left out."""
    return tuple(
        (match["key"], match["width"], match["precision"], match["kind"])
        for match in _PRINTF.finditer(text)
        if match["kind"] != "%"
    )


def printf_length(template: str | bytes, args: object) -> int:
    """An upper bound of the length of ``template % args``; refuses unprintable arguments."""
    text = template.decode("latin-1") if isinstance(template, bytes) else template
    mapping = args if isinstance(args, Mapping) else None
    items = args if isinstance(args, tuple) else (args,)
    total, index = len(text), 0
    for key, width, precision, kind in _printf_specs(text):
        for part in (width, precision):
            if part == "*":
                star = items[index] if index < len(items) else 0
                index += 1
                total += abs(star) if isinstance(star, int) else 0
            elif part:
                total += _number(part)
        if key is not None and mapping is not None:
            arg = mapping.get(key)
        else:
            arg = items[index] if index < len(items) else None
            index += 1
        require_printable(arg)
        total += _printed_length(arg, kind)
    return total


def capped_range(*args: int) -> range:
    """``range`` for templates: at most :attr:`RenderLimits.max_range` numbers."""
    numbers = range(*args)
    limit = current_budget().limits.max_range
    start, stop, step = numbers.start, numbers.stop, numbers.step
    size = max(0, (stop - start + step - (1 if step > 0 else -1)) // step)
    if size > limit:
        raise LimitExceeded(
            f"range too big: range() would give {size:,} numbers; the limit is {limit:,} "
            "(RenderLimits.max_range)"
        )
    return numbers


def capped_lipsum(n: Any = 5, html: Any = True, min: Any = 20, max: Any = 100) -> str:
    """Jinja's ``lipsum`` for templates, refused before it could build too much text."""
    budget = current_budget()
    if isinstance(n, int) and isinstance(min, int) and isinstance(max, int):
        budget.allow_length(n * (abs(min) + abs(max) + 1) * CHARS_PER_STEP, "lipsum()")
    return str(budget.built(generate_lorem_ipsum(n, html, min, max), "lipsum()"))


class _Counted:
    """An iterable that charges the budget ``cost`` steps per item."""

    __slots__ = ("_cost", "_items")

    def __init__(self, items: Iterable[Any], cost: int) -> None:
        self._items = items
        self._cost = cost

    def __iter__(self) -> Iterator[Any]:
        budget = current_budget()
        cost = self._cost
        for item in self._items:
            budget.charge(cost)
            yield item

    def __len__(self) -> int:
        return len(self._items)  # type: ignore[arg-type]  # TypeError when unsized, as Jinja expects


def _width_arg(args: tuple[Any, ...], kwargs: Mapping[str, Any], name: str, default: Any) -> Any:
    return args[0] if args else kwargs.get(name, default)


def _text_method_bound(owner: str | bytes, name: str, args: tuple[Any, ...], kwargs: Any) -> int:
    """An upper bound of what a string method builds (0 when it cannot grow text)."""
    size = len(owner)
    if name in ("center", "ljust", "rjust", "zfill"):
        width = _width_arg(args, kwargs, "width", 0)
        return width if isinstance(width, int) else 0
    if name == "expandtabs":
        tab = _width_arg(args, kwargs, "tabsize", 8)
        tabs = owner.count(b"\t" if isinstance(owner, bytes) else "\t")  # type: ignore[arg-type]
        return size + tabs * tab if isinstance(tab, int) else 0
    if name == "replace" and len(args) >= 2:
        old, new = args[0], args[1]
        if not (isinstance(old, type(owner)) and isinstance(new, type(owner))):
            return 0
        count = args[2] if len(args) > 2 else kwargs.get("count", -1)
        found = owner.count(old) if old else size + 1  # type: ignore[arg-type]
        if isinstance(count, int) and count >= 0:
            found = min(found, count)
        return size + found * max(0, len(new) - len(old))
    if name == "translate" and args and isinstance(args[0], Mapping):
        longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
        return size * longest
    return 0


def _gather_join(
    budget: Budget, separator: int, items: Iterable[Any], what: str, *, to_text: bool
) -> list[Any]:
    """The items of a join, paid for one by one and refused once the result is too long.

    With ``to_text`` (the ``join`` filter) every item must be printable and
    becomes text; otherwise (``str.join``) items stay as they are.
    """
    parts, total = [], 0
    for item in items:
        budget.charge(1)
        part = item
        if to_text:
            require_printable(item)
            part = str(item)
        total += (len(part) if isinstance(part, (str, bytes)) else 0) + separator
        budget.allow_length(total, what)
        parts.append(part)
    return parts


# ---------------------------------------------------------------- filters


@jinja2.pass_environment
def _join(
    environment: jinja2.Environment, value: Iterable[Any], d: str = "", attribute: Any = None
) -> str:
    """Jinja's ``join``, paid for item by item and capped."""
    budget = current_budget()
    require_printable(d)
    separator = str(d)
    if attribute is not None:
        value = map(make_attrgetter(environment, attribute), value)
    parts = _gather_join(budget, len(separator), value, "|join", to_text=True)
    return str(budget.built(separator.join(parts), "|join"))


def _capped_add(budget: Budget, left: Any, right: Any) -> Any:
    if isinstance(left, (str, bytes)) and isinstance(right, (str, bytes)):
        budget.allow_length(len(left) + len(right), "'+'")
    elif (
        isinstance(left, (list, tuple))
        and isinstance(right, (list, tuple))
        and len(left) + len(right) > MAX_REPEAT
    ):
        raise SecurityError(f"'+' would build more than {MAX_REPEAT} items")
    return left + right


@jinja2.pass_environment
def _sum(
    environment: jinja2.Environment, iterable: Iterable[Any], attribute: Any = None, start: Any = 0
) -> Any:
    """Jinja's ``sum``, paid for item by item; lists and text it adds are capped."""
    budget = current_budget()
    if attribute is not None:
        iterable = map(make_attrgetter(environment, attribute), iterable)
    total = start
    for item in iterable:
        budget.charge(1 + weight(item))
        total = _capped_add(budget, total, item)
    return budget.built(total, "|sum")


def _check_center(budget: Budget, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    width = _width_arg(args[1:], kwargs, "width", 80)
    if isinstance(width, int):
        budget.allow_length(width, "|center")


def _check_indent(budget: Budget, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    text, width = str(args[0]), _width_arg(args[1:], kwargs, "width", 4)
    step = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    budget.allow_length(len(text) + (text.count("\n") + 1) * step, "|indent")


def _check_wordwrap(budget: Budget, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    text = str(args[0])
    width = _width_arg(args[1:], kwargs, "width", 79)
    wrapstring = args[3] if len(args) > 3 else kwargs.get("wrapstring")
    if isinstance(width, int) and isinstance(wrapstring, str):
        breaks = len(text) // max(width, 1) + sum(c.isspace() for c in text) + 1
        budget.allow_length(len(text) + breaks * len(wrapstring), "|wordwrap")


def _check_replace(budget: Budget, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    for arg in (*args[1:3], kwargs.get("old"), kwargs.get("new")):
        require_printable(arg)
    if len(args) >= 3:
        old, new = str(args[1]), str(args[2])
        count = args[3] if len(args) > 3 else kwargs.get("count")
        bound = _text_method_bound(
            str(args[0]), "replace", (old, new) if count is None else (old, new, count), {}
        )
        budget.allow_length(bound, "|replace")


def _check_format(budget: Budget, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    budget.allow_length(printf_length(str(args[0]), dict(kwargs) or args[1:]), "|format")


def _check_count(budget: Budget, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    count = args[1] if len(args) > 1 else kwargs.get("linecount", kwargs.get("slices"))
    if isinstance(count, int) and count > MAX_REPEAT:
        raise SecurityError(f"a batch or slice count above {MAX_REPEAT} is not allowed")


def _check_data(name: str) -> Callable[[Budget, tuple[Any, ...], Mapping[str, Any]], None]:
    def check(budget: Budget, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        _walk_data(budget, args[0], f"|{name}")

    return check


_Check = Callable[[Budget, tuple[Any, ...], Mapping[str, Any]], None]
_PRECHECKS: Final[Mapping[str, _Check]] = {
    "center": _check_center,
    "indent": _check_indent,
    "wordwrap": _check_wordwrap,
    "replace": _check_replace,
    "format": _check_format,
    "batch": _check_count,
    "slice": _check_count,
    "tojson": _check_data("tojson"),
    "pprint": _check_data("pprint"),
    "urlencode": _check_data("urlencode"),
    "xmlattr": _check_data("xmlattr"),
}
_TEXT_FILTERS: Final = frozenset(
    {
        "capitalize", "center", "e", "escape", "forceescape", "format", "indent", "lower",
        "replace", "safe", "string", "striptags", "title", "trim", "truncate", "upper",
        "urlize", "wordcount", "wordwrap",
    }
)  # fmt: skip
"""Filters that turn their value into text: it must be printable."""
_BUILDERS: Final = _TEXT_FILTERS | {"filesizeformat", "tojson", "pprint", "urlencode", "xmlattr"}
"""Filters whose text result is capped and paid for."""
_CHEAP: Final = frozenset({"attr", "count", "d", "default", "first", "last", "length", "random"})
"""Filters that do not walk their value: they cost one step."""
_CONSUMERS: Final = frozenset(
    {
        "batch", "first", "groupby", "list", "map", "max", "min", "reject", "rejectattr",
        "reverse", "select", "selectattr", "slice", "sort", "unique",
    }
)  # fmt: skip
"""Filters that walk an iterator item by item: each item is paid for."""


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` paying for its work, refusing to print objects and capping what it builds."""
    passes = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0
    check = _PRECHECKS.get(name)
    text = name in _TEXT_FILTERS
    builds = name in _BUILDERS
    cheap = name in _CHEAP
    consumes = name in _CONSUMERS
    label = f"|{name}"

    @functools.wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        budget = current_budget()
        value = args[passes] if len(args) > passes else None
        budget.charge(1 if cheap else 1 + weight(value))
        if text:
            require_printable(value)
        if check is not None:
            check(budget, args[passes:], kwargs)
        if consumes and isinstance(value, Iterator):
            args = (*args[:passes], _Counted(value, 1), *args[passes + 1 :])
        result = func(*args, **kwargs)
        return budget.built(result, label) if builds else result

    return bounded


def _bounded_test(func: Callable[..., Any]) -> Callable[..., Any]:
    """A Jinja test (``is in``, ``is sameas``...) paying for what it may walk."""
    passes = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        current_budget().charge(1 + sum(weight(a) for a in args[passes:]))
        return func(*args, **kwargs)

    return bounded


_OPERATORS: Final[Mapping[str, Callable[[Any, Any], Any]]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "gteq": operator.ge,
    "lt": operator.lt,
    "lteq": operator.le,
    "in": lambda item, container: item in container,
    "notin": lambda item, container: item not in container,
}


# ---------------------------------------------------------------- formatting


class _BoundedFormatter(SandboxedFormatter):
    """``str.format`` in the sandbox: printable fields, capped widths, paid for."""

    def format_field(self, value: Any, format_spec: str) -> Any:
        budget = current_budget()
        require_printable(value)
        widest = max((_number(n) for n in _SPEC_NUMBERS.findall(format_spec)), default=0)
        budget.allow_length(widest, "format()")
        return budget.built(super().format_field(value, format_spec), "format()")


class _BoundedEscapeFormatter(_BoundedFormatter, EscapeFormatter):
    """``Markup.format`` in the sandbox, bounded like :class:`_BoundedFormatter`."""
