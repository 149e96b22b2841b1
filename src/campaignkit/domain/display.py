"""Short text reprs of the values a notebook or a debugger shows.

The default attrs repr of a campaign spells out every version, action,
content and history entry (thousands of characters); these reprs name a
value and its key facts in one line. Enumerations inside them are shown by
value (``status=LIVE``), date-times as compact UTC ISO text
(``2026-12-02T09:00Z``), and free text and mappings are cut short.

Pure functions: the classes' ``__repr__`` methods call them.
"""

from __future__ import annotations

import datetime
import enum
import reprlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from campaignkit.domain.approval import ApprovalEntry
    from campaignkit.domain.calendar import CalendarEntry
    from campaignkit.domain.campaign import Campaign, CampaignVersion, HistoryEntry
    from campaignkit.domain.delivery import ActionCounts, Run
    from campaignkit.domain.profile import Profile
    from campaignkit.domain.schedule import Schedule
    from campaignkit.domain.surface import ChannelSurface

MAX_TEXT: Final = 40
"""Free text (names, ids, messages) longer than this is cut with an ellipsis."""

MAX_ITEMS: Final = 5
"""A page or a sequence shows at most this many items in its repr."""

_SHORT = reprlib.Repr()
_SHORT.maxlevel = 2
_SHORT.maxdict = 4
_SHORT.maxlist = 4
_SHORT.maxtuple = 4
_SHORT.maxstring = 24
_SHORT.maxother = MAX_TEXT


