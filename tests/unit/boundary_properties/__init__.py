"""The checked boundary as a property (issue 10, SPEC section 18), split by concern.

For every public verb and value constructor, Hypothesis puts arbitrary
JSON-ish values and wrong types into one argument at a time (and sometimes
into all of them) and checks three things:

- only ``CampaignKitError`` subclasses come out: never a raw ``TypeError``,
  ``AttributeError``, ``RecursionError``, ``UnicodeEncodeError`` or ``OSError``;
- a refused call leaves the store exactly as it was (campaigns, surfaces,
  approval policies, runs, feedback, profiles, audiences, access, rules);
- an in-memory kit and a kit on a SQLite file, seeded identically, give the
  same outcome (accepted, or the same error class with the same problems)
  and hold the same data afterwards.

The two kits live for the whole module: accepted calls change both alike, so
later examples run against a richer store.
"""
