"""Set-up commands: ``access``, ``surfaces list``, ``profiles import``, ``audiences define``.

The access console and the profile and audience data belong to the host:
whoever can open the database file (see docs/decisions/tooling.md, "Command line").
``access`` acts as the host unless ``--as`` names a user, whose
``access.manage`` permission is then checked and who is recorded as the
actor; ``surfaces list`` reads through the acting user's session.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Final

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from campaignkit.cli import output
from campaignkit.cli.records import FileProblem, audience_ids, counted, csv_profiles, jsonl_profiles
from campaignkit.cli.state import CommandError, State, state_of
from campaignkit.domain.profile import Profile
from campaignkit.kit import CampaignKit
from campaignkit.permissions import ProductProfile

CHUNK: Final = 500
"""Profiles written per transaction by ``profiles import``."""
MAX_LISTED: Final = 1000
"""Rejected records listed one by one; beyond that only counted."""


def register(app: typer.Typer) -> None:
    """Add the set-up commands to ``app``."""
    access = typer.Typer(help="The admin console: product profiles of users.")
    access.command("assign")(assign)
    access.command("revoke")(revoke)
    access.command("list")(list_access)
    app.add_typer(access, name="access")
    surfaces = typer.Typer(help="Channel surfaces (message presets).")
    surfaces.command("list")(list_surfaces)
    app.add_typer(surfaces, name="surfaces")
    profiles = typer.Typer(help="Recipient profiles.")
    profiles.command("import")(import_profiles)
    app.add_typer(profiles, name="profiles")
    audiences = typer.Typer(help="Static audiences.")
    audiences.command("define")(define_audience)
    app.add_typer(audiences, name="audiences")


# ---------------------------------------------------------------- access


def _profile(value: str) -> ProductProfile:
    known = {p.value: p for p in ProductProfile}
    chosen = known.get(value.upper())
    if chosen is None:
        raise typer.BadParameter(
            f"unknown product profile {value!r}; expected one of {', '.join(known)}",
            param_hint="'PROFILE'",
        )
    return chosen


UserArgument = Annotated[str, typer.Argument(metavar="USER", help="The user id.")]
ProfileArgument = Annotated[
    str,
    typer.Argument(
        metavar="PROFILE", help="ADMINISTRATOR, APPROVER, MANAGER or VIEWER (any case)."
    ),
]


def _change(state: State, user: str, profile: ProductProfile, *, assign: bool) -> None:
    verb = "assign" if assign else "revoke"
    actor = state.optional_user()
    with state.open(create=assign) as kit:
        if actor is None:
            change = kit.access.assign if assign else kit.access.revoke
            change(user, profile)
        else:
            session = kit.as_user(actor)
            (session.assign_profile if assign else session.revoke_profile)(user, profile)
        held = kit.access.profiles_of(user)
    if state.json:
        output.emit_json({"user": user, "profiles": held, "actor": actor or "host"})
        return
    output.show(
        f"{verb} {profile.value} {'to' if assign else 'from'} {user}: "
        f"now holds {output.plain(sorted(p.value for p in held))}"
    )


def assign(ctx: typer.Context, user: UserArgument, profile: ProfileArgument) -> None:
    """Give a user a product profile (creates the database file if missing)."""
    _change(state_of(ctx), user, _profile(profile), assign=True)


def revoke(ctx: typer.Context, user: UserArgument, profile: ProfileArgument) -> None:
    """Take a product profile from a user."""
    _change(state_of(ctx), user, _profile(profile), assign=False)


def list_access(ctx: typer.Context) -> None:
    """List every user and group with the profiles assigned to it."""
    state = state_of(ctx)
    actor = state.optional_user()
    with state.open() as kit:
        if actor is not None:
            kit.as_user(actor).access_audit_log()  # checks access.manage
        assignments = kit.access.assignments()
    rows = sorted(
        (principal.kind, principal.id, sorted(p.value for p in profiles))
        for principal, profiles in assignments.items()
        if profiles
    )
    if state.json:
        output.emit_json([{"kind": k, "id": i, "profiles": p} for k, i, p in rows])
        return
    output.show(output.table("access", ("kind", "id", "profiles"), rows))


# ---------------------------------------------------------------- surfaces


def list_surfaces(ctx: typer.Context) -> None:
    """List the channel surfaces, by name."""
    state = state_of(ctx)
    with state.open() as kit:
        surfaces = state.session(kit).list_surfaces()
    rows = [
        {
            "id": s.id,
            "name": s.name,
            "channel": s.channel,
            "category": s.category,
            "status": s.status,
            "created_at": s.created_at,
        }
        for s in surfaces
    ]
    if state.json:
        output.emit_json(rows)
        return
    columns = ("id", "name", "channel", "category", "status", "created")
    output.show(output.table("surfaces", columns, [tuple(r.values()) for r in rows]))


# ---------------------------------------------------------------- profiles


@contextmanager
def _progress(path: Path, *, shown: bool) -> Iterator[Callable[[int], object]]:
    """A byte counter for the file; a progress bar on standard error when ``shown``."""
    if not shown:
        yield lambda _size: None
        return
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=output.console(stderr=True),
        transient=True,
    )
    with bar:
        task = bar.add_task(f"importing {path.name}", total=path.stat().st_size)
        yield lambda size: bar.advance(task, size)


def _write(kit: CampaignKit, chunk: list[Profile]) -> None:
    many = getattr(kit.profiles, "upsert_many", None)
    if callable(many):
        many(chunk)
        return
    for profile in chunk:  # a profile store without bulk writes
        kit.profiles.upsert(profile)


def import_profiles(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="A .csv or .jsonl file of profiles.")
    ],
) -> int:
    """Import (create or replace) profiles from a CSV or JSON Lines file, streamed.

    A bad record is reported with its line number and the others still load;
    the exit code is 1 when any record was rejected.
    """
    state = state_of(ctx)
    suffix = file.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise CommandError(f"{file}: profiles import reads .csv or .jsonl files, not {suffix!r}")
    imported = 0
    rejected: list[dict[str, Any]] = []
    count = 0
    wanted = not state.json and sys.stderr.isatty()
    with (
        file.open("rb") as handle,
        state.open(create=True) as kit,
        _progress(file, shown=wanted) as advance,
    ):
        lines = counted(handle, advance)
        records = csv_profiles(lines) if suffix == ".csv" else jsonl_profiles(lines)
        chunk: list[Profile] = []
        try:
            for line, record in records:
                if isinstance(record, str):
                    count += 1
                    if len(rejected) < MAX_LISTED:
                        rejected.append({"line": line, "problem": record})
                    continue
                chunk.append(record)
                if len(chunk) == CHUNK:
                    _write(kit, chunk)
                    imported += len(chunk)
                    chunk = []
        except FileProblem as exc:
            raise CommandError(f"{file} {exc}") from exc
        if chunk:
            _write(kit, chunk)
            imported += len(chunk)
    if state.json:
        output.emit_json(
            {"file": str(file), "imported": imported, "rejected": count, "problems": rejected}
        )
    else:
        for problem in rejected:
            output.note(f"campaignkit: {file} line {problem['line']}: {problem['problem']}")
        if count > len(rejected):
            output.note(f"campaignkit: {file}: {count - len(rejected)} more rejected")
        output.show(f"imported {imported} profile(s) from {file}; rejected {count}")
    return 1 if count else 0


# ---------------------------------------------------------------- audiences


def define_audience(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The audience name.")],
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE", help="Profile ids, one per line, or a .csv file with an id column."
        ),
    ],
) -> None:
    """Define (or replace) a static audience from a file of profile ids."""
    state = state_of(ctx)
    with file.open("rb") as handle, state.open(create=True) as kit:
        lines = counted(handle, lambda _size: None)
        try:
            ids = list(audience_ids(lines, csv_file=file.suffix.lower() == ".csv"))
        except FileProblem as exc:
            raise CommandError(f"{file} {exc}") from exc
        kit.audiences.define(name, ids)
        size = kit.audiences.count(name)
    if state.json:
        output.emit_json({"audience": name, "profiles": size})
        return
    output.show(f"audience {name!r}: {size} profile(s)")


__all__ = ["register"]
