"""Placing profiles in waves: the preferred wave is deterministic, weighted and always a wave,
and assignment moves on, wraps round or gives none without overfilling any wave."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from campaignkit.domain.waves import (
    Waves,
    WaveSizing,
    assign_wave,
    preferred_wave,
)
from tests.unit.business_rule_values.support import EVERY, wave_sets

# ================================================================ preferred_wave


def test_preferred_wave_is_deterministic() -> None:
    waves = Waves.equal(count=5, every=EVERY)
    first = [preferred_wave(waves, "c1", f"p{n}") for n in range(200)]
    again = [preferred_wave(waves, "c1", f"p{n}") for n in range(200)]
    rebuilt = Waves.equal(count=5, every=EVERY)
    assert first == again == [preferred_wave(rebuilt, "c1", f"p{n}") for n in range(200)]
    assert set(first) == set(range(5))  # every wave is someone's preference


def test_preferred_wave_depends_on_the_campaign() -> None:
    waves = Waves.equal(count=5, every=EVERY)
    profiles = [f"p{n}" for n in range(100)]
    in_c1 = [preferred_wave(waves, "c1", p) for p in profiles]
    in_c2 = [preferred_wave(waves, "c2", p) for p in profiles]
    assert in_c1 != in_c2
    # ids are not simply concatenated: ("c1", "0p") and ("c10", "p") differ in general
    shifted = [preferred_wave(waves, "c1" + p[:1], p[1:]) for p in profiles]
    assert in_c1 != shifted


def test_preferred_wave_is_weighted_by_wave_size() -> None:
    waves = Waves.percentages([10, 90], every=EVERY)
    picks = [preferred_wave(waves, "campaign", f"profile-{n}") for n in range(4000)]
    assert 300 <= picks.count(0) <= 500  # about 10 %
    counts = Waves.counts([1, 3], every=EVERY)
    heavy = [preferred_wave(counts, "campaign", f"profile-{n}") for n in range(4000)]
    assert 800 <= heavy.count(0) <= 1200  # about 25 %


@settings(deadline=None, max_examples=100)
@given(waves=wave_sets, campaign=st.text(max_size=10), profile=st.text(max_size=10))
def test_preferred_wave_is_always_a_wave(waves: Waves, campaign: str, profile: str) -> None:
    assert 0 <= preferred_wave(waves, campaign, profile) < len(waves.sizes)


# ================================================================ assign_wave


def test_assign_wave_takes_the_preferred_wave_when_it_has_room() -> None:
    assert assign_wave(1, [0, 0, 0], [2, 2, 2]) == 1
    assert assign_wave(1, [2, 1, 2], [2, 2, 2]) == 1


def test_assign_wave_moves_on_to_the_next_wave_with_room() -> None:
    assert assign_wave(0, [2, 0, 0], [2, 2, 2]) == 1
    assert assign_wave(0, [2, 2, 0], [2, 2, 2]) == 2


def test_assign_wave_wraps_round_to_the_first_wave_with_room() -> None:
    assert assign_wave(2, [0, 2, 2], [2, 2, 2]) == 0
    assert assign_wave(1, [1, 2, 2], [2, 2, 2]) == 0


def test_assign_wave_gives_none_when_every_wave_is_full() -> None:
    assert assign_wave(0, [2, 2, 2], [2, 2, 2]) is None
    assert assign_wave(1, [100, 500], [100, 500]) is None


def test_assign_wave_without_known_capacities_keeps_the_preference() -> None:
    assert assign_wave(2, [50, 50, 50], [None, None, None]) == 2
    assert assign_wave(0, [10**6, 0], [None, None]) == 0


def test_assign_wave_skips_zero_capacity_waves() -> None:
    # an equal split of 2 over 3 waves leaves the last wave empty
    assert assign_wave(2, [0, 0, 0], [1, 1, 0]) == 0


def place(
    waves: Waves, campaign: str, profiles: Sequence[str], audience: int | None
) -> list[int | None]:
    """Place ``profiles`` in order, as a run does: the wave of each, or None (beyond)."""
    capacities = waves.capacities(audience)
    filled = [0] * len(waves.sizes)
    placed: list[int | None] = []
    for profile in profiles:
        index = assign_wave(preferred_wave(waves, campaign, profile), filled, capacities)
        if index is not None:
            filled[index] += 1
        placed.append(index)
    return placed


@settings(deadline=None, max_examples=100)
@given(
    waves=wave_sets,
    campaign=st.text(min_size=1, max_size=8),
    size=st.integers(0, 300),
    known=st.booleans(),
)
def test_every_profile_lands_in_one_wave_without_overfilling_any(
    waves: Waves, campaign: str, size: int, known: bool
) -> None:
    profiles = [f"p{n}" for n in range(size)]
    audience = size if known else None
    placed = place(waves, campaign, profiles, audience)
    assert len(placed) == size
    capacities = waves.capacities(audience)
    counts = [placed.count(index) for index in range(len(waves.sizes))]
    for count, capacity in zip(counts, capacities, strict=True):
        assert capacity is None or count <= capacity
    beyond = placed.count(None)
    assert sum(counts) + beyond == size
    if waves.sizing is WaveSizing.COUNTS:
        assert beyond == max(0, size - sum(waves.sizes))
    else:
        assert beyond == 0
        if known:  # the capacities sum to the audience: every wave is exactly full
            assert counts == capacities
    # the same run again places everyone the same way
    assert place(waves, campaign, profiles, audience) == placed


def test_count_waves_exclude_the_profiles_beyond_the_last_wave() -> None:
    waves = Waves.counts([2, 3], every=EVERY)
    placed = place(waves, "campaign", [f"p{n}" for n in range(7)], 7)
    assert placed.count(0) == 2
    assert placed.count(1) == 3
    assert placed.count(None) == 2
    # the first five profiles fill the waves; the last two find them full
    assert placed[5:] == [None, None]
