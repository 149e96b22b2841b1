"""matplotlib plots of a report's sends over time and of a campaign calendar.

Figures are built as :class:`matplotlib.figure.Figure` objects, never through
``pyplot``: no backend, window or global figure state is involved, so a plot
works in a notebook, a script or a headless test (``fig.savefig(...)``).
Each function draws on the ``ax`` given, or on a new figure's axes, and
returns the axes; in a notebook show a new one with ``ax.figure``.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import TYPE_CHECKING

from campaignkit.domain.checks import describe
from campaignkit.domain.display import clip, moment
from campaignkit.errors import ValidationError
from campaignkit.notebook import missing, plain_utc

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from campaignkit.delivery.report import CampaignReport
    from campaignkit.domain.calendar import CalendarEntry
    from campaignkit.domain.delivery import ActionCounts

OUTCOMES = ("sent", "failed", "excluded", "pending")
"""The outcomes a report plot draws, one line per action and outcome (sent always,
the others when some run has any)."""


def _axes(feature: str, ax: Axes | None, size: tuple[float, float]) -> Axes:
    """``ax``, or the axes of a new figure; matplotlib imported here, on first use."""
    try:
        from matplotlib import dates  # noqa: PLC0415 - an optional extra, imported on first use
        from matplotlib.axes import Axes  # noqa: PLC0415
        from matplotlib.figure import Figure  # noqa: PLC0415 - no pyplot, no backend
    except ImportError as exc:
        raise missing(feature, "matplotlib") from exc
    if ax is None:
        ax = Figure(figsize=size, layout="constrained").add_subplot()
    elif not isinstance(ax, Axes):
        raise ValidationError(
            [
                f"ax must be matplotlib Axes (such as figure.add_subplot()) or None "
                f"for a new figure, not {describe(ax)}"
            ],
            subject=feature,
        )
    ax.xaxis_date(datetime.timezone.utc)
    locator = dates.AutoDateLocator(tz=datetime.timezone.utc)  # type: ignore[no-untyped-call]
    formatter = dates.ConciseDateFormatter(locator, tz=datetime.timezone.utc)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(formatter)
    return ax


def _day(when: datetime.datetime) -> float:
    """``when`` as a matplotlib date number (after :func:`_axes` imported matplotlib)."""
    from matplotlib import dates  # noqa: PLC0415 - an optional extra, imported on first use

    number: float = dates.date2num(plain_utc(when))  # type: ignore[no-untyped-call]
    return number


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)


def report_plot(report: CampaignReport, ax: Axes | None = None) -> Axes:
    """Messages per run over time, one line per action and outcome.

    A report holds counts per run, not per message, so each point is one
    run (an occurrence, a trigger, ...) at its start: sent, and failed,
    excluded or pending when some run has any.

    Raises:
        MissingDependency: matplotlib is not installed.
        ValidationError: ``ax`` is not matplotlib axes.
    """
    ax = _axes("report.plot()", ax, (8.0, 4.0))
    from matplotlib import ticker  # noqa: PLC0415 - an optional extra, imported on first use

    runs = sorted(report.runs, key=lambda r: r.created_at)
    several = len(report.by_action) > 1
    highest = 0
    for action_id in report.by_action:
        ran = [r for r in runs if action_id in r.by_action]
        times = [_day(r.created_at) for r in ran]
        for outcome in OUTCOMES:
            values = [_outcome(r.by_action[action_id], outcome) for r in ran]
            if outcome != "sent" and not any(values):
                continue
            label = f"{clip(action_id, 20)} {outcome}" if several else outcome
            ax.plot(times, values, marker="o", label=label)
            highest = max(highest, *values)
    ax.set_ylim(0, highest * 1.15 + 1)
    ax.yaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    ax.set_title(f"{clip(report.name, 60)}: messages per run")
    ax.set_xlabel("run start (UTC)")
    ax.set_ylabel("messages")
    if not report.runs:
        _empty(ax, "no runs yet")
    elif ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best")
    else:  # runs, but no action targeted anyone
        _empty(ax, "no messages yet")
    return ax


def _outcome(counts: ActionCounts, outcome: str) -> int:
    if outcome == "excluded":
        return counts.excluded_total
    found: int = getattr(counts, outcome)
    return found


def calendar_plot(
    entries: Sequence[CalendarEntry],
    span: tuple[datetime.datetime, datetime.datetime] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """A campaign calendar: one row per campaign, its on-air span and its occurrences.

    The bar runs from the campaign's first entry to its expected end (the
    range's end when it runs until stopped, or beyond it); a dot marks each
    entry (the start of a one-shot campaign, each occurrence of a recurring one).

    Raises:
        MissingDependency: matplotlib is not installed.
        ValidationError: ``ax`` is not matplotlib axes.
    """
    height = 1.6 + 0.4 * len({e.campaign_id for e in entries})  # taller with each campaign
    ax = _axes("calendar.plot()", ax, (8.0, height))
    rows: dict[str, list[CalendarEntry]] = {}
    for entry in entries:
        rows.setdefault(entry.campaign_id, []).append(entry)
    labels = []
    for y, (campaign_id, found) in enumerate(rows.items()):
        first = found[0].at
        until = found[0].until or (span[1] if span is not None else found[-1].at)
        if span is not None:
            until = min(until, span[1])
        ax.hlines(y, _day(first), _day(until), linewidth=8, alpha=0.35)
        ax.plot([_day(e.at) for e in found], [y] * len(found), "o", markersize=5)
        labels.append(clip(f"{found[0].name} ({campaign_id})", 40))
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    if span is not None:
        ax.set_xlim(_day(span[0]), _day(span[1]))
        ax.set_title(f"Calendar {moment(span[0])} to {moment(span[1])}")
    else:
        ax.set_title("Calendar")
    if not rows:
        _empty(ax, "no campaign on air")
    return ax
