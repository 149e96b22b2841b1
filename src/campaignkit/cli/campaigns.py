"""Campaign commands: ``campaigns list|show|activate|stop|archive``, ``report``, ``calendar``.

Each goes through the acting user's session (``--as``), so the permission
policy decides exactly as it does for the library.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Final

import pendulum
import typer
from rich.console import RenderableType

from campaignkit.cli import output
from campaignkit.cli.state import UsageProblem, state_of
from campaignkit.delivery.report import CampaignReport, in_precedence
from campaignkit.domain.calendar import CalendarEntry
from campaignkit.domain.campaign import Campaign, CampaignVersion
from campaignkit.domain.campaign_enums import ALL_STATUSES, DEFAULT_LIST_STATUSES, CampaignStatus
from campaignkit.domain.delivery import ActionCounts
from campaignkit.domain.listing import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from campaignkit.domain.recurrence import Frequency, Recurrence
from campaignkit.domain.schedule import Schedule
from campaignkit.serialization import to_document

_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
MAX_PAGE_NUMBER: Final = 10_000
"""The highest ``--page`` (each earlier page is read to find it)."""


def register(app: typer.Typer) -> None:
    """Add the campaign commands to ``app``."""
    group = typer.Typer(help="List, inspect and run campaigns.")
    group.command("list")(list_campaigns)
    group.command("show")(show_campaign)
    for verb in ("activate", "stop", "archive"):
        group.command(verb, help=_LIFECYCLE_HELP[verb])(_lifecycle(verb))
    app.add_typer(group, name="campaigns")
    app.command("report")(report)
    app.command("calendar")(calendar)


# ---------------------------------------------------------------- list


def _statuses(values: list[str] | None) -> frozenset[CampaignStatus]:
    """``--status`` values (any case; ``all`` for every status) as a set."""
    if not values:
        return DEFAULT_LIST_STATUSES
    chosen: set[CampaignStatus] = set()
    known = {s.value: s for s in CampaignStatus}
    for value in values:
        if value.lower() == "all":
            chosen |= ALL_STATUSES
        elif value.upper() in known:
            chosen.add(known[value.upper()])
        else:
            raise typer.BadParameter(
                f"unknown status {value!r}; expected all or one of {', '.join(known)}",
                param_hint="'--status'",
            )
    return frozenset(chosen)


def summary(campaign: Campaign) -> dict[str, Any]:
    """The fields a campaign list shows."""
    return {
        "id": campaign.id,
        "name": campaign.name,
        "status": campaign.status,
        "type": campaign.type,
        "category": campaign.category,
        "tags": list(campaign.tags),
        "channels": sorted(c.value for c in campaign.channels),
        "created_at": campaign.created_at,
        "next_occurrence_at": campaign.next_occurrence_at,
    }


def list_campaigns(
    ctx: typer.Context,
    *,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            metavar="STATUS",
            help="Include this status (repeat it; 'all' for every one). "
            "Default: DRAFT, SCHEDULED and LIVE.",
        ),
    ] = None,
    tag: Annotated[str | None, typer.Option(help="Only campaigns with this tag.")] = None,
    search: Annotated[
        str | None, typer.Option(help="Only names containing this (any case).")
    ] = None,
    page_size: Annotated[
        int,
        typer.Option(min=1, max=MAX_PAGE_SIZE, help="Campaigns per page."),
    ] = DEFAULT_PAGE_SIZE,
    page: Annotated[
        int, typer.Option(min=1, max=MAX_PAGE_NUMBER, help="The page to show, from 1.")
    ] = 1,
    cursor: Annotated[
        str | None, typer.Option(help="Continue after the page that printed this cursor.")
    ] = None,
) -> None:
    """List campaigns, newest first, one page at a time."""
    state = state_of(ctx)
    statuses = _statuses(status)
    if cursor is not None and page != 1:
        raise UsageProblem("pass --page or --cursor, not both")
    with state.open() as kit:
        session = state.session(kit)
        number = 1
        result = session.list_campaigns(
            statuses=statuses, tag=tag, search=search, limit=page_size, cursor=cursor
        )
        while number < page and result.next_cursor is not None:
            number += 1
            result = session.list_campaigns(
                statuses=statuses,
                tag=tag,
                search=search,
                limit=page_size,
                cursor=result.next_cursor,
            )
        items = result.items if number == page else ()
    if state.json:
        output.emit_json({"items": [summary(c) for c in items], "next_cursor": result.next_cursor})
        return
    columns = ("id", "name", "status", "type", "channels", "tags", "created", "next occurrence")
    rows = [
        (c.id, c.name, c.status, c.type, s["channels"], c.tags, c.created_at, c.next_occurrence_at)
        for c, s in ((c, summary(c)) for c in items)
    ]
    title = f"{len(items)} campaign(s), page {page}"
    lines: list[RenderableType] = [output.table(title, columns, rows)]
    if items and result.next_cursor is not None:
        lines.append(f"next page: --page {page + 1} (or --cursor {result.next_cursor})")
    output.show(*lines)


# ---------------------------------------------------------------- show


def _recurrence(rule: Recurrence) -> str:
    if rule.frequency is Frequency.RRULE:
        return f"RRULE {rule.rule}"
    every = f"every {rule.every} " if rule.every != 1 else ""
    text = f"{rule.frequency.value.lower()} {every}at {rule.at}"
    if rule.days:
        text += " on " + ",".join(d.value for d in rule.days)
    if rule.day is not None:
        text += f" on day {rule.day}"
    return text


def schedule_text(schedule: Schedule) -> str:
    """A schedule in one line: start, end, time zone and repeat rule."""
    start = schedule.start.isoformat() if schedule.start else "on activation"
    text = f"start {start}"
    if schedule.end is not None:
        text += f", end {schedule.end.isoformat()}"
    text += f", zone {schedule.timezone}"
    if schedule.recurrence is not None:
        text += f", repeats {_recurrence(schedule.recurrence)}"
    return text


def _version_rows(campaign: Campaign) -> list[tuple[object, ...]]:
    versions: list[tuple[str, CampaignVersion]] = [
        ("superseded", v) for v in campaign.superseded_versions
    ]
    if campaign.live_version is not None:
        versions.append(("live", campaign.live_version))
    if campaign.draft_version is not None:
        versions.append(("draft", campaign.draft_version))
    return [
        (
            v.number,
            role,
            v.created_at,
            v.created_by,
            v.audience,
            sorted(c.value for c in v.channels),
            schedule_text(v.schedule),
        )
        for role, v in versions
    ]


def show_campaign(
    ctx: typer.Context,
    campaign_id: Annotated[str, typer.Argument(metavar="ID", help="The campaign id.")],
) -> None:
    """Show a campaign: status, versions, schedule and history."""
    state = state_of(ctx)
    with state.open() as kit:
        campaign = state.session(kit).get(campaign_id)
    if state.json:
        output.emit_json(to_document(campaign)["data"])
        return
    version = campaign.live_version or campaign.newest_version
    facts = output.fields(
        f"campaign {campaign.id}",
        [
            ("name", campaign.name),
            ("status", campaign.status),
            ("type", campaign.type),
            ("category", campaign.category),
            ("tags", campaign.tags),
            ("description", campaign.description or None),
            ("created", f"{campaign.created_at.isoformat()} by {campaign.created_by}"),
            ("schedule", schedule_text(version.schedule)),
            ("next occurrence", campaign.next_occurrence_at),
            ("failure", campaign.failure_reason),
        ],
    )
    versions = output.table(
        "versions",
        ("number", "role", "created", "by", "audience", "channels", "schedule"),
        _version_rows(campaign),
    )
    history = output.table(
        "history",
        ("at", "actor", "action", "from", "to", "detail"),
        [
            (e.at, e.actor, e.action, e.from_status, e.to_status, e.detail or None)
            for e in campaign.history
        ],
    )
    output.show(facts, versions, history)


# ---------------------------------------------------------------- lifecycle

_LIFECYCLE_HELP: Final = {
    "activate": "Activate a DRAFT campaign (or a running one's open draft version).",
    "stop": "Stop a SCHEDULED or LIVE campaign for good.",
    "archive": "Archive a COMPLETED, STOPPED or FAILED campaign.",
}


def _lifecycle(verb: str) -> Callable[..., None]:
    def change(
        ctx: typer.Context,
        campaign_id: Annotated[str, typer.Argument(metavar="ID", help="The campaign id.")],
    ) -> None:
        state = state_of(ctx)
        with state.open() as kit:
            session = state.session(kit)
            act: Callable[[str], Campaign] = getattr(session, verb)
            campaign = act(campaign_id)
        if state.json:
            output.emit_json(summary(campaign))
            return
        entry = campaign.history[-1]  # the one this verb wrote
        before = output.plain(entry.from_status)
        output.show(f"{verb}: {campaign.id} {campaign.name!r} {before} -> {campaign.status}")

    change.__doc__ = _LIFECYCLE_HELP[verb]
    change.__name__ = verb
    return change


# ---------------------------------------------------------------- report


def _counts(counts: ActionCounts) -> dict[str, Any]:
    return {
        "targeted": counts.targeted,
        "sent": counts.sent,
        "failed": counts.failed,
        "excluded": in_precedence(counts.excluded),
        "excluded_total": counts.excluded_total,
        "retries": counts.retries,
        "pending": counts.pending,
        "feedback": dict(counts.feedback),
    }


def report_document(report: CampaignReport) -> dict[str, Any]:
    """A report as JSON-ready values."""
    return {
        "campaign_id": report.campaign_id,
        "name": report.name,
        "counts": _counts(report.counts),
        "by_action": {action: _counts(c) for action, c in report.by_action.items()},
        "runs": [
            {
                "run_id": run.run_id,
                "kind": run.kind,
                "version": run.version,
                "status": run.status,
                "created_at": run.created_at,
                "finished_at": run.finished_at,
                "counts": _counts(run.counts),
            }
            for run in report.runs
        ],
    }


def _sums(counts: ActionCounts) -> tuple[int, int]:
    return counts.targeted, counts.sent


def _count_row(label: str, counts: ActionCounts) -> tuple[object, ...]:
    excluded = ", ".join(f"{r.value} {n}" for r, n in in_precedence(counts.excluded).items())
    return (
        label,
        counts.targeted,
        counts.sent,
        counts.failed,
        f"{counts.excluded_total} ({excluded})" if excluded else 0,
        counts.retries,
        counts.pending,
    )


def report(
    ctx: typer.Context,
    campaign_id: Annotated[str, typer.Argument(metavar="ID", help="The campaign id.")],
) -> None:
    """Show what a campaign's runs did: per action and per run."""
    state = state_of(ctx)
    with state.open() as kit:
        result = state.session(kit).report(campaign_id)
    if state.json:
        output.emit_json(report_document(result))
        return
    columns = ("action", "targeted", "sent", "failed", "excluded", "retries", "pending")
    actions = [_count_row(a, c) for a, c in result.by_action.items()]
    actions.append(_count_row("total", result.counts))
    runs = output.table(
        "runs",
        ("run", "kind", "version", "status", "started", "finished", "targeted", "sent"),
        [
            (r.run_id, r.kind, r.version, r.status, r.created_at, r.finished_at, *_sums(r.counts))
            for r in result.runs
        ],
    )
    title = f"report of {result.name!r} ({result.campaign_id}): {len(result.runs)} run(s)"
    output.show(output.table(title, columns, actions), runs)


