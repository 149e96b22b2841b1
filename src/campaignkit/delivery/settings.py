"""How runs deliver: batch size, retries, leases, the proof cap and render limits."""

from __future__ import annotations

import attrs
import pendulum

from campaignkit.delivery.render import RenderLimits
from campaignkit.delivery.sandbox import check_limits
from campaignkit.domain.proofs import check_cap


@attrs.frozen
class DeliverySettings:
    """How runs deliver.

    Attributes:
        batch_size: Audience members per batch (one intent and one outcome
            transaction each).
        max_attempts: Sends per message before a transient failure becomes final.
        retry_base: Backoff before the first retry (doubles each time, with jitter).
        retry_cap: The longest backoff.
        lease: How long a worker owns a run after each renewal (every batch,
            and every third of a lease while it delivers); another worker may
            resume a run whose worker died once this has passed by the clock.
        heartbeat: Renew the lease from a background thread while a run is
            delivered, so a channel call slower than the lease keeps the run.
            Needs a store usable from two threads (both built-in stores are).
        proofs_per_hour: Proof messages one campaign may send in any rolling
            hour (counted from its history, so across processes).
        render_limits: The output cap and render budget of one message
            (``ck.RenderLimits``); a message beyond them is FAILED with the reason.
    """

    batch_size: int = 500
    max_attempts: int = 5
    retry_base: pendulum.Duration = attrs.field(factory=lambda: pendulum.duration(seconds=30))
    retry_cap: pendulum.Duration = attrs.field(factory=lambda: pendulum.duration(hours=1))
    lease: pendulum.Duration = attrs.field(factory=lambda: pendulum.duration(minutes=1))
    heartbeat: bool = True
    proofs_per_hour: int = attrs.field(default=50, validator=check_cap)
    render_limits: RenderLimits = attrs.field(factory=RenderLimits, validator=check_limits)
