"""Attacks on issue 12's per-batch delivery pipeline: hostile channels, bad data, odd hosts,
split by concern.

Covers the paused garbage collector, the shared heartbeat thread, channel
answers of every wrong shape, provider ids reused inside and across batches,
profile data that breaks each decide step on the simple and the timed path,
duplicates inside a batch and across a resume, and how a run ends when its
campaign stops during its last batch or its last batch leaves retries. Every
kit-level test runs on the in-memory store and on a SQLite file. Nothing
sleeps: threads are waited for by polling an event with a bound.

Four bugs found here were fixed with them (a generator answer, a lookup that raises, a
channel that empties its input, two heartbeat blocks on one run).
"""
