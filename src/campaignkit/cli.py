"""The ``campaignkit`` command line (``python -m campaignkit``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from campaignkit.demo import DEFAULT_DATABASE, run_demo
from campaignkit.errors import CampaignKitError
from campaignkit.worker import LOG_LEVELS, command


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code.

    Exit codes: 0 done, 1 refused (the message, one line, is on stderr),
    2 a usage error.
    """
    parser = argparse.ArgumentParser(
        prog="campaignkit", description="Multi-channel campaigns, embedded."
    )
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
    worker.add_argument("--db", required=True, help="the SQLite file holding the campaigns")
    worker.add_argument("--config", help="TOML file configuring the channels")
    worker.add_argument(
        "--poll", type=_seconds, default=30.0, help="longest wait between ticks (default 30)"
    )
    worker.add_argument("--log-level", choices=LOG_LEVELS, default="INFO")
    args = parser.parse_args(argv)
    if args.command == "worker":
        return command(args.db, config=args.config, poll=args.poll, log_level=args.log_level)
    if args.command == "demo":
        try:
            run_demo(args.db, force=args.force).close()
        except CampaignKitError as exc:
            print(f"campaignkit demo: error: {exc}", file=sys.stderr)
            return 1
    return 0


def _seconds(text: str) -> float:
    """A positive number of seconds of at most a day, for ``--poll``."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 86_400:  # run_forever's bound (worker.MAX_POLL_SECONDS)
        raise argparse.ArgumentTypeError(
            f"must be a positive number of seconds, at most 86400 (one day), not {text!r}"
        )
    return value
