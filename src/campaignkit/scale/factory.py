"""Rebuilding a kit in a worker process from a ``"package.module:function"`` factory.

A shard task travels to another process (a process pool's, Dask's, a
Celery worker's) as names, not as a kit: a kit holds connections, threads
and channels that cannot be pickled. The worker side imports the host's
factory by its dotted name, calls it once, and keeps the kit it returns for
every later task of that process (:func:`kit_for`).

A factory takes no arguments and returns a kit whose store is the one the
scheduling process uses (the same SQLite file, the same PostgreSQL schema)
and whose channels really send. It should not give the kit an executor of
its own: a worker that submitted shards again would only start more
processes.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, cast

from campaignkit.domain import checks
from campaignkit.errors import ValidationError

if TYPE_CHECKING:
    from campaignkit.kit import CampaignKit

KitFactory = Callable[[], "CampaignKit"]
"""A function of no arguments that builds a kit (what a factory string names)."""

_DOTTED: Final = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_REFERENCE: Final = re.compile(rf"({_DOTTED}):({_DOTTED})")
MAX_REFERENCE: Final = 1000
"""The longest factory string accepted."""
_FORM: Final = '"package.module:function" (such as "myshop.kits:make_kit")'

_lock = threading.Lock()
_kits: dict[str, tuple[int, CampaignKit]] = {}
"""The kit built for each factory in this process, with the process id that built it."""


def factory_problems(value: object, name: str = "factory") -> list[str]:
    """What is wrong with the form of a factory string (nothing is imported).

    Args:
        value: What the caller passed.
        name: The argument's name, for the messages.

    Returns:
        One problem at most; none when ``value`` reads ``"package.module:function"``.
    """
    if not isinstance(value, str):
        return [f"{name} must be a string {_FORM}, not {checks.describe(value)}"]
    if len(value) > MAX_REFERENCE or _REFERENCE.fullmatch(value) is None:
        return [f"{name} must read {_FORM}, not {checks.describe(value)}"]
    return []


def load_factory(reference: str) -> KitFactory:
    """Import the function ``reference`` names (``"package.module:function"``).

    The part after the colon may be dotted (``"myshop.kits:Kits.make"``).

    Args:
        reference: The module's import path and the attribute's name.

    Returns:
        The callable, not called.

    Raises:
        ValidationError: naming ``factory``: the string is malformed, the
            module cannot be imported, it has no such attribute, or the
            attribute is not callable.
    """
    checks.raise_if(factory_problems(reference), "factory")
    module_name, _, attribute = reference.partition(":")
    try:
        found: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValidationError(
            [f"factory {reference!r}: cannot import module {module_name!r}: {exc}"],
            subject="factory",
        ) from exc
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError as exc:
            raise ValidationError(
                [f"factory {reference!r}: {module_name} has no attribute {attribute!r}"],
                subject="factory",
            ) from exc
    if not callable(found):
        raise ValidationError(
            [f"factory {reference!r} must name a function, not {checks.describe(found)}"],
            subject="factory",
        )
    return found


def kit_for(reference: str) -> CampaignKit:
    """The kit ``reference``'s factory builds, built once per process and kept.

    A process-pool worker, a Dask worker or a Celery worker runs many shard
    tasks; each finds the kit the first one built. A kit built before a
    ``fork`` is not reused in the child (its connections belong to the
    parent): the child builds its own. A factory that raises is called again
    by the next task.

    Args:
        reference: ``"package.module:function"``.

    Raises:
        ValidationError: naming ``factory``: see :func:`load_factory`, or the
            factory returned something without ``work_shard`` (not a kit).
    """
    pid = os.getpid()
    with _lock:
        kept = _kits.get(reference)
        if kept is not None and kept[0] == pid:
            return kept[1]
        built = build_kit(reference)
        _kits[reference] = (pid, built)
        return built


def build_kit(reference: str, database: str | None = None) -> CampaignKit:
    """A new kit from ``reference``'s factory (what ``campaignkit worker --factory`` runs).

    Args:
        reference: ``"package.module:function"``.
        database: ``--db`` as given (a SQLite path or a PostgreSQL DSN), passed
            to the factory as its one argument; None calls it with none.

    Raises:
        ValidationError: naming ``factory``: see :func:`load_factory`, or the
            factory returned something without ``work_shard`` (not a kit), or
            it takes no argument for the ``--db`` given.
        Exception: whatever the factory itself raises.
    """
    function = load_factory(reference)
    if database is None:
        kit: object = function()
    else:
        try:
            inspect.signature(function).bind(database)
        except TypeError:
            raise ValidationError(
                [
                    f"factory {reference!r} takes no argument, so it cannot be given "
                    f"--db {database}: leave out --db, or give the function one parameter "
                    "for the database"
                ],
                subject="factory",
            ) from None
        except ValueError:  # no signature to read (a builtin): let the call decide
            pass
        kit = cast("Callable[[str], object]", function)(database)
    if not callable(getattr(kit, "work_shard", None)):
        raise ValidationError(
            [f"factory {reference!r} must return a ck.CampaignKit, not {checks.describe(kit)}"],
            subject="factory",
        )
    built: CampaignKit = kit  # type: ignore[assignment]
    return built


def forget_kits() -> None:
    """Forget every kit :func:`kit_for` kept in this process (closing none).

    For tests and for hosts that rebuild their kits (after closing them).
    """
    with _lock:
        _kits.clear()
