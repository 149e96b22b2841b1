"""Sandboxed templates: user-authored content is untrusted input.

Templates are Jinja2 sources rendered by a
:class:`jinja2.sandbox.ImmutableSandboxedEnvironment`: no access to Python
internals, no file or network access, no mutation of the data passed in.
"""

from __future__ import annotations

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment


def new_environment() -> ImmutableSandboxedEnvironment:
    """Create the sandboxed environment every campaign template is compiled in."""
    return ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )


_ENVIRONMENT = new_environment()


def check_template(source: object) -> str | None:
    """Compile ``source`` in the sandbox; return why it cannot be used, or None.

    Args:
        source: The template text.
    """
    if not isinstance(source, str):
        return f"template must be text, not {type(source).__name__}"
    try:
        _ENVIRONMENT.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        return f"template syntax error on line {exc.lineno}: {exc.message}"
    return None
