"""The campaign calendar: when running campaigns are on air.

A one-shot campaign has one entry, its on-air span. A recurring campaign has
one entry per occurrence in the range (``at`` is the occurrence, ``until`` the
campaign's end).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

import attrs
import pendulum

from campaignkit.domain import display, html_views
from campaignkit.domain.campaign import Campaign
from campaignkit.domain.campaign_enums import CampaignStatus
from campaignkit.domain.lifecycle import LifecycleRules, completion_at
from campaignkit.errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

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

    def __repr__(self) -> str:
        """Campaign, name, status and span in one line."""
        return display.calendar_entry_repr(self)


class Calendar(list[CalendarEntry]):
    """The entries of a calendar range: a list that also shows itself in notebooks.

    It is a plain list in every other way (equal to the list of its entries,
    indexed, sliced and extended as one).

    Args:
        entries: The entries, sorted by ``(at, campaign_id)``.
        start: The start of the range asked for, if known.
        end: The end of the range asked for (excluded), if known.

    Attributes:
        start: The start of the range asked for, if known.
        end: The end of the range asked for (excluded), if known.
    """

    def __init__(
        self,
        entries: Iterable[CalendarEntry] = (),
        start: datetime.datetime | None = None,
        end: datetime.datetime | None = None,
    ) -> None:
        super().__init__(entries)
        self.start = start
        self.end = end

    @property
    def span(self) -> tuple[datetime.datetime, datetime.datetime] | None:
        """``(start, end)`` when both are known."""
        if self.start is None or self.end is None:
            return None
        return (self.start, self.end)

    def __repr__(self) -> str:
        span = f"{display.moment(self.start)} to {display.moment(self.end)}: "
        return f"Calendar({span}{display.items_text(self, len(self))})"

    def _repr_html_(self) -> str:
        """The entries as an HTML table."""
        return html_views.calendar_html(self, self.span)

    def to_pandas(self) -> pd.DataFrame:
        """The entries as a pandas DataFrame, one row each (pandas imported on first use).

        Raises:
            MissingDependency: pandas is not installed
                (``pip install 'campaignkit[notebook]'``).
        """
        from campaignkit.notebook import frames  # noqa: PLC0415 - the shell's, on first use

        return frames.calendar_frame(self)

    def plot(self, ax: Axes | None = None) -> Axes:
        """Draw the calendar: a row per campaign, its on-air span and a dot per entry.

        Args:
            ax: The matplotlib axes to draw on; None for a new figure's
                (show it in a notebook with ``ax.figure``).

        Returns:
            The axes drawn on.

        Raises:
            MissingDependency: matplotlib is not installed
                (``pip install 'campaignkit[notebook]'``).
        """
        from campaignkit.notebook import plots  # noqa: PLC0415 - the shell's, on first use

        return plots.calendar_plot(self, self.span, ax)


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
