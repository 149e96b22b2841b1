"""Crash test on SQLite: SIGKILL a delivering worker five times; nobody lost, nobody doubled;
split by concern from one module.

A campaign with an email and an SMS action goes to a static audience of
20,000 profiles kept in one SQLite file. Child processes (real interpreters)
deliver it through :class:`FileChannel`, a channel that appends one line per
message (``idempotency_key<TAB>action_id<TAB>profile_id``) to an append-only
file per channel, fsynced per batch: the provider's own record, outside the
store. Each child SIGKILLs itself at a send chosen by a seeded generator,
alternately just *before* the batch reaches the file (intent recorded, the
provider saw nothing) and just *after* it (the provider has it, the outcome is
not recorded). Every restart moves the clock past the dead worker's lease; a
last child completes the run. Then:

- the run SUCCEEDED; the report counts 20,000 targeted and sent per action,
  nothing pending, failed or excluded;
- every (action, profile) is in the channel's record, none is missing, and
  every copy carries the one idempotency key of its (run, action, profile);
- without ``lookup``, copies exist only for messages in flight at a crash (at
  most one batch per action per crash); with ``lookup`` there is no copy;
- the ledger holds 40,000 entries, each SENT once, with the provider's id.

Two small scenarios check the lease itself: a second worker leaves a dead
worker's run alone until its lease lapses, and ``run_until`` resumes it right
then (instead of spinning on it).

The children import ``channel.py`` here, so their channel and main function are
type-checked and linted like the rest of the suite. Nothing sleeps: the test
waits for children to exit.
"""
