"""Small pure helpers for aware, UTC-normalized time values."""

from __future__ import annotations

import datetime as _dt

import pendulum

from campaignkit.errors import ValidationError


def ensure_utc(value: _dt.datetime, what: str) -> pendulum.DateTime:
    """Return ``value`` as an aware pendulum date-time in UTC.

    Args:
        value: An aware date-time (standard library or pendulum).
        what: How to name the value in an error message.

    Raises:
        ValidationError: the value is naive (has no time zone).
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            [
                f"{what} must be timezone-aware, got naive {value.isoformat()}; "
                "pass tz=... (for example pendulum.datetime(..., tz='UTC'))"
            ]
        )
    return pendulum.instance(value).in_timezone("UTC")


def check_timezone(name: str) -> str | None:
    """Return a problem string if ``name`` is not a known IANA time zone, else None."""
    try:
        pendulum.timezone(name)
    except (ValueError, pendulum.tz.exceptions.InvalidTimezone):
        return f"unknown time zone {name!r}; use an IANA name such as 'Europe/Paris' or 'UTC'"
    return None


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
