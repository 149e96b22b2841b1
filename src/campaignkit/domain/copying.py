"""``evolve``: ``attrs.evolve`` for the records the delivery hot path copies most.

``attrs.evolve`` calls the class's generated ``__init__`` with every field,
so each copy runs every converter again (a run's four mappings are copied
into fresh read-only views each time) and costs about 20 us for a ``Run``;
a round of an API trigger copies its run about eight times. ``evolve``
copies the fields as they are (they were converted when the instance was
built) and converts only the changed ones, as ``__init__``
would: about a quarter of the time, and an equal result. A class keeping
its fields in an instance dict (``slots=False``, such as ``Run``) is copied
with one copy of that dict when it holds exactly the fields.

A class with an ``__attrs_pre_init__``, an ``__attrs_post_init__``, a
cached hash or a hand-written ``__init__``, a field with a validator (it
may read other fields, so changing one could break another's rule), a
field whose ``__init__`` argument is not its name, a field not set by
``__init__`` or a converter that takes the instance is copied by
``attrs.evolve``.
"""

from __future__ import annotations

from typing import Any, Final, TypeVar, cast

import attrs
from attrs import AttrsInstance

T = TypeVar("T", bound=AttrsInstance)

_Fields = tuple[tuple[str, ...], dict[str, "attrs.Attribute[Any]"]]

_KNOWN: Final[dict[type, _Fields | None]] = {}
"""Per class: its field names and fields, or None when ``attrs.evolve`` must copy it."""

_new: Final = object.__new__
_set: Final = object.__setattr__


def _fields_of(cls: type) -> _Fields | None:
    if cls in _KNOWN:
        return _KNOWN[cls]
    fields = attrs.fields(cls)
    init = getattr(getattr(cls, "__init__", None), "__code__", None)
    plain = (
        not hasattr(cls, "__attrs_pre_init__")
        and not hasattr(cls, "__attrs_post_init__")
        and init is not None
        and init.co_filename.startswith("<attrs generated")  # not a hand-written __init__
        and "_attrs_cached_hash" not in init.co_consts  # a cached hash is reset by __init__
        and all(
            field.init
            and field.validator is None  # a validator may read the other fields
            and field.alias == field.name
            and not isinstance(field.converter, attrs.Converter)  # may want the instance
            for field in fields
        )
    )
    known = (tuple(f.name for f in fields), {f.name: f for f in fields}) if plain else None
    _KNOWN[cls] = known
    return known


def evolve(inst: T, **changes: Any) -> T:
    """A copy of the attrs instance ``inst`` with ``changes``, equal to ``attrs.evolve``'s.

    Unchanged fields are copied as they are; a changed field goes through its
    converter, as the generated ``__init__`` would (classes with validators
    are copied by ``attrs.evolve``, which checks every field again).

    Args:
        inst: An instance of an attrs class.
        **changes: New values by field name.

    Returns:
        The copy.

    Raises:
        TypeError: a name in ``changes`` is not a field (as ``attrs.evolve``).
    """
    cls = type(inst)
    known = _fields_of(cls)
    if known is None:
        copied: T = attrs.evolve(cast("Any", inst), **changes)
        return copied
    names, fields = known
    copy: T = _new(cls)
    state = getattr(inst, "__dict__", None)
    if state is not None and len(state) == len(names):  # the fields and nothing else
        state = state.copy()  # a class keeping its fields in a dict: copied in one step
        for name, given in changes.items():
            state[name] = _converted(cls, fields, name, given)
        _set(copy, "__dict__", state)
        return copy
    for name in names:
        _set(copy, name, getattr(inst, name))
    for name, given in changes.items():
        _set(copy, name, _converted(cls, fields, name, given))
    return copy


def _converted(cls: type, fields: dict[str, attrs.Attribute[Any]], name: str, given: Any) -> Any:
    """``given`` as ``__init__`` would store it in field ``name``."""
    field = fields.get(name)
    if field is None:
        raise TypeError(f"{cls.__name__}.__init__() got an unexpected keyword argument {name!r}")
    converter = field.converter
    return given if converter is None else converter(given)  # type: ignore[operator]
