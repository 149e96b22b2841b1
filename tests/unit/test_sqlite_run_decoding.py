"""SQLite runs are decoded from their columns as ``Run(...)`` would build them.

``SQLiteRuns`` sets a decoded run's fields in one step (no ``__init__``), and
``to_us``/``from_us`` convert UTC instants with integer arithmetic; these
tests hold both to the reference: the same values, the same types (the
read-only views ``Run``'s converters make), the same microseconds.
"""

from __future__ import annotations

import calendar
import datetime
from types import MappingProxyType

import attrs
import pendulum
from hypothesis import given
from hypothesis import strategies as st

from campaignkit.adapters.sqlite.connection import from_us, to_us
from campaignkit.adapters.sqlite.runs import _instant, _us
from campaignkit.adapters.sqlite.store import SQLiteStore
from campaignkit.domain.delivery import (
    ActionCounts,
    ExclusionReason,
    Run,
    RunKind,
    RunStatus,
)

T0 = pendulum.datetime(2026, 12, 1, 9, 30, 15, 123456, tz="UTC")


def _reference(run: Run) -> Run:
    """The run as ``Run(...)`` builds it from the same values."""
    return Run(**{field.name: getattr(run, field.name) for field in attrs.fields(Run)})


def test_a_run_read_back_is_the_run_init_would_build() -> None:
    store = SQLiteStore()
    run = Run(
        id="run_1",
        campaign_id="cmp_1",
        version=3,
        kind=RunKind.AUDIENCE_EXECUTION,
        status=RunStatus.PENDING,
        created_at=T0,
        due_at=T0,
        context={"coupon": "X"},
        nominal_at=T0.add(hours=1),
    )
    with store.unit_of_work() as uow:
        added = uow.runs.add(run)
        uow.runs.save(
            attrs.evolve(
                added,
                status=RunStatus.RUNNING,
                started_at=T0.add(seconds=1),
                finished_at=T0.add(days=3, microseconds=7),
                position=12,
                streamed=True,
                counts={
                    "act_1": ActionCounts(
                        targeted=3, sent=2, excluded={ExclusionReason.SUPPRESSED: 1}
                    )
                },
                lease_owner="w",
                lease_expires_at=T0.add(minutes=1),
                error="boom",
                wave_filled=(2, 1),
                rate_sent={"act_1": 4},
                rate_origin={"act_1": T0.add(seconds=5)},
            )
        )
    for _ in range(2):  # decoded once, then from the caches
        with store.unit_of_work() as uow:
            read = uow.runs.get("run_1")
        expected = _reference(read)
        assert read == expected
        for field in attrs.fields(Run):
            value, wanted = getattr(read, field.name), getattr(expected, field.name)
            assert value == wanted
            assert type(value) is type(wanted), field.name
        for name in ("counts", "context", "rate_sent", "rate_origin"):
            assert isinstance(getattr(read, name), MappingProxyType)
        assert read.lease_expires_at == T0.add(minutes=1)
        assert read.rate_origin == {"act_1": T0.add(seconds=5)}
        assert set(vars(read)) == {field.name for field in attrs.fields(Run)}
    store.close()


def test_a_fresh_run_reads_back_with_empty_read_only_maps() -> None:
    store = SQLiteStore()
    run = Run("run_2", "cmp_1", 1, RunKind.TRIGGER, RunStatus.PENDING, T0, None)
    with store.unit_of_work() as uow:
        uow.runs.add(run)
        read = uow.runs.get("run_2")
    assert read == attrs.evolve(run, revision=1)
    assert isinstance(read.rate_sent, MappingProxyType)
    assert isinstance(read.rate_origin, MappingProxyType)
    assert read.due_at is None
    store.close()


_INSTANTS = st.datetimes(
    min_value=datetime.datetime(1, 1, 2),
    max_value=datetime.datetime(9999, 12, 30),
    timezones=st.just(datetime.timezone.utc),
)


def _reference_us(instant: datetime.datetime) -> int:
    """What ``to_us`` computed before its UTC fast path."""
    return calendar.timegm(instant.utctimetuple()) * 1_000_000 + instant.microsecond


def _reference_instant(value: int) -> pendulum.DateTime:
    """What ``from_us`` computed before its integer arithmetic."""
    moment = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(
        microseconds=value
    )
    return pendulum.instance(moment, tz=pendulum.UTC)


@given(_INSTANTS)
def test_instants_convert_as_before(moment: datetime.datetime) -> None:
    instant = pendulum.instance(moment)
    assert instant.tzinfo is pendulum.UTC  # the fast path
    value = _reference_us(instant)
    assert to_us(instant) == _us(instant) == value
    decoded = from_us(value)
    assert decoded == _instant(value) == _reference_instant(value) == instant
    assert type(decoded) is pendulum.DateTime
    assert decoded.tzinfo is pendulum.UTC
    zoned = instant.in_timezone("Asia/Kolkata")  # not UTC: the offset counts
    assert to_us(zoned) == _reference_us(zoned) == value
    assert _us(None) is None
