"""A batch of fresh intents kept as one block in the in-memory ledger, and its columns; split by
concern from one module.

``decide_batch`` hands a one-action run due at one instant its ready rows as
:class:`PendingRows` (columns); the in-memory ledger keeps such a batch of new
keys as one :class:`Block`, and a bulk ``settle`` of exactly that batch, all
accepted, settles the block as a whole. Each test compares with the same calls
given as plain rows (the row-by-row path), read back through every query.
"""
