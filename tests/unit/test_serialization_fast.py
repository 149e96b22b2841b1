"""The hand-built document encoders give exactly the text of the generic ``dumps``."""

from __future__ import annotations

import json

import attrs
import pendulum
import pytest

from campaignkit.domain.triggers import ExecutionKind, ExecutionRecord
from campaignkit.serialization import dumps, dumps_execution, loads

T0 = pendulum.datetime(2026, 12, 1, 9, 30, 15, 123456, tz="UTC")


def a_record() -> ExecutionRecord:
    return ExecutionRecord(
        id="exe_1",
        campaign_id="cmp_1",
        request_id="req-é",
        kind=ExecutionKind.UNITARY,
        created_at=T0,
        created_by="ada",
        run_id="run_1",
        payload_hash="abc",
    )


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"revision": 3, "kind": ExecutionKind.AUDIENCE},
        {"execute_at": T0.add(days=1), "cancelled_at": T0.add(hours=1)},
        {"created_at": pendulum.datetime(2026, 12, 1, 10, tz="Europe/Paris")},
        {"execute_at": pendulum.datetime(2027, 1, 1, tz="America/New_York")},
    ],
)
def test_an_execution_document_is_the_generic_text(changes: dict[str, object]) -> None:
    record = attrs.evolve(a_record(), **changes)  # type: ignore[arg-type]
    text = dumps_execution(record)
    assert text == dumps(record)
    assert loads(ExecutionRecord, text) == loads(ExecutionRecord, dumps(record))


def test_the_execution_encoder_names_every_field() -> None:
    data = json.loads(dumps_execution(a_record()))["data"]
    assert list(data) == [field.name for field in attrs.fields(ExecutionRecord)]
