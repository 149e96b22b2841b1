"""Every SQLite ledger statement reads through an index, never the run's whole ledger.

The statements are the module constants of ``adapters/sqlite/ledger.py`` (the
SQL the repository runs: a traced call checks that too). Each plan must search
the ledger through its primary key or a named index: a ``SCAN`` of the ledger,
or a search that only narrows by run where an index narrows by state, would
make ``pending``, ``due`` or ``next_due_at`` cost time in proportion to the run.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import pendulum
import pytest

from campaignkit.adapters.sqlite import SQLiteStore
from campaignkit.adapters.sqlite import ledger_sql as ledger_module
from campaignkit.adapters.sqlite.ledger import SQLiteLedger
from campaignkit.adapters.sqlite.ledger_sql import STATEMENTS, VARIANTS
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import LedgerEntry, LedgerState
from campaignkit.testing.contracts._support import make_message
from campaignkit.testing.factories import EPOCH

ENTRIES: Final = 3000
"""Entries per run in the test ledger (two runs, every state)."""

EXPECTED: Final[dict[str, tuple[str, ...]]] = {
    # an INSERT has no plan: its key and provider id are checked in their own b-trees
    "put": (),
    "add_pending": (),
    "settle": ("SEARCH ledger USING PRIMARY KEY (run_id=? AND profile_id=? AND action_id=?)",),
    "recorded": ("SEARCH ledger USING PRIMARY KEY (run_id=? AND profile_id=?)",),
    "pending": ("SEARCH ledger USING INDEX ledger_pending (run_id=?)",),
    "open_entries": (
        "SEARCH ledger USING INDEX ledger_pending (run_id=?)",
        "SEARCH ledger USING INDEX ledger_waiting (run_id=?)",
    ),
    "due": ("SEARCH ledger USING INDEX ledger_waiting (run_id=? AND next_attempt_us<?)",),
    "next_due_at": ("SEARCH ledger USING INDEX ledger_waiting (run_id=?)",),
    "by_provider_id": ("SEARCH ledger USING INDEX ledger_by_provider_id (provider_message_id=?)",),
    "entries": ("SEARCH ledger USING PRIMARY KEY (run_id=?)",),
    "scan": ("SEARCH ledger USING PRIMARY KEY (run_id=?)",),
}
"""The ledger steps of each statement's plan, in order."""

VARIANT_EXPECTED: Final[dict[str, tuple[str, ...]]] = {
    # recorded's first probe: one range of the batch's profile ids, by primary key
    ledger_module.RECORDED_ANY: (
        "SEARCH ledger USING PRIMARY KEY (run_id=? AND profile_id>? AND profile_id<?)",
    ),
    # scan's next batches: the rest of the run after the last key read
    ledger_module.SCAN_NEXT: (
        "SEARCH ledger USING PRIMARY KEY (run_id=? AND (profile_id,action_id)>(?,?))",
    ),
}
"""The ledger steps of a variant whose plan differs from its method's main statement."""

PARAMS: Final[dict[str, Sequence[Any]]] = {
    "put": [None] * 16,
    "add_pending": [None] * 9,
    "settle": ["sent", 1, "pm", None, None, False, "run_1", "p1", "act_email"],
    "recorded": ["run_1", '["p1", "p2"]'],
    "pending": ["run_1", 100],
    "open_entries": ["run_1", 100],
    "due": ["run_1", 10**15, 100],
    "next_due_at": ["run_1"],
    "by_provider_id": ["pm-1"],
    "entries": ["run_1"],
    "scan": ["run_1", 100],
}

STATES: Final = list(LedgerState)


def _entry(run_id: str, i: int) -> LedgerEntry:
    state = STATES[i % len(STATES)]
    waiting = state in (LedgerState.QUEUED, LedgerState.RETRY)
    return LedgerEntry(
        run_id,
        "act_email",
        f"p{i:05d}",
        "cmp_1",
        ChannelType.EMAIL,
        state,
        attempts=i % 3,
        next_attempt_at=EPOCH.add(seconds=i) if waiting else None,
        provider_message_id=f"pm-{run_id}-{i}" if state is LedgerState.SENT else None,
        message=make_message(f"p{i:05d}", run_id=run_id) if not state.is_final else None,
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SQLiteStore]:
    """A file store whose ledger holds two runs of entries in every state."""
    path: Path = tmp_path_factory.mktemp("plans") / "ledger.db"
    with SQLiteStore(path) as store:
        with store.unit_of_work() as uow:
            for run_id in ("run_1", "run_2"):
                uow.ledger.put([_entry(run_id, i) for i in range(ENTRIES)])
        yield store


def plan(store: SQLiteStore, sql: str, params: Sequence[Any]) -> list[str]:
    """The detail column of ``EXPLAIN QUERY PLAN``."""
    cursor = store.database.connection.execute(f"EXPLAIN QUERY PLAN {sql}", params)
    return [str(row[3]) for row in cursor.fetchall()]


def ledger_steps(steps: list[str]) -> list[str]:
    """The steps that read the ledger table."""
    return [step for step in steps if step.split(" ")[1:2] == ["ledger"]]


