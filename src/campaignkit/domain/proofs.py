"""Proofs: who may receive one, the hourly cap, and the history entry that records it.

Pure functions (no clock, no store): the ``send_proof`` verb gathers the
campaign, the profiles and the suppressions, asks these functions, records
the returned history entry with the campaign, and only then hands the
messages to the channels.
"""

from __future__ import annotations

import itertools
import operator
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

import attrs
import pendulum

from campaignkit.domain.campaign import Campaign, HistoryEntry, Verb
from campaignkit.domain.campaign_enums import CampaignStatus
from campaignkit.domain.profile import Profile
from campaignkit.errors import TransitionNotAllowed, ValidationError

MAX_PROOF_PROFILES: Final = 10
"""Test profiles one ``send_proof`` call may name."""
PROOF_WINDOW: Final = pendulum.duration(hours=1)
"""The rolling window of the per-campaign proof cap."""
PROOF_STATUSES: Final = frozenset(
    {CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.LIVE}
)
"""Statuses in which a campaign's newest version can be proofed."""

_COUNT = re.compile(r"(\d+) proof message")


def require_proofable(campaign: Campaign) -> None:
    """Refuse a proof of a campaign that is not DRAFT, SCHEDULED or LIVE.

    Raises:
        TransitionNotAllowed: any other status (in review, finished, stopped, ...).
    """
    if campaign.status not in PROOF_STATUSES:
        raise TransitionNotAllowed(
            campaign.id,
            campaign.status.value,
            "send_proof",
            "proofs are sent for DRAFT, SCHEDULED and LIVE campaigns only",
        )


def count_problems(profile_ids: Sequence[str]) -> list[str]:
    """Refuse a proof to no profile or to more than :data:`MAX_PROOF_PROFILES`."""
    if 1 <= len(profile_ids) <= MAX_PROOF_PROFILES:
        return []
    return [
        f"profile_ids: send a proof to 1 to {MAX_PROOF_PROFILES} profiles, not {len(profile_ids)}"
    ]


def recipient_problems(profile_ids: Sequence[str], found: Mapping[str, Profile]) -> list[str]:
    """What forbids a proof to ``profile_ids`` (empty when every one is a known test profile).

    Args:
        profile_ids: The distinct ids the caller named.
        found: The stored profiles among them, by id.
    """
    problems: list[str] = []
    for pid in profile_ids:
        profile = found.get(pid)
        if profile is None:
            problems.append(f"profile_ids: profile {pid!r} does not exist")
        elif not profile.test:
            problems.append(
                f"profile_ids: profile {pid!r} is not a test profile; proofs go only to "
                "profiles stored with Profile(test=True)"
            )
    return problems


def proof_messages(entry: HistoryEntry) -> int:
    """How many proof messages a history entry recorded (0 for any other entry)."""
    if entry.action is not Verb.PROOF:
        return 0
    match = _COUNT.match(entry.detail)
    return int(match.group(1)) if match else 0


def _recent(history: Iterable[HistoryEntry], now: pendulum.DateTime) -> list[HistoryEntry]:
    since = now - PROOF_WINDOW
    return sorted(
        (e for e in history if e.action is Verb.PROOF and e.at > since), key=lambda e: e.at
    )


def _cost(entry: HistoryEntry) -> int:
    """What a recorded proof costs of the cap: its messages, at least one.

    A proof that sent nothing (every address suppressed) still costs one, so
    the history a campaign keeps cannot grow without bound.
    """
    return max(1, proof_messages(entry))


def used_within_hour(campaign: Campaign, now: pendulum.DateTime) -> int:
    """How much of the cap ``campaign`` used in the rolling hour before ``now``."""
    return sum(_cost(e) for e in _recent(campaign.history, now))


def cap_problems(
    campaign: Campaign, now: pendulum.DateTime, messages: int, per_hour: int
) -> list[str]:
    """Refuse a proof of ``messages`` messages if it would exceed ``per_hour``.

    Every proof costs its messages, at least one. The message says when
    enough of the hour's proofs have aged out for this proof to fit.
    """
    recent = _recent(campaign.history, now)
    used, needed = sum(_cost(e) for e in recent), max(1, messages)
    if used + needed <= per_hour:
        return []
    problem = (
        f"profile_ids: campaign {campaign.id!r} has used {used} of its {per_hour} proof "
        f"messages per hour (DeliverySettings.proofs_per_hour); this proof needs {needed}"
    )
    if needed <= per_hour:
        # still used after the oldest 0, 1, 2, ... entries age out; the last one fits
        left = itertools.accumulate((_cost(e) for e in recent), operator.sub, initial=used)
        aged = next(n for n, count in enumerate(left) if count + needed <= per_hour)
        problem += f"; retry after {(recent[aged - 1].at + PROOF_WINDOW).isoformat()}"
    return [problem]


def proof_entry(
    campaign: Campaign,
    *,
    now: pendulum.DateTime,
    actor: str,
    messages: int,
    recipients: Sequence[str],
    suppressed: Sequence[str] = (),
) -> HistoryEntry:
    """The history entry recording a proof.

    Its detail starts with the message count (the cap is counted from it),
    then names the recipients and any suppressed test profiles.

    Args:
        campaign: The proofed campaign (its status is kept).
        now: When the proof was sent.
        actor: Who sent it.
        messages: Messages handed to channels.
        recipients: The test profiles named.
        suppressed: Test profiles left out because their address is suppressed.
    """
    plural = "" if messages == 1 else "s"
    detail = f"{messages} proof message{plural} of version {campaign.newest_version.number} "
    detail += f"to {', '.join(recipients)}"
    if suppressed:
        detail += f"; suppressed, not sent: {', '.join(suppressed)}"
    return HistoryEntry(
        at=now,
        actor=actor,
        action=Verb.PROOF,
        from_status=campaign.status,
        to_status=campaign.status,
        detail=detail,
    )


def with_proof(campaign: Campaign, entry: HistoryEntry) -> Campaign:
    """``campaign`` with ``entry`` appended to its history (nothing else changes)."""
    return attrs.evolve(campaign, history=(*campaign.history, entry))


def check_cap(_instance: object, _attribute: object, value: object) -> None:
    """Attrs validator of ``DeliverySettings.proofs_per_hour``: a whole number, at least 1.

    Raises:
        ValidationError: anything else (0 would forbid proofs; use permissions for that).
    """
    if type(value) is not int or value < 1:
        raise ValidationError(
            [f"proofs_per_hour must be a whole number of messages, at least 1, not {value!r}"],
            subject="delivery settings",
        )
