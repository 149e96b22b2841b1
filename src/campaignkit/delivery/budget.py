"""Render limits and the per-message budget the sandbox charges (see ``sandbox``)."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping
from typing import Any, Final

import attrs
from jinja2.runtime import Undefined

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
