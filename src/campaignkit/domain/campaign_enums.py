"""The enumerations that classify a campaign: status, type and category."""

from __future__ import annotations

from campaignkit.domain.text_enum import TextEnum


class CampaignStatus(TextEnum):
    """The nine statuses of a campaign (SPEC section 2)."""

    DRAFT = "DRAFT"
    IN_REVIEW = "IN_REVIEW"
    ACTIVATING = "ACTIVATING"
    SCHEDULED = "SCHEDULED"
    LIVE = "LIVE"
    STOPPED = "STOPPED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    ARCHIVED = "ARCHIVED"

    def __str__(self) -> str:
        return self.value


ALL_STATUSES: frozenset[CampaignStatus] = frozenset(CampaignStatus)
"""Every status: pass as ``statuses=`` to list without the default filter."""

DEFAULT_LIST_STATUSES: frozenset[CampaignStatus] = frozenset(
    {CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.LIVE}
)
"""The statuses a campaign list shows when no filter is given."""

RUNNING_STATUSES: frozenset[CampaignStatus] = frozenset(
    {CampaignStatus.SCHEDULED, CampaignStatus.LIVE}
)
"""Statuses in which a campaign holds its surfaces and may be modified or stopped."""


class CampaignType(TextEnum):
    """How a campaign is started."""

    SCHEDULED = "SCHEDULED"
    """Audience known in advance; runs on activation or at a start date."""
    API_TRIGGERED = "API_TRIGGERED"
    """Runs when the host calls the trigger API."""

    def __str__(self) -> str:
        return self.value


class Category(TextEnum):
    """Whether recipients must have opted in."""

    MARKETING = "MARKETING"
    """Recipients must have opted in to the channel."""
    TRANSACTIONAL = "TRANSACTIONAL"
    """No opt-in needed; only for API-triggered campaigns."""

    def __str__(self) -> str:
        return self.value
