"""Campaigns in memory, with the due and listing indexes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import attrs
import pendulum

from campaignkit.adapters.memory.tables import Journal, Tables, batches
from campaignkit.domain.campaign import Campaign
from campaignkit.domain.campaign_enums import CampaignStatus
from campaignkit.domain.listing import CampaignQuery, Page, decode_cursor, encode_cursor
from campaignkit.errors import ConflictError, NotFound, ValidationError


@attrs.define
class MemoryCampaigns:
    """The campaign repository of an in-memory unit of work."""

    tables: Tables
    journal: Journal

    def find(self, campaign_id: str) -> Campaign | None:
        """Return the campaign, or None."""
        return self.tables.campaigns.get(campaign_id)

    def status(self, campaign_id: str) -> CampaignStatus | None:
        """Return just the campaign's status, or None."""
        found = self.tables.campaigns.get(campaign_id)
        return None if found is None else found.status

    def get(self, campaign_id: str) -> Campaign:
        """Return the campaign; raise ``NotFound`` if there is none."""
        found = self.find(campaign_id)
        if found is None:
            raise NotFound("campaign", campaign_id)
        return found

    def _put(self, campaign: Campaign | None, previous: Campaign | None) -> None:
        self.tables.put_campaign(campaign, previous)
        self.journal.undo.append(lambda: self.tables.put_campaign(previous, campaign))

    def _current(self, campaign: Campaign, verb: str) -> Campaign:
        stored = self.find(campaign.id)
        if stored is None:
            raise ConflictError(f"cannot {verb} campaign {campaign.id!r}: it was removed meanwhile")
        if stored.revision != campaign.revision:
            raise ConflictError(
                f"cannot {verb} campaign {campaign.id!r}: it changed meanwhile "
                f"(revision {stored.revision}, yours {campaign.revision}); reload and retry"
            )
        return stored

    def add(self, campaign: Campaign) -> Campaign:
        """Store a new campaign at revision 1 (``ConflictError`` if it exists)."""
        if campaign.revision != 0:
            raise ValidationError([f"a new campaign must have revision 0, not {campaign.revision}"])
        if campaign.id in self.tables.campaigns:
            raise ConflictError(f"a campaign with id {campaign.id!r} exists already")
        stored = attrs.evolve(campaign, revision=1)
        self._put(stored, None)
        return stored

    def save(self, campaign: Campaign) -> Campaign:
        """Replace the campaign loaded at its revision (``ConflictError`` if stale)."""
        previous = self._current(campaign, "save")
        stored = attrs.evolve(campaign, revision=campaign.revision + 1)
        self._put(stored, previous)
        return stored

    def remove(self, campaign: Campaign) -> None:
        """Delete the campaign loaded at its revision (``ConflictError`` if stale)."""
        self._put(None, self._current(campaign, "remove"))

    def query(self, query: CampaignQuery) -> Page[Campaign]:
        """Return one page of campaigns matching ``query``, newest first."""
        problems = query.problems()
        if problems:
            raise ValidationError(problems, subject="campaign query")
        after = decode_cursor(query.cursor) if query.cursor is not None else None
        items: list[Campaign] = []
        for _, campaign_id in self.tables.by_created.below_desc(after):
            campaign = self.tables.campaigns[campaign_id]
            if query.matches(campaign):
                if len(items) == query.limit:
                    last = items[-1]
                    return Page(tuple(items), encode_cursor((last.created_at, last.id)))
                items.append(campaign)
        return Page(tuple(items), None)

    def scan(self, batch_size: int) -> Iterator[Sequence[Campaign]]:
        """Every campaign in id order, in batches (a snapshot taken at the start)."""
        campaigns = self.tables.campaigns
        return batches([campaigns[key] for key in sorted(campaigns)], batch_size)

    def restore(self, campaign: Campaign) -> None:
        """Store ``campaign`` as given, revision included, replacing one with its id."""
        self._put(campaign, self.find(campaign.id))

    def due(self, until: pendulum.DateTime, limit: int) -> Sequence[tuple[pendulum.DateTime, str]]:
        """Return up to ``limit`` ``(due_at, id)`` pairs due by ``until``, in order."""
        return self.tables.by_due.upto((until, "\U0010ffff"))[:limit]

    def next_due_at(self) -> pendulum.DateTime | None:
        """Return the earliest due instant, or None."""
        first = self.tables.by_due.first()
        return None if first is None else first[0]
