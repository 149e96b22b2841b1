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

import functools
import types
from collections.abc import Callable, Iterable
from string import Formatter
from typing import Any, cast

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from campaignkit.delivery.budget import (
    _ACTIVE,
    CHARS_PER_STEP,
    DEFAULT_LIMITS,
    MAX_INT_BITS,
    MAX_REPEAT,
    RenderLimits,
    current_budget,
    end_budget,
    printable,
    require_printable,
    start_budget,
    unprintable,
    weight,
)
from campaignkit.delivery.builders import (
    _OPERATORS,
    _bounded_filter,
    _bounded_test,
    _BoundedEscapeFormatter,
    _BoundedFormatter,
    _capped_add,
    _Counted,
    _gather_join,
    _join,
    _sum,
    _text_method_bound,
    capped_lipsum,
    capped_range,
    printf_length,
)
from campaignkit.domain import checks

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
