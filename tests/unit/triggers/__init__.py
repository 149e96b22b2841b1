"""API-triggered campaign tests (SPEC section 9, issue 7), split by concern from one module.

Most tests run on an in-memory kit and on a kit in a SQLite file."""
