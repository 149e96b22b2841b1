"""The trigger accept's fast paths (issue 12, helper h3): same results as the generic code."""

from __future__ import annotations

import attrs
import pendulum
import pytest

from campaignkit.domain.triggers import ExecutionKind, ExecutionRecord
from campaignkit.serialization import _instant, dumps, dumps_execution

T0 = pendulum.datetime(2026, 12, 1, 9, 30, 15, 123456, tz="UTC")


def a_record() -> ExecutionRecord:
    return ExecutionRecord(
        id="exe_1",
        campaign_id="cmp_1",
        request_id="req-\u00e9\ud800",
        kind=ExecutionKind.UNITARY,
        created_at=T0,
        created_by="ada",
        run_id="run_1",
        payload_hash="abc",
    )


@attrs.frozen(slots=False)
class _Record(ExecutionRecord):
    """A subclass: written by the generic encoder."""


def test_an_execution_subclass_or_odd_field_takes_the_generic_encoder() -> None:
    record = a_record()
    sub = _Record(**attrs.asdict(record, recurse=False))
    with pytest.raises(TypeError, match="not a stored campaignkit type"):
        dumps(sub)
    with pytest.raises(TypeError, match="not a stored campaignkit type"):
        dumps_execution(sub)
    odd = attrs.evolve(record, revision=True)  # a bool is not an exact int
    assert dumps_execution(odd) == dumps(odd)
    other = attrs.evolve(record, created_by=7)  # type: ignore[arg-type]
    assert dumps_execution(other) == dumps(other)


def test_the_same_instant_is_written_once_and_the_same() -> None:
    first = _instant(T0)
    assert _instant(T0) is first  # served from the last one
    later = T0.add(microseconds=1)
    assert _instant(later) == '"2026-12-01T09:30:15.123457+00:00"'
    assert _instant(T0) == first
    equal = pendulum.datetime(2026, 12, 1, 9, 30, 15, 123456, tz="UTC")
    assert _instant(equal) == first
