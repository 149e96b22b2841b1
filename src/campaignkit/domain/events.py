"""Domain events: what happened, emitted after a change is committed.

Hosts receive them through ``kit.subscribe(listener)``, for example to notify
reviewers or to mirror changes elsewhere.
"""

from __future__ import annotations

from typing import TypeAlias

import attrs
import pendulum

from campaignkit.domain.approval import ApprovalAction, ApprovalEntry, Review
from campaignkit.domain.campaign import Campaign, HistoryEntry, Verb


@attrs.frozen
class CampaignChanged:
    """A campaign changed; ``entry`` is the history entry that records it.

    Attributes:
        campaign_id: The campaign.
        entry: The new history entry (actor, time, action, statuses, detail).
        version: The campaign's version after the change: the live one, else
            the draft (None when built without it). Derived from the campaign,
            so it takes no part in equality.
    """

    campaign_id: str
    entry: HistoryEntry
    version: int | None = attrs.field(default=None, eq=False)

    @property
    def status_changed(self) -> bool:
        """True when the change moved the campaign to another status."""
        return self.entry.from_status is not self.entry.to_status


@attrs.frozen
class CampaignRemoved:
    """A campaign was deleted (DRAFT) or purged (ARCHIVED past retention).

    Attributes:
        campaign_id: The campaign that no longer exists.
        at: When it was removed.
        actor: Who removed it (``"system"`` for a purge).
        verb: ``Verb.DELETE`` or ``Verb.PURGE``.
    """

    campaign_id: str
    at: pendulum.DateTime
    actor: str
    verb: Verb


@attrs.frozen
class ApprovalEvent:
    """A step of the approval workflow: request, cancellation, decision.

    Subscribe to notify people: on ``REQUESTED``, ``review`` says who may
    decide (``review.reviewers``, ``review.reviewer_groups``); on a decision,
    ``review.requester`` is who asked.

    Attributes:
        campaign_id: The campaign.
        campaign_name: Its name.
        entry: The approval trail entry.
        review: The request concerned (None for an activation without policy).
    """

    campaign_id: str
    campaign_name: str
    entry: ApprovalEntry
    review: Review | None

    @property
    def action(self) -> ApprovalAction:
        """What happened."""
        return self.entry.action


def changed_event(campaign: Campaign, entry: HistoryEntry) -> CampaignChanged:
    """The event of ``entry`` on ``campaign`` (the campaign after the change)."""
    version = campaign.live_version or campaign.draft_version
    return CampaignChanged(campaign.id, entry, None if version is None else version.number)


DomainEvent: TypeAlias = CampaignChanged | CampaignRemoved | ApprovalEvent
"""Any event a listener may receive."""


@attrs.frozen
class Outcome:
    """The result of a pure lifecycle step.

    Attributes:
        campaign: The campaign after the step (for a removal: as it was last).
        events: The domain events the step produced.
        removed: True when the step deletes the campaign.
    """

    campaign: Campaign
    events: tuple[DomainEvent, ...]
    removed: bool = False
