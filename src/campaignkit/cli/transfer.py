"""Moving campaigns and requests in and out: ``trigger``, ``export``, ``import``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from campaignkit import ajo
from campaignkit.cli import output
from campaignkit.cli.campaigns import summary
from campaignkit.cli.state import CommandError, state_of


def register(app: typer.Typer) -> None:
    """Add ``trigger``, ``export`` and ``import`` to ``app``."""
    app.command("trigger")(trigger)
    app.command("export")(export)
    app.command("import")(import_package)


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
