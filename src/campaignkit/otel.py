"""OpenTelemetry metrics and traces of deliveries (extra ``campaignkit[otel]``).

``campaignkit.otel.instrument(kit)`` puts a :class:`DeliveryTelemetry` on the
kit's runner. From then on this process's deliveries record:

- counters ``campaignkit.messages.sent``, ``campaignkit.messages.failed`` and
  ``campaignkit.messages.excluded`` (unit ``{message}``), with the attributes
  ``campaign_id``, ``action`` (the action id) and ``channel`` (``email``,
  ``sms``, ``push``), plus ``reason`` on exclusions. They count what this
  worker's deliveries changed in each run's counts, brought up to date after
  every audience batch and when a delivery ends, so once a run is final their
  sums equal its report's counts (retries that succeed count once, as sent);
- a span ``campaignkit.delivery.batch`` around every audience batch (deciding,
  recording, sending), current while the channels send (their own spans nest
  under it), with the attributes ``campaignkit.run_id``,
  ``campaignkit.campaign_id``, ``campaignkit.batch.number``,
  ``campaignkit.batch.size`` and, once done, ``campaignkit.batch.sent``,
  ``.failed``, ``.excluded`` (what the batch changed) and
  ``campaignkit.run.position``; an error ends it with status ERROR.

Only ``opentelemetry-api`` is needed; the host configures the SDK (providers,
exporters) as usual, or passes its providers here.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import attrs

from campaignkit.delivery.runlog import DeliveryObserver
from campaignkit.domain.delivery import ActionCounts, Run
from campaignkit.errors import MissingDependency

if TYPE_CHECKING:
    from contextvars import Token

    from opentelemetry.context import Context
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Span, TracerProvider

    from campaignkit.delivery.plan import Plan
    from campaignkit.kit import CampaignKit

__all__ = [
    "BATCH_SPAN",
    "EXCLUDED",
    "FAILED",
    "SCOPE",
    "SENT",
    "DeliveryTelemetry",
    "instrument",
    "uninstrument",
]

SCOPE = "campaignkit"
"""The instrumentation scope (meter and tracer name)."""
SENT = "campaignkit.messages.sent"
"""Counter: messages a channel accepted."""
FAILED = "campaignkit.messages.failed"
"""Counter: messages that failed permanently or ran out of retries."""
EXCLUDED = "campaignkit.messages.excluded"
"""Counter: recipients excluded from an action, by ``reason``."""
BATCH_SPAN = "campaignkit.delivery.batch"
"""The name of the span around each audience batch."""

_NONE = ActionCounts()


@attrs.define
class _Seen:
    """What a claimed run's counts were when last counted, and each action's channel."""

    counts: dict[str, ActionCounts]
    channels: dict[str, str]


@attrs.frozen
class _Started:
    span: Span
    attached: Token[Context]


class DeliveryTelemetry(DeliveryObserver):
    """Counts messages and traces batches for a runner (see the module documentation).

    Args:
        meter_provider: Where the counters go (default: the global one).
        tracer_provider: Where the spans go (default: the global one).

    Raises:
        MissingDependency: opentelemetry-api is not installed.
    """

    def __init__(
        self,
        *,
        meter_provider: MeterProvider | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        try:
            from opentelemetry import context, metrics, trace  # noqa: PLC0415 - the extra
        except ImportError as error:
            raise MissingDependency("campaignkit.otel", "opentelemetry-api", "otel") from error
        from campaignkit import __version__  # noqa: PLC0415 - the package imports this module

        meter = metrics.get_meter(SCOPE, __version__, meter_provider=meter_provider)
        self._sent = meter.create_counter(SENT, "{message}", "Messages a channel accepted")
        self._failed = meter.create_counter(FAILED, "{message}", "Messages failed for good")
        self._excluded = meter.create_counter(EXCLUDED, "{message}", "Recipients excluded")
        self._tracer = trace.get_tracer(SCOPE, __version__, tracer_provider=tracer_provider)
        self._trace = trace
        self._context = context
        self._runs: dict[str, _Seen] = {}
        self._lock = threading.Lock()

    def claimed(self, before: Run, plan: Plan) -> None:
        """Remember the run's counts as stored: only what follows is counted here."""
        channels = {action_id: s.channel.value for action_id, s in plan.settings.items()}
        with self._lock:
            self._runs[before.id] = _Seen(dict(before.counts), channels)

    def batch_started(self, run: Run, number: int, size: int) -> object:
        """Start the batch's span and make it current."""
        span = self._tracer.start_span(
            BATCH_SPAN,
            attributes={
                "campaignkit.run_id": run.id,
                "campaignkit.campaign_id": run.campaign_id,
                "campaignkit.batch.number": number,
                "campaignkit.batch.size": size,
            },
        )
        attached = self._context.attach(self._trace.set_span_in_context(span))
        return _Started(span, attached)

    def batch_ended(self, token: object, run: Run | None, error: BaseException | None) -> None:
        """Count what the batch changed and end its span."""
        sent = failed = excluded = 0
        if run is not None:
            sent, failed, excluded = self._count(run)
        if not isinstance(token, _Started):
            return  # the start failed (and was logged): no span to end
        self._context.detach(token.attached)
        span = token.span
        if error is not None:  # the batch raised before it was seen through
            span.record_exception(error)
            span.set_status(self._trace.StatusCode.ERROR, f"{type(error).__name__}: {error}")
        elif run is None:
            span.set_attribute("campaignkit.batch.halted", True)
        else:
            span.set_attributes(
                {
                    "campaignkit.batch.sent": sent,
                    "campaignkit.batch.failed": failed,
                    "campaignkit.batch.excluded": excluded,
                    "campaignkit.run.position": run.position,
                }
            )
        span.end()

    def delivered(self, run: Run) -> None:
        """Count what the rest of the delivery changed (retries, the end) and forget the run."""
        self._count(run)
        with self._lock:
            self._runs.pop(run.id, None)

    def _count(self, run: Run) -> tuple[int, int, int]:
        """Count what ``run``'s counts gained since last counted; (sent, failed, excluded)."""
        with self._lock:
            seen = self._runs.get(run.id)
            if seen is None:
                return 0, 0, 0  # not claimed through this observer
            changes = [(a, counts, seen.counts.get(a, _NONE)) for a, counts in run.counts.items()]
            seen.counts.update(run.counts)
            channels = seen.channels
        totals = [0, 0, 0]
        for action_id, now, before in changes:
            attributes: dict[str, Any] = {
                "campaign_id": run.campaign_id,
                "action": action_id,
                "channel": channels.get(action_id, "unknown"),
            }
            totals[0] += _add(self._sent, now.sent - before.sent, attributes)
            totals[1] += _add(self._failed, now.failed - before.failed, attributes)
            for reason, number in now.excluded.items():
                gained = number - before.excluded.get(reason, 0)
                totals[2] += _add(self._excluded, gained, {**attributes, "reason": reason.value})
        return totals[0], totals[1], totals[2]


def _add(counter: Any, amount: int, attributes: dict[str, Any]) -> int:
    """Add ``amount`` to ``counter`` when it is positive; the amount added."""
    if amount <= 0:
        return 0
    counter.add(amount, attributes)
    return amount


def instrument(
    kit: CampaignKit,
    *,
    meter_provider: MeterProvider | None = None,
    tracer_provider: TracerProvider | None = None,
) -> DeliveryTelemetry:
    """Record metrics and traces of ``kit``'s deliveries from now on.

    Replaces an observer the kit's runner had. Call :func:`uninstrument` to stop.

    Args:
        kit: The kit whose runner delivers.
        meter_provider: Where the counters go (default: the global one).
        tracer_provider: Where the spans go (default: the global one).

    Returns:
        The observer put on ``kit.runner``.

    Raises:
        MissingDependency: opentelemetry-api is not installed
            (``pip install 'campaignkit[otel]'``).
    """
    telemetry = DeliveryTelemetry(meter_provider=meter_provider, tracer_provider=tracer_provider)
    kit.runner.observer = telemetry
    return telemetry


def uninstrument(kit: CampaignKit) -> None:
    """Stop recording ``kit``'s deliveries (its runner gets no observer)."""
    kit.runner.observer = None
