"""Creating and duplicating campaigns, and normalizing their tags."""

from __future__ import annotations

import copy

import attrs
import pytest

import campaignkit as ck
from campaignkit.domain.lifecycle import (
    create,
    duplicate,
    normalize_tags,
)
from tests.factories import T0, campaign_in
from tests.unit.transitions.support import ACTOR, NOW, S, V

# ---------------------------------------------------------------- create and duplicate


def version() -> ck.CampaignVersion:
    return ck.CampaignVersion(number=1, created_at=T0, created_by="ada", audience="vip")


def test_create_makes_a_draft_with_a_create_entry() -> None:
    outcome = create(
        campaign_id="c1",
        name="  Reset  ",
        type=ck.CampaignType.API_TRIGGERED,
        category=ck.Category.TRANSACTIONAL,
        version=version(),
        now=NOW,
        actor=ACTOR,
        tags=(" a ", "a"),
    )

    campaign = outcome.campaign
    assert (campaign.id, campaign.name, campaign.status, campaign.tags) == (
        "c1",
        "Reset",
        S.DRAFT,
        ("a",),
    )
    assert (campaign.draft_version, campaign.live_version) == (version(), None)
    assert campaign.history == (ck.HistoryEntry(NOW, ACTOR, V.CREATE, None, S.DRAFT),)
    assert outcome.events == (ck.CampaignChanged("c1", campaign.history[0]),)
    assert campaign.due_at is None


def test_create_refuses_transactional_for_a_scheduled_type() -> None:
    with pytest.raises(ck.ValidationError, match="TRANSACTIONAL") as caught:
        create(
            campaign_id="c1",
            name="Promo",
            type=ck.CampaignType.SCHEDULED,
            category=ck.Category.TRANSACTIONAL,
            version=version(),
            now=NOW,
            actor=ACTOR,
        )
    assert len(caught.value.problems) == 1


def test_create_refuses_an_empty_name() -> None:
    with pytest.raises(ck.ValidationError, match="name"):
        create(
            campaign_id="c1",
            name=" ",
            type=ck.CampaignType.SCHEDULED,
            category=ck.Category.MARKETING,
            version=version(),
            now=NOW,
            actor=ACTOR,
        )


KEPT_DRAFT = frozenset({S.SCHEDULED, S.LIVE, S.STOPPED, S.COMPLETED, S.FAILED, S.ARCHIVED})
"""Statuses in which a campaign may hold a draft beside its live version."""


def source_in(status: S) -> ck.Campaign:
    """A campaign in ``status`` with tags and description and, beside a live version, a draft.

    A STOPPED, COMPLETED, FAILED or ARCHIVED campaign keeps the draft that was
    open when its run ended (docs/decisions/foundation.md); duplicate copies it.
    """
    campaign = campaign_in(status, open_draft=status in KEPT_DRAFT)
    if campaign.live_version is not None and campaign.draft_version is not None:
        campaign = attrs.evolve(
            campaign, draft_version=attrs.evolve(campaign.draft_version, audience="gold")
        )
    return attrs.evolve(campaign, tags=("vip",), description="desc")


@pytest.mark.parametrize("status", list(S), ids=str)
def test_duplicate_works_from_every_status_and_copies_the_newest_version(status: S) -> None:
    source = source_in(status)
    snapshot = copy.deepcopy(source)

    outcome = duplicate(source, campaign_id="cmp2", name=None, now=NOW, actor=ACTOR)

    assert source == snapshot
    copy_ = outcome.campaign
    newest = source.draft_version if source.draft_version is not None else source.live_version
    assert newest is not None
    assert (copy_.id, copy_.name, copy_.status) == ("cmp2", "C (copy)", S.DRAFT)
    assert (copy_.type, copy_.category, copy_.tags, copy_.description) == (
        source.type,
        source.category,
        ("vip",),
        "desc",
    )
    assert copy_.live_version is None
    assert copy_.draft_version == attrs.evolve(newest, number=1, created_at=NOW, created_by=ACTOR)
    if status in KEPT_DRAFT:
        assert copy_.draft_version.audience == "gold"
        assert newest.number == 2
    assert (copy_.created_at, copy_.created_by, copy_.revision) == (NOW, ACTOR, 0)
    assert [(e.action, e.from_status, e.to_status) for e in copy_.history] == [
        (V.DUPLICATE, None, S.DRAFT)
    ]
    assert copy_.history[0].detail == f"from cmp version {newest.number}"
    assert outcome.events == (ck.CampaignChanged("cmp2", copy_.history[0]),)


def test_duplicate_of_a_campaign_without_draft_copies_the_live_version() -> None:
    source = campaign_in(S.COMPLETED)

    outcome = duplicate(source, campaign_id="c2", name=None, now=NOW, actor=ACTOR)

    assert source.live_version is not None
    assert outcome.campaign.draft_version == attrs.evolve(
        source.live_version, created_at=NOW, created_by=ACTOR
    )


def test_duplicate_takes_the_given_name() -> None:
    outcome = duplicate(campaign_in(S.LIVE), campaign_id="c2", name="Again", now=NOW, actor=ACTOR)

    assert outcome.campaign.name == "Again"


# ---------------------------------------------------------------- tags


def test_normalize_tags_strips_and_dedups_in_order() -> None:
    assert normalize_tags([" vip ", "sale", "vip", "sale "]) == ("vip", "sale")
    assert normalize_tags(()) == ()


@pytest.mark.parametrize("tags", [[""], ["  "], ["ok", 3]], ids=["empty", "blank", "not-a-str"])
def test_normalize_tags_refuses_empty_and_non_string_tags(tags: list[object]) -> None:
    with pytest.raises(ck.ValidationError, match="non-empty string"):
        normalize_tags(tags)


def test_normalize_tags_lists_every_bad_tag() -> None:
    with pytest.raises(ck.ValidationError) as caught:
        normalize_tags(["", "ok", None])

    assert len(caught.value.problems) == 2


def test_normalize_tags_refuses_a_bare_string() -> None:
    with pytest.raises(ck.ValidationError, match="not the string 'vip'"):
        normalize_tags("vip")
