"""Pure-substitution templates: rendered without Jinja, a whole content in one call.

A template made only of text and ``{{ profile.a.b }}`` / ``{{ context.x }}``
/ ``{{ unsubscribe_url }}`` is split once into :data:`Parts` (:func:`parse`).
:func:`template_renderer` renders one such template; :func:`content_factory`
turns a whole content (every field pure substitution) into ONE generated
Python function: each distinct lookup done once, every field built by one
f-string, the output cap checked once, the fields returned as one dict. The
generated code does only the happy path: on any error, or output over the
cap, it calls the reference renderer it is given (field by field), so what
fails and how it is reported stays exactly the reference's.

Generated source embeds literals and dict keys with :func:`repr` and path
segments are validated identifiers (``[A-Za-z_][A-Za-z0-9_]*``, also
``repr``-quoted), so no template text becomes code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from campaignkit.delivery.budget import MissingAttribute, unprintable

__all__ = [
    "MAX_GENERATED_LOOKUPS",
    "ContentRenderer",
    "Part",
    "Parts",
    "Renderer",
    "content_factory",
    "parse",
    "template_renderer",
    "text_of",
]

Part = str | tuple[str, tuple[str, ...]]
"""Literal text, or a lookup ``(root, path)`` (``("unsubscribe_url", ())`` for a variable)."""
Parts = tuple[Part, ...]
Renderer = Callable[[Mapping[str, Any], Mapping[str, Any], Mapping[str, str]], str]
"""Renders one template from the profile, the API context and the message variables."""
ContentRenderer = Callable[
    [Mapping[str, Any], Mapping[str, Any], Mapping[str, str]], dict[str, str]
]
"""Renders every field of one content: ``(profile attributes, context, variables) -> fields``."""

MAX_GENERATED_LOOKUPS: Final = 256
"""Above this many distinct lookups in one content, no code is generated (compiling it
would cost more than it saves); the reference renderer is used instead."""

_NEWLINES = re.compile(r"\r\n?")
_SUBSTITUTION = re.compile(
    r"\{\{\s*((?:profile|context)(?:\.[A-Za-z_][A-Za-z0-9_]*)+|unsubscribe_url)\s*\}\}"
)
_JINJA_SYNTAX = re.compile(r"\{\{|\{%|\{#|\}\}|%\}|#\}")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_JINJA_ATTRIBUTES: Final = frozenset(
    name for kind in (dict, list, str, int, float, bool) for name in dir(kind)
)
"""Names Jinja resolves as attributes of a value before its keys: the fast path defers them."""
_ROOTS: Final = ("profile", "context")


def parse(source: str) -> Parts | None:
    """Split a pure-substitution template into parts; None when Jinja is needed.

    Newlines are normalized as Jinja does (CR LF and a lone CR become LF).
    A path segment Jinja would resolve as a method or attribute of a value
    first (``items``, ``title`` ...) needs Jinja, and so does any other
    Jinja syntax.

    Args:
        source: The template text.
    """
    parts: list[Part] = []
    last = 0
    source = _NEWLINES.sub("\n", source)
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
    return tuple(p for p in parts if p != "")


def names_of(parts: Parts) -> frozenset[str]:
    """The top-level names ``parts`` read (``profile``, ``context``, ``unsubscribe_url``)."""
    return frozenset(p[0] for p in parts if not isinstance(p, str))


def text_of(value: Any) -> str:
    """What Jinja prints for a looked-up value; anything but text and numbers fails.

    Args:
        value: The looked-up value.

    Raises:
        LimitExceeded: ``value`` is not text, a number, a boolean or None.
    """
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
    return text_of(value)


def _variable(variables: Mapping[str, str], name: str) -> str:
    """A message variable; missing is a missing attribute, as Jinja's undefined is."""
    value = variables.get(name)
    if value is None:
        raise MissingAttribute(name)
    return value


def template_renderer(parts: Parts) -> Renderer:
    """The renderer of one pure-substitution template (the reference for its field).

    Args:
        parts: What :func:`parse` gave.
    """
    if not names_of(parts):
        text = "".join(p for p in parts if isinstance(p, str))
        return lambda profile, context, variables: text

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

    return render


