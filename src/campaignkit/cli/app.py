"""The typer application: commands, global options, errors and exit codes.

Exit codes: 0 done; 1 refused or failed (one line on standard error,
``campaignkit: error: ...``; ``--debug`` adds the traceback); 2 a usage error
(raised as ``SystemExit(2)``, as argparse does); 130 interrupted.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from campaignkit import __version__
from campaignkit.cli import admin, campaigns, operations, transfer
from campaignkit.cli.state import DB_ENV, USER_ENV, CommandError, State, UsageProblem, state_of
from campaignkit.errors import CampaignKitError, NotFound, PermissionDenied, ValidationError

PROG = "campaignkit"
GLOBAL = "Global options"


def _version(value: bool) -> None:
    if value:
        print(f"{PROG} {__version__}")
        raise typer.Exit


def build() -> typer.Typer:
    """The ``campaignkit`` typer application, every command registered."""
    app = typer.Typer(
        name=PROG,
        help="Multi-channel campaigns, embedded: the command line of a campaignkit store.",
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def root(
        version: Annotated[
            bool,
            typer.Option(
                "--version", callback=_version, is_eager=True, help="Print the version and exit."
            ),
        ] = False,
    ) -> None:
        """Multi-channel campaigns, embedded: the command line of a campaignkit store."""

    campaigns.register(app)
    admin.register(app)
    transfer.register(app)
    operations.register(app)
    return app


def _keeper(name: str) -> Callable[[typer.Context, Any], None]:
    """A callback storing a given global option's value in the invocation's :class:`State`."""

    def keep(ctx: typer.Context, value: Any) -> None:
        if value is None or value is False:
            return  # not given here: keep what an earlier position set
        setattr(state_of(ctx), name, value)

    return keep


def _global_options() -> list[Any]:
    """The global options, as typer builds them (so its help shows them)."""
    holder = typer.Typer(add_completion=False)

    @holder.command()
    def options(
        global_db: Annotated[
            str | None,
            typer.Option(
                "--db",
                metavar="DB",
                expose_value=False,
                callback=_keeper("db"),
                help=f"The campaignkit SQLite database (default: ${DB_ENV}).",
                rich_help_panel=GLOBAL,
            ),
        ] = None,
        global_user: Annotated[
            str | None,
            typer.Option(
                "--as",
                metavar="USER",
                expose_value=False,
                callback=_keeper("user"),
                help=f"Act as this user; permissions are checked (default: ${USER_ENV}).",
                rich_help_panel=GLOBAL,
            ),
        ] = None,
        global_json: Annotated[
            bool,
            typer.Option(
                "--json",
                expose_value=False,
                callback=_keeper("json"),
                help="Print machine-readable JSON on standard output, nothing else.",
                rich_help_panel=GLOBAL,
            ),
        ] = False,
        global_debug: Annotated[
            bool,
            typer.Option(
                "--debug",
                expose_value=False,
                callback=_keeper("debug"),
                help="Print the traceback of an error.",
                rich_help_panel=GLOBAL,
            ),
        ] = False,
    ) -> None:
        """Never run: it only carries the global options."""

    built = typer.main.get_command(holder)
    return [p for p in built.params if p.name.startswith("global_")]


def _with_global_options(command: Any) -> None:
    """Give ``command`` and every command below it the global options."""
    command.params.extend(_global_options())
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            _with_global_options(sub)


def command() -> Any:
    """The (click) command of the whole command line, global options everywhere."""
    root = typer.main.get_command(build())
    _with_global_options(root)
    return root


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); the exit code.

    Raises:
        SystemExit: 2 on a usage error (the message, one line, is on stderr).
    """
    state = State()
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = command().main(args=args, prog_name=PROG, standalone_mode=False, obj=state)
    except UsageProblem as exc:
        message = _one_line(str(exc))
        print(f"{PROG}: usage error: {message} (see '{state.command} --help')", file=sys.stderr)
        raise SystemExit(2) from None
    except typer.TyperException as exc:  # click's usage errors (exit code 2) and others
        if exc.exit_code != 2:
            print(f"{PROG}: error: {_one_line(exc.format_message())}", file=sys.stderr)
            return exc.exit_code
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else PROG
        message = _one_line(_usage_message(exc))
        print(f"{PROG}: usage error: {message} (see '{where} --help')", file=sys.stderr)
        raise SystemExit(2) from None
    except typer.Abort:
        print(f"{PROG}: aborted", file=sys.stderr)
        return 130
    except Exception as exc:
        if state.debug:
            traceback.print_exception(exc)
        print(f"{PROG}: error: {describe(exc)}", file=sys.stderr)
        return 1
    return result if isinstance(result, int) else 0


def _one_line(text: str) -> str:
    return " ".join(text.split())


def describe(exc: BaseException) -> str:
    """The one line saying what went wrong and what to do."""
    if isinstance(exc, NotFound):
        if exc.kind == "campaign":
            return (
                f"unknown campaign {exc.key!r}; list them with '{PROG} campaigns list --status all'"
            )
        return _one_line(str(exc))
    if isinstance(exc, PermissionDenied):
        return _one_line(
            f"{exc}; an administrator can give a product profile with "
            f"'{PROG} access assign {exc.user} PROFILE'"
        )
    if isinstance(exc, ValidationError):
        return _one_line(f"{exc.subject}: {'; '.join(exc.problems)}")
    if isinstance(exc, (CampaignKitError, CommandError)):
        return _one_line(str(exc))
    if isinstance(exc, OSError) and exc.filename is not None:
        return _one_line(f"{exc.filename}: {exc.strerror or exc}")
    return _one_line(
        f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)"
    )


def _usage_message(exc: typer.TyperException) -> str:
    """``--option: what is wrong`` for a bad option value, else click's own message."""
    param = getattr(exc, "param", None)
    if isinstance(exc, typer.BadParameter) and param is not None and param.opts:
        return f"{param.opts[0]}: {exc.message}"
    return exc.format_message()
