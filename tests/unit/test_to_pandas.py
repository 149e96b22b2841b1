"""pandas tables of a report, a page of campaigns and a calendar, and the error without pandas."""

from __future__ import annotations

import sys

import pandas as pd
import pytest

import campaignkit as ck
from campaignkit.notebook import frames
from tests.factories import T0, make_world
from tests.unit.notebook_world import ran_world


def test_report_to_pandas_has_a_row_per_run_and_action() -> None:
    ran = ran_world()
    frame = ran.report.to_pandas()
    assert list(frame.columns) == [*frames.REPORT_COLUMNS, "excluded_no_consent"]
    assert len(frame) == 2
    first = frame.iloc[0]
    assert first["run_id"] == "run_0001"
    assert first["kind"] == "occurrence"
    assert first["status"] == "succeeded"
    assert first["action_id"] == "act_0001"
    assert first["created_at"] == pd.Timestamp("2026-12-01T10:00:00Z")
    assert str(frame["created_at"].dtype).startswith("datetime64")
    assert (first["targeted"], first["sent"], first["excluded"]) == (2, 1, 1)
    assert frame["sent"].sum() == ran.report.sent
    assert frame["excluded_no_consent"].tolist() == [1, 1]


def test_report_to_pandas_fills_reasons_a_run_lacks_with_zero_and_adds_feedback() -> None:
    ran = ran_world()
    report = ran.report
    run = report.runs[0]
    counts = ck.ActionCounts(targeted=1, sent=1, feedback={ck.FeedbackEvent.OPENED: 1})
    other = ck.RunReport("run_x", run.kind, 1, run.status, T0, None, counts, {"act_0001": counts})
    mixed = ck.CampaignReport(
        report.campaign_id, report.name, report.counts, report.by_action, (*report.runs, other)
    )
    frame = mixed.to_pandas()
    assert frame["excluded_no_consent"].tolist() == [1, 1, 0]
    assert frame["feedback_opened"].tolist() == [0, 0, 1]
    assert str(frame["feedback_opened"].dtype) == "int64"
    assert pd.isna(frame["finished_at"].iloc[2])


def test_an_empty_report_is_an_empty_table_with_the_columns() -> None:
    world = make_world()
    campaign = world.draft()
    frame = world.admin.report(campaign.id).to_pandas()
    assert frame.empty
    assert list(frame.columns) == list(frames.REPORT_COLUMNS)


def test_page_to_pandas_has_a_row_per_campaign() -> None:
    ran = ran_world()
    ran.world.draft("Second", tags=["spring", "vip"])
    frame = ran.admin.list_campaigns().to_pandas()
    assert list(frame.columns) == list(frames.CAMPAIGN_COLUMNS)
    assert frame["name"].tolist() == ["Second", "Winter sale"]
    assert frame["status"].tolist() == ["DRAFT", "LIVE"]
    assert frame["tags"].tolist() == ["spring, vip", ""]
    assert frame["channels"].tolist() == ["email", "email"]
    assert frame["next"].iloc[1] == pd.Timestamp("2026-12-03T10:00:00Z")
    assert frame["live_version"].iloc[1] == 1
    assert frame["draft_version"].iloc[0] == 1
    assert pd.isna(frame["draft_version"].iloc[1])


def test_a_page_of_other_values_lists_their_fields() -> None:
    entry = ck.HistoryEntry(T0, "ada", ck.Verb.CREATE, None, ck.CampaignStatus.DRAFT)
    frame = ck.Page((entry,), None).to_pandas()
    assert list(frame.columns) == ["at", "actor", "action", "from_status", "to_status", "detail"]
    assert frame["action"].tolist() == ["create"]
    plain = ck.Page(("a", "b")).to_pandas()
    assert plain["value"].tolist() == ["a", "b"]


def test_calendar_to_pandas_has_a_row_per_entry() -> None:
    ran = ran_world()
    frame = ran.admin.calendar(T0.add(days=2), T0.add(days=5)).to_pandas()
    assert list(frame.columns) == list(frames.CALENDAR_COLUMNS)
    assert frame["at"].tolist() == [pd.Timestamp(f"2026-12-0{day}T10:00:00Z") for day in (3, 4, 5)]
    assert set(frame["status"]) == {"LIVE"}


@pytest.mark.parametrize(
    ("call", "feature"),
    [
        (lambda ran: ran.report.to_pandas(), "report.to_pandas()"),
        (lambda ran: ran.admin.list_campaigns().to_pandas(), "page.to_pandas()"),
        (lambda ran: ran.admin.calendar(T0, T0.add(days=2)).to_pandas(), "calendar.to_pandas()"),
    ],
)
def test_without_pandas_each_call_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, call: object, feature: str
) -> None:
    ran = ran_world()
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now fails
    with pytest.raises(ck.MissingDependency) as raised:
        call(ran)  # type: ignore[operator]
    assert str(raised.value) == f"{feature} needs pandas: pip install 'campaignkit[notebook]'"
    assert isinstance(raised.value, ImportError)
    assert raised.value.extra == "notebook"


def test_importing_campaignkit_imports_neither_pandas_nor_matplotlib() -> None:
    import subprocess

    code = (
        "import sys, campaignkit, campaignkit.progress, campaignkit.notebook.frames, "
        "campaignkit.notebook.plots; "
        "print(sorted(m for m in ('pandas', 'matplotlib', 'tqdm', 'rich') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