def test_every_public_ledger_method_has_its_statement_checked() -> None:
    methods = {
        name
        for name, _ in inspect.getmembers(SQLiteLedger, inspect.isfunction)
        if not name.startswith("_")
    }
    assert methods == set(STATEMENTS) == set(EXPECTED) == set(PARAMS)


@pytest.mark.parametrize("analyze", [False, True], ids=["fresh", "analyzed"])
@pytest.mark.parametrize("name", sorted(STATEMENTS))
def test_each_statement_searches_an_index(store: SQLiteStore, name: str, analyze: bool) -> None:
    if analyze:
        store.database.execute("ANALYZE")
    steps = plan(store, STATEMENTS[name], PARAMS[name])
    on_ledger = ledger_steps(steps)
    for step in on_ledger:
        assert not step.startswith("SCAN"), steps
        assert step.startswith("SEARCH ledger USING "), steps
        assert "PRIMARY KEY" in step or "INDEX" in step, steps
    assert tuple(on_ledger) == EXPECTED[name], steps


def _variant_params(name: str, sql: str) -> list[Any]:
    """Parameters for a variant: the statement's own, NULL-free where the variant writes NULL."""
    if name == "settle" and sql.count("?") == 6:  # SETTLE_FINAL
        return ["sent", 1, "pm", "run_1", "p1", "act_email"]
    numbered = [int(number) for number in re.findall(r"\?(\d+)", sql)]
    return [None] * (max(numbered) if numbered else sql.count("?"))


@pytest.mark.parametrize("analyze", [False, True], ids=["fresh", "analyzed"])
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_each_variant_has_its_statements_plan(store: SQLiteStore, name: str, analyze: bool) -> None:
    """A method's other statements search the ledger exactly as its main one does."""
    assert set(VARIANTS) <= set(STATEMENTS)
    if analyze:
        store.database.execute("ANALYZE")
    shape = STATEMENTS[name].split("?")[0]
    for sql in VARIANTS[name]:
        assert sql.startswith(shape), sql
        steps = plan(store, sql, _variant_params(name, sql))
        expected = VARIANT_EXPECTED.get(sql, EXPECTED[name])
        assert tuple(ledger_steps(steps)) == expected, (sql, steps)


def traced(store: SQLiteStore, call: Callable[[SQLiteLedger], object]) -> list[str]:
    """The statements on the ledger that ``call`` runs, as SQLite saw them."""
    statements: list[str] = []
    connection = store.database.connection
    with store.unit_of_work() as uow:
        connection.set_trace_callback(statements.append)
        try:
            call(uow.ledger)
        finally:
            connection.set_trace_callback(None)
    control = ("SAVEPOINT", "RELEASE", "ROLLBACK")
    return [s for s in statements if "ledger" in s and not s.upper().startswith(control)]


def test_the_repository_runs_exactly_these_statements(store: SQLiteStore) -> None:
    """A call with parameters runs the module constant (so the plans above are the real ones)."""
    until = pendulum.datetime(2030, 1, 1, tz="UTC")
    sent = _entry("run_3", 3)
    calls: dict[str, Callable[[SQLiteLedger], object]] = {
        "put": lambda ledger: ledger.put([sent]),
        "add_pending": lambda ledger: ledger.add_pending(
            [(make_message("n1", run_id="run_3"), None, None)]
        ),
        "settle": lambda ledger: ledger.settle(
            "run_3", [("act_email", "n1", LedgerState.SENT, 1, "pm-n1", None, None)]
        ),
        "recorded": lambda ledger: ledger.recorded("run_1", ["p00001"]),
        "pending": lambda ledger: ledger.pending("run_1", 5),
        "open_entries": lambda ledger: ledger.open_entries("run_1", 5),
        "due": lambda ledger: ledger.due("run_1", until, 5),
        "next_due_at": lambda ledger: ledger.next_due_at("run_1"),
        "by_provider_id": lambda ledger: ledger.by_provider_id("pm-run_1-3"),
        "entries": lambda ledger: list(ledger.entries("run_1")),
        "scan": lambda ledger: list(ledger.scan("run_1", 2000)),
    }
    assert set(calls) == set(STATEMENTS)
    for name, call in calls.items():
        executed = traced(store, call)
        assert executed, name
        # the trace shows the statement with its parameters expanded; compare the SQL text
        shape = STATEMENTS[name].split("?")[0]
        assert all(s.startswith(shape) for s in executed), (name, executed)


def test_the_module_exposes_only_checked_ledger_sql() -> None:
    """Every SQL constant of the module is one of the checked statements."""
    constants = {
        value
        for name, value in vars(ledger_module).items()
        if name.isupper()
        and isinstance(value, str)
        and value.lstrip().startswith(("SELECT", "INSERT", "UPDATE", "DELETE"))
    }
    checked = set(STATEMENTS.values()) | {sql for group in VARIANTS.values() for sql in group}
    assert constants <= checked
    assert ledger_module.INSERT_PENDING_BY_SHAPE[3] == ledger_module.INSERT_PENDING
