"""Listing campaigns: the query value, pages and opaque cursors.

Ordering is newest first: ``(created_at, id)`` descending. A cursor encodes
the last row's key, so pages never repeat or skip a campaign even while new
ones are created (they are newer, so they sort before the cursor).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Generic, TypeVar

import attrs
import pendulum

from campaignkit.domain import display, html_views
from campaignkit.domain.campaign import Campaign
from campaignkit.domain.campaign_enums import (
    DEFAULT_LIST_STATUSES,
    CampaignStatus,
    CampaignType,
)
from campaignkit.domain.channels import ChannelType
from campaignkit.errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_CURSOR_LENGTH = 512


@attrs.frozen
class Page(Generic[T]):
    """One page of results. Iterate it, or read ``items`` and ``next_cursor``.

    Attributes:
        items: The rows of this page.
        next_cursor: Pass as ``cursor=`` to get the next page; None on the last page.
    """

    items: tuple[T, ...]
    next_cursor: str | None = None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        """The first items (each in its own short repr), how many more, and the cursor."""
        shown = display.items_text(self.items, len(self.items))
        return f"Page(items={shown}, next_cursor={self.next_cursor!r})"

    def _campaigns(self) -> list[Campaign] | None:
        """The items when every one is a campaign, else None."""
        campaigns: list[Campaign] = [item for item in self.items if isinstance(item, Campaign)]
        return campaigns if len(campaigns) == len(self.items) else None

    def _repr_html_(self) -> str | None:
        """A page of campaigns as an HTML table (None, so plain text, for other items)."""
        campaigns = self._campaigns()
        if campaigns is None:
            return None
        return html_views.campaigns_html(campaigns, self.next_cursor)

    def to_pandas(self) -> pd.DataFrame:
        """The page as a pandas DataFrame: one row per campaign (per item).

        pandas is imported on first use, not with campaignkit.

        Raises:
            MissingDependency: pandas is not installed
                (``pip install 'campaignkit[notebook]'``).
        """
        from campaignkit.notebook import frames  # noqa: PLC0415 - the shell's, on first use

        campaigns = self._campaigns()
        if campaigns is None:
            return frames.items_frame(self.items)
        return frames.campaigns_frame(campaigns)


@attrs.frozen
class CampaignQuery:
    """What ``list_campaigns`` asks the store for.

    Attributes:
        statuses: Statuses to include (default DRAFT, SCHEDULED, LIVE).
        types: Campaign types to include; None for all.
        channels: Include campaigns with an action on any of these; None for all.
        tag: Include only campaigns carrying this tag.
        created_from: Created at or after this instant.
        created_to: Created strictly before this instant.
        search: Case-insensitive substring of the name.
        surface_id: Include only campaigns whose versions use this surface.
        limit: Page size (1 to 500).
        cursor: Continue after the page that returned this cursor.
    """

    statuses: frozenset[CampaignStatus] = DEFAULT_LIST_STATUSES
    types: frozenset[CampaignType] | None = None
    channels: frozenset[ChannelType] | None = None
    tag: str | None = None
    created_from: pendulum.DateTime | None = None
    created_to: pendulum.DateTime | None = None
    search: str | None = None
    surface_id: str | None = None
    limit: int = DEFAULT_PAGE_SIZE
    cursor: str | None = None

    def problems(self) -> list[str]:
        """Return what is wrong with this query (empty when valid)."""
        found = []
        if not 1 <= self.limit <= MAX_PAGE_SIZE:
            found.append(f"limit {self.limit} must be between 1 and {MAX_PAGE_SIZE}")
        if not self.statuses:
            found.append("statuses is empty; pass ALL_STATUSES to list every campaign")
        if (
            self.created_from is not None
            and self.created_to is not None
            and self.created_to <= self.created_from
        ):
            found.append("created_to must be after created_from")
        if self.cursor is not None:
            try:
                decode_cursor(self.cursor)
            except ValidationError as exc:
                found.extend(exc.problems)
        return found

    def matches(self, campaign: Campaign) -> bool:
        """True when ``campaign`` passes every filter (cursor and limit aside)."""
        return (
            campaign.status in self.statuses
            and (self.types is None or campaign.type in self.types)
            and (self.channels is None or bool(campaign.channels & self.channels))
            and (self.tag is None or self.tag in campaign.tags)
            and (self.created_from is None or campaign.created_at >= self.created_from)
            and (self.created_to is None or campaign.created_at < self.created_to)
            and (self.search is None or self.search.casefold() in campaign.name.casefold())
            and (self.surface_id is None or self.surface_id in campaign.surface_ids)
        )


SortKey = tuple[pendulum.DateTime, str]


def sort_key(campaign: Campaign) -> SortKey:
    """The listing key of a campaign; lists are sorted by it, descending."""
    return (campaign.created_at, campaign.id)


def encode_cursor(key: SortKey) -> str:
    """Encode a listing key as an opaque cursor string."""
    raw = json.dumps([key[0].isoformat(), key[1]]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def filtered_page(
    query: CampaignQuery,
    fetch: Callable[[CampaignQuery], Page[Campaign]],
    allowed: Callable[[Campaign], bool],
) -> Page[Campaign]:
    """One page of the campaigns matching ``query`` that ``allowed`` keeps.

    A per-campaign permission policy hides campaigns after the store has
    paged them, so store pages are read until this page is full (or the
    store is exhausted): a page is shorter than ``query.limit`` only when it
    is the last. One campaign past the page is looked for, so
    ``next_cursor`` is None exactly when no further campaign is kept. The
    cursor is the key of the last campaign returned: the next page neither
    repeats nor skips one, whatever the policy hid in between.

    Args:
        query: The caller's query (its ``limit`` is the page size).
        fetch: Returns one store page of a query.
        allowed: Whether the caller may see a campaign.
    """
    items: list[Campaign] = []
    probe = attrs.evolve(query, limit=min(MAX_PAGE_SIZE, query.limit + 1))
    while True:
        page = fetch(probe)
        for campaign in page.items:
            if not allowed(campaign):
                continue
            if len(items) == query.limit:
                return Page(tuple(items), encode_cursor(sort_key(items[-1])))
            items.append(campaign)
        if page.next_cursor is None:
            return Page(tuple(items), None)
        probe = attrs.evolve(probe, cursor=page.next_cursor)


def decode_cursor(cursor: str) -> SortKey:
    """Decode a cursor made by :func:`encode_cursor`.

    Raises:
        ValidationError: the cursor was not made by campaignkit.
    """
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError(cursor)
        padded = cursor + "=" * (-len(cursor) % 4)
        created, ident = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(created, str) or not isinstance(ident, str):
            raise TypeError(cursor)
        parsed = datetime.datetime.fromisoformat(created)  # our own isoformat(), no clock
        if parsed.tzinfo is None:
            raise TypeError(cursor)
        when = pendulum.instance(parsed)
    except (ValueError, TypeError, RecursionError, binascii.Error) as exc:
        raise ValidationError(
            [
                f"cursor {cursor!r} is not one returned by list_campaigns; "
                "pass the next_cursor of a previous page, or None for the first page"
            ]
        ) from exc
    return (when.in_timezone("UTC"), ident)
