"""Sandboxed templates: user-authored content is untrusted input.

Templates are Jinja2 sources rendered by an
:class:`~jinja2.sandbox.ImmutableSandboxedEnvironment`: no access to Python
internals, no file or network access, no mutation of the data passed in.
Profile attributes are ``profile.<path>``, API context is ``context.<path>``;
``{{ profile.firstName | default("friend") }}`` gives a fallback. Message
variables (:data:`MESSAGE_VARIABLES`) are top-level names the kit provides per
message: ``{{ unsubscribe_url }}`` is the recipient's signed one-click
unsubscribe URL (marketing email only).

A template is compiled once per run. Pure substitutions (text and
``{{ profile.a.b }}`` / ``{{ context.x }}`` only) take a fast path that skips
Jinja at render time and gives the same result.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs
import jinja2
from jinja2 import meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from campaignkit.delivery.budget import (
    DEFAULT_LIMITS,
    MAX_NESTING,
    MAX_REPEAT,
    Budget,
    LimitExceeded,
    MissingAttribute,
    RenderLimits,
    TemplateFailed,
    end_budget,
    start_budget,
    unprintable,
)
from campaignkit.delivery.sandbox import (
    BoundedSandbox,
    tree_depth,
)

__all__ = [
    "MAX_REPEAT",
    "MESSAGE_VARIABLES",
    "CompiledContent",
    "CompiledTemplate",
    "LimitExceeded",
    "MissingAttribute",
    "RenderLimits",
    "TemplateFailed",
    "check_template",
    "compile_template",
    "new_environment",
    "template_names",
]

_ROOTS: Final = ("profile", "context")
MESSAGE_VARIABLES: Final = ("unsubscribe_url",)
"""Top-level template names the kit provides per message (beside ``profile`` and ``context``)."""
_NEWLINES = re.compile(r"\r\n?")
_SUBSTITUTION = re.compile(
    r"\{\{\s*((?:profile|context)(?:\.[A-Za-z_][A-Za-z0-9_]*)+|unsubscribe_url)\s*\}\}"
)
_JINJA_SYNTAX = re.compile(r"\{\{|\{%|\{#|\}\}|%\}|#\}")
_ADDRESS = re.compile(r" at 0x[0-9A-Fa-f]+")
_JINJA_ATTRIBUTES: Final = frozenset(
    name for kind in (dict, list, str, int, float, bool) for name in dir(kind)
)
"""Names Jinja resolves as attributes of a value before its keys: the fast path defers them."""


class _StrictChainableUndefined(jinja2.ChainableUndefined, jinja2.StrictUndefined):
    """Missing data fails when used, but ``profile.a.b | default(...)`` works with no ``a``."""

    __slots__ = ()


def new_environment() -> ImmutableSandboxedEnvironment:
    """The sandboxed, bounded environment every campaign template is compiled in."""
    return BoundedSandbox(
        undefined=_StrictChainableUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )


_ENVIRONMENT: Final = new_environment()


def _nested_too_deeply(limits: RenderLimits, detail: str = "") -> str:
    detail = detail or f"more than {limits.max_depth} levels (RenderLimits.max_depth)"
    return f"template nested too deeply: {detail}; flatten its blocks and expressions"


def _opening_brackets(source: str) -> int:
    """Opening brackets anywhere in ``source``: a cheap upper bound of how deeply they nest."""
    return sum(source.count(bracket) for bracket in "([{")


def _bracket_depth(source: str) -> int:
    """How deeply brackets nest in ``source``'s expressions (tokens only, no parsing)."""
    depth = deepest = 0
    try:
        for _, kind, value in _ENVIRONMENT.lex(source):
            if kind == "operator":
                if value in "([{":
                    depth += 1
                    deepest = max(deepest, depth)
                elif value in ")]}":
                    depth -= 1
    except jinja2.TemplateSyntaxError:
        pass  # parsing reports it with its line
    return deepest


def _forbidden(template: nodes.Template) -> list[str]:
    """Constructs the sandbox would refuse at render time, found statically."""
    found = []
    for node in template.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        name: object = None
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value
        elif isinstance(node, nodes.Filter) and node.name == "attr" and node.args:
            first = node.args[0]
            name = first.value if isinstance(first, nodes.Const) else None
        if isinstance(name, str) and name.startswith("_"):
            found.append(f"access to internal attribute {name!r} is not allowed")
    return found


