"""Moving campaigns and requests in and out: ``trigger``, ``export``, ``import``, ``copy-store``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from campaignkit import ajo
from campaignkit.adapters.copying import copy_store
from campaignkit.cli import output
from campaignkit.cli.campaigns import summary
from campaignkit.cli.state import CommandError, open_kit, state_of
from campaignkit.errors import ValidationError


def register(app: typer.Typer) -> None:
    """Add ``trigger``, ``export``, ``import`` and ``copy-store`` to ``app``."""
    app.command("trigger")(trigger)
    app.command("export")(export)
    app.command("import")(import_package)
    app.command("copy-store")(copy_store_command)


def read_json(path: Path) -> Any:
    """The JSON document in ``path``.

    Raises:
        CommandError: it is not JSON (or not UTF-8).
        OSError: it cannot be read.
    """
    text = path.read_bytes()
    try:
        return json.loads(text)
    except ValueError as exc:  # also UnicodeDecodeError
        raise CommandError(f"{path} is not a JSON document: {exc}") from exc


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
    request = read_json(body)
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
    package = read_json(file)
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
    with open_kit(src) as source, open_kit(dst, create=True) as target:
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
