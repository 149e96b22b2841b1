"""The campaign calendar: when running campaigns are on air.

A one-shot campaign has one entry, its on-air span. A recurring campaign has
one entry per occurrence in the range (``at`` is the occurrence, ``until`` the
campaign's end).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import attrs
import pendulum

from campaignkit.domain.campaign import Campaign
from campaignkit.domain.campaign_enums import CampaignStatus
from campaignkit.domain.lifecycle import LifecycleRules, completion_at
from campaignkit.errors import ValidationError

MAX_ENTRIES: Final = 10_000
"""The most entries one calendar call returns (a wide range of a frequent rule)."""


@attrs.frozen
class CalendarEntry:
    """One campaign on the calendar.

    Attributes:
        campaign_id: The campaign.
        name: Its name.
        at: When it goes (or went) live; for a recurring campaign, the occurrence.
        until: When the campaign is expected to end; None if it runs until stopped.
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


def _occurrences(
    campaign: Campaign, start: pendulum.DateTime, end: pendulum.DateTime
) -> list[pendulum.DateTime]:
    """The occurrences of a recurring campaign on air during ``[start, end)``."""
    version = campaign.live_version
    assert version is not None
    schedule = version.schedule
    anchor = schedule.start or campaign.activated_at or campaign.went_live_at
    if anchor is None:
        return []
    on_air = max(anchor, campaign.went_live_at or anchor)
    anchored = attrs.evolve(schedule, start=anchor)
    found: list[pendulum.DateTime] = []
    first = max(start, on_air).subtract(microseconds=1)
    for occurrence in anchored.occurrences(after=first):
        if occurrence >= end or len(found) > MAX_ENTRIES:
            break
        found.append(occurrence)
    return found


def calendar_entries(
    campaigns: Iterable[Campaign],
    start: pendulum.DateTime,
    end: pendulum.DateTime,
    rules: LifecycleRules,
) -> list[CalendarEntry]:
    """Entries of the SCHEDULED and LIVE campaigns on air during ``[start, end)``.

    Drafts and finished campaigns never appear. Sorted by ``(at, campaign_id)``.

    Raises:
        ValidationError: the range holds more than ``MAX_ENTRIES`` entries.
    """
    entries: list[CalendarEntry] = []
    for campaign in campaigns:
        span = _span(campaign, rules)
        if span is None:
            continue
        at, until = span
        if campaign.is_recurring:
            entries.extend(
                CalendarEntry(campaign.id, campaign.name, occurrence, until, campaign.status)
                for occurrence in _occurrences(campaign, start, end)
            )
        elif at < end and (until is None or until > start):
            entries.append(CalendarEntry(campaign.id, campaign.name, at, until, campaign.status))
        if len(entries) > MAX_ENTRIES:
            raise ValidationError(
                [
                    f"the calendar range holds more than {MAX_ENTRIES} entries; "
                    "ask for a shorter range"
                ]
            )
    return sorted(entries, key=lambda e: (e.at, e.campaign_id))