def _parse(source: str, limits: RenderLimits) -> nodes.Template | str:
    """Parse ``source`` no deeper than ``limits`` allow: the tree, or why not.

    Brackets are counted on the tokens first, so a deeply bracketed
    expression is refused before the recursive parser could meet Python's
    recursion limit; what the parser still cannot handle is "too deep" too.

    Raises:
        jinja2.TemplateSyntaxError: the source does not parse.
    """
    if _opening_brackets(source) > limits.max_depth and _bracket_depth(source) > limits.max_depth:
        return _nested_too_deeply(limits)
    try:
        tree = _ENVIRONMENT.parse(source)
    except RecursionError:
        return _nested_too_deeply(limits)
    if tree_depth(tree) > limits.max_depth:
        return _nested_too_deeply(limits)
    return tree


def _compile(tree: nodes.Template, limits: RenderLimits) -> jinja2.Template | str:
    """Compile a parsed template: the template, or why Python cannot compile it."""
    try:
        return _ENVIRONMENT.from_string(tree)
    except RecursionError:
        return _nested_too_deeply(limits)
    except SyntaxError as exc:  # Python's own nesting limits on the generated code
        return _nested_too_deeply(limits, f"{exc.msg} (in the code compiled from it)")


def check_template(source: object, limits: RenderLimits = DEFAULT_LIMITS) -> str | None:
    """Compile ``source`` in the sandbox; return why it cannot be used, or None.

    Syntax errors, nesting deeper than ``limits.max_depth``, and constructs
    the sandbox refuses (reaching ``_private`` or ``__dunder__`` attributes)
    are problems. The template is then rendered once against an empty
    profile and context: what fails there whatever the data (a limit of
    ``limits`` broken, a value that cannot be printed, a format-string trick)
    is a problem too; references to attributes a profile may lack are not.

    Args:
        source: The template text.
        limits: The render limits the kit delivers with.
    """
    if not isinstance(source, str):
        return f"template must be text, not {type(source).__name__}"
    try:
        parsed = _parse(source, limits)
    except jinja2.TemplateSyntaxError as exc:
        return f"template syntax error on line {exc.lineno}: {exc.message}"
    if isinstance(parsed, str):
        return parsed
    forbidden = _forbidden(parsed)
    if forbidden:
        return f"forbidden construct: {forbidden[0]}"
    if any(
        True
        for _ in parsed.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends))
    ):
        return "forbidden construct: a template cannot include, import or extend another"
    try:
        template = _compile(parsed, limits)
    except jinja2.TemplateSyntaxError as exc:  # found only when compiling (an unknown filter)
        return f"template syntax error on line {exc.lineno}: {exc.message}"
    if isinstance(template, str):
        return template
    _, token = start_budget(limits)
    try:
        template.render(profile={}, context={})
    except SecurityError as exc:
        return f"forbidden construct: {_ADDRESS.sub('', str(exc))}"
    except LimitExceeded as exc:
        return str(exc)
    except Exception:
        pass  # depends on the data: missing attributes, type errors
    finally:
        end_budget(token)
    return None


Renderer = Callable[[Mapping[str, Any], Mapping[str, Any], Mapping[str, str]], str]
"""Renders one template from the profile, the API context and the message variables."""
_NO_VARIABLES: Final[Mapping[str, str]] = {}


def template_names(source: str) -> frozenset[str]:
    """The top-level names ``source`` reads (``profile``, ``unsubscribe_url`` ...).

    A template that does not parse reads nothing (activation reports it).
    """
    try:
        return frozenset(meta.find_undeclared_variables(_ENVIRONMENT.parse(source)))
    except (jinja2.TemplateSyntaxError, RecursionError):
        return frozenset()


def _text_of(value: Any) -> str:
    """What Jinja prints for a looked-up value; anything but text and numbers fails."""
    if type(value) is str:
        return value
    if value is None or isinstance(value, (str, int, float)):
        return str(value)
    raise unprintable(value)


def _lookup(data: Mapping[str, Any], root: str, path: tuple[str, ...]) -> str:
    value: Any = data
    try:
        for segment in path:
            value = value[segment]
    except (KeyError, TypeError, IndexError):
        raise MissingAttribute(".".join((root, *path))) from None
    return _text_of(value)