# ---------------------------------------------------------------- calendar


def instant(text: str, label: str) -> pendulum.DateTime:
    """A date (midnight UTC) or a date-time (UTC unless it says otherwise).

    Raises:
        typer.BadParameter: ``text`` is neither.
    """
    try:
        if not _DATE.match(text):  # a bare time would be read as today's
            raise ValueError(text)
        parsed = pendulum.parse(text, tz="UTC", strict=False)
        if isinstance(parsed, pendulum.DateTime):
            parsed.utcoffset()  # an offset of a day or more parses, then raises here
    except (ValueError, TypeError, OverflowError) as exc:
        raise typer.BadParameter(
            f"{text!r} is not a date (2026-12-01) or a date-time (2026-12-01T09:00+01:00)",
            param_hint=f"'{label}'",
        ) from exc
    if not isinstance(parsed, pendulum.DateTime):  # an interval, say
        raise typer.BadParameter(f"{text!r} is not a date or a date-time", param_hint=f"'{label}'")
    return parsed


def calendar_row(entry: CalendarEntry) -> dict[str, Any]:
    """A calendar entry as JSON-ready values."""
    return {
        "campaign_id": entry.campaign_id,
        "name": entry.name,
        "at": entry.at,
        "until": entry.until,
        "status": entry.status,
    }


def calendar(
    ctx: typer.Context,
    start: Annotated[
        str, typer.Option("--from", metavar="DATE", help="From this date or instant (UTC).")
    ],
    end: Annotated[
        str, typer.Option("--to", metavar="DATE", help="Until this date or instant (excluded).")
    ],
) -> None:
    """Show the SCHEDULED and LIVE campaigns on air between two dates."""
    state = state_of(ctx)
    first, last = instant(start, "--from"), instant(end, "--to")
    with state.open() as kit:
        entries = state.session(kit).calendar(first, last)
    if state.json:
        output.emit_json([calendar_row(e) for e in entries])
        return
    output.show(
        output.table(
            f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'} "
            f"from {first.isoformat()} to {last.isoformat()}",
            ("at", "until", "campaign", "name", "status"),
            [(e.at, e.until, e.campaign_id, e.name, e.status) for e in entries],
        )
    )


__all__ = ["register", "summary"]
