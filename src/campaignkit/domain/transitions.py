"""The campaign lifecycle's transition table: which verb may go from which status to which."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, TypeAlias

from campaignkit.domain.campaign import Verb
from campaignkit.domain.campaign_enums import CampaignStatus

S = CampaignStatus
SYSTEM_ACTOR: Final = "system"
"""The actor recorded for transitions made by the engine."""

Targets: TypeAlias = frozenset[CampaignStatus]
"""Statuses a verb may lead to; empty for verbs that remove the campaign."""


def _same(*statuses: CampaignStatus) -> dict[CampaignStatus, Targets]:
    return {s: frozenset({s}) for s in statuses}


TRANSITIONS: Final[Mapping[Verb, Mapping[CampaignStatus, Targets]]] = {
    Verb.DUPLICATE: _same(*CampaignStatus),
    Verb.UPDATE_DRAFT: _same(S.DRAFT, S.SCHEDULED, S.LIVE),
    Verb.DELETE: {S.DRAFT: frozenset()},
    Verb.ACTIVATE: {S.DRAFT: frozenset({S.ACTIVATING})},
    Verb.MODIFY: _same(S.SCHEDULED, S.LIVE),
    Verb.DISCARD_DRAFT: _same(S.SCHEDULED, S.LIVE),
    Verb.ACTIVATE_VERSION: _same(S.SCHEDULED, S.LIVE),
    Verb.REQUEST_APPROVAL: {S.DRAFT: frozenset({S.IN_REVIEW}), **_same(S.SCHEDULED, S.LIVE)},
    Verb.CANCEL_APPROVAL: {S.IN_REVIEW: frozenset({S.DRAFT}), **_same(S.SCHEDULED, S.LIVE)},
    Verb.REQUEST_CHANGES: {S.IN_REVIEW: frozenset({S.DRAFT}), **_same(S.SCHEDULED, S.LIVE)},
    Verb.APPROVE: {S.IN_REVIEW: frozenset({S.ACTIVATING}), **_same(S.SCHEDULED, S.LIVE)},
    Verb.PREPARE: {S.ACTIVATING: frozenset({S.SCHEDULED, S.LIVE, S.FAILED})},
    Verb.GO_LIVE: {S.SCHEDULED: frozenset({S.LIVE})},
    Verb.COMPLETE: {S.LIVE: frozenset({S.COMPLETED})},
    Verb.FAIL: {S.ACTIVATING: frozenset({S.FAILED}), S.LIVE: frozenset({S.FAILED})},
    Verb.STOP: {S.SCHEDULED: frozenset({S.STOPPED}), S.LIVE: frozenset({S.STOPPED})},
    Verb.ARCHIVE: {s: frozenset({S.ARCHIVED}) for s in (S.COMPLETED, S.STOPPED, S.FAILED)},
    Verb.PURGE: {S.ARCHIVED: frozenset()},
}
"""Every allowed (verb, from-status) pair and the statuses it may lead to.

``CREATE`` is absent: it makes a new ``DRAFT`` and has no from-status.
Anything not listed raises ``TransitionNotAllowed``. Some entries also have a
guard (for example, ``ACTIVATE_VERSION`` needs an open draft), see ``apply``.
"""

REACHABLE_STATUSES: Final[frozenset[CampaignStatus]] = frozenset(
    {S.DRAFT}
    | {target for table in TRANSITIONS.values() for targets in table.values() for target in targets}
)
"""Statuses a campaign can ever be in (all nine)."""


def allowed_from(verb: Verb) -> frozenset[CampaignStatus]:
    """Statuses from which ``verb`` is allowed by the table (guards aside).

    Args:
        verb: The action.

    Returns:
        Its from-statuses (empty for ``CREATE``).
    """
    return frozenset(TRANSITIONS.get(verb, {}))


DUE_VERBS: Final[Mapping[CampaignStatus, Verb]] = {
    S.ACTIVATING: Verb.PREPARE,
    S.SCHEDULED: Verb.GO_LIVE,
    S.LIVE: Verb.COMPLETE,
    S.ARCHIVED: Verb.PURGE,
}
"""The engine command that runs when a campaign in each status falls due."""
