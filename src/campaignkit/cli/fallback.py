"""The command line without the ``cli`` extra: ``demo`` and ``worker`` only.

Installed without ``campaignkit[cli]`` (typer and rich), ``campaignkit demo``
and ``campaignkit worker`` work as they always have, through argparse; any
other command says in one line which extra it needs and exits with 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Final

from campaignkit import __version__
from campaignkit.demo import DEFAULT_DATABASE, run_demo
from campaignkit.errors import CampaignKitError
from campaignkit.worker import LOG_LEVELS, MAX_POLL_SECONDS, command

NEEDS_EXTRA: Final = (
    "campaignkit: this command needs the command-line extra: pip install 'campaignkit[cli]'"
)
"""What any command but ``demo`` and ``worker`` prints without the extra."""
BUILT_IN: Final = frozenset({"demo", "worker"})
"""The commands that work without the extra."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``demo`` or ``worker``; the exit code.

    Exit codes: 0 done, 1 refused (the message, one line, is on stderr) or a
    command that needs the extra, 2 a usage error (``SystemExit``).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in args if not a.startswith("-")), None)
    if first is not None and first not in BUILT_IN:
        print(NEEDS_EXTRA, file=sys.stderr)
        return 1
    parser = argparse.ArgumentParser(
        prog="campaignkit", description="Multi-channel campaigns, embedded."
    )
    parser.add_argument("--version", action="version", version=f"campaignkit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="create and run a campaign on a fast-forwarded clock")
    demo.add_argument(
        "--db",
        default=DEFAULT_DATABASE,
        help=f"SQLite file to create (default {DEFAULT_DATABASE}); an existing file is "
        "replaced only if an earlier demo wrote it",
    )
    demo.add_argument(
        "--force",
        action="store_true",
        help="replace the --db file even if the demo did not write it",
    )
    worker = commands.add_parser(
        "worker",
        help="deliver a SQLite store's campaigns on the wall clock until SIGTERM or SIGINT",
        description="Tick the store on the wall clock, sending through the channels of "
        "--config (see campaignkit.worker_config); stop cleanly on SIGTERM or SIGINT.",
    )
    worker.add_argument("--db", help="the SQLite file holding the campaigns")
    worker.add_argument("--config", help="TOML file configuring the channels")
    worker.add_argument(
        "--poll", type=seconds, default=30.0, help="longest wait between ticks (default 30)"
    )
    worker.add_argument("--log-level", choices=LOG_LEVELS, default="INFO")
    worker.add_argument(
        "--factory",
        metavar="MODULE:FUNCTION",
        help="build the kit with this function (its store, clock and channels) "
        "instead of --config; --db, if given, is its one argument",
    )
    parsed = parser.parse_args(args)
    if parsed.command == "worker":
        if parsed.factory is None and parsed.db is None:
            worker.error("the following arguments are required: --db (or --factory)")
        if parsed.factory is not None and parsed.config is not None:
            worker.error("--factory builds the kit, its channels included: leave out --config")
        if parsed.factory is not None and parsed.db == "":
            worker.error("--db is empty: pass --db DATABASE for the factory, or leave it out")
        return command(
            parsed.db,
            config=parsed.config,
            poll=parsed.poll,
            log_level=parsed.log_level,
            factory=parsed.factory,
        )
    try:
        run_demo(parsed.db, force=parsed.force).close()
    except CampaignKitError as exc:
        print(f"campaignkit demo: error: {exc}", file=sys.stderr)
        return 1
    return 0


def seconds(text: str) -> float:
    """A positive number of seconds of at most a day, for ``--poll``."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= MAX_POLL_SECONDS:
        raise argparse.ArgumentTypeError(
            f"must be a positive number of seconds, at most 86400 (one day), not {text!r}"
        )
    return value
