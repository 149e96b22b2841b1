"""The columns: pending rows read as rows, and handed-over batches read as pairs."""

from __future__ import annotations

import pytest

import campaignkit as ck
from campaignkit.domain.delivery import (
    Accepted,
    PendingRow,
    TransientFailure,
)
from campaignkit.domain.ledger_rows import FreshMessages, HandedOver, PendingRows
from campaignkit.testing.contracts._support import make_message
from tests.speed_h1_blocks.support import T, _fresh, _rows

# ------------------------------------------------------------------ the columns


def test_pending_rows_read_as_rows() -> None:
    rows = _rows(["p0", "p1", "p2"], zones={1: "Europe/Paris"})
    messages = rows.messages
    expected: list[PendingRow] = [
        (messages[0], T, None),
        (messages[1], T, "Europe/Paris"),
        (messages[2], T, None),
    ]
    assert list(rows) == expected
    assert len(rows) == 3
    assert rows[1] == expected[1]
    assert rows[-2] == expected[1]
    assert rows[1:] == expected[1:]
    assert repr(rows) == f"PendingRows({expected!r})"
    assert list(_rows(["p0"])) == [(_rows(["p0"]).messages[0], T, None)]
    unnamed = FreshMessages([make_message("p0")])
    unnamed.profile_ids = []
    with pytest.raises(ValueError, match="one profile id per message"):
        PendingRows(unnamed, T)


def test_handed_over_reads_as_pairs() -> None:
    messages = _fresh(["p0", "p1"])
    results: list[ck.SendResult] = [Accepted("m0"), TransientFailure("busy")]
    handed = HandedOver(messages, results)
    expected = list(zip(messages, results, strict=True))
    assert list(handed) == expected
    assert len(handed) == 2
    assert handed[1] == expected[1]
    assert handed[:1] == expected[:1]
    assert repr(handed) == f"HandedOver({expected!r})"
    with pytest.raises(ValueError, match="one result per message"):
        HandedOver(messages, results[:1])
