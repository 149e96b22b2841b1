"""Domain events: what happened, emitted after a change is committed.

Hosts receive them through ``kit.subscribe(listener)``, for example to notify
reviewers or to mirror changes elsewhere.
"""

from __future__ import annotations

from typing import TypeAlias

import attrs
import pendulum

from campaignkit.domain.campaign import HistoryEntry, Verb


@attrs.frozen
class CampaignChanged:
    """A campaign changed; ``entry`` is the history entry that records it.

    Attributes:
        campaign_id: The campaign.
        entry: The new history entry (actor, time, action, statuses, detail).
    """

    campaign_id: str
    entry: HistoryEntry

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


DomainEvent: TypeAlias = CampaignChanged | CampaignRemoved
"""Any event a listener may receive."""
