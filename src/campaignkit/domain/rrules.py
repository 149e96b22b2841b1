"""RFC 5545 RRULE text, read strictly.

:func:`parse_rule` reads the text of one ``RRULE`` (without ``DTSTART``) into
:class:`RuleParts`, refusing with one ``ValidationError`` every problem it
finds: a value out of its range, a part RFC 5545 (section 3.3.10) says MUST
NOT be used with the rule's FREQ, a part given twice, an unknown part.
:func:`dateutil_rule` turns the parts into a ``dateutil.rrule.rrule`` from a
naive local start. ``dateutil`` is never given ``COUNT`` (the caller keeps the
first ``count`` occurrences itself), so ``COUNT`` and ``UNTIL`` never meet in
dateutil (that pair raises a ``DeprecationWarning`` there).

dateutil looks for a match period by period until the year 9999: a rule whose
dates can never match (``FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30``) or whose
BYSETPOS is beyond every period (``FREQ=DAILY;BYHOUR=9;BYSETPOS=2``) would cost
it up to 13 seconds on every call. :func:`dateutil_rule` finds those rules
first and gives None, as for a rule dateutil itself finds empty.

Pure: no clock, no I/O.
"""

from __future__ import annotations

import calendar
import datetime
import functools
import math
import re
from typing import Final, Literal

import attrs
from dateutil import rrule

from campaignkit.errors import ValidationError

MAX_RULE_LENGTH: Final = 2_000
"""Characters in one RRULE (a BYYEARDAY listing every day of a year fits)."""

Freq = Literal[0, 1, 2, 3, 4, 5, 6]
"""A ``dateutil.rrule`` frequency constant (YEARLY is 0, SECONDLY is 6)."""

FREQUENCIES: Final[dict[str, Freq]] = {
    "YEARLY": rrule.YEARLY,
    "MONTHLY": rrule.MONTHLY,
    "WEEKLY": rrule.WEEKLY,
    "DAILY": rrule.DAILY,
    "HOURLY": rrule.HOURLY,
    "MINUTELY": rrule.MINUTELY,
    "SECONDLY": rrule.SECONDLY,
}
WEEKDAYS: Final = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")

_NUMBER_LISTS: Final = {
    # part: (largest magnitude, signed?, smallest unsigned value)
    "BYSECOND": (60, False, 0),
    "BYMINUTE": (59, False, 0),
    "BYHOUR": (23, False, 0),
    "BYMONTHDAY": (31, True, 1),
    "BYYEARDAY": (366, True, 1),
    "BYWEEKNO": (53, True, 1),
    "BYMONTH": (12, False, 1),
    "BYSETPOS": (366, True, 1),
}
_KNOWN: Final = ("FREQ", "UNTIL", "COUNT", "INTERVAL", "BYDAY", "WKST", *_NUMBER_LISTS)
_BY_PARTS: Final = ("BYDAY", *(name for name in _NUMBER_LISTS if name != "BYSETPOS"))
_NUMBER = re.compile(r"([+-]?)(\d{1,9})")
_POSITIVE = re.compile(r"\d{1,9}")
_WEEKDAY_NUMBER = re.compile(r"([+-]?\d{1,9})?([A-Z]{2})")
_UNTIL = re.compile(r"(\d{8}T\d{6})(Z?)")


@attrs.frozen
class RuleParts:
    """One RRULE, read and checked.

    Attributes:
        freq: The ``dateutil.rrule`` frequency constant.
        interval: Every N periods.
        count: How many occurrences, or None.
        until: The last allowed wall time (inclusive), or None.
        until_utc: True if ``until`` is in UTC (``...Z``), else it is local.
        wkst: The week's first day, 0 (Monday) to 6 (Sunday).
        byday: ``(weekday, n)`` pairs; ``n`` None for every such weekday.
        numbers: The numeric BYxxx parts by lower-case dateutil name.
    """

    freq: Freq
    interval: int = 1
    count: int | None = None
    until: datetime.datetime | None = None
    until_utc: bool = False
    wkst: int = 0
    byday: tuple[tuple[int, int | None], ...] | None = None
    numbers: tuple[tuple[str, tuple[int, ...]], ...] = ()

    @property
    def has_seconds(self) -> bool:
        """True if the rule names its seconds (``BYSECOND``): it then has one-second resolution."""
        return any(name == "bysecond" for name, _ in self.numbers)


def _range_text(largest: int, signed: bool, smallest: int) -> str:
    return f"1..{largest} or -{largest}..-1" if signed else f"{smallest}..{largest}"


