"""SQLiteStore on real files: migrations, processes, crashes, foreign files, plans,
split by concern.

Everything here runs against database files under ``tmp_path``. Other
processes are real Python interpreters (``sys.executable -c``) that talk to
the test through blocking pipes: the test waits for a child's line, never for
time to pass, so every interleaving below is forced, not hoped for.
"""
