"""Delivery tests (runs, the ledger, retries, feedback, proofs, stop, resume, reports), split by
concern from one module. Everything runs on a ManualClock; tests where the store matters run on
the in-memory store and on SQLite."""
