"""Reports: what a campaign's runs did, per campaign, per run and per action."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import attrs
import pendulum

from campaignkit.domain import display, html_views
from campaignkit.domain.delivery import (
    ActionCounts,
    ExclusionReason,
    FeedbackEvent,
    Run,
    RunKind,
    RunStatus,
)
from campaignkit.notebook import frames, plots

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes


@attrs.frozen
class RunReport:
    """One run: its status and counts.

    Attributes:
        run_id: The run.
        kind: What started it.
        version: The campaign version it ran.
        status: Where it stands.
        created_at: Its nominal start.
        finished_at: When it finished, if it did.
        counts: Summed over actions.
        by_action: Per action id.
    """

    run_id: str
    kind: RunKind
    version: int
    status: RunStatus
    created_at: pendulum.DateTime
    finished_at: pendulum.DateTime | None
    counts: ActionCounts
    by_action: Mapping[str, ActionCounts]

    def __repr__(self) -> str:
        """Run, kind, version, status, start and counts in one line."""
        return (
            f"RunReport(run_id={display.quoted(self.run_id)}, kind={self.kind}, "
            f"version={self.version}, status={self.status}, "
            f"created_at={display.moment(self.created_at)}, {display.counts_text(self.counts)})"
        )


@attrs.frozen
class CampaignReport:
    """Everything a campaign's runs did. Proof messages are never counted.

    ``targeted == sent + failed + excluded_total + pending`` holds for the
    campaign, each run and each action (``pending`` is 0 once runs finish).

    Attributes:
        campaign_id: The campaign.
        name: Its name.
        counts: Summed over runs and actions.
        by_action: Per action id, summed over runs.
        runs: Per run, oldest first.
    """

    campaign_id: str
    name: str
    counts: ActionCounts
    by_action: Mapping[str, ActionCounts]
    runs: tuple[RunReport, ...]

    @property
    def targeted(self) -> int:
        """Audience members considered, over every action."""
        return self.counts.targeted

    @property
    def sent(self) -> int:
        """Messages the channels accepted."""
        return self.counts.sent

    @property
    def failed(self) -> int:
        """Messages that failed for good."""
        return self.counts.failed

    @property
    def excluded(self) -> Mapping[ExclusionReason, int]:
        """Exclusions by reason, in precedence order (``duplicate``, ``unknown_profile``, ...)."""
        return in_precedence(self.counts.excluded)

    @property
    def retries(self) -> int:
        """Re-sends after transient failures."""
        return self.counts.retries

    @property
    def feedback(self) -> Mapping[FeedbackEvent, int]:
        """Feedback events by kind."""
        return self.counts.feedback

    def __repr__(self) -> str:
        """Campaign, name, number of runs and total counts in one line."""
        return (
            f"CampaignReport(campaign_id={display.quoted(self.campaign_id)}, "
            f"name={display.quoted(self.name)}, runs={len(self.runs)}, "
            f"{display.counts_text(self.counts)})"
        )

    def _repr_html_(self) -> str:
        """Counts per action and per run as HTML tables for notebooks."""
        per_action = [
            (action_id, *html_views.counts_row(counts))
            for action_id, counts in self.by_action.items()
        ]
        per_action.append(("total", *html_views.counts_row(self.counts)))
        per_run = [
            (
                r.run_id,
                r.kind,
                r.version,
                r.status,
                r.created_at,
                r.finished_at,
                *html_views.counts_row(r.counts),
            )
            for r in self.runs
        ]
        return (
            html_views.title(self.name, f"({self.campaign_id}): {len(self.runs)} run(s)")
            + html_views.table(
                ("action", *html_views.COUNT_HEADERS), per_action, css="campaignkit-report"
            )
            + html_views.title("Runs")
            + html_views.table(
                (
                    "run",
                    "kind",
                    "version",
                    "status",
                    "created",
                    "finished",
                    *html_views.COUNT_HEADERS,
                ),
                per_run,
                css="campaignkit-runs",
            )
        )

    def to_pandas(self) -> pd.DataFrame:
        """One row per run and action, oldest run first (pandas imported on first use).

        Columns: ``run_id``, ``kind``, ``version``, ``status``, ``created_at``,
        ``finished_at``, ``action_id``, the counts (``targeted``, ``sent``,
        ``failed``, ``excluded``, ``pending``, ``retries``, ``late``,
        ``timezone_fallbacks``), then ``excluded_<reason>`` and
        ``feedback_<event>`` for each reason and event that occurs.

        Raises:
            MissingDependency: pandas is not installed
                (``pip install 'campaignkit[notebook]'``).
        """
        return frames.report_frame(self)

    def plot(self, ax: Axes | None = None) -> Axes:
        """Draw messages per run over time, one line per action and outcome.

        Args:
            ax: The matplotlib axes to draw on; None for a new figure's
                (show it in a notebook with ``ax.figure``).

        Returns:
            The axes drawn on.

        Raises:
            MissingDependency: matplotlib is not installed
                (``pip install 'campaignkit[notebook]'``).
        """
        return plots.report_plot(self, ax)


def in_precedence(excluded: Mapping[ExclusionReason, int]) -> dict[ExclusionReason, int]:
    """``excluded`` ordered as the reasons are checked (SPEC section 12), zeros left out."""
    return {reason: excluded[reason] for reason in ExclusionReason if excluded.get(reason)}


def build_report(campaign_id: str, name: str, runs: Sequence[Run]) -> CampaignReport:
    """Sum the counts of a campaign's runs."""
    by_action: dict[str, ActionCounts] = {}
    reports = []
    for run in runs:
        for action_id, counts in run.counts.items():
            by_action[action_id] = by_action.get(action_id, ActionCounts()).plus(counts)
        reports.append(
            RunReport(
                run_id=run.id,
                kind=run.kind,
                version=run.version,
                status=run.status,
                created_at=run.created_at,
                finished_at=run.finished_at,
                counts=run.total(),
                by_action=dict(run.counts),
            )
        )
    total = ActionCounts()
    for counts in by_action.values():
        total = total.plus(counts)
    return CampaignReport(campaign_id, name, total, by_action, tuple(reports))
