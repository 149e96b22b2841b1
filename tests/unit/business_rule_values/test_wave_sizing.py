"""Wave values: equal, percentage and count waves are validated together, start every
interval, and split the audience into fair capacities."""

from __future__ import annotations

from collections.abc import Callable

import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import campaignkit as ck
from campaignkit.domain.waves import (
    MAX_WAVES,
    MIN_SPACING,
    MIN_WAVES,
    Waves,
    WaveSizing,
)
from tests.unit.business_rule_values.support import EVERY, problems_of, utc, wave_sets

# ================================================================ Waves: validation


@pytest.mark.parametrize("count", [0, 1, MAX_WAVES + 1, 50])
def test_equal_waves_need_two_to_ten_waves(count: int) -> None:
    with pytest.raises(ck.ValidationError) as error:
        Waves.equal(count=count, every=EVERY)
    assert problems_of(error) == [f"waves: {count} waves; use 2 to 10"]


@pytest.mark.parametrize("count", [MIN_WAVES, 5, MAX_WAVES])
def test_equal_waves_accept_two_to_ten(count: int) -> None:
    waves = Waves.equal(count=count, every=EVERY)
    assert waves.sizing is WaveSizing.EQUAL
    assert waves.sizes == (1,) * count
    assert waves.every == EVERY


@pytest.mark.parametrize(
    "every", [pendulum.duration(minutes=29, seconds=59), pendulum.duration(), -EVERY]
)
def test_waves_must_be_at_least_thirty_minutes_apart(every: pendulum.Duration) -> None:
    builds: list[Callable[[], Waves]] = [
        lambda: Waves.equal(count=2, every=every),
        lambda: Waves.percentages([50, 50], every=every),
        lambda: Waves.counts([10, 10], every=every),
    ]
    for build in builds:
        with pytest.raises(ck.ValidationError) as error:
            build()
        (problem,) = problems_of(error)
        assert problem.startswith("waves must be at least 30 minutes apart")


def test_thirty_minutes_apart_is_enough() -> None:
    assert pendulum.duration(minutes=30) == MIN_SPACING
    assert Waves.equal(count=2, every=MIN_SPACING).every == MIN_SPACING


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ([50, 40], ["waves: percentages must total 100, not 90"]),
        ([60, 60], ["waves: percentages must total 100, not 120"]),
        ([100], ["waves: 1 waves; use 2 to 10"]),
        ([0, 100], ["waves: every wave size must be positive, got [0, 100]"]),
        ([-10, 110], ["waves: every wave size must be positive, got [-10, 110]"]),
        ([10] * 11, ["waves: 11 waves; use 2 to 10", "waves: percentages must total 100, not 110"]),
        ([], ["waves: 0 waves; use 2 to 10", "waves: percentages must total 100, not 0"]),
    ],
)
def test_percentage_waves_are_validated(parts: list[int], expected: list[str]) -> None:
    with pytest.raises(ck.ValidationError) as error:
        Waves.percentages(parts, every=EVERY)
    assert problems_of(error) == expected


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ([5], ["waves: 1 waves; use 2 to 10"]),
        ([5, 0], ["waves: every wave size must be positive, got [5, 0]"]),
        ([5, -1, 3], ["waves: every wave size must be positive, got [5, -1, 3]"]),
        ([1] * 11, ["waves: 11 waves; use 2 to 10"]),
    ],
)
def test_count_waves_are_validated(parts: list[int], expected: list[str]) -> None:
    with pytest.raises(ck.ValidationError) as error:
        Waves.counts(parts, every=EVERY)
    assert problems_of(error) == expected


def test_all_wave_problems_are_reported_together() -> None:
    with pytest.raises(ck.ValidationError) as error:
        Waves.percentages([0], every=pendulum.duration(minutes=5))
    assert len(problems_of(error)) == 4


def test_percentages_and_counts_keep_their_parts_as_a_tuple() -> None:
    percentages = Waves.percentages([10, 30, 60], every=EVERY)
    counts = Waves.counts((100, 500), every=EVERY)
    assert (percentages.sizing, percentages.sizes) == (WaveSizing.PERCENTAGES, (10, 30, 60))
    assert (counts.sizing, counts.sizes) == (WaveSizing.COUNTS, (100, 500))


def test_wave_sizing_prints_as_its_value() -> None:
    assert [str(sizing) for sizing in WaveSizing] == ["equal", "percentages", "counts"]
    assert WaveSizing("counts") is WaveSizing.COUNTS


# ================================================================ Waves: starts and capacities


def test_waves_start_every_interval_from_the_first() -> None:
    waves = Waves.equal(count=4, every=pendulum.duration(minutes=45))
    first = utc(2026, 12, 1, 9)
    assert waves.starts(first) == [
        utc(2026, 12, 1, 9),
        utc(2026, 12, 1, 9, 45),
        utc(2026, 12, 1, 10, 30),
        utc(2026, 12, 1, 11, 15),
    ]


def test_every_sizing_has_one_start_per_wave() -> None:
    first = utc(2026, 12, 1, 9)
    assert len(Waves.percentages([10, 30, 60], every=EVERY).starts(first)) == 3
    assert Waves.counts([1, 1], every=pendulum.duration(days=1)).starts(first) == [
        first,
        utc(2026, 12, 2, 9),
    ]


@pytest.mark.parametrize(
    ("audience", "expected"),
    [
        (9, [3, 3, 3]),
        (10, [4, 3, 3]),
        (11, [4, 4, 3]),
        (2, [1, 1, 0]),
        (0, [0, 0, 0]),
        (None, [None, None, None]),
    ],
)
def test_equal_waves_split_the_audience_and_spread_the_remainder(
    audience: int | None, expected: list[int | None]
) -> None:
    assert Waves.equal(count=3, every=EVERY).capacities(audience) == expected


@pytest.mark.parametrize(
    ("audience", "expected"),
    [
        (1000, [100, 300, 600]),
        (7, [1, 2, 4]),
        (1, [1, 0, 0]),
        (None, [None, None, None]),
    ],
)
def test_percentage_waves_round_to_whole_profiles_that_sum_to_the_audience(
    audience: int | None, expected: list[int | None]
) -> None:
    assert Waves.percentages([10, 30, 60], every=EVERY).capacities(audience) == expected


@pytest.mark.parametrize("audience", [None, 0, 10, 600, 10_000])
def test_count_waves_have_their_own_sizes_whatever_the_audience(audience: int | None) -> None:
    assert Waves.counts([100, 500], every=EVERY).capacities(audience) == [100, 500]


@settings(deadline=None, max_examples=100)
@given(waves=wave_sets, audience=st.integers(0, 5000))
def test_capacities_sum_to_the_audience_and_are_fair_shares(waves: Waves, audience: int) -> None:
    capacities = waves.capacities(audience)
    assert len(capacities) == len(waves.sizes)
    if waves.sizing is WaveSizing.COUNTS:
        assert capacities == list(waves.sizes)
        return
    assert sum(c for c in capacities if c is not None) == audience
    total = sum(waves.sizes)
    for capacity, size in zip(capacities, waves.sizes, strict=True):
        assert capacity is not None
        share = audience * size // total
        assert share <= capacity <= share + 1
