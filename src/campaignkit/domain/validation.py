"""Activation validation: every problem that keeps a version from running.

Drafts may hold anything; activation (and approval) call
:func:`activation_problems` and refuse with one ``ValidationError`` listing
all of them. Pure: lookups are passed in already resolved.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pendulum

from campaignkit.domain.audience import AudienceStatus
from campaignkit.domain.campaign import Campaign, CampaignVersion
from campaignkit.domain.campaign_enums import CampaignType
from campaignkit.domain.schedule import Schedule, schedule_problems
from campaignkit.domain.surface import ChannelSurface

TemplateCheck = Callable[[str], "str | None"]
"""Returns why a template source cannot be used, or None when it compiles."""


def activation_problems(
    campaign: Campaign,
    version: CampaignVersion,
    *,
    now: pendulum.DateTime,
    surfaces: Mapping[str, ChannelSurface],
    audience_status: AudienceStatus | None,
    check_template: TemplateCheck,
    check_start: bool = True,
) -> list[str]:
    """Return every problem that prevents ``version`` of ``campaign`` from running.

    Args:
        campaign: The campaign (gives type and category).
        version: The version to validate.
        now: The activation instant.
        surfaces: The surfaces the actions reference, by id (missing ones absent).
        audience_status: The readiness of ``version.audience``; None if it is unknown.
        check_template: Compiles a template source; returns a problem or None.
        check_start: False for a new version of a running campaign.
    """
    problems: list[str] = []
    if not version.actions:
        problems.append("the campaign has no action: add at least one channel action")
    seen_ids: set[str] = set()
    for number, action in enumerate(version.actions, start=1):
        label = f"action {number} ({action.channel})"
        if action.id in seen_ids:
            problems.append(f"{label}: id {action.id!r} is used by another action")
        seen_ids.add(action.id)
        surface = surfaces.get(action.surface_id)
        if surface is None:
            problems.append(f"{label}: surface {action.surface_id!r} does not exist")
        else:
            if not surface.is_active:
                problems.append(
                    f"{label}: surface {surface.name!r} is deactivated; pick an active surface"
                )
            if surface.channel is not action.channel:
                problems.append(
                    f"{label}: surface {surface.name!r} is for {surface.channel}, "
                    f"but the content is {action.channel} content"
                )
            if surface.category is not campaign.category:
                problems.append(
                    f"{label}: surface {surface.name!r} serves {surface.category} messages, "
                    f"but the campaign is {campaign.category}"
                )
        for field, source in action.content.templates().items():
            problem = check_template(source)
            if problem is not None:
                problems.append(f"{label} {field}: {problem}")
    problems.extend(_audience_problems(campaign, version, audience_status))
    if not version.namespace:
        problems.append("no identity namespace: choose the namespace the audience is keyed by")
    if campaign.type is CampaignType.API_TRIGGERED and version.schedule.is_recurring:
        problems.append("an API-triggered campaign cannot have a recurrence; remove it")
    problems.extend(schedule_problems(version.schedule, now=now, check_start=check_start))
    anchor = now if check_start else campaign.activated_at or now
    problems.extend(occurrence_problems(version.schedule, now=now, anchor=anchor))
    return problems


def occurrence_problems(
    schedule: Schedule, *, now: pendulum.DateTime, anchor: pendulum.DateTime
) -> list[str]:
    """Why a recurring ``schedule`` would never fire from ``now`` (an empty list when it fires).

    A campaign on such a schedule would go LIVE and wait for ever (or until
    its end) without sending anything: ``FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30``,
    a ``COUNT`` already used up, or an end before the first occurrence. An end
    that is not after the start or now is reported by ``schedule_problems``
    and not again here.

    Args:
        schedule: The schedule to check.
        now: The activation instant.
        anchor: What a schedule without a start counts from (the activation).
    """
    if schedule.recurrence is None:
        return []
    first_from = max(now, schedule.start or now)
    end = schedule.end
    if end is not None and end <= first_from:
        return []  # an end in the past or before the start: already reported
    after = first_from.subtract(microseconds=1)
    if next(schedule.occurrences(after=after, anchor=anchor), None) is not None:
        return []
    if end is not None:
        return [
            f"schedule recurrence has no occurrence between {first_from.isoformat()} and "
            f"its end {end.isoformat()}: move the end later or change the rule"
        ]
    return [
        f"schedule recurrence never fires: it has no occurrence from {first_from.isoformat()}; "
        "check the rule (BYMONTH=2;BYMONTHDAY=30, for example, names a day that does not exist)"
    ]


def _audience_problems(
    campaign: Campaign, version: CampaignVersion, status: AudienceStatus | None
) -> list[str]:
    needs_audience = campaign.type is CampaignType.SCHEDULED
    if version.audience is None:
        return ["no audience: choose the audience to send to"] if needs_audience else []
    if status is None:
        return [f"audience {version.audience!r} does not exist"]
    if status is AudienceStatus.NOT_READY:
        return [f"audience {version.audience!r} is not ready yet; activate once it is computed"]
    return []