def _fast(source: str) -> tuple[Renderer, frozenset[str]] | None:
    """A renderer for pure substitutions and the names it reads, or None when Jinja is needed."""
    parts: list[str | tuple[str, tuple[str, ...]]] = []
    last = 0
    source = _NEWLINES.sub("\n", source)  # as Jinja does
    for match in _SUBSTITUTION.finditer(source):
        parts.append(source[last : match.start()])
        root, *path = match.group(1).split(".")
        if any(segment in _JINJA_ATTRIBUTES for segment in path):
            return None  # Jinja would resolve a method or attribute first; let it decide
        parts.append((root, tuple(path)))
        last = match.end()
    parts.append(source[last:])
    if any(isinstance(p, str) and _JINJA_SYNTAX.search(p) for p in parts):
        return None
    names = frozenset(p[0] for p in parts if not isinstance(p, str))
    if not names:
        text = "".join(p for p in parts if isinstance(p, str))
        return (lambda profile, context, variables: text), names

    def render(
        profile: Mapping[str, Any], context: Mapping[str, Any], variables: Mapping[str, str]
    ) -> str:
        out = []
        for part in parts:
            if isinstance(part, str):
                out.append(part)
                continue
            root, path = part
            if root == "profile":
                out.append(_lookup(profile, root, path))
            elif root == "context":
                out.append(_lookup(context, root, path))
            else:
                out.append(_variable(variables, root))
        return "".join(out)

    return render, names


def _variable(variables: Mapping[str, str], name: str) -> str:
    """A message variable; missing is a missing attribute, as Jinja's undefined is."""
    value = variables.get(name)
    if value is None:
        raise MissingAttribute(name)
    return value


@attrs.frozen
class CompiledTemplate:
    """A template compiled once, rendered per recipient.

    Attributes:
        source: The template text.
        fast: True when it renders without Jinja (pure substitution).
        depth: How deeply it nests (checked against ``RenderLimits.max_depth``).
        names: The top-level names it reads (``profile``, ``context``,
            ``unsubscribe_url`` ...).
    """

    source: str
    fast: bool
    _render: Renderer = attrs.field(repr=False)
    depth: int = 0
    names: frozenset[str] = frozenset()

    def render(
        self,
        profile: Mapping[str, Any],
        context: Mapping[str, Any],
        limits: RenderLimits = DEFAULT_LIMITS,
        variables: Mapping[str, str] = _NO_VARIABLES,
    ) -> str:
        """Render for one recipient within ``limits``.

        ``variables`` are the message variables (``unsubscribe_url``).

        Raises:
            MissingAttribute: the recipient lacks data the template needs.
            TemplateFailed: anything else went wrong (a type error, a refused
                construct, a limit broken: then a ``LimitExceeded``).
        """
        budget, token = start_budget(limits)
        try:
            return self.render_within(budget, profile, context, variables)
        finally:
            end_budget(token)

    def render_within(
        self,
        budget: Budget,
        profile: Mapping[str, Any],
        context: Mapping[str, Any],
        variables: Mapping[str, str] = _NO_VARIABLES,
    ) -> str:
        """Render as part of a message whose budget is ``budget`` (the active one)."""
        if self.depth > budget.limits.max_depth:
            raise LimitExceeded(_nested_too_deeply(budget.limits))
        text = self._render(profile, context, variables)
        if self.fast:  # a Jinja template counts its own output
            budget.emit(len(text))
        return text

    def substitute(
        self,
        profile: Mapping[str, Any],
        context: Mapping[str, Any],
        variables: Mapping[str, str] = _NO_VARIABLES,
    ) -> str:
        """Render a fast-path template: plain lookups, no budget (the caller caps the output).

        Raises:
            MissingAttribute: the recipient lacks data the template needs.
            TemplateFailed: a looked-up value is not text or a number.
        """
        return self._render(profile, context, variables)


def _failing(reason: Callable[[RenderLimits], str]) -> Renderer:
    """A renderer for a template that cannot be compiled: every render fails."""

    def render(
        profile: Mapping[str, Any], context: Mapping[str, Any], variables: Mapping[str, str]
    ) -> str:
        raise LimitExceeded(reason(DEFAULT_LIMITS))

    return render


