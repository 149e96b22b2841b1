"""Making campaigns: create a new DRAFT, or duplicate any campaign into one."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs
import pendulum

from campaignkit.domain.campaign import Campaign, CampaignVersion, HistoryEntry, Verb
from campaignkit.domain.campaign_enums import CampaignStatus, CampaignType, Category
from campaignkit.domain.events import CampaignChanged, Outcome
from campaignkit.errors import ValidationError


def normalize_tags(tags: Iterable[object]) -> tuple[str, ...]:
    """Strip tags, drop duplicates (keeping order); refuse empty or non-string tags."""
    if isinstance(tags, str):
        raise ValidationError([f"tags must be a list of strings, not the string {tags!r}"])
    seen: dict[str, None] = {}
    problems = []
    for tag in tags:
        text = tag.strip() if isinstance(tag, str) else None
        if not text:
            problems.append(f"tag {tag!r} must be a non-empty string")
            continue
        seen.setdefault(text, None)
    if problems:
        raise ValidationError(problems)
    return tuple(seen)


def check_name(name: object) -> str:
    """Return the stripped campaign name; refuse an empty or non-string one."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError([f"campaign name {name!r} must be a non-empty string"])
    return name.strip()


def create(
    *,
    campaign_id: str,
    name: str,
    type: CampaignType,
    category: Category,
    version: CampaignVersion,
    now: pendulum.DateTime,
    actor: str,
    description: str = "",
    tags: Sequence[str] = (),
    detail: str = "",
    verb: Verb = Verb.CREATE,
    create_profiles: bool = False,
) -> Outcome:
    """Make a new DRAFT campaign.

    Raises:
        ValidationError: empty name or tags, TRANSACTIONAL on a SCHEDULED
            campaign, or ``create_profiles`` on anything but an API-triggered
            transactional campaign.
    """
    clean_name = check_name(name)
    if category is Category.TRANSACTIONAL and type is not CampaignType.API_TRIGGERED:
        raise ValidationError(
            [
                "category TRANSACTIONAL is only allowed for API_TRIGGERED campaigns; "
                "use Category.MARKETING or type CampaignType.API_TRIGGERED"
            ]
        )
    if create_profiles and category is not Category.TRANSACTIONAL:
        raise ValidationError(["create_profiles is only for API-triggered TRANSACTIONAL campaigns"])
    entry = HistoryEntry(now, actor, verb, None, CampaignStatus.DRAFT, detail)
    campaign = Campaign(
        id=campaign_id,
        name=clean_name,
        type=type,
        category=category,
        status=CampaignStatus.DRAFT,
        created_at=now,
        created_by=actor,
        updated_at=now,
        description=description,
        tags=normalize_tags(tags),
        create_profiles=create_profiles,
        draft_version=version,
        history=(entry,),
    )
    return Outcome(campaign, (CampaignChanged(campaign_id, entry),))


def duplicate(
    source: Campaign,
    *,
    campaign_id: str,
    name: str | None,
    now: pendulum.DateTime,
    actor: str,
) -> Outcome:
    """Copy the newest version of ``source`` (any status) into a new DRAFT campaign."""
    newest = source.newest_version
    version = attrs.evolve(newest, number=1, created_at=now, created_by=actor)
    return create(
        campaign_id=campaign_id,
        name=name if name is not None else f"{source.name} (copy)",
        type=source.type,
        category=source.category,
        version=version,
        now=now,
        actor=actor,
        description=source.description,
        tags=source.tags,
        detail=f"from {source.id} version {newest.number}",
        verb=Verb.DUPLICATE,
        create_profiles=source.create_profiles,
    )
