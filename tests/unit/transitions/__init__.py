"""The pure lifecycle core, table-driven: every command against every status, then the guards;
split by concern from one module."""
