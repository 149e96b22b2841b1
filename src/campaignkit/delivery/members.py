"""Which audience members a run delivers to next, batch by batch.

A trigger's members are its recipients (those of several unitary
requests, in a run ``trigger_many`` shares); any other run streams its
campaign's audience from the host's audience source and resumes at the
run's position (members before it were decided in an earlier batch).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from campaignkit.delivery.plan import Plan
from campaignkit.domain.delivery import Run, RunKind
from campaignkit.domain.profile import Profile
from campaignkit.ports import AudienceSource


def batches(
    run: Run, plan: Plan, audiences: AudienceSource, batch_size: int
) -> Iterator[tuple[int, Sequence[Profile]]]:
    """Audience batches from the run's resume position, with their start position.

    Args:
        run: The run (its kind, recipients and position).
        plan: The run's plan (its version's audience and namespace).
        audiences: Where the audience's members are read.
        batch_size: How many members an audience batch holds.

    Yields:
        ``(start, batch)``: the position of the batch's first member and the batch.
    """
    if run.kind is RunKind.TRIGGER:  # a shared run (trigger_many) has many: in batches
        recipients = run.recipients
        for start in range(run.position, len(recipients), batch_size):
            yield start, [r.profile for r in recipients[start : start + batch_size]]
        return
    audience = plan.version.audience
    if audience is None:
        return
    namespace = plan.version.namespace or ""
    position = 0
    for batch in audiences.members(audience, namespace=namespace, batch_size=batch_size):
        end = position + len(batch)
        if end > run.position:
            skip = max(0, run.position - position)
            yield position + skip, batch[skip:]
        position = end


def last_marked(
    items: Iterator[tuple[int, Sequence[Profile]]],
) -> Iterator[tuple[int, Sequence[Profile], bool]]:
    """``(start, batch, last)``: each batch, and whether no batch follows it.

    Args:
        items: ``(start, batch)`` pairs, as :func:`batches` yields them.

    Yields:
        Each pair with True for the last one, False for the others.
    """
    previous: tuple[int, Sequence[Profile]] | None = None
    for item in items:
        if previous is not None:
            yield (*previous, False)
        previous = item
    if previous is not None:
        yield (*previous, True)


def wave_audience_size(plan: Plan, audiences: AudienceSource) -> int | None:
    """The audience's size when the run has waves (it sizes percentage waves), else None.

    A host's audience source may be slow: call this outside any transaction.

    Args:
        plan: The run's plan (its version's schedule and audience).
        audiences: Where the audience is counted.
    """
    audience = plan.version.audience
    if plan.version.schedule.waves is not None and audience is not None:
        return audiences.count(audience)
    return None
