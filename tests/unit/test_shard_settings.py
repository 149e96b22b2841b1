"""``DeliverySettings.shard_size``: None (runs go whole) or a whole number of members, bounded."""

from __future__ import annotations

import pytest

import campaignkit as ck
from campaignkit.delivery.settings import MAX_SHARD_SIZE


def test_shard_size_is_none_by_default_or_a_bounded_whole_number() -> None:
    assert ck.DeliverySettings().shard_size is None
    assert ck.DeliverySettings(shard_size=1).shard_size == 1
    assert ck.DeliverySettings(shard_size=MAX_SHARD_SIZE).shard_size == MAX_SHARD_SIZE
    for bad, said in [
        ("x", "shard_size must be a whole number, not str 'x'"),
        (True, "shard_size must be a whole number, not bool True"),
        (1.5, "shard_size must be a whole number, not float 1.5"),
        (0, "shard_size is 0; it must be at least 1"),
        (MAX_SHARD_SIZE + 1, f"shard_size is {MAX_SHARD_SIZE + 1}; it must be at least 1"),
    ]:
        with pytest.raises(ck.ValidationError, match=said):
            ck.DeliverySettings(shard_size=bad)  # type: ignore[arg-type]
