"""Sandboxed templates: user-authored content is untrusted input.

Templates are Jinja2 sources rendered by an
:class:`~jinja2.sandbox.ImmutableSandboxedEnvironment`: no access to Python
internals, no file or network access, no mutation of the data passed in.
Profile attributes are ``profile.<path>``, API context is ``context.<path>``;
``{{ profile.firstName | default("friend") }}`` gives a fallback. Message
variables (:data:`MESSAGE_VARIABLES`) are top-level names the kit provides per
message: ``{{ unsubscribe_url }}`` is the recipient's signed one-click
unsubscribe URL (marketing email only).

A template is compiled once and kept in a bounded cache keyed by its text
(:func:`compile_template`, :meth:`CompiledContent.of`). Pure substitutions
(text and ``{{ profile.a.b }}`` / ``{{ context.x }}`` only) take a fast path
that skips Jinja at render time and gives the same result; a content whose
every field is one renders through a single generated function
(:meth:`CompiledContent.renderer`, see ``delivery.substitution``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
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
)
from campaignkit.delivery.lru import WeightedLRU
from campaignkit.delivery.sandbox import (
    BoundedSandbox,
    tree_depth,
)
from campaignkit.delivery.substitution import (
    ContentRenderer,
    Factory,
    Parts,
    Renderer,
    content_factory,
    names_of,
    parse,
    template_renderer,
)

__all__ = [
    "MAX_REPEAT",
    "MESSAGE_VARIABLES",
    "CompiledContent",
    "CompiledTemplate",
    "ContentRenderer",
    "LimitExceeded",
    "MissingAttribute",
    "RenderLimits",
    "TemplateFailed",
    "check_template",
    "compile_template",
    "new_environment",
    "template_names",
]

MESSAGE_VARIABLES: Final = ("unsubscribe_url",)
"""Top-level template names the kit provides per message (beside ``profile`` and ``context``)."""
_ADDRESS = re.compile(r" at 0x[0-9A-Fa-f]+")


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


_NO_VARIABLES: Final[Mapping[str, str]] = {}


def template_names(source: str) -> frozenset[str]:
    """The top-level names ``source`` reads (``profile``, ``unsubscribe_url`` ...).

    A template that does not parse reads nothing (activation reports it).
    """
    try:
        return frozenset(meta.find_undeclared_variables(_ENVIRONMENT.parse(source)))
    except (jinja2.TemplateSyntaxError, RecursionError):
        return frozenset()


@attrs.frozen
class CompiledTemplate:
    """A template compiled once, rendered per recipient.

    Attributes:
        source: The template text.
        fast: True when it renders without Jinja (pure substitution).
        depth: How deeply it nests (checked against ``RenderLimits.max_depth``).
        names: The top-level names it reads (``profile``, ``context``,
            ``unsubscribe_url`` ...).
        parts: A fast template's literals and lookups (see
            ``delivery.substitution.parse``); None for a Jinja template.
    """

    source: str
    fast: bool
    _render: Renderer = attrs.field(repr=False)
    depth: int = 0
    names: frozenset[str] = frozenset()
    parts: Parts | None = attrs.field(default=None, repr=False, eq=False)

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


CACHE_ENTRIES: Final = 1024
"""The most compiled templates (and, apart, compiled contents) kept for reuse."""
CACHE_CHARACTERS: Final = 4_000_000
"""The most template text each cache keeps, all entries together (bounds its memory)."""
_TEMPLATES: Final = WeightedLRU[str, CompiledTemplate](CACHE_ENTRIES, CACHE_CHARACTERS)
_CONTENTS: Final = WeightedLRU[
    tuple[type["CompiledContent"], tuple[tuple[str, str], ...]], "CompiledContent"
](CACHE_ENTRIES, CACHE_CHARACTERS)


def compile_template(source: str) -> CompiledTemplate:
    """Compile ``source`` once (fast path for pure substitutions).

    Compiled templates are immutable and kept in a bounded LRU cache keyed
    by their text (:data:`CACHE_ENTRIES` templates, :data:`CACHE_CHARACTERS`
    characters): compiling the same text again returns the same object. A
    source that does not parse is never cached: it raises every time.

    A template nested too deeply for Python to compile does not raise here:
    each of its renders fails with ``LimitExceeded`` (activation refuses it
    earlier).

    Args:
        source: The template text.

    Raises:
        jinja2.TemplateSyntaxError: the source does not parse (activation
            validation reports this earlier).
    """
    if type(source) is not str:
        return _compile_template(source)
    return _TEMPLATES.get(source, len(source), lambda: _compile_template(source))


def _compile_template(source: str) -> CompiledTemplate:
    parts = parse(source)
    if parts is not None:
        return CompiledTemplate(
            source, True, template_renderer(parts), names=names_of(parts), parts=parts
        )
    return _compile_jinja(source)


def _compile_jinja(source: str) -> CompiledTemplate:
    """Compile ``source`` with Jinja whatever it is (the reference the fast path matches)."""
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


def _read_only(fields: Mapping[str, CompiledTemplate]) -> Mapping[str, CompiledTemplate]:
    """A private read-only copy: a cached content is shared, nobody may change its fields."""
    return MappingProxyType(dict(fields))


@attrs.frozen
class CompiledContent:
    """All template fields of one action's content, compiled once.

    Immutable (its ``fields`` are a read-only mapping), so :meth:`of` can
    hand the same object to every caller.

    Attributes:
        fields: Field name -> compiled template.
    """

    fields: Mapping[str, CompiledTemplate] = attrs.field(converter=_read_only)
    _fast_only: bool = attrs.field(init=False, repr=False, eq=False)
    _factory: Factory | None = attrs.field(init=False, repr=False, eq=False)
    _last: tuple[RenderLimits, ContentRenderer] | None = attrs.field(
        init=False, repr=False, eq=False
    )

    def __attrs_post_init__(self) -> None:
        templates = self.fields.values()
        fast_only = all(t.fast for t in templates)
        factory = None
        if fast_only and all(t.parts is not None for t in templates):
            factory = content_factory(
                [(name, t.parts) for name, t in self.fields.items() if t.parts is not None]
            )
        object.__setattr__(self, "_fast_only", fast_only)
        object.__setattr__(self, "_factory", factory)
        object.__setattr__(self, "_last", None)

    @property
    def names(self) -> frozenset[str]:
        """The top-level names any field reads (``unsubscribe_url`` among them, if used)."""
        return frozenset().union(*(t.names for t in self.fields.values()))

    @classmethod
    def of(cls, templates: Mapping[str, str]) -> CompiledContent:
        """Compile every field, or reuse the content compiled from the same fields.

        Compiled contents are kept in a bounded LRU cache keyed by their
        field names and texts (like :func:`compile_template`'s); one that
        does not compile is never cached.

        Args:
            templates: Field name -> template text, in field order.

        Raises:
            jinja2.TemplateSyntaxError: a field does not parse.
        """
        items = tuple(templates.items())

        def compiled() -> CompiledContent:
            return cls({name: compile_template(source) for name, source in items})

        if not all(type(name) is str and type(source) is str for name, source in items):
            return compiled()
        weight = sum(len(name) + len(source) for name, source in items)
        return _CONTENTS.get((cls, items), weight, compiled)

    def renderer(self, limits: RenderLimits = DEFAULT_LIMITS) -> ContentRenderer:
        """The function rendering this content within ``limits``, to call per message.

        ``renderer(limits)(profile_attributes, context, variables)`` is
        exactly ``render(profile_attributes, context, limits, variables)``:
        same fields, same errors. Call it once per batch and the returned
        function per message: when every field is a pure substitution it is
        one generated function (about 0.2 µs for one substitution) that does
        not look at ``limits`` again; otherwise it renders through Jinja
        within ``limits``' budget. The last one made is kept for the next
        call with the same ``limits`` object.

        Args:
            limits: The render limits of the run.

        Raises:
            TypeError: ``limits`` is not a ``RenderLimits``.
        """
        last = self._last
        if last is not None and last[0] is limits:
            return last[1]
        if not isinstance(limits, RenderLimits):
            raise TypeError(f"limits must be a RenderLimits, not {type(limits).__name__}")
        made: ContentRenderer
        if self._fast_only:

            def reference(
                profile: Mapping[str, Any],
                context: Mapping[str, Any],
                variables: Mapping[str, str],
            ) -> dict[str, str]:
                return self._render_fast(profile, context, limits, variables)

            made = (
                reference if self._factory is None else self._factory(limits.max_output, reference)
            )
        else:

            def made(
                profile: Mapping[str, Any],
                context: Mapping[str, Any],
                variables: Mapping[str, str],
            ) -> dict[str, str]:
                return self._render_jinja(profile, context, limits, variables)

        object.__setattr__(self, "_last", (limits, made))  # a memo: no visible state changes
        return made

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
        ``{"unsubscribe_url": ...}`` when the message carries one. A hot loop
        calls :meth:`renderer` once instead.

        Raises:
            MissingAttribute: the recipient lacks data a field needs.
            TemplateFailed: a field failed otherwise (see ``CompiledTemplate.render``).
        """
        return self.renderer(limits)(profile, context, variables)

    def _render_jinja(
        self,
        profile: Mapping[str, Any],
        context: Mapping[str, Any],
        limits: RenderLimits,
        variables: Mapping[str, str],
    ) -> dict[str, str]:
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
        """The reference for pure substitutions, field by field (the generated code's errors)."""
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
