"""The ``campaignkit`` command line (``python -m campaignkit``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from campaignkit.demo import DEFAULT_DATABASE, run_demo


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    parser = argparse.ArgumentParser(
        prog="campaignkit", description="Multi-channel campaigns, embedded."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="create and run a campaign on a fast-forwarded clock")
    demo.add_argument(
        "--db", default=DEFAULT_DATABASE, help=f"SQLite file to create (default {DEFAULT_DATABASE})"
    )
    args = parser.parse_args(argv)
    if args.command == "demo":
        run_demo(args.db).close()
    return 0