def _number_list(name: str, value: str, problems: list[str]) -> tuple[int, ...]:
    largest, signed, smallest = _NUMBER_LISTS[name]
    numbers = []
    for item in value.split(","):
        match = _NUMBER.fullmatch(item)
        number = int(item) if match else None
        if number is None or (match and match.group(1) and not signed):
            problems.append(
                f"RRULE: {name}={item} must be a whole number in "
                f"{_range_text(largest, signed, smallest)} (several separated by commas)"
            )
        elif not (smallest <= abs(number) <= largest) or (signed and number == 0):
            problems.append(
                f"RRULE: {name}={item} is out of range {_range_text(largest, signed, smallest)}"
            )
        else:
            numbers.append(number)
    return tuple(numbers)


def _positive(name: str, value: str, problems: list[str]) -> int:
    if _POSITIVE.fullmatch(value) and int(value) >= 1:
        return int(value)
    problems.append(
        f"RRULE: {name}={value} is not valid: {name} must be at least 1 (a whole number)"
    )
    return 1


def _byday(value: str, problems: list[str]) -> tuple[tuple[int, int | None, str], ...]:
    """``(weekday, position or None, the item as written)`` for each valid BYDAY item."""
    days = []
    for item in value.split(","):
        match = _WEEKDAY_NUMBER.fullmatch(item)
        if match is None or match.group(2) not in WEEKDAYS:
            problems.append(
                f"RRULE: BYDAY={item} is not a weekday; use MO TU WE TH FR SA SU, "
                "optionally with a position such as 1MO or -1FR"
            )
            continue
        n = None if match.group(1) is None else int(match.group(1))
        if n is not None and not 1 <= abs(n) <= 53:
            problems.append(f"RRULE: BYDAY={item} is out of range: positions are 1..53 or -53..-1")
            continue
        days.append((WEEKDAYS.index(match.group(2)), n, item))
    return tuple(days)


def _until(value: str, problems: list[str]) -> tuple[datetime.datetime | None, bool]:
    match = _UNTIL.fullmatch(value)
    if match is None:
        problems.append(
            f"RRULE: UNTIL={value} must be a date-time such as 20271224T235959Z (UTC) "
            "or 20271224T235959 (the schedule's time zone)"
        )
        return None, False
    try:
        until = datetime.datetime.strptime(match.group(1), "%Y%m%dT%H%M%S")
    except ValueError:
        problems.append(f"RRULE: UNTIL={value} is not a valid date-time")
        return None, False
    return until, bool(match.group(2))


def _split(text: str, problems: list[str]) -> dict[str, str]:
    """The ``NAME=VALUE`` parts by upper-case name; a duplicated or malformed part is a problem."""
    parts: dict[str, str] = {}
    for piece in text.split(";"):
        name, equals, value = piece.partition("=")
        name, value = name.strip().upper(), value.strip().upper()
        if not equals or not name:
            problems.append(
                f"RRULE: {piece!r} is not a NAME=VALUE part; separate parts with one ';'"
            )
        elif name not in _KNOWN:
            problems.append(f"RRULE: unknown part {name}; RFC 5545 parts are {', '.join(_KNOWN)}")
        elif name in parts:
            problems.append(f"RRULE: {name} is given more than once; give each part once")
        elif not value:
            problems.append(f"RRULE: {name} has no value")
        else:
            parts[name] = value
    return parts


def _combination_problems(parts: dict[str, str], freq: str) -> list[str]:
    """The RFC 5545 MUST NOTs between parts and FREQ."""
    found = []
    if "COUNT" in parts and "UNTIL" in parts:
        found.append("RRULE: COUNT and UNTIL must not both be given (RFC 5545); keep one")
    if "BYMONTHDAY" in parts and freq == "WEEKLY":
        found.append("RRULE: BYMONTHDAY must not be used with FREQ=WEEKLY; use BYDAY")
    if "BYYEARDAY" in parts and freq in ("DAILY", "WEEKLY", "MONTHLY"):
        found.append(
            f"RRULE: BYYEARDAY must not be used with FREQ={freq}; "
            "use it with YEARLY, HOURLY, MINUTELY or SECONDLY"
        )
    if "BYWEEKNO" in parts and freq != "YEARLY":
        found.append(f"RRULE: BYWEEKNO must only be used with FREQ=YEARLY, not FREQ={freq}")
    if "BYSETPOS" in parts and not any(name in parts for name in _BY_PARTS):
        found.append(
            "RRULE: BYSETPOS must be used with another BYxxx part (such as BYDAY=MO,TU,WE,TH,FR)"
        )
    return found


