"""The template sandbox: Jinja2's immutable sandbox, bounded in time, memory and output.

Jinja2's :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment` keeps
templates away from Python internals. This module adds what it leaves open:

- a **render budget** (:attr:`RenderLimits.max_steps`) counted, never timed,
  so a message renders or fails the same way on every machine: a loop
  iteration costs 1 plus the size of the loop body, a macro call the size of
  its body, a filter, method call, comparison or test 1 plus the items (or 16
  characters) it walks, and every 16 characters of text a template builds or
  prints cost 1;
- **capped builders**: ``range`` (:attr:`RenderLimits.max_range`), ``*``,
  ``+``, ``**``, ``%``, ``~``, ``format``, ``center``/``ljust``/``rjust``/
  ``zfill``, ``expandtabs``, ``replace``, ``join``, ``indent``,
  ``wordwrap``, ``batch``, ``slice``, ``sum``, ``lipsum``: none may build text
  longer than :attr:`RenderLimits.max_output` characters, a list longer than
  :data:`MAX_REPEAT` items or a number wider than :data:`MAX_INT_BITS` bits,
  and each checks *before* it builds;
- **plain output**: only text, numbers, booleans and ``none`` can be printed
  or turned into text (``{{ }}``, ``~``, ``format``, ``%``, text filters); a
  list, dict, function or any other object fails the message, so no object
  ``repr`` (and no memory address) can reach a message.

Every failure raises :class:`LimitExceeded` (a :class:`TemplateFailed`): the
runner records that message FAILED with the reason and goes on.
"""

from __future__ import annotations

import contextvars
import functools
import operator
import re
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from string import Formatter
from typing import Any, Final, cast

import attrs
import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.filters import make_attrgetter
from jinja2.runtime import LoopContext, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from jinja2.utils import generate_lorem_ipsum
from markupsafe import EscapeFormatter, Markup

from campaignkit.domain import checks


