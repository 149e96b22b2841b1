"""Making campaigns: create a new DRAFT, or duplicate any campaign into one."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import attrs
import pendulum

from campaignkit.domain import checks
from campaignkit.domain.campaign import Campaign, CampaignVersion, HistoryEntry, Verb
from campaignkit.domain.campaign_enums import CampaignStatus, CampaignType, Category
from campaignkit.domain.events import Outcome, changed_event
from campaignkit.errors import ValidationError


def normalize_tags(tags: Iterable[object]) -> tuple[str, ...]:
    """Strip tags, drop duplicates (keeping order).

    Raises:
        ValidationError: not a list of tags (a bare string is refused, not
            split into letters), more than ``MAX_TAGS``, or a tag that is not
            a non-empty UTF-8 string of at most ``MAX_TAG`` characters.
    """
    if isinstance(tags, str):
        raise ValidationError(
            [f"tags must be a list of strings, not the string {checks.shown(tags)}"]
        )
    given: object = tags if isinstance(tags, (list, tuple, set, frozenset)) else _as_tuple(tags)
    problems: list[str] = []
    if checks.collection(problems, "tags", given, max_items=checks.MAX_TAGS, what="strings"):
        assert isinstance(given, (list, tuple, set, frozenset))
        for index, tag in enumerate(given):
            if not isinstance(tag, str) or not tag.strip():
                problems.append(f"tag {checks.shown(tag)} must be a non-empty string")
            else:
                checks.text(problems, f"tags[{index}]", tag, max_length=checks.MAX_TAG)
    checks.raise_if(problems, "tags")
    assert isinstance(given, (list, tuple, set, frozenset))
    seen: dict[str, None] = {}
    for tag in given:
        seen.setdefault(tag.strip(), None)
    return tuple(seen)


def _as_tuple(value: object) -> object:
    """A one-shot iterable as a tuple; anything else as it is (for the check to name)."""
    if isinstance(value, Iterable) and not isinstance(value, (bytes, Mapping)):
        return tuple(value)
    return value


def check_name(name: object) -> str:
    """Return the stripped campaign name.

    Raises:
        ValidationError: not a non-empty UTF-8 string of at most ``MAX_NAME`` characters.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValidationError([f"campaign name {checks.shown(name)} must be a non-empty string"])
    problems: list[str] = []
    checks.text(problems, "campaign name", name.strip())
    checks.raise_if(problems, "campaign")
    return name.strip()


def copy_name(name: str) -> str:
    """The default name of a copy, ``"<name> (copy)"``, cut to fit ``MAX_NAME``."""
    suffix = " (copy)"
    return name[: checks.MAX_NAME - len(suffix)].rstrip() + suffix


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
    problems: list[str] = []
    checks.text(
        problems, "description", description, max_length=checks.MAX_DESCRIPTION, allow_empty=True
    )
    checks.boolean(problems, "create_profiles", create_profiles)
    checks.raise_if(problems, "campaign")
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
    return Outcome(campaign, (changed_event(campaign, entry),))


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
        name=name if name is not None else copy_name(source.name),
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
