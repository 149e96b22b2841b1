"""Isolation: one bad recipient, run or campaign never stops delivery for the others; split by
concern from one module.

Data from host adapters is never validated by campaignkit's constructors, so
these tests build bad profiles by bypassing them (``object.__setattr__``), as
a host ``AudienceSource`` could hand them over. Every test runs on the
in-memory store and on a SQLite file.
"""
