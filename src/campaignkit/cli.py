"""The ``campaignkit`` command line (``python -m campaignkit``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from campaignkit.demo import DEFAULT_DATABASE, run_demo
from campaignkit.errors import CampaignKitError


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
    args = parser.parse_args(argv)
    if args.command == "demo":
        try:
            run_demo(args.db, force=args.force).close()
        except CampaignKitError as exc:
            print(f"campaignkit demo: error: {exc}", file=sys.stderr)
            return 1
    return 0
