"""pandas tables of reports, pages of campaigns and calendars (``to_pandas()``).

One row per (run, action) of a report, per campaign of a page, per entry of
a calendar. Enumerations become their values, date-times UTC timestamps.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from campaignkit.domain.display import next_start
from campaignkit.notebook import missing, plain_utc

if TYPE_CHECKING:
    import pandas as pd

    from campaignkit.delivery.report import CampaignReport
    from campaignkit.domain.calendar import CalendarEntry
    from campaignkit.domain.campaign import Campaign
    from campaignkit.domain.delivery import ActionCounts

REPORT_COLUMNS = (
    "run_id",
    "kind",
    "version",
    "status",
    "created_at",
    "finished_at",
    "action_id",
    "targeted",
    "sent",
    "failed",
    "excluded",
    "pending",
    "retries",
    "late",
    "timezone_fallbacks",
)
"""The fixed columns of ``report.to_pandas()``; one ``excluded_<reason>`` and
``feedback_<event>`` column follows per reason and event that occurs."""

CAMPAIGN_COLUMNS = (
    "id",
    "name",
    "status",
    "type",
    "category",
    "channels",
    "tags",
    "created_at",
    "created_by",
    "updated_at",
    "next",
    "live_version",
    "draft_version",
)
"""The columns of ``page.to_pandas()`` for a page of campaigns."""

CALENDAR_COLUMNS = ("campaign_id", "name", "status", "at", "until")
"""The columns of ``calendar.to_pandas()``."""


def _pandas(feature: str) -> Any:
    try:
        import pandas  # noqa: PLC0415 - an optional extra, imported on first use
    except ImportError as exc:
        raise missing(feature, "pandas") from exc
    return pandas


def _value(value: object) -> object:
    """A cell: enumerations as their values, date-times as UTC."""
    if isinstance(value, datetime.datetime):
        return plain_utc(value)
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _frame(
    feature: str, rows: Iterable[Mapping[str, object]], columns: Sequence[str]
) -> pd.DataFrame:
    pandas = _pandas(feature)
    table = [{name: _value(row.get(name)) for name in columns} for row in rows]
    frame: pd.DataFrame = pandas.DataFrame(table, columns=list(columns))
    for name in columns:
        values = [row[name] for row in table]
        if any(values) and all(isinstance(v, datetime.datetime | None) for v in values):
            frame[name] = pandas.to_datetime(frame[name], utc=True)
    return frame


def _counts(counts: ActionCounts) -> dict[str, object]:
    row: dict[str, object] = {
        "targeted": counts.targeted,
        "sent": counts.sent,
        "failed": counts.failed,
        "excluded": counts.excluded_total,
        "pending": counts.pending,
        "retries": counts.retries,
        "late": counts.late,
        "timezone_fallbacks": counts.timezone_fallbacks,
    }
    row.update({f"excluded_{reason}": n for reason, n in counts.excluded.items()})
    row.update({f"feedback_{event}": n for event, n in counts.feedback.items()})
    return row


def report_frame(report: CampaignReport) -> pd.DataFrame:
    """One row per run and action of ``report``, oldest run first.

    Raises:
        MissingDependency: pandas is not installed.
    """
    rows: list[dict[str, object]] = []
    for run in report.runs:
        for action_id, counts in run.by_action.items():
            rows.append(
                {
                    "run_id": run.run_id,
                    "kind": run.kind,
                    "version": run.version,
                    "status": run.status,
                    "created_at": run.created_at,
                    "finished_at": run.finished_at,
                    "action_id": action_id,
                    **_counts(counts),
                }
            )
    extra = sorted({name for row in rows for name in row} - set(REPORT_COLUMNS))
    frame = _frame("report.to_pandas()", rows, (*REPORT_COLUMNS, *extra))
    for name in extra:  # a reason or event absent from a row counts 0 there
        frame[name] = frame[name].fillna(0).astype("int64")
    return frame


def campaigns_frame(campaigns: Iterable[Campaign]) -> pd.DataFrame:
    """One row per campaign, in the page's order.

    Raises:
        MissingDependency: pandas is not installed.
    """
    rows = [
        {
            "id": c.id,
            "name": c.name,
            "status": c.status,
            "type": c.type,
            "category": c.category,
            "channels": ", ".join(sorted(str(ch) for ch in c.channels)),
            "tags": ", ".join(c.tags),
            "created_at": c.created_at,
            "created_by": c.created_by,
            "updated_at": c.updated_at,
            "next": next_start(c),
            "live_version": c.live_version.number if c.live_version else None,
            "draft_version": c.draft_version.number if c.draft_version else None,
        }
        for c in campaigns
    ]
    return _frame("page.to_pandas()", rows, CAMPAIGN_COLUMNS)


def items_frame(items: Sequence[object]) -> pd.DataFrame:
    """One row per item of a page of other values: their attrs fields, else the value.

    Raises:
        MissingDependency: pandas is not installed.
    """
    rows = [_fields(item) for item in items]
    columns = list(dict.fromkeys(name for row in rows for name in row))
    return _frame("page.to_pandas()", rows, columns)


def _fields(item: object) -> dict[str, object]:
    """An attrs value's fields by name, else the item as ``value``."""
    cls = type(item)
    if attrs.has(cls):
        return {field.name: getattr(item, field.name) for field in attrs.fields(cls)}
    return {"value": item}


def calendar_frame(entries: Iterable[CalendarEntry]) -> pd.DataFrame:
    """One row per calendar entry, in the calendar's order.

    Raises:
        MissingDependency: pandas is not installed.
    """
    rows = [attrs.asdict(entry, recurse=False) for entry in entries]
    return _frame("calendar.to_pandas()", rows, CALENDAR_COLUMNS)
