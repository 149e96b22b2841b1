"""HTML tables of the values a notebook shows (their ``_repr_html_``).

Every piece of text that comes from a value (names, ids, actors, messages,
tags) goes through :func:`html.escape`; the markup is plain tables a notebook
front end styles itself. Pure functions: the classes' ``_repr_html_``
methods call them.
"""

from __future__ import annotations

import datetime
import html
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Final

from campaignkit.domain.display import counts_text, in_order, moment, next_start, schedule_text

if TYPE_CHECKING:
    from campaignkit.domain.approval import ApprovalEntry
    from campaignkit.domain.calendar import CalendarEntry
    from campaignkit.domain.campaign import Campaign, CampaignVersion
    from campaignkit.domain.delivery import ActionCounts, Run

MAX_ROWS: Final = 200
"""A table shows at most this many rows; a last row says how many were left out."""

COUNT_HEADERS: Final = ("targeted", "sent", "failed", "excluded", "pending", "retries")
"""The count columns of report and run tables."""


def cell_text(value: object) -> str:
    """The text of a cell (not escaped): date-times as compact UTC, None as empty."""
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return moment(value)
    return str(value)


def cell(value: object) -> str:
    """One table cell, its text escaped."""
    return f"<td>{html.escape(cell_text(value))}</td>"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], *, css: str) -> str:
    """An HTML table with a header row; rows past :data:`MAX_ROWS` are counted, not shown."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body: list[str] = []
    left = 0
    for row in rows:
        if len(body) == MAX_ROWS:
            left += 1
            continue
        body.append("<tr>" + "".join(cell(v) for v in row) + "</tr>")
    if left:
        body.append(f'<tr><td colspan="{len(headers)}">... {left} more rows</td></tr>')
    return (
        f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    )


def fields(pairs: Iterable[tuple[str, object]], *, css: str) -> str:
    """A two-column table of named fields (``<th>`` name, ``<td>`` value)."""
    rows = "".join(f"<tr><th>{html.escape(name)}</th>{cell(value)}</tr>" for name, value in pairs)
    return f'<table class="{css}">{rows}</table>'


def title(text: str, note: str = "") -> str:
    """A bold heading line, with an optional plain note after it."""
    extra = f" {html.escape(note)}" if note else ""
    return f"<div><b>{html.escape(text)}</b>{extra}</div>"


def counts_row(counts: ActionCounts) -> tuple[object, ...]:
    """The :data:`COUNT_HEADERS` cells of one count (exclusions with their reasons)."""
    reasons = ", ".join(f"{reason}: {n}" for reason, n in in_order(counts.excluded))
    excluded = f"{counts.excluded_total} ({reasons})" if reasons else counts.excluded_total
    return (counts.targeted, counts.sent, counts.failed, excluded, counts.pending, counts.retries)


def _version_row(label: str, version: CampaignVersion) -> tuple[object, ...]:
    channels = ", ".join(sorted(str(c) for c in version.channels))
    return (
        label,
        version.number,
        version.created_at,
        version.created_by,
        f"{len(version.actions)} ({channels})",
        version.audience,
        schedule_text(version.schedule),
    )


def campaign_html(campaign: Campaign) -> str:
    """A campaign: its fields, its versions and its history."""
    facts = fields(
        [
            ("id", campaign.id),
            ("status", campaign.status),
            ("type", campaign.type),
            ("category", campaign.category),
            ("created", f"{moment(campaign.created_at)} by {campaign.created_by}"),
            ("updated", campaign.updated_at),
            ("tags", ", ".join(campaign.tags)),
            ("next", next_start(campaign)),
            ("open runs", campaign.open_runs),
            ("failure", campaign.failure_reason),
        ],
        css="campaignkit-campaign",
    )
    versions = [("live", campaign.live_version), ("draft", campaign.draft_version)]
    rows = [_version_row(label, v) for label, v in versions if v is not None]
    rows += [_version_row("superseded", v) for v in reversed(campaign.superseded_versions)]
    history = [
        (e.at, e.actor, e.action, e.from_status, e.to_status, e.detail) for e in campaign.history
    ]
    return (
        title(campaign.name, f"({campaign.status}, {campaign.type})")
        + facts
        + title("Versions")
        + table(
            ("", "number", "created", "by", "actions", "audience", "schedule"),
            rows,
            css="campaignkit-versions",
        )
        + title("History")
        + table(
            ("at", "actor", "action", "from", "to", "detail"), history, css="campaignkit-history"
        )
    )


def campaigns_html(campaigns: Sequence[Campaign], next_cursor: str | None) -> str:
    """A page of campaigns: one row each, and whether more pages follow."""
    rows = [
        (
            c.id,
            c.name,
            c.status,
            c.type,
            ", ".join(sorted(str(ch) for ch in c.channels)),
            c.created_at,
            next_start(c),
        )
        for c in campaigns
    ]
    more = "more: pass next_cursor" if next_cursor is not None else "last page"
    return title(f"{len(campaigns)} campaign(s)", f"({more})") + table(
        ("id", "name", "status", "type", "channels", "created", "next"),
        rows,
        css="campaignkit-page",
    )


def calendar_html(entries: Sequence[CalendarEntry], span: tuple[object, object] | None) -> str:
    """Calendar entries: one row per campaign on air (per occurrence when recurring)."""
    note = f"({cell_text(span[0])} to {cell_text(span[1])})" if span is not None else ""
    return title(
        f"{len(entries)} calendar entr{'y' if len(entries) == 1 else 'ies'}", note
    ) + table(
        ("at", "until", "campaign", "name", "status"),
        [(e.at, e.until, e.campaign_id, e.name, e.status) for e in entries],
        css="campaignkit-calendar",
    )


def approvals_html(entries: Sequence[ApprovalEntry]) -> str:
    """An approval trail, oldest first."""
    return title(f"Approval history: {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}") + (
        table(
            ("at", "actor", "action", "version", "policy", "message"),
            [(e.at, e.actor, e.action, e.version, e.policy_id, e.message) for e in entries],
            css="campaignkit-approvals",
        )
    )


def run_html(run: Run) -> str:
    """A run: its fields and its counts per action."""
    facts = fields(
        [
            ("id", run.id),
            ("campaign", run.campaign_id),
            ("version", run.version),
            ("kind", run.kind),
            ("status", run.status),
            ("nominal", run.nominal),
            ("started", run.started_at),
            ("finished", run.finished_at),
            ("position", run.position),
            ("error", run.error),
        ],
        css="campaignkit-run",
    )
    rows = [(action_id, *counts_row(c)) for action_id, c in run.counts.items()]
    rows.append(("total", *counts_row(run.total())))
    return (
        title(f"Run {run.id}", f"({run.status}: {counts_text(run.total())})")
        + facts
        + table(("action", *COUNT_HEADERS), rows, css="campaignkit-counts")
    )
