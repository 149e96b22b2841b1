"""Sandboxed templates: user-authored content is untrusted input.

Templates are Jinja2 sources rendered by an
:class:`~jinja2.sandbox.ImmutableSandboxedEnvironment`: no access to Python
internals, no file or network access, no mutation of the data passed in.
Profile attributes are ``profile.<path>``, API context is ``context.<path>``;
``{{ profile.firstName | default("friend") }}`` gives a fallback.

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
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

_ROOTS: Final = ("profile", "context")
_NEWLINES = re.compile(r"\r\n?")
_SUBSTITUTION = re.compile(r"\{\{\s*((?:profile|context)(?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s*\}\}")
_JINJA_SYNTAX = re.compile(r"\{\{|\{%|\{#|\}\}|%\}|#\}")


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


class _StrictChainableUndefined(jinja2.ChainableUndefined, jinja2.StrictUndefined):
    """Missing data fails when used, but ``profile.a.b | default(...)`` works with no ``a``."""

    __slots__ = ()


MAX_REPEAT: Final = 100_000
"""The longest string or list ``*`` may build, and the largest ``**`` result."""


class _CampaignSandbox(ImmutableSandboxedEnvironment):
    """The sandbox, plus limits on ``*`` and ``**`` so a template cannot exhaust memory."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(
        self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any
    ) -> Any:
        if operator == "*":
            for sized, count in ((left, right), (right, left)):
                too_long = (
                    isinstance(sized, (str, list, tuple))
                    and isinstance(count, int)
                    and len(sized) * count > MAX_REPEAT
                )
                if too_long:
                    raise SecurityError(f"'*' would build more than {MAX_REPEAT} items")
        huge_power = (
            operator == "**"
            and isinstance(right, int)
            and isinstance(left, int)
            and (abs(right) > 64 or abs(left) > MAX_REPEAT)
        )
        if huge_power:
            raise SecurityError("'**' with such large operands is not allowed")
        return super().call_binop(context, operator, left, right)


def new_environment() -> ImmutableSandboxedEnvironment:
    """The sandboxed environment every campaign template is compiled in."""
    return _CampaignSandbox(
        undefined=_StrictChainableUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )


_ENVIRONMENT: Final = new_environment()


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


def check_template(source: object) -> str | None:
    """Compile ``source`` in the sandbox; return why it cannot be used, or None.

    Syntax errors and constructs the sandbox refuses (reaching ``_private``
    or ``__dunder__`` attributes) are problems; references to attributes a
    profile may lack are not.
    """
    if not isinstance(source, str):
        return f"template must be text, not {type(source).__name__}"
    try:
        parsed = _ENVIRONMENT.parse(source)
        _ENVIRONMENT.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        return f"template syntax error on line {exc.lineno}: {exc.message}"
    forbidden = _forbidden(parsed)
    if forbidden:
        return f"forbidden construct: {forbidden[0]}"
    if any(
        True
        for _ in parsed.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends))
    ):
        return "forbidden construct: a template cannot include, import or extend another"
    if _formats_strings(parsed):
        # format-string tricks are refused only when rendered: try a sample
        try:
            _ENVIRONMENT.from_string(source).render(profile={}, context={})
        except SecurityError as exc:
            return f"forbidden construct: {exc}"
        except Exception:
            pass
    return None


def _formats_strings(template: nodes.Template) -> bool:
    return any(
        isinstance(call.node, nodes.Getattr) and call.node.attr in ("format", "format_map")
        for call in template.find_all(nodes.Call)
    )


Renderer = Callable[[Mapping[str, Any], Mapping[str, Any]], str]


def _lookup(data: Mapping[str, Any], root: str, path: tuple[str, ...]) -> str:
    value: Any = data
    try:
        for segment in path:
            value = value[segment]
    except (KeyError, TypeError, IndexError):
        raise MissingAttribute(".".join((root, *path))) from None
    return value if type(value) is str else str(value)


def _fast(source: str) -> Renderer | None:
    """A renderer for pure substitutions, or None when Jinja is needed."""
    parts: list[str | tuple[str, tuple[str, ...]]] = []
    last = 0
    source = _NEWLINES.sub("\n", source)  # as Jinja does
    for match in _SUBSTITUTION.finditer(source):
        parts.append(source[last : match.start()])
        root, *path = match.group(1).split(".")
        if any(hasattr(dict, segment) for segment in path):
            return None  # Jinja would resolve dict methods first; let it decide
        parts.append((root, tuple(path)))
        last = match.end()
    parts.append(source[last:])
    if any(isinstance(p, str) and _JINJA_SYNTAX.search(p) for p in parts):
        return None
    literal_only = all(isinstance(p, str) for p in parts)
    if literal_only:
        text = "".join(p for p in parts if isinstance(p, str))
        return lambda profile, context: text

    def render(profile: Mapping[str, Any], context: Mapping[str, Any]) -> str:
        out = []
        for part in parts:
            if isinstance(part, str):
                out.append(part)
            else:
                root, path = part
                out.append(_lookup(profile if root == "profile" else context, root, path))
        return "".join(out)

    return render


@attrs.frozen
class CompiledTemplate:
    """A template compiled once, rendered per recipient.

    Attributes:
        source: The template text.
        fast: True when it renders without Jinja (pure substitution).
    """

    source: str
    fast: bool
    _render: Renderer = attrs.field(repr=False)

    def render(self, profile: Mapping[str, Any], context: Mapping[str, Any]) -> str:
        """Render for one recipient.

        Raises:
            MissingAttribute: the recipient lacks data the template needs.
            TemplateFailed: anything else went wrong (a type error, a refused construct).
        """
        return self._render(profile, context)


def compile_template(source: str) -> CompiledTemplate:
    """Compile ``source`` once (fast path for pure substitutions).

    Raises:
        jinja2.TemplateSyntaxError: the source does not parse (activation
            validation reports this earlier).
    """
    fast = _fast(source)
    if fast is not None:
        return CompiledTemplate(source, True, fast)
    template = _ENVIRONMENT.from_string(source)

    def render(profile: Mapping[str, Any], context: Mapping[str, Any]) -> str:
        try:
            return template.render(profile=profile, context=context)
        except jinja2.UndefinedError as exc:
            raise MissingAttribute(str(exc.message or exc)) from exc
        except SecurityError as exc:
            raise TemplateFailed(f"refused by the sandbox: {exc}") from exc
        except Exception as exc:  # user templates can fail in many ways
            raise TemplateFailed(f"{type(exc).__name__}: {exc}") from exc

    return CompiledTemplate(source, False, render)


@attrs.frozen
class CompiledContent:
    """All template fields of one action's content, compiled once.

    Attributes:
        fields: Field name -> compiled template.
    """

    fields: Mapping[str, CompiledTemplate]

    @classmethod
    def of(cls, templates: Mapping[str, str]) -> CompiledContent:
        """Compile every field."""
        return cls({name: compile_template(source) for name, source in templates.items()})

    def render(self, profile: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, str]:
        """Render every field for one recipient (see ``CompiledTemplate.render``)."""
        return {name: t.render(profile, context) for name, t in self.fields.items()}
