"""OpenTelemetry of deliveries: counters equal the report, one span per audience batch.

Real SDK providers with in-memory readers and exporters (no mocks); the kit
runs in memory on a ManualClock.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from typing import Any

import attrs
import pendulum
import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import campaignkit as ck
from campaignkit import otel
from campaignkit.delivery.plan import Plan
from campaignkit.testing import CallbackChannel, ManualClock, SequentialIds
from tests.factories import T0
from tests.unit.test_run_forever import campaign, only_run, setup

C = ck.ChannelType


@attrs.define
class Telemetry:
    reader: InMemoryMetricReader
    exporter: InMemorySpanExporter
    meters: MeterProvider
    tracers: TracerProvider

    def points(self, name: str) -> list[tuple[dict[str, Any], int]]:
        data = self.reader.get_metrics_data()
        found: list[tuple[dict[str, Any], int]] = []
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found += [
                            (dict(p.attributes or {}), int(p.value))  # type: ignore[union-attr]
                            for p in metric.data.data_points
                        ]
        return found

    def total(self, name: str) -> int:
        return sum(value for _, value in self.points(name))

    def batches(self) -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if s.name == otel.BATCH_SPAN]


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    reader = InMemoryMetricReader()
    exporter = InMemorySpanExporter()
    tracers = TracerProvider()
    tracers.add_span_processor(SimpleSpanProcessor(exporter))
    meters = MeterProvider(metric_readers=[reader])
    yield Telemetry(reader, exporter, meters, tracers)
    meters.shutdown()
    tracers.shutdown()


def make_kit(
    telemetry: Telemetry, channel: ck.Channel | None = None
) -> tuple[ck.CampaignKit, ManualClock]:
    clock = ManualClock(T0)
    kit = ck.CampaignKit.in_memory(
        clock=clock,
        channels=None if channel is None else dict.fromkeys(C, channel),
        delivery=ck.DeliverySettings(
            batch_size=2,
            heartbeat=False,
            render_limits=ck.RenderLimits(max_output=1000),
            retry_base=pendulum.duration(seconds=1),
            retry_cap=pendulum.duration(seconds=1),
        ),
        ids=SequentialIds(),
    )
    otel.instrument(kit, meter_provider=telemetry.meters, tracer_provider=telemetry.tracers)
    return kit, clock


def test_counters_equal_the_report_and_each_batch_has_a_span(telemetry: Telemetry) -> None:
    kit, _ = make_kit(telemetry)
    admin = setup(kit, 5)
    kit.profiles.upsert(  # p2's subject renders beyond the output cap: it fails
        ck.Profile(
            id="p2",
            identities={"email": "p2@example.com"},
            attributes={"firstName": "x" * 2000},
            consents={C.EMAIL: True},
        )
    )
    kit.profiles.upsert(  # p4 has not opted in: excluded
        ck.Profile(id="p4", identities={"email": "p4@example.com"}, attributes={}, consents={})
    )
    created = campaign(admin)
    kit.tick()

    report = admin.report(created.id)
    assert (report.counts.sent, report.counts.failed, report.counts.excluded_total) == (3, 1, 1)
    assert telemetry.total(otel.SENT) == report.counts.sent
    assert telemetry.total(otel.FAILED) == report.counts.failed
    assert telemetry.total(otel.EXCLUDED) == report.counts.excluded_total
    (action_id,) = report.by_action
    where = {"campaign_id": created.id, "action": action_id, "channel": "email"}
    assert telemetry.points(otel.SENT) == [(where, 3)]
    (reason,) = report.counts.excluded
    assert telemetry.points(otel.EXCLUDED) == [({**where, "reason": reason.value}, 1)]

    run = only_run(kit, created.id)
    spans = telemetry.batches()
    assert [s.attributes for s in spans] == [
        {
            "campaignkit.run_id": run.id,
            "campaignkit.campaign_id": created.id,
            "campaignkit.batch.number": number,
            "campaignkit.batch.size": size,
            "campaignkit.batch.sent": sent,
            "campaignkit.batch.failed": failed,
            "campaignkit.batch.excluded": excluded,
            "campaignkit.run.position": position,
        }
        for number, size, sent, failed, excluded, position in [
            (1, 2, 1, 1, 0, 2),
            (2, 2, 1, 0, 1, 4),
            (3, 1, 1, 0, 0, 5),
        ]
    ]
    assert all(s.status.status_code is trace.StatusCode.UNSET for s in spans)


def test_retries_after_the_stream_are_counted_once_when_the_delivery_ends(
    telemetry: Telemetry,
) -> None:
    tried: set[str] = set()

    def respond(message: ck.Message) -> ck.SendResult:
        if message.profile_id == "p1" and message.profile_id not in tried:
            tried.add(message.profile_id)
            return ck.TransientFailure("busy")
        return ck.Accepted(message.idempotency_key)

    kit, clock = make_kit(telemetry, CallbackChannel(respond))
    admin = setup(kit, 3)
    created = campaign(admin)
    kit.tick()
    assert telemetry.total(otel.SENT) == 2  # p1 waits for its retry
    kit.run_until(clock.now().add(minutes=5))
    report = admin.report(created.id)
    assert report.counts.retries == 1
    assert telemetry.total(otel.SENT) == report.counts.sent == 3
    assert telemetry.total(otel.FAILED) == 0
    assert len(telemetry.batches()) == 2  # the retry is no audience batch


def test_an_api_trigger_batch_has_its_span(telemetry: Telemetry) -> None:
    kit, _ = make_kit(telemetry)
    admin = setup(kit, 2)
    surface = admin.list_surfaces()[0]
    created = admin.create_campaign(
        name="Receipt",
        type=ck.CampaignType.API_TRIGGERED,
        namespace="email",
        actions=[ck.Action(surface.id, ck.EmailContent(subject="Receipt", html="<p>x</p>"))],
    )
    admin.activate(created.id)
    kit.tick()
    people = [ck.Recipient(f"p{n}@example.com", "email") for n in (1, 2)]
    admin.trigger(created.id, people, request_id="r1")
    kit.tick()
    (span,) = telemetry.batches()
    assert span.attributes is not None
    assert (
        span.attributes["campaignkit.batch.size"],
        span.attributes["campaignkit.batch.sent"],
    ) == (
        2,
        2,
    )
    assert telemetry.total(otel.SENT) == 2


def test_a_batch_the_stop_halts_is_marked_on_its_span(telemetry: Telemetry) -> None:
    stop: list[str] = []

    def respond(message: ck.Message) -> ck.SendResult:
        if message.profile_id == "p3":  # in the second batch: the campaign stops meanwhile
            stop.append(message.campaign_id)
        return ck.Accepted(message.idempotency_key)

    kit, _ = make_kit(telemetry, CallbackChannel(respond))
    admin = setup(kit, 6)
    created = campaign(admin)
    kit.subscribe(lambda event: None)
    original = kit.runner.stop_requested

    def stopping() -> bool:
        while stop:
            admin.stop(stop.pop())
        return original()

    kit.runner.stop_requested = stopping
    kit.tick()
    spans = telemetry.batches()
    assert [s.attributes.get("campaignkit.batch.number") for s in spans] == [1, 2, 3]  # type: ignore[union-attr]
    assert spans[2].attributes.get("campaignkit.batch.halted") is True  # type: ignore[union-attr]
    assert "campaignkit.batch.halted" not in (spans[1].attributes or {})
    report = admin.report(created.id)
    assert telemetry.total(otel.SENT) == report.counts.sent == 4
    assert telemetry.total(otel.EXCLUDED) == report.counts.excluded_total == 2


def test_an_interrupted_batch_ends_its_span_with_status_error(telemetry: Telemetry) -> None:
    def respond(message: ck.Message) -> ck.SendResult:
        raise KeyboardInterrupt  # not caught as a send failure: the delivery is interrupted

    kit, _ = make_kit(telemetry, CallbackChannel(respond))
    admin = setup(kit, 2)
    created = campaign(admin)
    with pytest.raises(KeyboardInterrupt):
        kit.tick()
    assert only_run(kit, created.id).lease_owner is None  # handed back for the next worker
    (span,) = telemetry.batches()
    assert span.status.status_code is trace.StatusCode.ERROR
    assert span.status.description == "KeyboardInterrupt: "
    assert [e.name for e in span.events] == ["exception"]
    assert span.attributes is not None
    assert "campaignkit.batch.sent" not in span.attributes  # the batch never finished
    assert "campaignkit.batch.halted" not in span.attributes


def test_uninstrument_stops_recording(telemetry: Telemetry) -> None:
    kit, _ = make_kit(telemetry)
    otel.uninstrument(kit)
    assert kit.runner.observer is None
    admin = setup(kit, 2)
    campaign(admin)
    kit.tick()
    assert telemetry.batches() == []
    assert telemetry.points(otel.SENT) == []


@attrs.define
class Broken:
    """An observer every call of which raises."""

    def claimed(self, before: ck.Run, plan: Plan) -> None:
        raise RuntimeError("claimed")

    def batch_started(self, run: ck.Run, number: int, size: int) -> object:
        raise RuntimeError("batch_started")

    def batch_ended(self, token: object, run: ck.Run | None, error: BaseException | None) -> None:
        raise RuntimeError("batch_ended")

    def delivered(self, run: ck.Run) -> None:
        raise RuntimeError("delivered")


def test_an_observer_that_raises_is_logged_and_the_run_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kit = ck.CampaignKit.in_memory(clock=ManualClock(T0), ids=SequentialIds())
    kit.runner.observer = Broken()
    admin = setup(kit, 2)
    created = campaign(admin)
    with caplog.at_level(logging.ERROR, logger="campaignkit"):
        kit.tick()
    assert admin.report(created.id).counts.sent == 2
    failed = {r.getMessage() for r in caplog.records if r.exc_info}
    assert failed == {
        f"campaignkit delivery observer failed on {what}"
        for what in ("claim", "batch start", "batch end", "delivery end")
    }


def test_a_failed_span_start_still_counts(telemetry: Telemetry) -> None:
    kit, _ = make_kit(telemetry)
    observer = kit.runner.observer
    assert isinstance(observer, otel.DeliveryTelemetry)
    started: list[int] = []

    def start(run: ck.Run, number: int, size: int) -> object:
        started.append(number)
        raise RuntimeError("no span")

    observer.batch_started = start  # type: ignore[method-assign]
    admin = setup(kit, 3)
    campaign(admin)
    kit.tick()
    assert started == [1, 2]
    assert telemetry.batches() == []
    assert telemetry.total(otel.SENT) == 3


def test_without_opentelemetry_the_error_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    kit = ck.CampaignKit.in_memory(clock=ManualClock(T0))
    with pytest.raises(ck.MissingDependency) as caught:
        otel.instrument(kit)
    assert str(caught.value) == (
        "campaignkit.otel needs opentelemetry-api: pip install 'campaignkit[otel]'"
    )
    assert (caught.value.feature, caught.value.extra) == ("campaignkit.otel", "otel")
    assert isinstance(caught.value, ImportError)
    assert kit.runner.observer is None


def test_counts_of_a_run_claimed_elsewhere_are_not_counted(telemetry: Telemetry) -> None:
    kit, _ = make_kit(telemetry)
    observer = kit.runner.observer
    assert isinstance(observer, otel.DeliveryTelemetry)
    admin = setup(kit, 2)
    created = campaign(admin)
    kit.tick()
    before = telemetry.total(otel.SENT)
    observer.delivered(only_run(kit, created.id))  # no claim through this observer: ignored
    assert telemetry.total(otel.SENT) == before == 2