def _byday_problems(
    byday: tuple[tuple[int, int | None, str], ...], freq: str, parts: dict[str, str]
) -> list[str]:
    """Numeric BYDAY (1MO, -1FR): only MONTHLY and YEARLY, within a month at most 5."""
    found = []
    for day, n, item in byday:
        if n is None:
            continue
        if freq not in ("MONTHLY", "YEARLY"):
            found.append(
                f"RRULE: BYDAY={item} has a position, which FREQ={freq} must not have; "
                f"use {WEEKDAYS[day]}, or FREQ=MONTHLY or YEARLY"
            )
        elif freq == "YEARLY" and "BYWEEKNO" in parts:
            found.append(
                f"RRULE: BYDAY={item} has a position, which must not be used with BYWEEKNO"
            )
        elif (freq == "MONTHLY" or "BYMONTH" in parts) and abs(n) > 5:
            found.append(
                f"RRULE: BYDAY={item} is out of range: a month has at most 5 of each weekday "
                "(1..5 or -5..-1)"
            )
    return found


@functools.lru_cache(maxsize=1024)
def parse_rule(text: str) -> RuleParts:
    """Read one RRULE (no ``RRULE:`` prefix, no ``DTSTART``) strictly.

    Names and values are case-insensitive.

    Args:
        text: Such as ``"FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=9"``.

    Returns:
        The checked parts.

    Raises:
        ValidationError: every problem found, each naming the offending part.
    """
    problems: list[str] = []
    parts = _split(text, problems)
    freq = parts.get("FREQ", "")
    if freq and freq not in FREQUENCIES:
        problems.append(f"RRULE: FREQ={freq} is not valid: use one of {', '.join(FREQUENCIES)}")
    elif not freq:
        problems.append("RRULE: FREQ is missing; e.g. 'FREQ=DAILY'")
    numbers = tuple(
        (name.lower(), _number_list(name, parts[name], problems))
        for name in _NUMBER_LISTS
        if name in parts
    )
    byday = _byday(parts["BYDAY"], problems) if "BYDAY" in parts else None
    wkst = parts.get("WKST", "MO")
    if wkst not in WEEKDAYS:
        problems.append(f"RRULE: WKST={wkst} is not a weekday; use one of {' '.join(WEEKDAYS)}")
    count = _positive("COUNT", parts["COUNT"], problems) if "COUNT" in parts else None
    interval = _positive("INTERVAL", parts["INTERVAL"], problems) if "INTERVAL" in parts else 1
    until, until_utc = _until(parts["UNTIL"], problems) if "UNTIL" in parts else (None, False)
    problems.extend(_combination_problems(parts, freq))
    problems.extend(_byday_problems(byday or (), freq, parts))
    if problems:
        raise ValidationError(problems, subject="rrule")
    return RuleParts(
        freq=FREQUENCIES[freq],
        interval=interval,
        count=count,
        until=until,
        until_utc=until_utc,
        wkst=WEEKDAYS.index(wkst) if wkst in WEEKDAYS else 0,
        byday=None if byday is None else tuple((day, n) for day, n, _ in byday),
        numbers=numbers,
    )


def dateutil_rule(
    parts: RuleParts, start: datetime.datetime, until: datetime.datetime | None
) -> rrule.rrule | None:
    """A dateutil rule from naive local ``start``, without ``COUNT``, ending at ``until``.

    Args:
        parts: The checked rule.
        start: The rule's naive local DTSTART.
        until: The last wall time to consider (the rule's own ``UNTIL`` already
            folded in by the caller), or None.

    Returns:
        The rule, or None when it can never fire: only a leap second
        (``BYSECOND=60``, which Python time never has), dates that never match,
        or BYxxx times dateutil finds can never be reached from ``start``.
    """
    by = dict(parts.numbers)
    if "bysecond" in by:
        by["bysecond"] = tuple(second for second in by["bysecond"] if second < 60)
        if not by["bysecond"]:
            return None
    can_match = _dates_can_match(parts, start.month, start.day, start.weekday())
    if not can_match or not _positions_can_match(parts):
        return None
    byweekday = None
    if parts.byday is not None:
        byweekday = [rrule.weekday(day, n) for day, n in parts.byday]
    try:
        return _rrule(parts, start, until, by, byweekday)
    except ValueError:  # "Invalid combination of interval and byhour ..." and the like
        return None


def _rrule(
    parts: RuleParts,
    start: datetime.datetime,
    until: datetime.datetime | None,
    by: dict[str, tuple[int, ...]],
    byweekday: list[rrule.weekday] | None,
) -> rrule.rrule:
    return rrule.rrule(
        parts.freq,
        dtstart=start,
        interval=parts.interval,
        wkst=parts.wkst,
        until=until,
        byweekday=byweekday,
        bysetpos=by.get("bysetpos"),
        bymonth=by.get("bymonth"),
        bymonthday=by.get("bymonthday"),
        byyearday=by.get("byyearday"),
        byweekno=by.get("byweekno"),
        byhour=by.get("byhour"),
        byminute=by.get("byminute"),
        bysecond=by.get("bysecond"),
    )


