"""Proofs (SPEC sections 8 and 18), split by concern from one module: only to test profiles,
suppression respected, ``campaign.write`` on a DRAFT, SCHEDULED or LIVE campaign, capped per
campaign per rolling hour (counted from the store, so across processes), recorded in history
and never counted in reports.

Every test runs on the in-memory store and on a SQLite file, on a ManualClock.
"""
