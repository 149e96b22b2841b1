"""Permission tests (SPEC sections 6 and 7), split by concern from one module."""
