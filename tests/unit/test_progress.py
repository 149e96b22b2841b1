"""Progress bars through the kit's progress callback: one tqdm bar (or rich task) per run."""

from __future__ import annotations

import importlib.util
import io
import sys
from typing import Any

import pytest
from rich.console import Console

import campaignkit as ck
from campaignkit.ports import RunProgress
from campaignkit.progress import RichProgress, TqdmProgress, rich_progress, tqdm_progress
from campaignkit.testing import ManualClock
from tests.factories import T0, person


def _kit(progress: ck.ports.Progress) -> ck.CampaignKit:
    kit = ck.CampaignKit.in_memory(
        clock=ManualClock(T0),
        progress=progress,
        delivery=ck.DeliverySettings(batch_size=2),
    )
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    ids = [f"p{n}" for n in range(5)]
    for pid in ids:
        kit.profiles.upsert(person(pid, firstName=pid))
    kit.audiences.define("all", ids)
    return kit


def _run_campaign(kit: ck.CampaignKit) -> ck.Campaign:
    ada = kit.as_user("ada")
    surface = ada.create_surface(
        name="News", channel=ck.ChannelType.EMAIL, settings=ck.EmailSettings(sender="n@example.com")
    )
    campaign = ada.create_campaign(
        name="Bars",
        audience="all",
        namespace="email",
        actions=[ck.Action(surface.id, ck.EmailContent(subject="Hi", html="<p>x</p>"))],
    )
    ada.activate(campaign.id)
    kit.run_until(T0.add(days=1))
    return campaign


def test_tqdm_progress_draws_one_bar_per_run_and_closes_it_at_the_end() -> None:
    out = io.StringIO()
    progress = tqdm_progress(file=out, mininterval=0, ascii=True)
    kit = _kit(progress)
    _run_campaign(kit)
    text = out.getvalue()
    assert "cmp_" in text
    assert "run_" in text
    assert "5/5" in text
    assert "sent=5" in text
    assert list(progress.open_runs) == []


def _progress(run: str, position: int, total: int | None, sent: int = 0) -> RunProgress:
    return RunProgress(run, "cmp", position, total, ck.ActionCounts(targeted=position, sent=sent))


def test_tqdm_bars_of_unknown_size_stay_open_until_closed() -> None:
    out = io.StringIO()
    with tqdm_progress(file=out, mininterval=0) as progress:
        progress(_progress("r1", 2, None))
        progress(_progress("r2", 1, 3))
        progress(_progress("r1", 4, None, sent=4))
        progress(_progress("r2", 2, 4))  # the size became known or changed
        assert list(progress.open_runs) == ["r1", "r2"]
        progress(_progress("r2", 4, 4))
        assert list(progress.open_runs) == ["r1"]
    assert list(progress.open_runs) == []
    text = out.getvalue()
    assert "cmp r1: " in text
    assert "4/4" in text


def test_tqdm_progress_uses_tqdm_auto_where_ipywidgets_is_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[str] = []
    real = importlib.import_module

    def spy(name: str, package: str | None = None) -> Any:
        made.append(name)
        return real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())
    monkeypatch.setattr(importlib, "import_module", spy)
    assert isinstance(tqdm_progress(), TqdmProgress)
    assert made == ["tqdm.auto"]


def test_rich_progress_shows_a_task_per_run_and_stops_when_none_is_left() -> None:
    console = Console(file=io.StringIO(), force_terminal=False, width=120)
    progress = rich_progress(console=console)
    assert isinstance(progress, RichProgress)
    kit = _kit(progress)
    _run_campaign(kit)
    assert list(progress.open_runs) == []
    assert not progress.bars.live.is_started
    (task,) = progress.bars.tasks
    assert task.completed == 5
    assert task.total == 5
    assert "sent 5" in task.description


def test_rich_progress_close_stops_the_display() -> None:
    console = Console(file=io.StringIO(), force_terminal=False)
    with rich_progress(console=console) as progress:
        progress(_progress("r1", 1, None))
        progress(_progress("r2", 1, 2))
        progress(_progress("r2", 2, 2))  # r2 ends, r1 is still going
        assert progress.bars.live.is_started
        assert list(progress.open_runs) == ["r1"]
    assert list(progress.open_runs) == []
    assert not progress.bars.live.is_started


@pytest.mark.parametrize(
    ("module", "make", "message"),
    [
        ("tqdm", tqdm_progress, "tqdm_progress() needs tqdm: pip install 'campaignkit[notebook]'"),
        ("rich", rich_progress, "rich_progress() needs rich: pip install 'campaignkit[cli]'"),
    ],
)
def test_without_the_package_the_error_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, module: str, make: Any, message: str
) -> None:
    for name in [m for m in sys.modules if m == module or m.startswith(f"{module}.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ck.MissingDependency) as raised:
        make()
    assert str(raised.value) == message
