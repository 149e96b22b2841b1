"""Lifecycle guards: the checks beyond the transition table, and the refusals they raise."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from campaignkit.domain.campaign import Campaign, CampaignVersion, Verb
from campaignkit.domain.campaign_enums import CampaignStatus, CampaignType
from campaignkit.domain.transitions import S, allowed_from
from campaignkit.errors import TransitionNotAllowed

_HINTS: Final[Mapping[tuple[Verb, CampaignStatus], str]] = {
    (Verb.ACTIVATE, S.LIVE): "it is already live; modify() it to open a new version",
    (Verb.ACTIVATE, S.SCHEDULED): "it is already scheduled; modify() it to open a new version",
    (Verb.DELETE, S.ARCHIVED): "archived campaigns are purged after the retention period",
}
_STATUS_HINTS: Final[Mapping[CampaignStatus, str]] = {
    S.IN_REVIEW: "it is in review and read-only; cancel_approval() or wait for the reviewer",
    S.STOPPED: "a stopped campaign can never be activated, edited or reused; duplicate() it",
    S.COMPLETED: "it has completed; duplicate() it to run it again",
    S.ARCHIVED: "it is archived; duplicate() it to run it again",
    S.FAILED: "it failed; duplicate() it to try again",
}


def refuse(campaign: Campaign, verb: Verb, hint: str | None = None) -> TransitionNotAllowed:
    """The error refusing ``verb`` on ``campaign``, with a hint at what to do instead.

    Args:
        campaign: The campaign as it is.
        verb: The refused action.
        hint: Why, and what to do; by default a hint for the status, or the
            statuses the verb is allowed from.

    Returns:
        The error to raise.
    """
    if hint is None:
        hint = _HINTS.get((verb, campaign.status)) or _STATUS_HINTS.get(campaign.status, "")
        allowed = sorted(s.value for s in allowed_from(verb))
        if allowed and not hint:
            hint = f"{verb} is allowed only from {', '.join(allowed)}"
    return TransitionNotAllowed(campaign.id, campaign.status.value, verb.value, hint)


def require_open_draft(campaign: Campaign, verb: Verb) -> CampaignVersion:
    """The campaign's open draft version.

    Args:
        campaign: The campaign.
        verb: The action that needs the draft.

    Returns:
        The draft version.

    Raises:
        TransitionNotAllowed: it has no open draft.
    """
    draft = campaign.draft_version
    if draft is None:
        raise refuse(campaign, verb, "it has no open draft version; modify() it first")
    return draft


def require_not_in_review(campaign: Campaign, verb: Verb) -> None:
    """Refuse ``verb`` while the open draft is in review (read-only).

    Args:
        campaign: The campaign.
        verb: The action.

    Raises:
        TransitionNotAllowed: the draft is in review.
    """
    if campaign.draft_in_review:
        raise refuse(
            campaign,
            verb,
            "its draft version is in review and read-only; cancel_approval() first",
        )


def require_run_not_started(campaign: Campaign, verb: Verb) -> None:
    """A one-shot scheduled campaign that is LIVE has started its run: no new version."""
    if (
        campaign.status is S.LIVE
        and campaign.type is CampaignType.SCHEDULED
        and not campaign.is_recurring
    ):
        raise refuse(
            campaign, verb, "its one-shot run has started; duplicate() it to send a changed copy"
        )


def require_keeps_recurring(campaign: Campaign, verb: Verb) -> None:
    """A LIVE recurring campaign cannot turn one-shot: its one run would be in the past."""
    draft = campaign.draft_version
    if (
        campaign.status is S.LIVE
        and campaign.type is CampaignType.SCHEDULED
        and draft is not None
        and not draft.schedule.is_recurring
    ):
        raise refuse(
            campaign,
            verb,
            "a live recurring campaign cannot become one-shot; keep a recurrence, "
            "or stop it and duplicate() it",
        )


_OPENS_VERSION: Final = frozenset({Verb.CREATE, Verb.DUPLICATE, Verb.MODIFY})
"""History actions that open a new draft version."""


def draft_editors(campaign: Campaign) -> frozenset[str]:
    """Everyone who wrote the campaign's open draft version (the one a review is about).

    Read from the history, newest first: every ``update_draft`` back to the
    entry that opened the version (``create``, ``duplicate`` or ``modify``),
    whose actor counts too, as does the version's ``created_by``. Edits of a
    draft discarded earlier are not included: that content is gone.
    """
    editors: set[str] = set()
    if campaign.draft_version is not None:
        editors.add(campaign.draft_version.created_by)
    for entry in reversed(campaign.history):
        if entry.action is Verb.UPDATE_DRAFT:
            editors.add(entry.actor)
        elif entry.action in _OPENS_VERSION:
            editors.add(entry.actor)
            break
    return frozenset(editors)


def require_review(campaign: Campaign, verb: Verb) -> None:
    """Refuse ``verb`` unless something is in review.

    Args:
        campaign: The campaign.
        verb: The review action.

    Raises:
        TransitionNotAllowed: nothing is in review.
    """
    if campaign.review is None:
        raise refuse(campaign, verb, "nothing is in review")


def pending_version(campaign: Campaign, verb: Verb) -> CampaignVersion:
    """The version that activating, requesting approval or approving would run.

    Use it to validate before applying the command.

    Raises:
        TransitionNotAllowed: ``verb`` cannot act on this campaign now.
    """
    if verb not in (Verb.ACTIVATE, Verb.REQUEST_APPROVAL, Verb.APPROVE):
        raise ValueError(f"{verb} does not run a version")
    draft = campaign.draft_version
    if campaign.status is S.DRAFT and verb is not Verb.APPROVE and draft is not None:
        return draft
    if campaign.status is S.IN_REVIEW and verb is Verb.APPROVE and draft is not None:
        return draft
    if campaign.status in (S.SCHEDULED, S.LIVE) and draft is not None:
        if verb is Verb.APPROVE:
            require_review(campaign, verb)
        else:
            require_not_in_review(campaign, verb)
        require_run_not_started(campaign, verb)
        require_keeps_recurring(campaign, verb)
        return draft
    if campaign.status in (S.SCHEDULED, S.LIVE):
        if verb is Verb.APPROVE:
            raise refuse(campaign, verb, "nothing is in review")
        raise refuse(campaign, verb, _HINTS[(Verb.ACTIVATE, campaign.status)])
    raise refuse(campaign, verb)
