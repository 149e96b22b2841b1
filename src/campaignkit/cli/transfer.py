"""Moving campaigns and requests in and out: ``trigger``, ``export``, ``import``, ``copy-store``."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from campaignkit import ajo
from campaignkit.adapters.copying import copy_store
from campaignkit.cli import output
from campaignkit.cli.campaigns import summary
from campaignkit.cli.state import DSN_SCHEMES, CommandError, open_kit, state_of
from campaignkit.errors import ValidationError

MAX_BODY_BYTES: int = 8 << 20
"""The largest ``trigger --body`` read (8 MiB): a request's contexts total at most 200 KiB."""
MAX_PACKAGE_BYTES: int = 256 << 20
"""The largest package ``import`` reads (256 MiB)."""


def register(app: typer.Typer) -> None:
    """Add ``trigger``, ``export``, ``import`` and ``copy-store`` to ``app``."""
    app.command("trigger")(trigger)
    app.command("export")(export)
    app.command("import")(import_package)
    app.command("copy-store")(copy_store_command)


def read_json(path: Path, limit: int) -> Any:
    """The JSON document in ``path``, of at most ``limit`` bytes.

    Raises:
        CommandError: it is larger than ``limit`` (then no more than that is
            read), not JSON (or not UTF-8), or nested too deeply to read.
        OSError: it cannot be read.
    """
    with path.open("rb") as handle:
        text = handle.read(limit + 1)
    if len(text) > limit:
        raise CommandError(
            f"{path} is larger than {limit:,} bytes, more than this command ever needs; "
            "check that this is the right file"
        )
    try:
        return json.loads(text)
    except ValueError as exc:  # also UnicodeDecodeError
        raise CommandError(f"{path} is not a JSON document: {exc}") from exc
    except RecursionError:
        raise CommandError(
            f"{path} is not a JSON document this command can read: it is nested too deeply"
        ) from None


def trigger(
    ctx: typer.Context,
    campaign_id: Annotated[str, typer.Argument(metavar="ID", help="The campaign id.")],
    body: Annotated[
        Path,
        typer.Option(
            metavar="FILE.json",
            help="An AJO execution request body: with recipients, a unitary execution; "
            "without, an audience execution.",
        ),
    ],
) -> None:
    """Trigger an API-triggered campaign with an AJO request body (the next tick delivers)."""
    state = state_of(ctx)
    request = read_json(body, MAX_BODY_BYTES)
    if not isinstance(request, dict):
        raise CommandError(f"{body} must hold a JSON object (an AJO request body)")
    named = request.setdefault("campaignId", campaign_id)
    if named != campaign_id:
        raise CommandError(
            f"{body} names campaign {named!r} but the command names {campaign_id!r}; "
            "remove campaignId from the body or make them agree"
        )
    with state.open() as kit:
        session = state.session(kit)
        if "recipients" in request:
            response = ajo.execute_unitary(session, request)
        else:
            response = ajo.execute_audience(session, request)
    if state.json:
        output.emit_json(response)
        return
    output.show(output.fields(f"execution {response['executionId']}", list(response.items())))


def export(
    ctx: typer.Context,
    campaign_ids: Annotated[
        list[str], typer.Argument(metavar="ID...", help="The campaigns to export.")
    ],
    out: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="Write the package here (default: standard output)."),
    ] = None,
) -> None:
    """Export campaigns as a JSON package (the input of 'campaignkit import')."""
    state = state_of(ctx)
    with state.open() as kit:
        package = state.session(kit).export(campaign_ids)
    text = json.dumps(package, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        print(text, end="")
        return
    out.write_text(text, encoding="utf-8")
    count = len(package["campaigns"])
    if state.json:
        output.emit_json({"out": str(out), "campaigns": count})
        return
    output.show(f"exported {count} campaign(s) to {out}")


def import_package(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="A package written by 'campaignkit export'.")
    ],
) -> None:
    """Import a package: a new DRAFT campaign for each campaign in it."""
    state = state_of(ctx)
    package = read_json(file, MAX_PACKAGE_BYTES)
    with state.open() as kit:
        created = state.session(kit).import_(package)
    rows = [summary(c) for c in created]
    if state.json:
        output.emit_json(rows)
        return
    output.show(
        output.table(
            f"imported {len(rows)} campaign(s) from {file}",
            ("id", "name", "status", "type"),
            [(r["id"], r["name"], r["status"], r["type"]) for r in rows],
        )
    )


def copy_store_command(
    ctx: typer.Context,
    src: Annotated[
        str, typer.Argument(metavar="SRC", help="The store to copy: a SQLite file or a DSN.")
    ],
    dst: Annotated[
        str,
        typer.Argument(
            metavar="DST",
            help="The store to copy into: a SQLite file (created if missing) or a "
            "postgresql:// DSN; it must be empty unless --merge.",
        ),
    ],
    merge: Annotated[
        bool,
        typer.Option(
            "--merge",
            help="Add to a destination that holds data (its records of the same id are replaced).",
        ),
    ] = False,
) -> None:
    """Copy a whole store (SQLite or PostgreSQL, either way) into another, ids unchanged."""
    state = state_of(ctx)
    with (
        open_kit(src) as source,
        _destination(dst) as into,  # closed after the target: renamed once complete
        open_kit(into, create=True) as target,
    ):
        try:
            report = copy_store(source, target, merge=merge)
        except ValidationError as exc:  # the command line's words for the same advice
            problems = [p.replace("merge=True", "--merge") for p in exc.problems]
            raise CommandError(f"cannot copy {src} to {dst}: {'; '.join(problems)}") from exc
    if state.json:
        output.emit_json({"merged": report.merged, "counts": report.counts, "total": report.total})
        return
    output.show(
        output.table(
            f"copied {report.total:,} record(s) from {src} to {dst}",
            ("table", "records"),
            [*report.counts.items(), ("total", report.total)],
        )
    )


@contextlib.contextmanager
def _destination(dst: str) -> Iterator[str]:
    """Where to copy ``dst``: a missing SQLite file is made under another name first.

    The copy goes into a new file next to ``dst``, renamed to ``dst`` only
    once it is complete (and closed); a copy that fails or is interrupted,
    even by SIGKILL, never leaves a half-copied ``dst`` behind, so copying
    again needs no ``--merge`` (which would append the logs twice). An
    existing file or a PostgreSQL schema is copied into in place.
    """
    path = Path(dst)
    if (
        dst.startswith(DSN_SCHEMES)
        or path.exists()
        or path.is_symlink()
        or not path.parent.is_dir()
    ):
        yield dst
        return
    partial = path.with_name(f".{path.name}.copying-{secrets.token_hex(4)}")
    try:
        yield str(partial)
        os.replace(partial, path)
    finally:
        for leftover in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(f"{partial}{leftover}")
