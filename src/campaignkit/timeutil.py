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