Factory = Callable[[int, ContentRenderer], ContentRenderer]
_FALLBACK: Final = "return reference(profile, context, variables)"
"""``(max_output, reference) -> renderer``: binds the cap and the error path once."""


def _generated_source(fields: Sequence[tuple[str, Parts]]) -> str:
    """Python source of a factory rendering ``fields`` (see :func:`content_factory`)."""
    slots: dict[tuple[str, tuple[str, ...]], str] = {}
    uses: dict[str, int] = {}
    body: list[str] = []
    constant = 0
    for _, parts in fields:
        for part in parts:
            if isinstance(part, str):
                constant += len(part)
                continue
            slot = slots.get(part)
            if slot is None:
                slot = slots[part] = f"v{len(slots)}"
                root, path = part
                if root in _ROOTS:
                    reads = "".join(f"[{segment!r}]" for segment in path)
                    body.append(f"            {slot} = {root}{reads}")
                    body.append(  # exact ints print as str() prints them: no call
                        f"            if _type({slot}) is not _str: "
                        f"{slot} = _str({slot}) if _type({slot}) is _int else text_of({slot})"
                    )
                else:  # a message variable: text, or the reference reports it
                    body.append(f"            {slot} = variables.get({root!r})")
                    body.append(f"            if _type({slot}) is not _str: {_FALLBACK}")
            uses[slot] = uses.get(slot, 0) + 1
    length = " + ".join(
        [str(constant)] + [f"{n} * len({s})" if n > 1 else f"len({s})" for s, n in uses.items()]
    )
    items = ", ".join(f"{name!r}: {_expression(parts, slots)}" for name, parts in fields)
    lookups = "\n".join(body) or "            pass"
    return f"""\
def make(max_output, reference, text_of, _type=type, _str=str, _int=int):
    def render(profile, context, variables):
        try:
{lookups}
        except Exception:
            {_FALLBACK}
        if {length} > max_output:
            {_FALLBACK}
        return {{{items}}}
    return render
"""


def _expression(parts: Parts, slots: Mapping[tuple[str, tuple[str, ...]], str]) -> str:
    """One field as a Python expression: a constant, a variable, or one f-string."""
    if not parts:
        return "''"
    if len(parts) == 1:
        only = parts[0]
        return repr(only) if isinstance(only, str) else slots[only]
    pieces = [repr(p) if isinstance(p, str) else f"f'{{{slots[p]}}}'" for p in parts]
    return "(" + " ".join(pieces) + ")"


def content_factory(fields: Sequence[tuple[str, Parts]]) -> Factory | None:
    """Generate one function rendering every field of a pure-substitution content.

    The factory takes ``max_output`` (the cap on all fields together) and the
    reference renderer of the whole content, which the generated renderer
    calls for anything but a successful render within the cap, so errors (a
    missing path, a value that cannot be printed, the cap broken, which
    field) are the reference's own.

    Args:
        fields: ``(field name, parts)`` in field order.

    Returns:
        The factory, or None when no code is generated for this content (a
        field name that is not plain text, or more than
        :data:`MAX_GENERATED_LOOKUPS` distinct lookups).
    """
    lookups = {p for _, parts in fields for p in parts if not isinstance(p, str)}
    if len(lookups) > MAX_GENERATED_LOOKUPS or any(type(name) is not str for name, _ in fields):
        return None
    for root, path in lookups:  # parse() guarantees this; generated code relies on it
        if not (root in _ROOTS or (root == "unsubscribe_url" and not path)) or not all(
            _IDENTIFIER.fullmatch(segment) for segment in path
        ):
            return None
    namespace: dict[str, Any] = {}
    exec(compile(_generated_source(fields), "<campaignkit content>", "exec"), namespace)
    make: Callable[[int, ContentRenderer, Callable[[Any], str]], ContentRenderer] = namespace[
        "make"
    ]
    return lambda max_output, reference: make(max_output, reference, text_of)
