"""The production worker loop behind ``kit.run_forever`` and ``campaignkit worker``.

The loop ticks the kit, then waits until the engine's next due instant (or
at most ``poll``, so work added meanwhile by another process, such as an
activation or a trigger call, is picked up), and again, until it is told to
stop::

    loop:
        report = kit.tick()
        if stopping: return
        wait until min(report.next_due_at, now + poll), or until stopping

Waiting goes through the kit's clock when it is a
:class:`~campaignkit.clock.WaitableClock` (``SystemClock`` sleeps on the
stop event; ``ManualClock`` wakes as soon as another thread moves it). A
custom clock without ``wait_until`` is waited on in real seconds: on the
stop event for the time left to the next due instant by that clock, and at
most ``poll``.

Stopping: when ``stop`` is set, or SIGTERM or SIGINT arrive, the run in
hand finishes recording the batch it is on, hands its run back (its lease
is released, so the next worker resumes it at once instead of waiting for
the lease to lapse) and no further work starts. Signal handlers are
installed only when the loop runs in the main thread, and the previous
handlers are restored when it returns. A second SIGINT while stopping
raises ``KeyboardInterrupt`` (the run in hand is still handed back).

A tick that raises (a store locked or unreachable beyond its timeout) is
logged at ERROR with its traceback and tried again ``poll`` later, so the
worker outlives a passing storage failure; ``BaseException`` (such as
``KeyboardInterrupt``) ends the loop.

Logs (logger ``campaignkit.worker``): start and stop at INFO; each run's
start, progress, failures and end are logged by ``campaignkit.delivery``.
"""

from __future__ import annotations

import logging
import math
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Final

import pendulum

from campaignkit.clock import Clock, SystemClock, WaitableClock
from campaignkit.domain import checks
from campaignkit.errors import CampaignKitError, ValidationError
from campaignkit.scale.factory import build_kit
from campaignkit.worker_config import load_config

if TYPE_CHECKING:
    from campaignkit.kit import CampaignKit

logger = logging.getLogger("campaignkit.worker")

DEFAULT_POLL: Final = pendulum.duration(seconds=30)
"""How long the worker waits at most between two ticks."""
MAX_POLL_SECONDS: Final = 86_400.0
"""The longest ``poll`` accepted: one day."""

STOP_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)
"""The signals that stop a worker running in the main thread."""


def run_forever(
    kit: CampaignKit,
    stop: threading.Event | None = None,
    *,
    poll: pendulum.Duration | float = DEFAULT_POLL,
    handle_signals: bool = True,
) -> None:
    """Tick ``kit`` on its clock until ``stop`` is set or a stop signal arrives.

    See the module documentation for the loop, the waiting and the stop.

    Args:
        kit: The kit to run.
        stop: Set it (from any thread) to stop the worker; a fresh one if None.
        poll: The longest wait between two ticks, as a duration or in seconds.
        handle_signals: Stop on SIGTERM and SIGINT (only in the main thread).

    Raises:
        ValidationError: ``stop`` is not a ``threading.Event``, or ``poll`` is
            not a positive duration.
    """
    interval = _check(stop, poll)
    event = stop if stop is not None else threading.Event()
    runner = kit.runner
    previous = runner.stop_requested
    try:
        with _signals(event, enabled=handle_signals):
            logger.info(  # once the signal handlers are in place
                "campaignkit worker %s started on %r (clock %r, poll %gs)",
                kit.worker_id,
                kit.store,
                kit.clock,
                interval.total_seconds(),
                extra={"worker_id": kit.worker_id},
            )
            runner.stop_requested = event.is_set
            try:
                while not event.is_set():
                    until = _tick(kit, interval)
                    if event.is_set():
                        break
                    _wait(kit.clock, until, event, interval)
            finally:
                runner.stop_requested = previous
    finally:
        logger.info(
            "campaignkit worker %s stopped", kit.worker_id, extra={"worker_id": kit.worker_id}
        )


def _tick(kit: CampaignKit, poll: pendulum.Duration) -> pendulum.DateTime:
    """Tick once; when to tick next (the next due instant, at most ``poll`` away).

    A tick that raises (the store is locked or unreachable longer than its
    timeout) is logged with its traceback and tried again ``poll`` later: the
    worker outlives a passing storage failure.
    """
    try:
        report = kit.tick()
    except Exception:
        logger.exception(
            "campaignkit worker %s: the tick failed; trying again in %gs",
            kit.worker_id,
            poll.total_seconds(),
            extra={"worker_id": kit.worker_id},
        )
        return kit.clock.now() + poll
    until = kit.clock.now() + poll
    due = report.next_due_at
    if due is not None and report.now < due < until:
        until = due
    return until


def _check(stop: object, poll: object) -> pendulum.Duration:
    """The poll interval as a duration, after checking both arguments."""
    problems: list[str] = []
    if stop is not None and not isinstance(stop, threading.Event):
        problems.append(f"stop must be a threading.Event or None, not {checks.describe(stop)}")
    seconds: float | None = None
    if isinstance(poll, pendulum.Duration):
        seconds = poll.total_seconds()
    elif isinstance(poll, (int, float)) and not isinstance(poll, bool):
        seconds = float(poll) if -1e300 < poll < 1e300 else math.inf  # no OverflowError
    if seconds is None or not 0 < seconds <= MAX_POLL_SECONDS:  # also NaN and inf
        problems.append(
            "poll must be a positive pendulum.Duration or number of seconds "
            f"(such as 30) of at most one day ({MAX_POLL_SECONDS:g}), not {checks.describe(poll)}"
        )
    checks.raise_if(problems, "run_forever")
    assert seconds is not None
    return pendulum.duration(seconds=seconds)


