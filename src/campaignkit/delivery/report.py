"""Reports: what a campaign's runs did, per campaign, per run and per action."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import attrs
import pendulum

from campaignkit.domain.delivery import (
    ActionCounts,
    ExclusionReason,
    FeedbackEvent,
    Run,
    RunKind,
    RunStatus,
)


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

    def _repr_html_(self) -> str:
        """An HTML table for notebooks."""
        rows = "".join(
            _row(html.escape(action_id), counts) for action_id, counts in self.by_action.items()
        )
        return (
            f"<div><b>{html.escape(self.name)}</b> ({html.escape(self.campaign_id)}): "
            f"{len(self.runs)} run(s)</div><table><tr><th>action</th><th>targeted</th>"
            "<th>sent</th><th>failed</th><th>excluded</th><th>retries</th></tr>"
            f"{rows}{_row('<b>total</b>', self.counts)}</table>"
        )


def _row(label: str, counts: ActionCounts) -> str:
    excluded = ", ".join(f"{reason}: {n}" for reason, n in in_precedence(counts.excluded).items())
    return (
        f"<tr><td>{label}</td><td>{counts.targeted}</td><td>{counts.sent}</td>"
        f"<td>{counts.failed}</td><td>{counts.excluded_total} {html.escape(excluded)}</td>"
        f"<td>{counts.retries}</td></tr>"
    )


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
