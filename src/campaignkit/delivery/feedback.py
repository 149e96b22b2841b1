"""Feedback: what providers report after accepting a message.

Counts go to the run's report; an unsubscribe withdraws consent for the
channel; a hard bounce suppresses the address for future marketing sends.
"""

from __future__ import annotations

import attrs
import pendulum

from campaignkit.domain.delivery import ActionCounts, FeedbackEvent, FeedbackRecord
from campaignkit.errors import NotFound
from campaignkit.ports import ProfileStore, Store


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
        uow.feedback.add(record)
        run = uow.runs.get(entry.run_id)
        counts = dict(run.counts)
        counts[entry.action_id] = counts.get(entry.action_id, ActionCounts()).plus(
            ActionCounts(feedback={event: 1})
        )
        uow.runs.save(attrs.evolve(run, counts=counts))
        if event is FeedbackEvent.HARD_BOUNCE and entry.address is not None:
            uow.suppressions.add(entry.channel, entry.address)
        if event is FeedbackEvent.UNSUBSCRIBED:
            profile = profiles.get(entry.profile_id)
            if profile is not None:
                consents = dict(profile.consents)
                consents[entry.channel] = False
                profiles.upsert(attrs.evolve(profile, consents=consents))
    return record
