"""Scheduling end to end: profile time zones, waves, rate control, send windows,
quiet hours, frequency caps, recurrence, downtime and the calendar (SPEC sections 2, 5),
split by concern.

Every test drives a real kit (in memory, and on a SQLite file) with a ManualClock:
the clock only ever moves to the instant the engine says it next has work (or to
an instant the test chooses), so each message is seen arriving at an exact
instant and the engine's ``next_due_at`` is checked along the way. Nothing sleeps.
"""
