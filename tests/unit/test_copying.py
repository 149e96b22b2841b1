"""``domain.copying.evolve`` copies attrs instances exactly as ``attrs.evolve`` does."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import attrs
import pendulum
import pytest

from campaignkit.domain.copying import evolve
from campaignkit.domain.delivery import ActionCounts, Run, RunKind, RunStatus
from campaignkit.domain.triggers import ExecutionKind, ExecutionRecord

T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")


def a_run() -> Run:
    return Run(
        id="run_1",
        campaign_id="cmp_1",
        version=2,
        kind=RunKind.TRIGGER,
        status=RunStatus.PENDING,
        created_at=T0,
        due_at=T0,
        counts={"act_1": ActionCounts(sent=1)},
        context={"link": "x"},
        rate_sent={"act_1": 3},
        rate_origin={"act_1": T0},
    )


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"revision": 7},
        {"status": RunStatus.RUNNING, "lease_owner": "w", "lease_expires_at": T0, "due_at": T0},
        {"counts": {"act_2": ActionCounts(failed=2)}, "streamed": True, "position": 4},
        {"context": {}, "rate_sent": {"a": 1}, "rate_origin": {}, "wave_filled": (1, 2)},
        {"finished_at": T0, "error": "boom", "due_at": None},
    ],
)
def test_a_run_is_copied_as_attrs_evolve_copies_it(changes: dict[str, object]) -> None:
    run = a_run()
    copied = evolve(run, **changes)
    expected = attrs.evolve(run, **changes)  # type: ignore[arg-type]
    assert copied == expected
    assert type(copied) is Run
    for field in attrs.fields(Run):  # converted as __init__ converts: read-only views
        assert type(getattr(copied, field.name)) is type(getattr(expected, field.name))
    assert isinstance(copied.counts, MappingProxyType)
    assert run == a_run()  # the original is untouched


def test_a_changed_mapping_is_converted_and_not_shared() -> None:
    counts = {"act_1": ActionCounts(sent=2)}
    copied = evolve(a_run(), counts=counts)
    counts["act_9"] = ActionCounts()
    assert dict(copied.counts) == {"act_1": ActionCounts(sent=2)}
    with pytest.raises(TypeError):
        copied.counts["x"] = ActionCounts()  # type: ignore[index]


def test_an_unknown_field_is_refused() -> None:
    with pytest.raises(TypeError, match="nope"):
        evolve(a_run(), nope=1)


def test_an_execution_record_is_copied_too() -> None:
    record = ExecutionRecord(
        id="exe_1",
        campaign_id="cmp_1",
        request_id="req",
        kind=ExecutionKind.UNITARY,
        created_at=T0,
        created_by="ada",
        run_id="run_1",
        payload_hash="h",
    )
    assert evolve(record, revision=1) == attrs.evolve(record, revision=1)


def _positive(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative")


@attrs.frozen
class Checked:
    a: int = attrs.field(validator=_positive)
    b: int = attrs.field(default=0, validator=_positive)


def test_a_changed_field_is_validated() -> None:
    checked = Checked(1, 2)
    assert evolve(checked, a=5) == Checked(5, 2)
    with pytest.raises(ValueError, match="a must not be negative"):
        evolve(checked, a=-1)


def _not_below_a(inst: object, _: attrs.Attribute[int], value: int) -> None:
    if value < int(getattr(inst, "a")):  # noqa: B009 - inst is any attrs instance
        raise ValueError("b < a")


@attrs.frozen
class Ordered:
    a: int
    b: int = attrs.field(validator=_not_below_a)


def test_a_validator_reading_another_field_is_run_when_that_field_changes() -> None:
    with pytest.raises(ValueError, match="b < a"):
        evolve(Ordered(1, 2), a=5)


@attrs.define(frozen=True, slots=False, cache_hash=True, hash=True)
class CachedHashDict:
    a: int


@attrs.frozen(init=False)
class HandWritten:
    a: int

    def __init__(self, a: int) -> None:
        self.__attrs_init__(a * 10)


@attrs.frozen
class PreInit:
    a: int

    def __attrs_pre_init__(self) -> None:
        pass


@attrs.frozen
class PostInit:
    a: int
    doubled: int = attrs.field(init=False, default=0)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "doubled", self.a * 2)


@attrs.frozen(cache_hash=True, hash=True)
class CachedHash:
    a: int


@attrs.frozen
class Private:
    _a: int


def _plus_a(value: int, inst: attrs.AttrsInstance) -> int:
    return value + int(getattr(inst, "a"))  # noqa: B009 - inst is any attrs instance


_PLUS_A = attrs.Converter(_plus_a, takes_self=True)


@attrs.frozen
class TakesSelf:
    a: int
    b: int = attrs.field(converter=_PLUS_A)  # type: ignore[misc]


def test_classes_evolve_cannot_copy_field_by_field_go_to_attrs() -> None:
    assert evolve(PostInit(1), a=3).doubled == 6
    copied = evolve(CachedHash(1), a=2)
    assert copied == CachedHash(2)
    assert hash(copied) == hash(CachedHash(2))
    assert evolve(Private(1), a=2) == Private(2)
    assert evolve(TakesSelf(1, 1), b=5) == attrs.evolve(TakesSelf(1, 1), b=5)
    assert evolve(PostInit(2)) == PostInit(2)  # the answer is remembered per class
    assert hash(evolve(CachedHashDict(1), a=2)) == hash(CachedHashDict(2))
    assert evolve(HandWritten(1), a=3) == attrs.evolve(HandWritten(1), a=3)
    assert evolve(PreInit(1), a=2) == PreInit(2)


def _view(value: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType(dict(value))


@attrs.frozen(slots=False)
class Plain:
    a: int
    b: Mapping[str, int] = attrs.field(factory=dict, converter=_view)

    @property
    def total(self) -> int:
        return self.a + sum(self.b.values())


def test_a_class_keeping_its_fields_in_a_dict_is_copied_in_one_step() -> None:
    plain = Plain(1, {"x": 2})
    copied = evolve(plain, a=5)
    assert copied == Plain(5, {"x": 2}) == attrs.evolve(plain, a=5)
    assert vars(copied) == {"a": 5, "b": MappingProxyType({"x": 2})}
    assert vars(copied) is not vars(plain)  # its own dict
    assert vars(plain) == {"a": 1, "b": MappingProxyType({"x": 2})}  # untouched
    changed = evolve(plain, b={"y": 3})
    assert isinstance(changed.b, MappingProxyType)  # converted as __init__ converts
    assert changed.total == 4
    with pytest.raises(TypeError, match="nope"):
        evolve(plain, nope=1)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        copied.a = 9  # type: ignore[misc]


def test_a_dict_holding_more_than_the_fields_is_copied_field_by_field() -> None:
    plain = Plain(1)
    object.__setattr__(plain, "cached", "stale")  # say, a cached_property's value
    copied = evolve(plain, a=2)
    assert vars(copied) == {"a": 2, "b": MappingProxyType({})}  # the extra is not carried


def test_a_run_keeps_its_fields_in_a_dict() -> None:
    run = a_run()
    assert set(vars(run)) == {field.name for field in attrs.fields(Run)}
    assert vars(evolve(run, revision=3))["revision"] == 3
