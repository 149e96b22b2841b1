"""Five SIGKILLs of a delivering worker, with and without ``lookup``: nobody lost, nobody
doubled, copies only of what was in flight and always with the same idempotency key."""

from __future__ import annotations

from pathlib import Path

from tests.integration.delivery_crash.support import (
    BATCH,
    CRASHES,
    RESTART_STEP,
    T0,
    Seeded,
    check_outcome,
    copy_of,
    crash_five_times_then_finish,
)


def test_five_sigkills_without_lookup_lose_nobody_and_resend_only_with_the_same_key(
    big_store: Seeded, tmp_path: Path
) -> None:
    seeded = copy_of(big_store, tmp_path)
    crashes = crash_five_times_then_finish(seeded, tmp_path, kind="plain", seed=20261201)
    assert [c.moment for c in crashes] == ["before", "after", "before", "after", "before"]

    repeated = check_outcome(seeded, tmp_path, at=T0 + RESTART_STEP * CRASHES)
    # copies only of messages in flight at a crash: at most a batch per action per crash
    in_flight = frozenset().union(*(c.pending for c in crashes))
    assert set(repeated) <= in_flight
    extra = sum(n - 1 for n in repeated.values())
    assert extra <= CRASHES * 2 * BATCH
    # a batch the provider got before its outcome was recorded is re-sent, same key
    for crash in crashes:
        if crash.moment == "after":
            assert all(repeated.get(key, 1) >= 2 for key in crash.keys), crash.send
    assert extra > 0


def test_five_sigkills_with_lookup_send_everyone_exactly_once(
    big_store: Seeded, tmp_path: Path
) -> None:
    seeded = copy_of(big_store, tmp_path)
    crashes = crash_five_times_then_finish(seeded, tmp_path, kind="lookup", seed=3)
    assert [c.moment for c in crashes] == ["before", "after", "before", "after", "before"]

    repeated = check_outcome(seeded, tmp_path, at=T0 + RESTART_STEP * CRASHES)
    # not vacuous: each "after" crash left the provider holding a batch whose outcome
    # was not recorded (crash_worker checked it); only the lookup kept it from a copy
    assert repeated == {}