def compile_template(source: str) -> CompiledTemplate:
    """Compile ``source`` once (fast path for pure substitutions).

    A template nested too deeply for Python to compile does not raise here:
    each of its renders fails with ``LimitExceeded`` (activation refuses it
    earlier).

    Raises:
        jinja2.TemplateSyntaxError: the source does not parse (activation
            validation reports this earlier).
    """
    fast = _fast(source)
    if fast is not None:
        return CompiledTemplate(source, True, fast[0], names=fast[1])
    ceiling = RenderLimits(max_depth=MAX_NESTING)
    parsed = _parse(source, ceiling)
    if isinstance(parsed, str):
        return CompiledTemplate(source, False, _failing(_nested_too_deeply), MAX_NESTING + 1)
    depth = tree_depth(parsed)
    if _opening_brackets(source) > depth:  # brackets might nest deeper than the tree
        depth = max(depth, _bracket_depth(source))
    names = frozenset(meta.find_undeclared_variables(parsed))
    template = _compile(parsed, ceiling)
    if isinstance(template, str):
        reason = template
        return CompiledTemplate(source, False, _failing(lambda _: reason), depth, names)
    compiled = template

    def render(
        profile: Mapping[str, Any], context: Mapping[str, Any], variables: Mapping[str, str]
    ) -> str:
        try:
            return compiled.render(variables, profile=profile, context=context)
        except jinja2.UndefinedError as exc:
            raise MissingAttribute(str(exc.message or exc)) from exc
        except TemplateFailed:
            raise
        except SecurityError as exc:
            raise TemplateFailed(f"refused by the sandbox: {_ADDRESS.sub('', str(exc))}") from exc
        except RecursionError as exc:
            raise LimitExceeded(
                "template recursion too deep: a macro or loop calls itself"
            ) from exc
        except Exception as exc:  # user templates can fail in many ways
            message = _ADDRESS.sub("", f"{type(exc).__name__}: {exc}")
            raise TemplateFailed(message) from exc

    return CompiledTemplate(source, False, render, depth, names)


@attrs.frozen
class CompiledContent:
    """All template fields of one action's content, compiled once.

    Attributes:
        fields: Field name -> compiled template.
    """

    fields: Mapping[str, CompiledTemplate]
    _fast_only: bool = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_fast_only", all(t.fast for t in self.fields.values()))

    @property
    def names(self) -> frozenset[str]:
        """The top-level names any field reads (``unsubscribe_url`` among them, if used)."""
        return frozenset().union(*(t.names for t in self.fields.values()))

    @classmethod
    def of(cls, templates: Mapping[str, str]) -> CompiledContent:
        """Compile every field."""
        return cls({name: compile_template(source) for name, source in templates.items()})

    def render(
        self,
        profile: Mapping[str, Any],
        context: Mapping[str, Any],
        limits: RenderLimits = DEFAULT_LIMITS,
        variables: Mapping[str, str] = _NO_VARIABLES,
    ) -> dict[str, str]:
        """Render every field for one recipient, as one message within ``limits``.

        ``limits.max_output`` and ``limits.max_steps`` count all fields
        together. A ``TemplateFailed`` names the field (``"... (in html)"``).
        ``variables`` are the message variables (:data:`MESSAGE_VARIABLES`):
        ``{"unsubscribe_url": ...}`` when the message carries one.

        Raises:
            MissingAttribute: the recipient lacks data a field needs.
            TemplateFailed: a field failed otherwise (see ``CompiledTemplate.render``).
        """
        if self._fast_only:  # no Jinja: only the output cap applies, no budget to set up
            return self._render_fast(profile, context, limits, variables)
        budget, token = start_budget(limits)
        rendered = {}
        try:
            for name, template in self.fields.items():
                try:
                    rendered[name] = template.render_within(budget, profile, context, variables)
                except LimitExceeded as exc:
                    raise LimitExceeded(f"{exc} (in {name})") from exc
                except TemplateFailed as exc:
                    raise TemplateFailed(f"{exc} (in {name})") from exc
        finally:
            end_budget(token)
        return rendered

    def _render_fast(
        self,
        profile: Mapping[str, Any],
        context: Mapping[str, Any],
        limits: RenderLimits,
        variables: Mapping[str, str],
    ) -> dict[str, str]:
        rendered, total = {}, 0
        for name, template in self.fields.items():
            try:
                text = template.substitute(profile, context, variables)
            except TemplateFailed as exc:
                raise type(exc)(f"{exc} (in {name})") from exc
            total += len(text)
            if total > limits.max_output:
                try:
                    Budget(limits).emit(total)
                except LimitExceeded as exc:
                    raise LimitExceeded(f"{exc} (in {name})") from None
            rendered[name] = text
        return rendered
