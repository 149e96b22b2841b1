"""Store contract: the ledger's hot path (``add_pending`` and ``settle``).

A run records each batch's new PENDING entries as compact rows and each
channel answer as a narrow update. What the ledger then holds must be exactly
what the equivalent ``put`` of full entries would give, so every query
(``entries``, ``pending``, ``due``, ``next_due_at``, ``by_provider_id``,
``recorded``) sees no difference.
"""

from __future__ import annotations

import contextlib

import pendulum
import pytest

from campaignkit.domain.delivery import (
    LedgerEntry,
    LedgerState,
    OutcomeRow,
    PendingRow,
    pending_entry,
    settled_entry,
)
from campaignkit.errors import ConflictError
from campaignkit.ports import Store
from campaignkit.testing.contracts._support import _Boom, _by_key, _entries, make_message
from campaignkit.testing.factories import EPOCH

_DUE = EPOCH.add(hours=1)


def _rows(*profile_ids: str, run_id: str = "run_1") -> list[PendingRow]:
    return [
        (
            make_message(pid, run_id=run_id, fields={"subject": f"Hi {pid}", "html": "<p>ü</p>"}),
            _DUE,
            "Europe/Paris" if pid.endswith("1") else None,
        )
        for pid in profile_ids
    ]


def _sent(profile_id: str, provider_id: str, attempts: int = 1) -> OutcomeRow:
    return ("act_email", profile_id, LedgerState.SENT, attempts, provider_id, None, None)


class LedgerRowsContract:
    """Store contract checks for ``LedgerRepository.add_pending`` and ``settle``.

    Provide a ``store`` fixture returning a new, empty store.
    """

    def test_pending_rows_read_back_as_the_entries_they_stand_for(self, store: Store) -> None:
        """Every field of a row (message, due time, zone) is read back, by every query."""
        rows = _rows("p1", "p2", "p3")
        expected = _by_key([pending_entry(row) for row in rows])
        with store.unit_of_work() as uow:
            uow.ledger.add_pending(rows)
            uow.ledger.add_pending([])
        with store.unit_of_work() as uow:
            assert _entries(uow) == expected
            assert _by_key(list(uow.ledger.pending("run_1", 10))) == expected
            assert _by_key(list(uow.ledger.open_entries("run_1", 10))) == expected
            assert uow.ledger.recorded("run_1", ["p1", "p3", "p9"]) == {
                ("act_email", "p1"),
                ("act_email", "p3"),
            }
            assert uow.ledger.next_due_at("run_1") is None  # PENDING is not waiting
            assert expected[0].message is not None
            assert expected[0].message.fields["html"] == "<p>ü</p>"

    def test_settle_gives_what_settled_entry_gives(self, store: Store) -> None:
        """SENT and FAILED drop the message; RETRY keeps it and is due at its next attempt."""
        rows = _rows("p1", "p2", "p3")
        later = EPOCH.add(minutes=5)
        outcomes: list[OutcomeRow] = [
            _sent("p1", "pm-1"),
            ("act_email", "p2", LedgerState.RETRY, 1, None, "421 busy", later),
            ("act_email", "p3", LedgerState.FAILED, 1, None, "550 no such user", None),
        ]
        with store.unit_of_work() as uow:
            uow.ledger.add_pending(rows)
        with store.unit_of_work() as uow:
            uow.ledger.settle("run_1", outcomes)
        expected = _by_key(
            [
                settled_entry(pending_entry(row), out)
                for row, out in zip(rows, outcomes, strict=True)
            ]
        )
        with store.unit_of_work() as uow:
            assert _entries(uow) == expected
            assert expected[0].message is None
            assert expected[1].message is not None
            assert list(uow.ledger.pending("run_1", 10)) == []
            assert list(uow.ledger.due("run_1", later, 10)) == [expected[1]]
            assert list(uow.ledger.due("run_1", later - pendulum.duration(seconds=1), 10)) == []
            assert uow.ledger.next_due_at("run_1") == later
            found = uow.ledger.by_provider_id("pm-1")
            assert found is not None
            assert found.key == ("run_1", "act_email", "p1")

    def test_a_retry_settles_again_and_keeps_its_message(self, store: Store) -> None:
        """A RETRY entry recorded PENDING again (``put``) settles like a fresh one."""
        rows = _rows("p1")
        with store.unit_of_work() as uow:
            uow.ledger.add_pending(rows)
            uow.ledger.settle(
                "run_1", [("act_email", "p1", LedgerState.RETRY, 1, None, "busy", _DUE)]
            )
        with store.unit_of_work() as uow:
            (waiting,) = uow.ledger.due("run_1", _DUE, 10)
            again = LedgerEntry(
                waiting.run_id,
                waiting.action_id,
                waiting.profile_id,
                waiting.campaign_id,
                waiting.channel,
                LedgerState.PENDING,
                attempts=1,
                address=waiting.address,
                due_at=waiting.due_at,
                timezone=waiting.timezone,
                message=waiting.message,
            )
            uow.ledger.put([again])
            uow.ledger.settle("run_1", [_sent("p1", "pm-2", attempts=2)])
        with store.unit_of_work() as uow:
            (entry,) = _entries(uow)
            assert entry == settled_entry(again, _sent("p1", "pm-2", attempts=2))
            assert entry.attempts == 2
            assert entry.message is None

    def test_settle_refuses_a_taken_provider_id_and_writes_nothing(self, store: Store) -> None:
        """A provider id another entry holds is a ConflictError; the whole call is undone."""
        with store.unit_of_work() as uow:
            uow.ledger.add_pending(_rows("p1", "p2", "p3"))
            uow.ledger.settle("run_1", [_sent("p1", "pm-1")])
        with store.unit_of_work() as uow:
            before = _entries(uow)
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.ledger.settle("run_1", [_sent("p2", "pm-2"), _sent("p3", "pm-1")])
        with store.unit_of_work() as uow:
            assert _entries(uow) == before
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.ledger.settle("run_1", [_sent("p2", "pm-9"), _sent("p3", "pm-9")])
        with store.unit_of_work() as uow:
            assert _entries(uow) == before

    def test_a_failed_unit_leaves_the_rows_unwritten(self, store: Store) -> None:
        """Rows and outcomes written in a unit that raises are rolled back with it."""
        with store.unit_of_work() as uow:
            uow.ledger.add_pending(_rows("p1"))
        with store.unit_of_work() as uow:
            before = _entries(uow)
        with contextlib.suppress(_Boom), store.unit_of_work() as uow:
            uow.ledger.add_pending(_rows("p2", "p3"))
            uow.ledger.settle("run_1", [_sent("p1", "pm-1")])
            raise _Boom
        with store.unit_of_work() as uow:
            assert _entries(uow) == before
            assert uow.ledger.by_provider_id("pm-1") is None
            assert uow.ledger.recorded("run_1", ["p2", "p3"]) == set()

    def test_rows_of_two_runs_stay_apart(self, store: Store) -> None:
        """The same profile in two runs is two entries; settling one leaves the other."""
        with store.unit_of_work() as uow:
            uow.ledger.add_pending(_rows("p1"))
            uow.ledger.add_pending(_rows("p1", run_id="run_2"))
            uow.ledger.settle("run_2", [_sent("p1", "pm-1")])
        with store.unit_of_work() as uow:
            (first,) = _entries(uow)
            (second,) = _entries(uow, "run_2")
            assert first.state is LedgerState.PENDING
            assert second.state is LedgerState.SENT
