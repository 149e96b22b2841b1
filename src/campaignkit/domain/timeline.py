"""When lifecycle work falls due: the time rules, completion, run starts, occurrences.

Pure: every function takes the instants it needs; none reads a clock.
"""

from __future__ import annotations

from typing import Literal

import attrs
import pendulum

from campaignkit.domain.campaign import Campaign
from campaignkit.domain.campaign_enums import CampaignStatus, CampaignType
from campaignkit.domain.recurrence import earliest_slot
from campaignkit.domain.schedule import Schedule

S = CampaignStatus


@attrs.frozen
class LifecycleRules:
    """Time rules of the lifecycle (SPEC section 2).

    Attributes:
        completion_after: A one-shot campaign completes this long after it went live.
        archive_retention: An ARCHIVED campaign is purged this long after its last change.
        missed_occurrences: What the engine does with occurrences of a recurring
            campaign it missed (downtime): ``"latest"`` runs only the latest one and
            records the others as skipped runs; ``"all"`` runs every one (each
            still limited by the send window).
    """

    completion_after: pendulum.Duration = attrs.field(factory=lambda: pendulum.duration(days=3))
    archive_retention: pendulum.Duration = attrs.field(factory=lambda: pendulum.duration(days=30))
    missed_occurrences: Literal["latest", "all"] = "latest"


def completion_at(campaign: Campaign, rules: LifecycleRules) -> pendulum.DateTime | None:
    """When a LIVE campaign completes, or None if it runs until stopped.

    A one-shot scheduled campaign completes ``completion_after`` after it went
    live, or at its end date if that comes first, and never before its run
    has finished (unless the end date cuts the run off). A recurring or
    API-triggered campaign completes at its end date; with profile time zones,
    not before its scheduled runs have delivered every zone.
    """
    version = campaign.live_version
    if version is None or campaign.went_live_at is None:
        return None
    end = version.schedule.end
    if campaign.type is CampaignType.SCHEDULED and not version.schedule.is_recurring:
        if campaign.open_runs:
            return end
        by_clock = campaign.went_live_at + rules.completion_after
        if campaign.runs_finished_at is not None:
            by_clock = max(by_clock, campaign.runs_finished_at)
        return by_clock if end is None else min(by_clock, end)
    if end is not None and version.schedule.use_profile_timezone:
        # every time zone of the occurrences before the end is delivered first
        if campaign.open_runs:
            return None
        if campaign.runs_finished_at is not None:
            return max(end, campaign.runs_finished_at)
    return end


def run_start(schedule: Schedule, nominal: pendulum.DateTime) -> pendulum.DateTime:
    """When a run standing for ``nominal`` starts.

    At ``nominal``; for profile-time-zone delivery, when that wall-clock time
    first comes anywhere (UTC+14).
    """
    if schedule.use_profile_timezone:
        return earliest_slot(nominal, schedule.timezone)
    return nominal


def first_occurrence(
    schedule: Schedule,
    not_before: pendulum.DateTime,
    anchor: pendulum.DateTime | None = None,
) -> pendulum.DateTime | None:
    """The first occurrence of a recurring schedule at or after ``not_before``.

    ``anchor`` anchors a schedule without a start (see ``Schedule.occurrences``).
    """
    after = not_before.subtract(microseconds=1)
    return next(schedule.occurrences(after=after, anchor=anchor), None)


def next_due(campaign: Campaign, rules: LifecycleRules) -> pendulum.DateTime | None:
    """When the engine next has lifecycle work for ``campaign`` (None: never)."""
    status = campaign.status
    version = campaign.live_version
    if status is S.ACTIVATING:
        return campaign.activated_at
    if status is S.SCHEDULED:
        if version is None:
            return None
        start = version.schedule.start
        return campaign.activated_at if start is None else run_start(version.schedule, start)
    if status is S.LIVE:
        times = [completion_at(campaign, rules)]
        if campaign.next_occurrence_at is not None and version is not None:
            times.append(run_start(version.schedule, campaign.next_occurrence_at))
        return min((t for t in times if t is not None), default=None)
    if status is S.ARCHIVED:
        return campaign.updated_at + rules.archive_retention
    return None


def run_started(campaign: Campaign, rules: LifecycleRules) -> Campaign:
    """The campaign with one more open run (its completion waits for it)."""
    started = attrs.evolve(campaign, open_runs=campaign.open_runs + 1)
    return attrs.evolve(started, due_at=next_due(started, rules))


def run_finished(campaign: Campaign, at: pendulum.DateTime, rules: LifecycleRules) -> Campaign:
    """The campaign with one open run fewer, finished ``at``."""
    finished = attrs.evolve(campaign, open_runs=max(0, campaign.open_runs - 1), runs_finished_at=at)
    return attrs.evolve(finished, due_at=next_due(finished, rules))