def _wait(
    clock: Clock, until: pendulum.DateTime, stop: threading.Event, poll: pendulum.Duration
) -> None:
    """Wait until ``until`` by ``clock``, or until ``stop`` is set."""
    if isinstance(clock, WaitableClock):
        clock.wait_until(until, stop)
        return
    # a clock that cannot be waited on: real seconds, at most the poll interval
    left = (until - clock.now()).total_seconds()
    stop.wait(max(0.0, min(left, poll.total_seconds())))


Handler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None


@contextmanager
def _signals(stop: threading.Event, *, enabled: bool) -> Iterator[None]:
    """Set ``stop`` on SIGTERM/SIGINT while the block runs (main thread only)."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now, the run is handed back
        logger.info("received %s: stopping after the batch in hand", name)
        stop.set()

    previous: dict[signal.Signals, Handler] = {}
    try:
        for number in STOP_SIGNALS:
            previous[number] = signal.signal(number, on_signal)
        yield
    finally:
        for number, handler in previous.items():
            # None: installed outside Python; the default is the closest we can restore
            signal.signal(number, signal.SIG_DFL if handler is None else handler)


LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")
"""The levels ``campaignkit worker --log-level`` accepts."""


def command(
    database: str | None,
    *,
    config: str | None,
    poll: float,
    log_level: str,
    env: Mapping[str, str] | None = None,
    factory: str | None = None,
) -> int:
    """``campaignkit worker``: run a SQLite store's campaigns on the wall clock until signalled.

    Configures logging (to standard error), reads the channels
    (:mod:`campaignkit.worker_config`), opens the store with a
    ``SystemClock`` and runs :func:`run_forever` until SIGTERM or SIGINT.
    With ``factory`` the host's function builds the kit instead (its store,
    clock and channels: any store, PostgreSQL included); ``database``, if
    given, is its one argument, and ``config`` is not used.

    Args:
        database: The SQLite file; with ``factory``, what ``--db`` said (a SQLite
            path or a PostgreSQL DSN) for the factory, or None.
        config: The TOML channel configuration (None: the environment only).
        poll: The longest wait between two ticks, in seconds.
        log_level: One of :data:`LOG_LEVELS`, for the ``campaignkit`` loggers
            (other libraries log from WARNING up).
        env: The environment (default ``os.environ``).
        factory: ``"package.module:function"`` building the kit (see
            :func:`campaignkit.scale.build_kit`).

    Returns:
        The exit code: 0 after a clean stop, 1 if the configuration, the
        store or the factory is refused (the reason is printed on standard
        error), 130 after a second SIGINT.
    """
    if factory is not None:
        return _factory_worker(factory, database, poll=poll, log_level=log_level)
    assert database is not None
    from campaignkit.kit import CampaignKit  # noqa: PLC0415 - kit imports this module

    if not Path(database).is_file():
        what = "is a directory" if Path(database).is_dir() else "does not exist"
        print(
            f"campaignkit worker: error: {database} {what}: pass --db with the SQLite "
            "file your application keeps its campaigns in (the worker does not create one)",
            file=sys.stderr,
        )
        return 1
    clock = SystemClock()
    try:
        settings = load_config(config, env=env, clock=clock)
    except ValidationError as exc:
        _refused(exc)
        return 1
    try:
        kit = CampaignKit.sqlite(
            database,
            clock=clock,
            channels=settings.channels,
            delivery=settings.delivery,
            secret=settings.secret,
        )
    except CampaignKitError as exc:
        settings.close()
        _refused(exc)
        return 1
    try:
        return _run(kit, poll=poll, log_level=log_level)
    finally:
        settings.close()


def _factory_worker(factory: str, database: str | None, *, poll: float, log_level: str) -> int:
    """``campaignkit worker --factory``: the host's factory builds the kit (given ``--db``)."""
    try:
        kit = build_kit(factory, database)
    except CampaignKitError as exc:
        _refused(exc)
        return 1
    except Exception as exc:
        print(
            f"campaignkit worker: error: the factory {factory} raised {type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        return 1
    return _run(kit, poll=poll, log_level=log_level)


def _run(kit: CampaignKit, *, poll: float, log_level: str) -> int:
    """Configure logging, run ``kit`` until signalled, close it; the exit code."""
    # --log-level is campaignkit's; other libraries (httpx logs every request at
    # INFO) speak from WARNING up
    level = logging.getLevelName(log_level)
    logging.basicConfig(
        level=max(level, logging.WARNING),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("campaignkit").setLevel(level)
    try:
        run_forever(kit, poll=poll)
    except KeyboardInterrupt:
        return 130
    finally:
        kit.close()
    return 0


def _refused(exc: CampaignKitError) -> None:
    """Print why the worker cannot start: one line per problem, on standard error."""
    if isinstance(exc, ValidationError):
        for problem in exc.problems:
            print(f"campaignkit worker: error: {exc.subject}: {problem}", file=sys.stderr)
    else:
        print(f"campaignkit worker: error: {exc}", file=sys.stderr)