class MissingAttribute(Exception):
    """A template referenced data the recipient does not have.

    Attributes:
        path: What was missing, as far as known (for example ``profile.firstName``).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(path)


class TemplateFailed(Exception):
    """A template could not be rendered for a reason other than missing data."""


class LimitExceeded(TemplateFailed):
    """A template broke a rendering rule: a limit, or printing something that is not text.

    Whether it happens does not depend on the machine or the clock, so a
    sample render at activation that raises it is a validation problem.
    """


MAX_REPEAT: Final = 100_000
"""The longest list ``*``, ``+``, ``batch`` or ``slice`` may build, and the largest ``**`` base."""
MAX_INT_BITS: Final = 4096
"""The widest number ``*`` may build (about 1,200 decimal digits)."""
MAX_NESTING: Final = 64
"""The highest :attr:`RenderLimits.max_depth` (beyond it Python itself cannot compile)."""
CHARS_PER_STEP: Final = 16
"""Characters of text that cost one step of the render budget."""


@attrs.frozen
class RenderLimits:
    """How much one message may cost to render; a message beyond a limit fails.

    Pass it in ``ck.DeliverySettings(render_limits=...)``. A message that
    breaks a limit is FAILED with the reason (the run goes on); a template
    that breaks one whatever the data (``range(10**10)``) is refused at
    activation.

    Attributes:
        max_output: Characters in one rendered message, all its fields
            together (an email's subject, HTML and text). Also the longest
            text any one expression may build.
        max_steps: The render budget of one message: a loop iteration costs
            1 plus the size of its body (in syntax nodes), a macro call the
            size of its body, a filter, method call, comparison or test 1
            plus the items (or 16 characters) it walks, and every 16
            characters built or printed cost 1.
        max_range: The most numbers one ``range(...)`` may give.
        max_depth: How deeply a template's blocks and expressions may nest
            (at most 64); checked at activation.
    """

    max_output: int = 256 * 1024
    max_steps: int = 100_000
    max_range: int = 10_000
    max_depth: int = 32

    def __attrs_post_init__(self) -> None:
        problems: list[str] = []
        checks.whole_number(problems, "max_output", self.max_output, minimum=1)
        checks.whole_number(problems, "max_steps", self.max_steps, minimum=1)
        checks.whole_number(problems, "max_range", self.max_range, minimum=1)
        checks.whole_number(problems, "max_depth", self.max_depth, minimum=1, maximum=MAX_NESTING)
        checks.raise_if(problems, "RenderLimits")


DEFAULT_LIMITS: Final = RenderLimits()


class Budget:
    """What one message has spent so far; raises :class:`LimitExceeded` when over.

    Args:
        limits: The limits it enforces.
    """

    __slots__ = ("limits", "printed", "steps")

    def __init__(self, limits: RenderLimits) -> None:
        self.limits = limits
        self.steps = 0
        self.printed = 0

    def charge(self, steps: int) -> None:
        """Spend ``steps``."""
        self.steps += steps
        if self.steps > self.limits.max_steps:
            raise LimitExceeded(
                f"render budget exceeded: more than {self.limits.max_steps:,} steps "
                "(RenderLimits.max_steps); loop over fewer items or build less text"
            )

    def allow_length(self, length: int, what: str) -> None:
        """Refuse to build text of ``length`` characters if it is over the cap."""
        if length > self.limits.max_output:
            raise LimitExceeded(
                f"text too long: {what} would build {length:,} characters; the limit is "
                f"{self.limits.max_output:,} (RenderLimits.max_output)"
            )

    def built(self, value: Any, what: str) -> Any:
        """Check and pay for a value just built: text is capped, text and lists cost their size."""
        if isinstance(value, (str, bytes)):
            self.allow_length(len(value), what)
            self.charge(1 + len(value) // CHARS_PER_STEP)
        elif isinstance(value, (list, tuple)):
            self.charge(1 + len(value))
        return value

    def emit(self, length: int) -> None:
        """Count ``length`` characters of the message itself."""
        self.printed += length
        if self.printed > self.limits.max_output:
            raise LimitExceeded(
                f"message too long: more than {self.limits.max_output:,} characters "
                "(RenderLimits.max_output)"
            )


_ACTIVE: Final = contextvars.ContextVar[Budget | None]("campaignkit_render_budget", default=None)


def current_budget() -> Budget:
    """The budget of the message being rendered (a fresh default one outside a render).

    Outside a render is Jinja folding constants at compile time: limits
    apply there too, and what fails is simply left for render time.
    """
    budget = _ACTIVE.get()
    return budget if budget is not None else Budget(DEFAULT_LIMITS)


def start_budget(limits: RenderLimits) -> tuple[Budget, contextvars.Token[Budget | None]]:
    """Make a new budget the active one; pass the token to :func:`end_budget`."""
    budget = Budget(limits)
    return budget, _ACTIVE.set(budget)


def end_budget(token: contextvars.Token[Budget | None]) -> None:
    """Restore the budget that was active before :func:`start_budget`."""
    _ACTIVE.reset(token)


# ---------------------------------------------------------------- what may be printed

_COLLECTIONS: Final = (list, tuple, set, frozenset, range)


def printable(value: object) -> bool:
    """True for what a template may turn into text: text, numbers, booleans, none."""
    return value is None or isinstance(value, (str, int, float, Undefined))


def unprintable(value: object) -> LimitExceeded:
    """The error for turning ``value`` (not :func:`printable`) into text."""
    if isinstance(value, Mapping):
        kind, hint = "a dict", "print one of its values, or use |tojson"
    elif isinstance(value, (*_COLLECTIONS, Iterator)):
        kind, hint = "a list", "use |join(', ') or |tojson"
    elif callable(value):
        kind, hint = "a function or method", "call it, or print one of its values"
    else:
        kind, hint = f"a {type(value).__name__} object", "print one of its attributes"
    return LimitExceeded(
        f"cannot print {kind}: a template prints only text, numbers, booleans and none; {hint}"
    )


def require_printable(value: object) -> None:
    """Raise :func:`unprintable` unless ``value`` is :func:`printable`."""
    if not printable(value):
        raise unprintable(value)


def weight(value: object) -> int:
    """Budget steps for walking ``value``: its items, or its characters / 16."""
    if isinstance(value, (str, bytes)):
        return len(value) // CHARS_PER_STEP
    if isinstance(value, (Mapping, *_COLLECTIONS)):
        return len(value)
    return 0


def _walk_data(budget: Budget, value: object, what: str) -> None:
    """Pay for walking nested data and refuse anything but JSON-like data in it."""
    stack = [value]
    while stack:
        item = stack.pop()
        budget.charge(1 + weight(item) if isinstance(item, (str, bytes)) else 1)
        if isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif not (item is None or isinstance(item, (str, int, float, Undefined))):
            raise LimitExceeded(
                f"{what} takes only text, numbers, lists and dicts: {unprintable(item)}"
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


# ---------------------------------------------------------------- code generation


def _helper(name: str, args: list[nodes.Expr], lineno: int) -> nodes.Call:
    """A call to ``environment.<name>(*args)`` in the generated code.

    Jinja allows no custom node types; an internal name is written verbatim
    into the generated Python and cannot be written in a template.
    """
    helper = object.__new__(nodes.InternalName)
    nodes.Node.__init__(helper, f"environment.{name}", lineno=lineno)
    return nodes.Call(helper, args, [], None, None, lineno=lineno)


def tree_size(*roots: nodes.Node | list[nodes.Node] | None) -> int:
    """Syntax nodes under ``roots``, plus one per 16 characters of literal text."""
    total = 0
    stack: list[nodes.Node] = []
    for root in roots:
        if isinstance(root, list):
            stack.extend(root)
        elif root is not None:
            stack.append(root)
    while stack:
        node = stack.pop()
        total += 1
        if isinstance(node, nodes.TemplateData):
            total += len(node.data) // CHARS_PER_STEP
        stack.extend(node.iter_child_nodes())
    return total


def tree_depth(tree: nodes.Node) -> int:
    """How deeply ``tree`` nests, walked without recursion."""
    deepest = 0
    stack: list[tuple[nodes.Node, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node.iter_child_nodes())
    return deepest


def _instrument(tree: nodes.Template, environment: jinja2.Environment) -> None:
    """Make loops and macros pay for themselves and ``~`` bounded, in place.

    Each loop's iterable charges 1 step per item (plus its ``if`` test), each
    pass through a loop body and each macro call charge the body's size,
    ``a ~ b`` becomes a bounded call (never folded at compile time), and a
    comparison pays for the items or text it may walk (``==``, ``in``).
    """
    stack: list[nodes.Node] = [tree]
    while stack:
        node = stack.pop()
        for name, value in node.iter_fields():
            if _needs_bounds(value):
                setattr(node, name, _bounded_expr(value))
            elif isinstance(value, list):
                value[:] = [_bounded_expr(v) if _needs_bounds(v) else v for v in value]
        if isinstance(node, nodes.For):
            line, body_cost = node.lineno, tree_size(node.body)
            per_item = 1 + tree_size(node.test)
            if node.test is None and not node.recursive:
                per_item += body_cost  # every item runs the body once: charge both at once
            else:  # filtered items skip the body; a recursive loop re-enters it
                node.body.insert(0, _charge(body_cost, line))
            iterable = cast("nodes.Expr", node.iter)
            node.iter = _helper("counted", [iterable, _const(per_item, line)], line)
        elif isinstance(node, (nodes.Macro, nodes.CallBlock)):
            node.body.insert(0, _charge(1 + tree_size(node.body), node.lineno))
        stack.extend(node.iter_child_nodes())
    tree.set_environment(environment)


def _const(value: int, lineno: int) -> nodes.Const:
    return nodes.Const(value, lineno=lineno)


def _charge(cost: int, lineno: int) -> nodes.ExprStmt:
    return nodes.ExprStmt(_helper("charge", [_const(cost, lineno)], lineno), lineno=lineno)


def _needs_bounds(value: object) -> bool:
    """True for the expressions :func:`_bounded_expr` rewrites."""
    return isinstance(value, (nodes.Concat, nodes.Compare)) or (
        isinstance(value, nodes.Getitem) and isinstance(value.arg, nodes.Slice)
    )


def _bounded_expr(node: Any) -> nodes.Call:
    """Rewrite ``a ~ b``, ``a == b`` (any comparison) and ``a[i:j]`` as bounded calls."""
    line = node.lineno
    if isinstance(node, nodes.Getitem):
        bounds = cast("nodes.Slice", node.arg)
        parts = [
            b if b is not None else nodes.Const(None, lineno=line)
            for b in (bounds.start, bounds.stop, bounds.step)
        ]
        return _helper("slice_of", [node.node, *parts], line)
    if isinstance(node, nodes.Concat):
        operands = nodes.Tuple(node.nodes, "load", lineno=node.lineno)
        return _helper("bounded_concat", [operands], node.lineno)
    ops = nodes.Const(tuple(op.op for op in node.ops), lineno=node.lineno)
    return _helper("compare", [ops, node.expr, *(op.expr for op in node.ops)], node.lineno)


class _BoundedTemplate(jinja2.Template):
    """A template whose output is counted chunk by chunk against the active budget."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        """Render like Jinja, within the active budget (a default one if none is active)."""
        token = None
        budget = _ACTIVE.get()
        if budget is None:
            budget, token = start_budget(DEFAULT_LIMITS)
        ctx = self.new_context(dict(*args, **kwargs))
        try:
            # what a render can produce is bounded already (printing and loop
            # bodies are paid for), so the message is measured once, whole
            text: str = self.environment.concat(self.root_render_func(ctx))
            budget.emit(len(text))
            return text
        except Exception:
            self.environment.handle_exception()
        finally:
            if token is not None:
                end_budget(token)


def _finalize(value: Any) -> Any:
    """Every ``{{ }}`` value: text and numbers pass (and are paid for); anything else fails."""
    if isinstance(value, str):
        current_budget().charge(1 + len(value) // CHARS_PER_STEP)
        return value
    if printable(value):
        return value
    raise unprintable(value)


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with every limit of this module applied.

    Args:
        **options: Passed to Jinja's environment (``finalize`` is taken).
    """

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    template_class = _BoundedTemplate

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=_finalize, **options)
        self.globals["range"] = capped_range
        self.globals["lipsum"] = capped_lipsum
        bounded = {name: _bounded_filter(name, f) for name, f in self.filters.items()}
        bounded["join"] = _bounded_filter("join", _join)
        bounded["sum"] = _bounded_filter("sum", _sum)
        self.filters = bounded
        self.tests = {
            name: _bounded_test(cast("Callable[..., Any]", t)) for name, t in self.tests.items()
        }

    def _generate(
        self,
        source: nodes.Template,
        name: str | None,
        filename: str | None,
        defer_init: bool = False,
    ) -> str:
        _instrument(source, self)
        return super()._generate(source, name, filename, defer_init)

    # called by the generated code ------------------------------------------

    def charge(self, steps: int) -> None:
        """Charge the active budget (a loop iteration or macro call)."""
        current_budget().charge(steps)

    def counted(self, iterable: Iterable[Any], cost: int) -> _Counted:
        """A loop's iterable, each item paid for."""
        return _Counted(iterable, cost)

    def slice_of(self, value: Any, start: Any, stop: Any, step: Any) -> Any:
        """``value[start:stop:step]``, paid for what it copies."""
        return current_budget().built(value[start:stop:step], "a slice")

    def compare(self, ops: tuple[str, ...], first: Any, *rest: Any) -> Any:
        """``a < b < c``, ``a in b``...: like Python's chain, each step paid for its operands."""
        budget = current_budget()
        left, result = first, True
        for op, right in zip(ops, rest, strict=True):
            budget.charge(1 + weight(left) + weight(right))
            result = _OPERATORS[op](left, right)
            if not result:
                return result
            left = right
        return result

    def bounded_concat(self, parts: tuple[Any, ...]) -> str:
        """``a ~ b ~ ...``: printable operands, capped result."""
        for part in parts:
            require_printable(part)
        return str(current_budget().built("".join([str(p) for p in parts]), "'~'"))

    def call_binop(
        self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any
    ) -> Any:
        """``*``, ``**``, ``+`` and ``%``, refused before they could build too much."""
        budget = current_budget()
        if operator == "*":
            for sized, count in ((left, right), (right, left)):
                too_long = (
                    isinstance(sized, (str, bytes, list, tuple))
                    and isinstance(count, int)
                    and len(sized) * count > MAX_REPEAT
                )
                if too_long:
                    raise SecurityError(f"'*' would build more than {MAX_REPEAT} items")
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and left.bit_length() + right.bit_length() > MAX_INT_BITS
            ):
                raise SecurityError(f"'*' would build a number wider than {MAX_INT_BITS} bits")
        elif operator == "**":
            huge_power = (
                isinstance(right, int)
                and isinstance(left, int)
                and (abs(right) > 64 or abs(left) > MAX_REPEAT)
            )
            if huge_power:
                raise SecurityError("'**' with such large operands is not allowed")
        elif operator == "+":
            return budget.built(_capped_add(budget, left, right), "'+'")
        elif operator == "%" and isinstance(left, (str, bytes)):
            budget.allow_length(printf_length(left, right), "'%' formatting")
        # text and lists built here pay for their size (a list copy is work too)
        return budget.built(super().call_binop(context, operator, left, right), f"'{operator}'")

    def call(
        __self,  # Jinja's own convention: no clash with the call's keyword arguments
        __context: jinja2.runtime.Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """A call from a template, paid for; text methods refused before they build too much."""
        budget = current_budget()
        if isinstance(__obj, types.BuiltinMethodType):
            owner = __obj.__self__
            budget.charge(1 + weight(owner))
            if isinstance(owner, (str, bytes)):
                what = f"{__obj.__name__}()"
                if __obj.__name__ == "join" and len(args) == 1 and not kwargs:
                    args = (_gather_join(budget, len(owner), args[0], what, to_text=False),)
                budget.allow_length(_text_method_bound(owner, __obj.__name__, args, kwargs), what)
                return budget.built(super().call(__context, __obj, *args, **kwargs), what)
        elif isinstance(__obj, LoopContext):  # loop(children) in a recursive loop
            budget.charge(1 + sum(weight(a) for a in args))
        else:
            budget.charge(1)
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``str.format`` / ``format_map`` with the bounded formatter (fields checked, capped)."""
        if not isinstance(value, (types.MethodType, types.BuiltinMethodType)) or (
            value.__name__ not in ("format", "format_map")
        ):
            return None
        owner: Any = value.__self__
        if not isinstance(owner, str):
            return None
        formatter: Formatter
        if isinstance(owner, Markup):
            formatter = _BoundedEscapeFormatter(self, escape=owner.escape)
        else:
            formatter = _BoundedFormatter(self)
        is_format_map = value.__name__ == "format_map"
        kind = type(owner)

        def wrapper(*args: Any, **kwargs: Any) -> str:
            if is_format_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                kwargs, args = args[0], ()
            return kind(current_budget().built(formatter.vformat(owner, args, kwargs), "format()"))

        return functools.update_wrapper(wrapper, value)


def check_limits(_instance: object, _attribute: object, value: object) -> None:
    """Attrs validator of ``DeliverySettings.render_limits``: a :class:`RenderLimits`.

    Raises:
        ValidationError: anything else.
    """
    problems: list[str] = []
    checks.instance(problems, "render_limits", value, RenderLimits)
    checks.raise_if(problems, "delivery settings")
