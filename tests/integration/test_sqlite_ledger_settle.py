"""SQLite ``settle`` and ``recorded`` on the hot path: the short cuts give what the long way gives.

Outcomes that are all SENT with a provider id (no error, no retry time) are
written per (action, attempts) as one ``UPDATE ... FROM json_each`` of
``{provider_id: profile_id}`` (``SETTLE_KEYED``); anything else goes row by
row (``SETTLE_FINAL``/``SETTLE``). Both must leave the same ledger, and a
provider id another entry holds must still write nothing of the call.
``recorded`` first probes the range of the batch's profile ids and answers
an empty set when nothing of the run lies in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from unittest import mock

import pendulum
import pytest

from campaignkit.adapters.sqlite import SQLiteStore
from campaignkit.adapters.sqlite import ledger as ledger_module
from campaignkit.domain.delivery import LedgerState
from campaignkit.domain.ledger_rows import AcceptedRows, OutcomeRow
from campaignkit.errors import ConflictError
from campaignkit.testing.contracts._support import make_message

SENT, RETRY, FAILED = LedgerState.SENT, LedgerState.RETRY, LedgerState.FAILED
T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
PROFILES = [f"p{i:03d}" for i in range(6)]
ODD = ['a"b', "c\\d", "e\nf", "é", "😀"]


def _ledger(path: Path, rows: Sequence[OutcomeRow], *, keyed: bool) -> list[object]:
    """The ledger after PENDING entries for every profile and action, then ``settle(rows)``."""
    with SQLiteStore(path) as store:
        with store.unit_of_work() as uow:
            uow.ledger.add_pending(
                [
                    (make_message(p, action_id=a, run_id="run_1"), T0, None)
                    for a in ("act_a", "act_b")
                    for p in [*PROFILES, *ODD]
                ]
            )
        statements: list[str] = []
        store.database.connection.set_trace_callback(statements.append)
        with store.unit_of_work() as uow:
            if keyed:
                uow.ledger.settle("run_1", rows)
            else:
                with mock.patch.object(ledger_module, "_keyed_outcomes", return_value=None):
                    uow.ledger.settle("run_1", rows)
        store.database.connection.set_trace_callback(None)
        used = any("json_each" in statement for statement in statements)
        table = store.database.all("SELECT * FROM ledger ORDER BY run_id, profile_id, action_id")
        return [used, table]


def _settled_alike(tmp_path: Path, rows: Sequence[OutcomeRow]) -> bool:
    """Assert both ways leave the same ledger; True if the keyed statement was used."""
    (used, fast), (_, slow) = (
        _ledger(tmp_path / "fast.db", rows, keyed=True),
        _ledger(tmp_path / "slow.db", rows, keyed=False),
    )
    assert fast == slow
    return bool(used)


def _sent(action: str, profile: str, attempts: int = 1, provider: object = None) -> OutcomeRow:
    return (action, profile, SENT, attempts, provider or f"pm-{action}-{profile}", None, None)  # type: ignore[return-value]


def test_accepted_rows_of_several_actions_and_attempts_are_keyed(tmp_path: Path) -> None:
    rows = [_sent("act_a", p) for p in PROFILES] + [_sent("act_b", p, 2) for p in PROFILES]
    assert _settled_alike(tmp_path, rows)


def test_columns_of_one_action_are_keyed(tmp_path: Path) -> None:
    rows = AcceptedRows(["act_a"] * 3, PROFILES[:3], ["x1", "x2", "x3"])
    assert _settled_alike(tmp_path, rows)


def test_columns_of_several_actions_are_keyed_a_group_each(tmp_path: Path) -> None:
    # a shard's batch hands every action's messages over at once
    rows = AcceptedRows(
        ["act_a", "act_b", "act_a", "act_b", "act_a"],
        ["p000", "p000", "p001", "p001", "p002"],
        ["x1", "x2", "x3", "x4", "x5"],
    )
    assert _settled_alike(tmp_path, rows)


def test_text_json_escapes_reads_back_unchanged(tmp_path: Path) -> None:
    rows = [_sent("act_a", p, provider=f"id {p} \u2028") for p in ODD]
    assert _settled_alike(tmp_path, rows)


@pytest.mark.parametrize(
    "rows",
    [
        # columns of two actions with a profile twice in one of them
        AcceptedRows(["act_a", "act_b", "act_a"], ["p000", "p000", "p000"], ["x1", "x2", "x3"]),
        # ... or a provider id twice in one of them
        AcceptedRows(["act_b", "act_b", "act_a"], ["p000", "p001", "p000"], ["x2", "x2", "x1"]),
        [_sent("act_a", "p000"), ("act_a", "p001", RETRY, 1, None, "busy", T0)],
        [_sent("act_a", "p000"), ("act_a", "p001", FAILED, 1, None, "bad", None)],
        [_sent("act_a", "p000"), ("act_a", "p001", SENT, 1, None, None, None)],  # no provider id
        [_sent("act_a", "p000", provider="same"), _sent("act_a", "p001", provider="same")],
        [_sent("act_a", "p000"), _sent("act_a", "p000", provider="other")],  # a profile twice
        [_sent("act_a", "p000", provider="nul\x00")],
        [_sent("act_a", "p000", provider=7)],
        [_sent("act_a", "p000", attempts=True)],
    ],
    ids=[
        "two-actions-profile-twice",
        "two-actions-provider-id-twice",
        "retry",
        "failed",
        "no-provider-id",
        "provider-id-twice",
        "profile-twice",
        "nul",
        "number",
        "bool-attempts",
    ],
)
def test_other_outcomes_go_row_by_row(tmp_path: Path, rows: Sequence[OutcomeRow]) -> None:
    if len({row[4] for row in rows}) < len(rows) and rows[0][4] == rows[1][4]:
        # a provider id twice is refused either way, and nothing is written
        for keyed in (True, False):
            with pytest.raises(ConflictError):
                _ledger(tmp_path / f"{keyed}.db", rows, keyed=keyed)
        return
    assert not _settled_alike(tmp_path, rows)


def test_a_provider_id_another_entry_holds_writes_nothing(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "taken.db") as store:
        with store.unit_of_work() as uow:
            uow.ledger.add_pending(
                [(make_message(p, action_id="act_a"), T0, None) for p in PROFILES[:3]]
            )
            uow.ledger.settle("run_1", [_sent("act_a", "p000", provider="taken")])
        before = store.database.all("SELECT * FROM ledger ORDER BY profile_id")
        rows = [_sent("act_a", "p001"), _sent("act_a", "p002", provider="taken")]
        with store.unit_of_work() as uow:  # the recorder retries in the same unit
            with pytest.raises(ConflictError):
                uow.ledger.settle("run_1", rows)
            after = store.database.all("SELECT * FROM ledger ORDER BY profile_id")
        assert after == before


@pytest.mark.parametrize(
    ("batch", "expected"),
    [
        (["p100", "p101"], set()),  # above every recorded id: the probe finds nothing
        (["p000", "p009"], set()),  # around recorded ids, none of them in the batch
        (["p005", "p001", "p009"], {("act_a", "p001"), ("act_a", "p005")}),
        (["p001"], {("act_a", "p001")}),
        (["é", "a"], set()),  # Python's order of text is SQLite's (UTF-8 bytes)
    ],
)
def test_recorded_probes_the_batch_range_first(
    tmp_path: Path, batch: list[str], expected: set[tuple[str, str]]
) -> None:
    with SQLiteStore(tmp_path / "recorded.db") as store, store.unit_of_work() as uow:
        uow.ledger.add_pending(
            [(make_message(p, action_id="act_a"), T0, None) for p in ("p001", "p005", "é0")]
        )
        assert uow.ledger.recorded("run_1", batch) == expected
        with mock.patch.object(store.database, "one", return_value=("act_a", "x")):
            assert uow.ledger.recorded("run_1", batch) == expected  # the query alone


def test_a_profile_in_two_attempt_groups_goes_row_by_row(tmp_path: Path) -> None:
    """Grouped by attempts, the interleaved rows would be written in another order."""
    rows = [_sent("act_a", "p000"), _sent("act_a", "p001", 2, "B"), _sent("act_a", "p001", 1, "C")]
    assert not _settled_alike(tmp_path, rows)
    _, table = _ledger(tmp_path / "last.db", rows, keyed=True)
    assert isinstance(table, list)
    assert [row[9] for row in table if row[2] == "p001" and row[1] == "act_a"] == ["C"]


@pytest.mark.parametrize("keyed", [True, False])
def test_a_lone_surrogate_provider_id_fails_like_row_by_row(tmp_path: Path, keyed: bool) -> None:
    """Not stored as an escape json_each would turn into invalid UTF-8: refused, nothing written."""
    rows = [_sent("act_a", "p000"), _sent("act_a", "p001", provider="id\udcff")]
    with pytest.raises(UnicodeEncodeError):
        _ledger(tmp_path / "surrogate.db", rows, keyed=keyed)
    with SQLiteStore(tmp_path / "surrogate.db") as store:
        states = store.database.all("SELECT DISTINCT state FROM ledger")
    assert states == [("pending",)]


def test_without_update_from_every_outcome_goes_row_by_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite before 3.33 has no UPDATE ... FROM: the keyed statement is never tried."""
    monkeypatch.setattr(ledger_module, "UPDATE_FROM", False)
    rows = AcceptedRows(["act_a"] * 3, PROFILES[:3], ["x1", "x2", "x3"])
    assert ledger_module._keyed_outcomes(rows) is None
    used, table = _ledger(tmp_path / "old.db", rows, keyed=True)
    assert used is False
    assert isinstance(table, list)
    sent = {row[2]: row[9] for row in table if row[1] == "act_a" and row[9] is not None}
    assert sent == {"p000": "x1", "p001": "x2", "p002": "x3"}
