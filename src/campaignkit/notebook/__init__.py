"""Notebook helpers: pandas tables and matplotlib plots of campaignkit values.

The values themselves carry the entry points (``report.to_pandas()``,
``page.to_pandas()``, ``calendar.to_pandas()``, ``report.plot()``,
``calendar.plot()``, ``kit.plot_calendar(...)``); these modules do the work.
pandas and matplotlib are optional (``pip install 'campaignkit[notebook]'``)
and imported on first use only: importing campaignkit never imports them,
and without them those calls raise :class:`~campaignkit.errors.MissingDependency`.
"""

from __future__ import annotations

import datetime

from campaignkit.errors import MissingDependency

EXTRA = "notebook"
"""The extra that installs pandas, matplotlib and tqdm."""


def missing(feature: str, package: str) -> MissingDependency:
    """The error for ``feature`` when ``package`` cannot be imported."""
    return MissingDependency(feature, package, EXTRA)


def plain_utc(when: datetime.datetime) -> datetime.datetime:
    """``when`` as a standard-library UTC date-time (what pandas and matplotlib expect)."""
    utc = when.astimezone(datetime.timezone.utc)
    return datetime.datetime(
        utc.year,
        utc.month,
        utc.day,
        utc.hour,
        utc.minute,
        utc.second,
        utc.microsecond,
        tzinfo=datetime.timezone.utc,
    )
