"""Waves: sending an audience in 2 to 10 parts, at least 30 minutes apart.

Each profile is assigned to exactly one wave, deterministically: a stable hash
of the campaign and profile ids picks its preferred wave (weighted by the
wave sizes); when the audience size is known and that wave is full, the next
wave with room takes it. Recipients that fit in no wave (absolute counts
smaller than the audience) are excluded, not dropped.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Sequence
from typing import Final

import attrs
import pendulum

from campaignkit.domain import checks
from campaignkit.domain.text_enum import TextEnum
from campaignkit.errors import ValidationError
from campaignkit.timeutil import calendar_units_problem

MIN_WAVES: Final = 2
MAX_WAVES: Final = 10
MIN_SPACING: Final = pendulum.duration(minutes=30)


class WaveSizing(TextEnum):
    """How wave sizes are given."""

    EQUAL = "equal"
    PERCENTAGES = "percentages"
    COUNTS = "counts"

    def __str__(self) -> str:
        return self.value


def _parts(parts: object) -> tuple[int, ...]:
    """Wave sizes as a tuple; refuse anything but a list or tuple of whole numbers."""
    problems: list[str] = []
    if not isinstance(parts, (list, tuple)):
        problems.append(
            f"waves: sizes must be a list such as [50, 50], not {checks.describe(parts)}"
        )
    elif len(parts) > 100 * MAX_WAVES:  # not worth checking item by item
        problems.append(f"waves: {len(parts)} waves; use {MIN_WAVES} to {MAX_WAVES}")
    else:
        for index, size in enumerate(parts):
            if isinstance(size, bool) or not isinstance(size, int):
                problems.append(
                    f"waves: size {index + 1} must be a whole number, not {checks.describe(size)}"
                )
    checks.raise_if(problems, "waves")
    return tuple(parts)  # type: ignore[arg-type]  # a list or tuple, checked above


def _words(every: datetime.timedelta) -> str:
    """A duration in words; a standard-library ``timedelta`` has no ``in_words``."""
    return pendulum.duration(seconds=every.total_seconds()).in_words()


def _check(sizes: Sequence[int], every: datetime.timedelta, *, sum_to: int | None) -> None:
    sizes = _parts(sizes)
    problems = []
    if not MIN_WAVES <= len(sizes) <= MAX_WAVES:
        problems.append(f"waves: {len(sizes)} waves; use {MIN_WAVES} to {MAX_WAVES}")
    if any(size <= 0 for size in sizes):
        problems.append(f"waves: every wave size must be positive, got {list(sizes)}")
    if sum_to is not None and sum(sizes) != sum_to:
        problems.append(f"waves: percentages must total {sum_to}, not {sum(sizes)}")
    calendar = calendar_units_problem(every, "waves every")
    if calendar is not None:
        problems.append(calendar)
    elif every < MIN_SPACING:
        problems.append(f"waves must be at least 30 minutes apart, not {_words(every)}")
    elif every > checks.MAX_PERIOD:
        problems.append(
            f"waves must be at most {checks.MAX_PERIOD.days} days apart, not {_words(every)}"
        )
    if problems:
        raise ValidationError(problems)


@attrs.frozen
class Waves:
    """How an audience is split into timed parts. Build with a class method.

    Attributes:
        sizing: EQUAL, PERCENTAGES or COUNTS.
        sizes: The parts (equal: all 1; percentages: summing to 100; counts: profiles).
        every: Time between wave starts (at least 30 minutes).
    """

    sizing: WaveSizing
    sizes: tuple[int, ...]
    every: pendulum.Duration = attrs.field(converter=checks.as_duration)

    def __attrs_post_init__(self) -> None:
        """Refuse waves the builders would refuse (values loaded from a document too)."""
        if not isinstance(self.sizing, WaveSizing):
            raise ValidationError(
                [f"waves sizing must be a WaveSizing, not {checks.describe(self.sizing)}"],
                subject="waves",
            )
        _check(
            self.sizes,
            self.every,
            sum_to=100 if self.sizing is WaveSizing.PERCENTAGES else None,
        )

    @classmethod
    def equal(cls, *, count: int, every: datetime.timedelta) -> Waves:
        """``count`` waves of equal size, ``every`` apart."""
        if isinstance(count, bool) or not isinstance(count, int):
            raise ValidationError(
                [f"waves: count must be a whole number, not {checks.describe(count)}"],
                subject="waves",
            )
        if not MIN_WAVES <= count <= MAX_WAVES:
            raise ValidationError([f"waves: {count} waves; use {MIN_WAVES} to {MAX_WAVES}"])
        sizes = (1,) * count
        _check(sizes, every, sum_to=None)
        return cls(WaveSizing.EQUAL, sizes, every)

    @classmethod
    def percentages(cls, parts: Sequence[int], *, every: datetime.timedelta) -> Waves:
        """Waves sized as percentages of the audience (must total 100)."""
        sizes = _parts(parts)
        _check(sizes, every, sum_to=100)
        return cls(WaveSizing.PERCENTAGES, sizes, every)

    @classmethod
    def counts(cls, parts: Sequence[int], *, every: datetime.timedelta) -> Waves:
        """Waves of absolute sizes; recipients beyond the last wave are excluded."""
        sizes = _parts(parts)
        _check(sizes, every, sum_to=None)
        return cls(WaveSizing.COUNTS, sizes, every)

    def starts(self, first: pendulum.DateTime) -> list[pendulum.DateTime]:
        """The start instant of each wave, the first at ``first``."""
        return [first + self.every * index for index in range(len(self.sizes))]

    def capacities(self, audience_size: int | None) -> list[int | None]:
        """How many recipients each wave takes (None: no limit known)."""
        if self.sizing is WaveSizing.COUNTS:
            return list(self.sizes)
        if audience_size is None:
            return [None] * len(self.sizes)
        total = sum(self.sizes)
        capacities = [audience_size * size // total for size in self.sizes]
        for index in range(audience_size - sum(capacities)):  # spread the remainder
            capacities[index % len(capacities)] += 1
        return list[int | None](capacities)


def preferred_wave(waves: Waves, campaign_id: str, profile_id: str) -> int:
    """The wave a stable hash of (campaign, profile) points to, weighted by size."""
    digest = hashlib.sha256(f"{campaign_id}\x00{profile_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64 * sum(waves.sizes)
    cumulative = 0
    for index, size in enumerate(waves.sizes):
        cumulative += size
        if point < cumulative:
            return index
    return len(waves.sizes) - 1


def assign_wave(
    preferred: int, filled: Sequence[int], capacities: Sequence[int | None]
) -> int | None:
    """The wave a recipient goes to: its preferred one, else the next with room; None if full."""
    count = len(capacities)
    for offset in range(count):
        index = (preferred + offset) % count
        capacity = capacities[index]
        if capacity is None or filled[index] < capacity:
            return index
    return None
