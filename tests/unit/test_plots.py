"""Plots of a report and a calendar: PNGs saved with Agg are real images of the expected size."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import matplotlib
import pytest
from matplotlib.figure import Figure

import campaignkit as ck
from tests.factories import T0, make_world
from tests.unit.notebook_world import ran_world

matplotlib.use("Agg")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (after checking the signature)."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def saved(figure: object, path: Path, dpi: int = 50) -> tuple[int, int]:
    assert isinstance(figure, Figure)
    figure.savefig(path, dpi=dpi)
    assert path.stat().st_size > 1000
    return png_size(path)


def test_report_plot_draws_sends_per_run_on_a_new_figure(tmp_path: Path) -> None:
    ran = ran_world()
    ax = ran.report.plot()
    assert [line.get_label() for line in ax.get_lines()] == ["sent", "excluded"]
    sent = ax.get_lines()[0]
    assert list(sent.get_ydata()) == [1, 1]  # type: ignore[arg-type]
    assert ax.get_title() == "Winter sale: messages per run"
    assert ax.get_legend() is not None
    assert saved(ax.figure, tmp_path / "report.png") == (400, 200)  # 8 x 4 inches at 50 dpi


def test_report_plot_draws_on_given_axes_one_line_per_action_and_outcome(tmp_path: Path) -> None:
    world = make_world()
    for pid in ("p1", "p2"):
        world.kit.profiles.upsert(
            ck.Profile(pid, identities={"email": f"{pid}@example.com"}, consents={})
        )
    campaign = world.draft("Two", actions=[world.email_action(), world.sms_action()])
    world.admin.activate(campaign.id)
    world.kit.run_until(T0.add(days=1))
    figure = Figure(figsize=(6, 3))
    ax = figure.add_subplot()
    assert world.admin.report(campaign.id).plot(ax) is ax
    labels = [str(line.get_label()) for line in ax.get_lines()]
    assert sorted(labels) == [
        "act_0001 excluded",
        "act_0001 sent",
        "act_0002 excluded",
        "act_0002 sent",
    ]
    assert saved(figure, tmp_path / "two.png", dpi=100) == (600, 300)


def test_a_report_without_runs_says_so(tmp_path: Path) -> None:
    world = make_world()
    ax = world.admin.report(world.draft().id).plot()
    assert not ax.get_lines()
    assert [t.get_text() for t in ax.texts] == ["no runs yet"]
    saved(ax.figure, tmp_path / "empty.png")


def test_calendar_plot_has_a_row_per_campaign_and_a_dot_per_entry(tmp_path: Path) -> None:
    ran = ran_world()
    ran.world.scheduled("Launch", days=2)
    calendar = ran.admin.calendar(T0.add(days=1), T0.add(days=6))
    ax = calendar.plot()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["Winter sale (cmp_0001)", "Launch (cmp_0002)"]
    dots = [len(line.get_xdata()) for line in ax.get_lines()]  # type: ignore[arg-type]
    assert dots == [5, 1]  # daily occurrences Dec 2..6; the one-shot start
    assert ax.get_title() == "Calendar 2026-12-02T09:00Z to 2026-12-07T09:00Z"
    width, height = saved(ax.figure, tmp_path / "calendar.png")
    assert width == 400
    assert height == int((1.6 + 0.4 * 2) * 50)  # taller with each campaign


def test_kit_plot_calendar_acts_as_the_user(tmp_path: Path) -> None:
    ran = ran_world()
    kit = ran.world.kit
    figure = Figure()
    ax = kit.plot_calendar(T0, T0.add(days=3), user="ada", ax=figure.add_subplot())
    assert ax.figure is figure
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Winter sale (cmp_0001)"]
    saved(figure, tmp_path / "kit.png")
    with pytest.raises(ck.PermissionDenied):
        kit.plot_calendar(T0, T0.add(days=3), user="nobody")


def test_an_empty_calendar_and_one_without_a_range_still_plot(tmp_path: Path) -> None:
    world = make_world()
    ax = world.admin.calendar(T0, T0.add(days=1)).plot()
    assert [t.get_text() for t in ax.texts] == ["no campaign on air"]
    saved(ax.figure, tmp_path / "empty.png")
    ran = ran_world()
    entries = ran.admin.calendar(T0.add(days=1), T0.add(days=3))
    loose = ck.Calendar(entries)
    ax = loose.plot()
    assert ax.get_title() == "Calendar"
    saved(ax.figure, tmp_path / "loose.png")
    endless = ck.Calendar([attrs_evolve_until_none(entries[0])])
    assert len(endless.plot().get_lines()) == 1


def attrs_evolve_until_none(entry: ck.CalendarEntry) -> ck.CalendarEntry:
    import attrs

    return attrs.evolve(entry, until=None)


@pytest.mark.parametrize("which", ["report", "calendar", "kit"])
def test_without_matplotlib_plots_say_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, which: str
) -> None:
    ran = ran_world()
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ck.MissingDependency) as raised:
        if which == "report":
            ran.report.plot()
        elif which == "calendar":
            ran.admin.calendar(T0, T0.add(days=2)).plot()
        else:
            ran.world.kit.plot_calendar(T0, T0.add(days=2), user="ada")
    feature = "report.plot()" if which == "report" else "calendar.plot()"
    assert str(raised.value) == f"{feature} needs matplotlib: pip install 'campaignkit[notebook]'"
