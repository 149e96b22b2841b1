"""The ``campaignkit`` command line (``python -m campaignkit``).

With the ``cli`` extra (``pip install 'campaignkit[cli]'``: typer and rich)
every command is available (:mod:`campaignkit.cli.app`); without it only
``demo`` and ``worker`` run (:mod:`campaignkit.cli.fallback`).
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); the exit code.

    Exit codes: 0 done; 1 refused or failed (one line on standard error);
    2 a usage error (raised as ``SystemExit(2)``, as argparse does).
    """
    try:
        import rich  # noqa: F401, PLC0415 - the extra is optional
        import typer  # noqa: F401, PLC0415
    except ImportError:
        from campaignkit.cli import fallback  # noqa: PLC0415

        return fallback.main(argv)
    from campaignkit.cli import app  # noqa: PLC0415

    return app.run(argv)


__all__ = ["main"]
