"""Running the store: ``tick``, ``worker`` and ``demo``.

``tick`` and ``worker`` are the only commands that deliver; both send
through the channels of a worker configuration file (``--config``, see
:mod:`campaignkit.worker_config`). Every other command opens the store with
recording channels that reach nobody, and none of them sends.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Annotated, Any

import typer

from campaignkit.cli import output
from campaignkit.cli.state import UsageProblem, open_kit, state_of
from campaignkit.clock import SystemClock
from campaignkit.demo import DEFAULT_DATABASE, run_demo
from campaignkit.domain.events import ApprovalEvent, CampaignChanged, DomainEvent
from campaignkit.errors import CampaignKitError
from campaignkit.worker import LOG_LEVELS, MAX_POLL_SECONDS, command
from campaignkit.worker_config import load_config


def register(app: typer.Typer) -> None:
    """Add ``tick``, ``worker`` and ``demo`` to ``app``."""
    app.command("tick")(tick)
    app.command("worker")(worker)
    app.command("demo")(demo)


ConfigOption = Annotated[
    str | None,
    typer.Option(
        "--config",
        metavar="FILE",
        help="TOML file configuring the channels (see campaignkit.worker_config).",
    ),
]


def event_row(event: DomainEvent) -> dict[str, Any]:
    """A domain event as JSON-ready values."""
    if isinstance(event, CampaignChanged):
        entry = event.entry
        return {
            "campaign_id": event.campaign_id,
            "at": entry.at,
            "actor": entry.actor,
            "action": entry.action,
            "from": entry.from_status,
            "to": entry.to_status,
        }
    if isinstance(event, ApprovalEvent):
        return {
            "campaign_id": event.campaign_id,
            "at": event.entry.at,
            "actor": event.entry.actor,
            "action": event.action,
            "from": None,
            "to": None,
        }
    return {
        "campaign_id": event.campaign_id,
        "at": event.at,
        "actor": event.actor,
        "action": event.verb,
        "from": None,
        "to": None,
    }


def tick(ctx: typer.Context, config: ConfigOption = None) -> None:
    """Run every piece of work due now once, delivering through the --config channels."""
    state = state_of(ctx)
    database = state.database()
    settings = load_config(config, clock=SystemClock())
    try:
        # under --json a console channel's lines go to standard error
        quiet = contextlib.redirect_stdout(sys.stderr) if state.json else contextlib.nullcontext()
        with (
            open_kit(
                database,
                channels=settings.channels,
                delivery=settings.delivery,
                secret=settings.secret,
            ) as kit,
            quiet,
        ):
            result = kit.tick()
    finally:
        settings.close()
    rows = [event_row(e) for e in result.events]
    if state.json:
        output.emit_json({"now": result.now, "events": rows, "next_due_at": result.next_due_at})
        return
    output.show(
        output.table(
            f"tick at {result.now.isoformat()}: {len(rows)} event(s)",
            ("campaign", "at", "actor", "action", "from", "to"),
            [tuple(r.values()) for r in rows],
        ),
        f"next due: {output.plain(result.next_due_at)}",
    )


def seconds(value: str) -> float:
    """A positive number of seconds of at most a day, for ``--poll``.

    Raises:
        typer.BadParameter: anything else (shown as a usage error).
    """
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not 0 < number <= MAX_POLL_SECONDS:
        raise typer.BadParameter(
            f"must be a positive number of seconds, at most 86400 (one day), not {value!r}"
        )
    return number


def log_level(value: str) -> str:
    """One of :data:`~campaignkit.worker.LOG_LEVELS` (any case).

    Raises:
        typer.BadParameter: another word.
    """
    if value.upper() not in LOG_LEVELS:
        raise typer.BadParameter(f"must be one of {', '.join(LOG_LEVELS)}, not {value!r}")
    return value.upper()


def worker(
    ctx: typer.Context,
    config: ConfigOption = None,
    poll: Annotated[
        float,
        typer.Option(
            metavar="SECONDS", parser=seconds, help="Longest wait between ticks (default 30)."
        ),
    ] = 30.0,
    level: Annotated[
        str,
        typer.Option(
            "--log-level",
            metavar="[" + "|".join(LOG_LEVELS) + "]",
            parser=log_level,
            help="Level of the campaignkit loggers (default INFO).",
        ),
    ] = "INFO",
    factory: Annotated[
        str | None,
        typer.Option(
            metavar="MODULE:FUNCTION",
            help="Build the kit with this function of yours (its store, clock and channels) "
            "instead of --config; --db, if given, is its one argument; see docs/scale-out.md.",
        ),
    ] = None,
) -> int:
    """Deliver the store's campaigns on the wall clock until SIGTERM or SIGINT.

    Start as many as you like, on as many machines: they share the runs
    (and the shards of a run) through the store.
    """
    state = state_of(ctx)
    if factory is not None:
        if config is not None:
            raise UsageProblem(
                "--factory builds the kit, its channels included: leave out --config"
            )
        if state.db == "":  # an unset shell variable: never hand the factory nothing
            raise UsageProblem("--db is empty: pass --db DATABASE for the factory, or leave it out")
        return command(state.db, config=None, poll=poll, log_level=level, factory=factory)
    return command(state.database(), config=config, poll=poll, log_level=level)


def demo(
    ctx: typer.Context,
    force: Annotated[
        bool, typer.Option(help="Replace the --db file even if the demo did not write it.")
    ] = False,
) -> int:
    """Create a demo database and run a campaign on a fast-forwarded clock.

    --db names the file (default campaignkit-demo.db; CAMPAIGNKIT_DB is not
    used); an existing file is replaced only if an earlier demo wrote it.
    """
    state = state_of(ctx)
    database = state.db or DEFAULT_DATABASE
    lines: list[str] = []
    out = lines.append if state.json else print
    try:
        run_demo(database, out, force=force).close()
    except CampaignKitError as exc:
        print(f"campaignkit demo: error: {exc}", file=sys.stderr)
        return 1
    if state.json:
        output.emit_json({"database": database, "lines": lines})
    return 0
