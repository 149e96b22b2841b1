"""The lifecycle engine, driven by a ManualClock: due transitions, dating, order, events; split
by concern from one module."""