_DAYS_PER_PERIOD: Final[dict[int, int]] = {rrule.YEARLY: 366, rrule.MONTHLY: 31, rrule.WEEKLY: 7}
"""At most how many days one period of a frequency holds (one for DAILY and finer)."""
_TIME_PARTS: Final[dict[int, tuple[str, ...]]] = {
    rrule.HOURLY: ("byminute", "bysecond"),
    rrule.MINUTELY: ("bysecond",),
    rrule.SECONDLY: (),
}
"""The time parts one period of a sub-daily frequency expands (coarser ones: all three)."""


def _positions_can_match(parts: RuleParts) -> bool:
    """False if every BYSETPOS is beyond the largest set one period can hold.

    ``FREQ=DAILY;BYHOUR=9;BYSETPOS=2`` asks for the second of one instant a day.
    """
    by = dict(parts.numbers)
    if "bysetpos" not in by:
        return True
    size = _DAYS_PER_PERIOD.get(parts.freq, 1)
    if parts.freq == rrule.WEEKLY:  # its BYDAY days, or the start's weekday
        size = len({day for day, _ in parts.byday or ((0, None),)})
    for name in _TIME_PARTS.get(parts.freq, ("byhour", "byminute", "bysecond")):
        size *= len(set(by.get(name, (0,))))
    return any(abs(position) <= size for position in by["bysetpos"])


def _allowed(values: tuple[int, ...] | None, value: int, length: int) -> bool:
    """True if ``values`` (None: any) holds ``value`` counted from the start or the end."""
    return values is None or value in values or value - length - 1 in values


@functools.lru_cache(maxsize=1024)
def _dates_can_match(parts: RuleParts, month: int, day: int, weekday: int) -> bool:
    """False if no date can satisfy the rule's date parts, from a start on ``month``/``day``.

    The date parts (BYMONTH, BYMONTHDAY, BYYEARDAY and BYDAY without a
    position) each allow a set of months, days of the month, days of the year
    and weekdays, and a date matches when all allow it. Over the 400-year
    Gregorian cycle every date of a common and of a leap year falls on every
    weekday, so trying each date of both kinds of year is enough. The start
    fills in what dateutil takes from it (the weekday of a WEEKLY rule without
    BYDAY; the day, and for YEARLY the month, of a MONTHLY or YEARLY rule
    without date parts), an INTERVAL of whole weeks keeps the start's weekday
    and a MONTHLY INTERVAL keeps some months only. Rules with BYWEEKNO or a
    BYDAY position are left to dateutil, as are rarer alignments (a false
    "can match" only costs dateutil's walk).
    """
    by: dict[str, tuple[int, ...]] = dict(parts.numbers)
    if "byweekno" in by or any(n is not None for _, n in parts.byday or ()):
        return True
    if parts.freq in (rrule.YEARLY, rrule.MONTHLY) and not (
        {"bymonthday", "byyearday"} & by.keys() or parts.byday
    ):
        by["bymonthday"] = (day,)
        if parts.freq == rrule.YEARLY:
            by.setdefault("bymonth", (month,))
    weekdays = set(range(7)) if parts.byday is None else {d for d, _ in parts.byday}
    if parts.freq == rrule.WEEKLY and parts.byday is None:
        weekdays = {weekday}
    elif parts.freq in _DAY_UNITS and parts.interval % (7 * _DAY_UNITS[parts.freq]) == 0:
        weekdays &= {weekday}
    months = set(by.get("bymonth", range(1, 13)))
    if parts.freq == rrule.MONTHLY:
        step = math.gcd(parts.interval, 12)
        months = {m for m in months if (m - month) % step == 0}
    if not weekdays or not months:
        return False
    for year in (2027, 2028):  # a common year and a leap year
        length = 365 + calendar.isleap(year)
        for yearday in range(1, length + 1):
            date = datetime.date(year, 1, 1) + datetime.timedelta(days=yearday - 1)
            if (
                date.month in months
                and _allowed(
                    by.get("bymonthday"), date.day, calendar.monthrange(year, date.month)[1]
                )
                and _allowed(by.get("byyearday"), yearday, length)
            ):
                return True
    return False


_DAY_UNITS: Final[dict[int, int]] = {
    rrule.DAILY: 1,
    rrule.HOURLY: 24,
    rrule.MINUTELY: 24 * 60,
    rrule.SECONDLY: 24 * 3600,
}
"""Periods of each frequency in a day."""