def moment(when: datetime.datetime | None) -> str:
    """``when`` in UTC as compact ISO text: ``2026-12-02T09:00Z`` (seconds when not 0)."""
    if when is None:
        return "None"
    utc = when.astimezone(datetime.timezone.utc)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S" if utc.second or utc.microsecond else "%Y-%m-%dT%H:%M")
    return text + "Z"


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` cut to ``limit`` characters, the last one an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quoted(text: str | None, limit: int = MAX_TEXT) -> str:
    """The repr of ``text`` cut to ``limit`` characters (``None`` as ``None``)."""
    return "None" if text is None else repr(clip(text, limit))


def short(value: object) -> str:
    """A repr of any value with nesting, long strings and long containers cut short."""
    return _SHORT.repr(_plain(value))


def _plain(value: object) -> object:
    """Read-only mappings shown as dicts (``{...}``, not ``mappingproxy({...})``)."""
    if isinstance(value, Mapping) and not isinstance(value, dict):
        return dict(value)
    return value


def in_order(counts: Mapping[Any, int]) -> list[tuple[Any, int]]:
    """The non-zero counts, enumeration keys in declaration order.

    For exclusion reasons that is their precedence order (SPEC section 12).
    """

    def rank(key: object) -> int:
        return list(type(key)).index(key) if isinstance(key, enum.Enum) else 0

    return sorted(((key, n) for key, n in counts.items() if n), key=lambda pair: rank(pair[0]))


def excluded_text(excluded: Mapping[Any, int]) -> str:
    """Counts by reason as ``{unknown_profile: 1, no_consent: 2}`` (in order, zeros left out)."""
    return "{" + ", ".join(f"{reason}: {n}" for reason, n in in_order(excluded)) + "}"


def items_text(items: Iterable[object], count: int) -> str:
    """The reprs of the first ``MAX_ITEMS`` items, then how many more there are."""
    shown = []
    for index, item in enumerate(items):
        if index == MAX_ITEMS:
            shown.append(f"... {count - MAX_ITEMS} more")
            break
        shown.append(repr(item))
    return "[" + ", ".join(shown) + "]"


def next_start(campaign: Campaign) -> datetime.datetime | None:
    """When the campaign next starts a run, as far as the value itself tells.

    A LIVE recurring campaign's next occurrence; otherwise the scheduled start
    of a campaign not yet live (None when it starts on activation, or has
    nothing more to start).
    """
    if campaign.next_occurrence_at is not None:
        return campaign.next_occurrence_at
    if campaign.went_live_at is None and campaign.live_version is not None:
        return campaign.live_version.schedule.start
    return None


def campaign_repr(campaign: Campaign) -> str:
    """``Campaign(id=..., name=..., status=..., type=..., next=...)``, under 200 characters."""
    upcoming = next_start(campaign)
    parts = [
        f"id={quoted(campaign.id)}",
        f"name={quoted(campaign.name)}",
        f"status={campaign.status}",
        f"type={campaign.type}",
    ]
    if upcoming is not None:
        parts.append(f"next={moment(upcoming)}")
    return f"Campaign({', '.join(parts)})"


def schedule_text(schedule: Schedule) -> str:
    """A one-line description: start, repetition, end and time zone."""
    parts = [f"starts {moment(schedule.start)}" if schedule.start else "starts on activation"]
    recurrence = schedule.recurrence
    if recurrence is not None:
        if recurrence.rule is not None:
            parts.append(f"repeats {recurrence.rule}")
        else:
            every = f" every {recurrence.every}" if recurrence.every != 1 else ""
            days = f" on {','.join(d.value for d in recurrence.days)}" if recurrence.days else ""
            day = f" on day {recurrence.day}" if recurrence.day is not None else ""
            parts.append(
                f"{recurrence.frequency.value.lower()}{every}{days}{day} at {recurrence.at}"
            )
    if schedule.end is not None:
        parts.append(f"ends {moment(schedule.end)}")
    parts.append(schedule.timezone)
    if schedule.use_profile_timezone:
        parts.append("in each profile's time zone")
    return ", ".join(parts)


def version_repr(version: CampaignVersion) -> str:
    """``CampaignVersion(number=..., actions=N (channels), audience=..., schedule=...)``."""
    channels = ",".join(sorted(str(c) for c in version.channels))
    return (
        f"CampaignVersion(number={version.number}, actions={len(version.actions)} ({channels}), "
        f"audience={quoted(version.audience)}, schedule={schedule_text(version.schedule)!r})"
    )


def history_repr(entry: HistoryEntry) -> str:
    """``HistoryEntry(at, actor, action, FROM -> TO, detail)``."""
    detail = f", {quoted(entry.detail)}" if entry.detail else ""
    return (
        f"HistoryEntry({moment(entry.at)}, {quoted(entry.actor)}, {entry.action}, "
        f"{entry.from_status} -> {entry.to_status}{detail})"
    )


def counts_text(counts: ActionCounts) -> str:
    """The counts as ``targeted=3, sent=2, failed=0, excluded=1 {...}, pending=0`` and extras."""
    text = (
        f"targeted={counts.targeted}, sent={counts.sent}, failed={counts.failed}, "
        f"excluded={counts.excluded_total}"
    )
    if counts.excluded:
        text += f" {excluded_text(counts.excluded)}"
    text += f", pending={counts.pending}"
    extras = {
        "retries": counts.retries,
        "late": counts.late,
        "timezone_fallbacks": counts.timezone_fallbacks,
    }
    text += "".join(f", {name}={n}" for name, n in extras.items() if n)
    if counts.feedback:
        text += f", feedback={excluded_text(counts.feedback)}"
    return text


def run_repr(run: Run) -> str:
    """``Run(id=..., campaign_id=..., version=..., kind=..., status=..., at=..., counts)``."""
    return (
        f"Run(id={quoted(run.id)}, campaign_id={quoted(run.campaign_id)}, "
        f"version={run.version}, kind={run.kind}, status={run.status}, "
        f"at={moment(run.nominal)}, {counts_text(run.total())})"
    )


def calendar_entry_repr(entry: CalendarEntry) -> str:
    """``CalendarEntry(campaign_id=..., name=..., status=..., at=..., until=...)``."""
    return (
        f"CalendarEntry(campaign_id={quoted(entry.campaign_id)}, name={quoted(entry.name)}, "
        f"status={entry.status}, at={moment(entry.at)}, until={moment(entry.until)})"
    )


def approval_repr(entry: ApprovalEntry) -> str:
    """``ApprovalEntry(at=..., actor=..., action=..., version=..., message=...)``."""
    message = f", message={quoted(entry.message)}" if entry.message else ""
    return (
        f"ApprovalEntry(at={moment(entry.at)}, actor={quoted(entry.actor)}, "
        f"action={entry.action}, version={entry.version}{message})"
    )


def surface_repr(surface: ChannelSurface) -> str:
    """``ChannelSurface(id=..., name=..., channel=..., category=..., status=...)``."""
    return (
        f"ChannelSurface(id={quoted(surface.id)}, name={quoted(surface.name)}, "
        f"channel={surface.channel}, category={surface.category}, status={surface.status})"
    )


def profile_repr(profile: Profile) -> str:
    """``Profile(id=..., identities=..., attributes=..., consents=...)``, long parts cut."""
    parts = [f"id={quoted(profile.id)}", f"identities={short(profile.identities)}"]
    if profile.attributes:
        parts.append(f"attributes={short(profile.attributes)}")
    if profile.consents:
        consents = ", ".join(f"{channel}: {given}" for channel, given in profile.consents.items())
        parts.append(f"consents={{{consents}}}")
    if profile.channel_data:
        parts.append(f"channel_data={short({str(k): v for k, v in profile.channel_data.items()})}")
    for name, value in (("timezone", profile.timezone), ("language", profile.language)):
        if value is not None:
            parts.append(f"{name}={quoted(value)}")
    if profile.test:
        parts.append("test=True")
    return f"Profile({', '.join(parts)})"
