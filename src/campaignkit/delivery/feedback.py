"""Feedback: what providers report after accepting a message.

Counts go to the run's report; an unsubscribe withdraws consent for the
channel; a hard bounce suppresses the address for future marketing sends.
"""

from __future__ import annotations

import attrs
import pendulum

from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import ActionCounts, FeedbackEvent, FeedbackRecord, Run
from campaignkit.errors import NotFound
from campaignkit.ports import ProfileStore, Store, UnitOfWork


def record_feedback(
    store: Store,
    profiles: ProfileStore,
    provider_message_id: str,
    event: FeedbackEvent,
    *,
    now: pendulum.DateTime,
) -> FeedbackRecord:
    """Record ``event`` for the message the provider knows as ``provider_message_id``.

    Raises:
        NotFound: no delivered message has this provider id.
    """
    with store.unit_of_work() as uow:
        entry = uow.ledger.by_provider_id(provider_message_id)
        if entry is None:
            raise NotFound("delivered message (provider message id)", provider_message_id)
        record = FeedbackRecord(
            at=now,
            provider_message_id=provider_message_id,
            event=event,
            run_id=entry.run_id,
            action_id=entry.action_id,
            profile_id=entry.profile_id,
            campaign_id=entry.campaign_id,
        )
        apply_feedback(uow, profiles, record, channel=entry.channel, address=entry.address)
    return record


def apply_feedback(
    uow: UnitOfWork,
    profiles: ProfileStore,
    record: FeedbackRecord,
    *,
    channel: ChannelType,
    address: str | None,
) -> None:
    """Store ``record`` and what follows from it, inside the caller's unit of work.

    The run's report counts it (when the run exists); a hard bounce
    suppresses ``address`` on ``channel``; an unsubscribe withdraws the
    profile's consent for ``channel`` (when the profile exists).
    """
    uow.feedback.add(record)
    try:
        run: Run | None = uow.runs.get(record.run_id)
    except NotFound:
        run = None
    if run is not None:
        counts = dict(run.counts)
        counts[record.action_id] = counts.get(record.action_id, ActionCounts()).plus(
            ActionCounts(feedback={record.event: 1})
        )
        uow.runs.save(attrs.evolve(run, counts=counts))
    if record.event is FeedbackEvent.HARD_BOUNCE and address is not None:
        uow.suppressions.add(channel, address)
    if record.event is FeedbackEvent.UNSUBSCRIBED:
        profile = profiles.get(record.profile_id)
        if profile is not None:
            consents = dict(profile.consents)
            consents[channel] = False
            profiles.upsert(attrs.evolve(profile, consents=consents))
