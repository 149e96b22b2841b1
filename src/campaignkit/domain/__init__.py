"""The pure domain core: immutable values and pure functions, no I/O, no clock."""
