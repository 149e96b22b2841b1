"""Unit and property tests for recurrence rules and ``Schedule.occurrences()``, split by concern.

These cover:

- the ``Recurrence`` constructors (daily, weekly, monthly, RRULE) and the
  ``ValidationError`` each one raises for a bad value;
- the local-time rules of ``campaignkit.domain.recurrence``: a wall time in the
  spring-forward gap moves forward by the gap, an ambiguous fall-back wall time
  means the first (summer-time) instant, and a monthly day that a month lacks
  falls on that month's last day;
- every-N spacing, chosen weekdays, the ``after`` and ``end`` bounds, and RRULE
  rules that give the same occurrences as the matching structured rules;
- the profile-time-zone helpers ``local_instant``, ``same_wall_time`` and
  ``earliest_slot``;
- one-shot schedules and ``schedule_problems()``.

The property tests check the code against a model built on the standard
library's ``zoneinfo``. With ``fold=0`` (PEP 495), ``zoneinfo`` takes the first
instant of an ambiguous wall time and reads a wall time in the gap with the
offset from before the change, which moves it forward by the gap. Those are
the two documented rules.
"""
