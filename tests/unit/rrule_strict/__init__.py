"""Strict RRULEs: every RFC 5545 "MUST NOT" and out-of-range value refused, naming the part
(split by concern).

RFC 5545 section 3.3.10 (with its verified errata) is the reference:

- ``FREQ`` is required; ``UNTIL`` and ``COUNT`` must not both occur; no part
  may occur more than once;
- ranges: BYSECOND 0..60, BYMINUTE 0..59, BYHOUR 0..23, BYMONTHDAY ±1..31,
  BYYEARDAY ±1..366, BYWEEKNO ±1..53, BYMONTH 1..12, BYSETPOS ±1..366, a BYDAY
  position ±1..53; COUNT and INTERVAL positive;
- BYDAY must not have a position unless FREQ is MONTHLY or YEARLY, nor with
  YEARLY and BYWEEKNO; BYMONTHDAY must not be used with WEEKLY; BYYEARDAY not
  with DAILY, WEEKLY or MONTHLY; BYWEEKNO only with YEARLY; BYSETPOS only with
  another BYxxx part.

On top of the RFC, a BYDAY position within a month (MONTHLY, or YEARLY with
BYMONTH) beyond 5 is refused: it can never match.

The regression set is every single-RRULE case of python-dateutil's own test
suite (``tests/test_rrule.py``) that RFC 5545 allows: each stays accepted and
fires exactly where dateutil says. The cases that suite holds and the RFC
forbids (BYWEEKNO with DAILY, BYYEARDAY with MONTHLY, COUNT with UNTIL...) are
among the refusals below.
"""
