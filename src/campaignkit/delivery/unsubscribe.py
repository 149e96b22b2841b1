"""Recording a verified one-click unsubscribe (the shell around the pure tokens).

``kit.unsubscribe`` verifies the token (:mod:`campaignkit.domain.unsubscribe`)
and calls :func:`record_unsubscribe`, which records the UNSUBSCRIBED feedback
under the message's run and action and withdraws the profile's consent for the
channel, through the same :func:`~campaignkit.delivery.feedback.apply_feedback`
as provider feedback.
"""

from __future__ import annotations

import pendulum

from campaignkit.delivery.feedback import apply_feedback
from campaignkit.domain.delivery import FeedbackEvent, FeedbackRecord, idempotency_key
from campaignkit.domain.unsubscribe import UnsubscribeResult, UnsubscribeToken
from campaignkit.ports import ProfileStore, Store


def record_unsubscribe(
    store: Store, profiles: ProfileStore, token: UnsubscribeToken, *, now: pendulum.DateTime
) -> UnsubscribeResult:
    """Record the unsubscribe a verified ``token`` asks for, once.

    - A proof's token changes nothing (test profiles need no consent).
    - A profile with no consent left on the channel changes nothing: the
      link was used already (mailbox providers may POST it twice), or the
      consent was withdrawn otherwise. Nothing is counted twice.
    - A profile that no longer exists: the feedback is recorded (once, found
      among the campaign's feedback) so the report counts it; there is no
      consent to withdraw.

    The feedback's ``provider_message_id`` is the message's idempotency key
    (``run:action:profile``), the id real channels derive their message ids from.
    """
    if token.proof:
        return UnsubscribeResult(token, recorded=False)
    with store.unit_of_work() as uow:
        profile = profiles.get(token.profile_id)
        if profile is not None:
            if not profile.consents.get(token.channel, False):
                return UnsubscribeResult(token, recorded=False)
        elif any(
            r.event is FeedbackEvent.UNSUBSCRIBED
            and (r.run_id, r.action_id, r.profile_id)
            == (token.run_id, token.action_id, token.profile_id)
            for r in uow.feedback.for_campaign(token.campaign_id)
        ):
            return UnsubscribeResult(token, recorded=False)
        record = FeedbackRecord(
            at=now,
            provider_message_id=idempotency_key(token.run_id, token.action_id, token.profile_id),
            event=FeedbackEvent.UNSUBSCRIBED,
            run_id=token.run_id,
            action_id=token.action_id,
            profile_id=token.profile_id,
            campaign_id=token.campaign_id,
        )
        apply_feedback(uow, profiles, record, channel=token.channel, address=None)
    return UnsubscribeResult(token, recorded=True, feedback=record)
