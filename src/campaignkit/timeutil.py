"""Small pure helpers for aware, UTC-normalized time values."""

from __future__ import annotations

import datetime as _dt
import functools

import pendulum

from campaignkit.errors import ValidationError


def ensure_utc(value: _dt.datetime, what: str) -> pendulum.DateTime:
    """Return ``value`` as an aware pendulum date-time in UTC.

    Args:
        value: An aware date-time (standard library or pendulum).
        what: How to name the value in an error message.

    Raises:
        ValidationError: the value is naive (has no time zone), or it has no
            UTC instant (year 1 east of UTC, year 9999 west of it).
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            [
                f"{what} must be timezone-aware, got naive {value.isoformat()}; "
                "pass tz=... (for example pendulum.datetime(..., tz='UTC'))"
            ]
        )
    try:
        return pendulum.instance(value).in_timezone("UTC")
    except OverflowError:  # year 1 at UTC+14, year 9999 at UTC-14: no UTC instant exists
        raise ValidationError(
            [f"{what} {value.isoformat()} is outside the date-times UTC can hold (years 1 to 9999)"]
        ) from None


MAX_TIMEZONE_NAME = 64
"""Characters in an IANA time zone name (the longest real one has 32)."""


def check_timezone(name: object) -> str | None:
    """Return a problem string if ``name`` is not a known IANA time zone, else None.

    Anything that is not a short UTF-8 string is refused before the time zone
    database is asked: an over-long name made ``zoneinfo`` raise ``OSError``
    (file name too long) and a lone surrogate ``UnicodeEncodeError``.
    """
    hint = "use an IANA name such as 'Europe/Paris' or 'UTC'"
    if not isinstance(name, str):
        return (
            f"a time zone must be a string naming an IANA zone, not {type(name).__name__}; {hint}"
        )
    shown = repr(name if len(name) <= 40 else name[:37] + "...")
    if len(name) > MAX_TIMEZONE_NAME:
        return f"unknown time zone {shown} ({len(name)} characters, longer than any zone); {hint}"
    if not _known_zone(name):
        return f"unknown time zone {shown}; {hint}"
    return None


@functools.lru_cache(maxsize=1024)
def _known_zone(name: str) -> bool:
    """Whether the time zone database knows ``name`` (cached: every profile asks)."""
    try:
        name.encode("utf-8")
        pendulum.timezone(name)
    except (ValueError, OSError, pendulum.tz.exceptions.InvalidTimezone):
        return False
    return True


def calendar_units_problem(duration: object, label: str) -> str | None:
    """A problem string if ``duration`` is not an absolute ``pendulum.Duration``.

    Months and years have no fixed length, so stored periods refuse them:
    ``pendulum.duration(days=30)`` says exactly what is meant.
    """
    if not isinstance(duration, _dt.timedelta):
        return f"{label} must be a pendulum.Duration, such as pendulum.duration(hours=12)"
    if isinstance(duration, pendulum.Duration) and (duration.years or duration.months):
        return (
            f"{label} {duration.in_words()} uses months or years, which have no fixed length; "
            "give it in weeks, days, hours ... (e.g. pendulum.duration(days=30))"
        )
    return None
