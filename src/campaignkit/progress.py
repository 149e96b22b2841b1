"""Progress bars for runs: plug tqdm or rich into the kit's progress callback.

.. code-block:: python

    kit = ck.CampaignKit.in_memory(clock=clock, progress=tqdm_progress())

The runner calls the callback after every batch of every run with a
:class:`~campaignkit.ports.RunProgress`; these callbacks keep one bar per run,
advance it to the run's position, show the counts so far and close it once
the whole audience is processed (when the audience's size is known; otherwise
at :meth:`close`). tqdm and rich are optional and imported when a callback is
made, never with campaignkit; without them :func:`tqdm_progress` and
:func:`rich_progress` raise :class:`~campaignkit.errors.MissingDependency`.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any, TypeVar

from campaignkit.errors import MissingDependency

if TYPE_CHECKING:
    from types import TracebackType

    from rich.progress import Progress as RichBars
    from rich.progress import TaskID

    from campaignkit.ports import RunProgress

__all__ = ["RichProgress", "TqdmProgress", "rich_progress", "tqdm_progress"]

B = TypeVar("B", bound="_Bars")


def _label(progress: RunProgress) -> str:
    return f"{progress.campaign_id} {progress.run_id}"


def _postfix(progress: RunProgress) -> dict[str, int]:
    counts = progress.counts
    return {"sent": counts.sent, "failed": counts.failed, "excluded": counts.excluded_total}


def _done(progress: RunProgress) -> bool:
    return progress.total is not None and progress.position >= progress.total


class _Bars:
    """Closes the bars still open when used as a context manager."""

    def close(self) -> None:
        """Close every bar still open (runs whose audience size was unknown)."""
        raise NotImplementedError

    def __enter__(self: B) -> B:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class TqdmProgress(_Bars):
    """A progress callback drawing one tqdm bar per run (made by :func:`tqdm_progress`).

    Args:
        bar: The tqdm class (``tqdm.auto.tqdm`` picks a notebook widget where one works).
        options: Keyword arguments for every bar (``file=``, ``leave=``, ...).
    """

    def __init__(self, bar: Any, options: dict[str, Any]) -> None:
        self._bar = bar
        self._options = {"unit": "recipient", **options}
        self._bars: dict[str, Any] = {}

    @property
    def open_runs(self) -> tuple[str, ...]:
        """The runs whose bar is still open."""
        return tuple(self._bars)

    def __call__(self, progress: RunProgress) -> None:
        """Advance the run's bar to its position (its first call opens it)."""
        bar = self._bars.get(progress.run_id)
        if bar is None:
            bar = self._bar(total=progress.total, desc=_label(progress), **self._options)
            self._bars[progress.run_id] = bar
        elif progress.total is not None and bar.total != progress.total:
            bar.total = progress.total
        bar.set_postfix(_postfix(progress), refresh=False)
        bar.update(progress.position - bar.n)
        if _done(progress):
            bar.close()
            del self._bars[progress.run_id]

    def close(self) -> None:
        """Close every bar still open (runs whose audience size was unknown)."""
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()


class RichProgress(_Bars):
    """A progress callback showing one rich task per run (made by :func:`rich_progress`).

    The display starts with the first call and stops once no run is left open.

    Args:
        bars: The ``rich.progress.Progress`` display to add tasks to.
    """

    def __init__(self, bars: RichBars) -> None:
        self.bars = bars
        self._tasks: dict[str, TaskID] = {}

    @property
    def open_runs(self) -> tuple[str, ...]:
        """The runs whose task is still open."""
        return tuple(self._tasks)

    def __call__(self, progress: RunProgress) -> None:
        """Advance the run's task to its position (its first call adds it)."""
        task = self._tasks.get(progress.run_id)
        if task is None:
            if not self._tasks:
                self.bars.start()
            task = self.bars.add_task(_label(progress), total=progress.total)
            self._tasks[progress.run_id] = task
        counts = ", ".join(f"{name} {n}" for name, n in _postfix(progress).items())
        self.bars.update(
            task,
            completed=progress.position,
            total=progress.total,
            description=f"{_label(progress)} ({counts})",
        )
        if _done(progress):
            self.bars.stop_task(task)
            del self._tasks[progress.run_id]
            if not self._tasks:
                self.bars.stop()

    def close(self) -> None:
        """Stop the display and forget the runs still open."""
        self._tasks.clear()
        self.bars.stop()


def tqdm_progress(**tqdm_kwargs: Any) -> TqdmProgress:
    """A progress callback that drives one tqdm bar per run.

    Pass it as ``progress=`` to :class:`~campaignkit.CampaignKit` (or
    ``in_memory``/``sqlite``). With ``ipywidgets`` installed, ``tqdm.auto``
    draws a widget in a notebook; otherwise bars are text (on stderr).

    Args:
        **tqdm_kwargs: Passed to every bar (``file=``, ``leave=``, ``ncols=``, ...).

    Raises:
        MissingDependency: tqdm is not installed (``pip install 'campaignkit[notebook]'``).
    """
    # tqdm.auto warns and falls back to a text bar in a notebook without ipywidgets
    flavour = "tqdm.auto" if importlib.util.find_spec("ipywidgets") else "tqdm.std"
    try:
        module = importlib.import_module(flavour)
    except ImportError as exc:
        raise MissingDependency("tqdm_progress()", "tqdm", "notebook") from exc
    return TqdmProgress(module.tqdm, dict(tqdm_kwargs))


def rich_progress(**progress_kwargs: Any) -> RichProgress:
    """A progress callback that shows one rich progress task per run.

    Args:
        **progress_kwargs: Passed to ``rich.progress.Progress`` (``console=``,
            ``transient=``, ...).

    Raises:
        MissingDependency: rich is not installed (``pip install 'campaignkit[cli]'``).
    """
    try:
        from rich.progress import Progress  # noqa: PLC0415 - an optional extra
    except ImportError as exc:
        raise MissingDependency("rich_progress()", "rich", "cli") from exc
    return RichProgress(Progress(**progress_kwargs))
