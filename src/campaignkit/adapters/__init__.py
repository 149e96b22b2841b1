"""Adapters: concrete implementations of the ports, and copying a store between them."""

from campaignkit.adapters.copying import CopyReport, copy_store

__all__ = ["CopyReport", "copy_store"]
