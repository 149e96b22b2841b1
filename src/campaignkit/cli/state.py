"""What every command shares: the global options, opening the kit, acting as a user.

The global options (``--db``, ``--as``, ``--json``, ``--debug``) are accepted
before the command and after it (``campaignkit --db x.db campaigns list`` and
``campaignkit campaigns list --db x.db``); their values land in one
:class:`State`, the root context's ``obj``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import attrs
import typer

from campaignkit.clock import SystemClock
from campaignkit.delivery.runner import DeliverySettings
from campaignkit.domain.channels import ChannelType
from campaignkit.kit import CampaignKit
from campaignkit.ports import Channel
from campaignkit.session import UserSession

DB_ENV: Final = "CAMPAIGNKIT_DB"
"""The environment variable ``--db`` defaults to."""
USER_ENV: Final = "CAMPAIGNKIT_USER"
"""The environment variable ``--as`` defaults to."""
DSN_SCHEMES: Final = ("postgresql://", "postgres://")
"""``--db`` values that name a PostgreSQL server rather than a SQLite file."""
SCHEMA_ENV: Final = "CAMPAIGNKIT_SCHEMA"
"""The environment variable naming the PostgreSQL schema of a DSN (default ``campaignkit``)."""


class CommandError(Exception):
    """A command cannot go on; its message is the one line printed after ``error:``."""


class UsageProblem(CommandError):
    """The command was called wrongly (exit code 2, like any usage error)."""


@attrs.define
class State:
    """The global options of one invocation.

    Attributes:
        db: ``--db`` as given (None: fall back on ``CAMPAIGNKIT_DB``).
        user: ``--as`` as given (None: fall back on ``CAMPAIGNKIT_USER``).
        json: ``--json``: machine-readable JSON on standard output, nothing else.
        debug: ``--debug``: print the traceback of an error too.
        command: The command path running (``campaignkit campaigns list``).
    """

    db: str | None = None
    user: str | None = None
    json: bool = False
    debug: bool = False
    command: str = "campaignkit"

    def database(self) -> str:
        """``--db``, else ``CAMPAIGNKIT_DB``.

        Raises:
            UsageProblem: neither is given, or ``--db`` is given empty.
        """
        if self.db == "":  # an unset shell variable: never fall back on another store
            raise UsageProblem("--db is empty: pass --db FILE, or leave it out to use $" + DB_ENV)
        db = self.db or os.environ.get(DB_ENV)
        if not db:
            raise UsageProblem(f"this command needs a store: pass --db FILE or set {DB_ENV}")
        return db

    def acting_user(self) -> str:
        """``--as``, else ``CAMPAIGNKIT_USER``.

        Raises:
            UsageProblem: neither is given, or ``--as`` is given empty.
        """
        self._refuse_empty_user()
        user = self.user or os.environ.get(USER_ENV)
        if not user:
            raise UsageProblem(f"this command acts as a user: pass --as USER or set {USER_ENV}")
        return user

    def optional_user(self) -> str | None:
        """``--as``, else ``CAMPAIGNKIT_USER``, else None (the host itself).

        Raises:
            UsageProblem: ``--as`` is given empty.
        """
        self._refuse_empty_user()
        return self.user or os.environ.get(USER_ENV) or None

    def _refuse_empty_user(self) -> None:
        if self.user == "":  # an unset shell variable: never act as someone else
            raise UsageProblem("--as is empty: pass --as USER, or leave it out to use $" + USER_ENV)

    def open(self, *, create: bool = False) -> CampaignKit:
        """The kit of ``--db`` (see :func:`open_kit`)."""
        return open_kit(self.database(), create=create)

    def session(self, kit: CampaignKit) -> UserSession:
        """``kit`` acting as ``--as``: every verb checks the permission policy."""
        return kit.as_user(self.acting_user())


def state_of(ctx: typer.Context) -> State:
    """The :class:`State` of the invocation ``ctx`` belongs to."""
    state = ctx.find_root().obj
    if not isinstance(state, State):  # a command invoked outside campaignkit.cli.main
        state = State()
        ctx.find_root().obj = state
    state.command = ctx.command_path
    return state


def open_kit(
    db: str,
    *,
    create: bool = False,
    channels: Mapping[ChannelType, Channel] | None = None,
    delivery: DeliverySettings | None = None,
    secret: str | None = None,
) -> CampaignKit:
    """Open the store ``db`` names, on the wall clock.

    ``db`` is a SQLite file or a PostgreSQL DSN (``postgresql://...``, opened
    with ``CampaignKit.postgres`` in the schema ``CAMPAIGNKIT_SCHEMA`` names,
    by default ``campaignkit``).

    Args:
        db: The SQLite database file, or a PostgreSQL DSN.
        create: Create the file when it is missing (its directory must exist);
            otherwise a missing file is an error and nothing is created. A
            PostgreSQL schema is always created (and migrated) on open.
        channels: The channels to deliver with (default: recording channels,
            which reach nobody: only ``tick`` and ``worker`` deliver).
        delivery: How runs deliver.
        secret: The unsubscribe signing secret.

    Raises:
        CommandError: a missing file or directory, or a directory.
        StorageError: the file is not a campaignkit store, or the server
            cannot be reached.
        MissingDependency: a DSN without the extra ``campaignkit[postgres]``.
    """
    if db.startswith(DSN_SCHEMES):
        return CampaignKit.postgres(
            db,
            clock=SystemClock(),
            channels=channels,
            schema=os.environ.get(SCHEMA_ENV) or "campaignkit",
            delivery=delivery,
            secret=secret,
        )
    path = Path(db)
    if path.is_dir():
        raise CommandError(f"{db} is a directory, not a campaignkit database: pass --db FILE")
    if not path.exists():
        folder = path.parent
        if not folder.exists():
            raise CommandError(
                f"the directory {folder} does not exist (--db {db}); create it first "
                "or pass --db with a file in an existing directory"
            )
        if not folder.is_dir():
            raise CommandError(f"{folder} is not a directory (--db {db})")
        if not create:
            raise CommandError(
                f"no campaignkit database at {db}; create one with "
                f"'campaignkit demo --db {db}' or "
                f"'campaignkit access assign USER ADMINISTRATOR --db {db}'"
            )
    return CampaignKit.sqlite(
        path, clock=SystemClock(), channels=channels, delivery=delivery, secret=secret
    )
