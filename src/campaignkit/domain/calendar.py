"""The campaign calendar: when running campaigns are on air."""

from __future__ import annotations

from collections.abc import Iterable

import attrs
import pendulum

from campaignkit.domain.campaign import Campaign
from campaignkit.domain.campaign_enums import CampaignStatus
from campaignkit.domain.lifecycle import LifecycleRules, completion_at


@attrs.frozen
class CalendarEntry:
    """One campaign on the calendar.

    Attributes:
        campaign_id: The campaign.
        name: Its name.
        at: When it goes (or went) live.
        until: When it is expected to end; None if it runs until stopped.
        status: SCHEDULED or LIVE.
    """

    campaign_id: str
    name: str
    at: pendulum.DateTime
    until: pendulum.DateTime | None
    status: CampaignStatus


def _span(
    campaign: Campaign, rules: LifecycleRules
) -> tuple[pendulum.DateTime, pendulum.DateTime | None] | None:
    version = campaign.live_version
    if version is None:
        return None
    if campaign.status is CampaignStatus.LIVE and campaign.went_live_at is not None:
        return campaign.went_live_at, completion_at(campaign, rules)
    start = version.schedule.start
    if campaign.status is CampaignStatus.SCHEDULED and start is not None:
        # once live, it completes like any LIVE campaign: simulate going live at start
        live = attrs.evolve(campaign, status=CampaignStatus.LIVE, went_live_at=start)
        return start, completion_at(live, rules)
    return None


def calendar_entries(
    campaigns: Iterable[Campaign],
    start: pendulum.DateTime,
    end: pendulum.DateTime,
    rules: LifecycleRules,
) -> list[CalendarEntry]:
    """Entries of the SCHEDULED and LIVE campaigns on air during ``[start, end)``.

    Drafts and finished campaigns never appear. Sorted by ``(at, campaign_id)``.
    """
    entries = []
    for campaign in campaigns:
        span = _span(campaign, rules)
        if span is None:
            continue
        at, until = span
        if at < end and (until is None or until > start):
            entries.append(CalendarEntry(campaign.id, campaign.name, at, until, campaign.status))
    return sorted(entries, key=lambda e: (e.at, e.campaign_id))
