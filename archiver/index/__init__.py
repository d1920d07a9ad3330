"""Indexes that let browsing commands answer without re-reading the archive's history.

:class:`SnapshotIndex` keeps every snapshot the catalog has read and validated in SQLite in the
local cache: stable entry parts once, volatile fields per snapshot, one summary row per snapshot
(see its module for the rules that keep it a cache, never a source). :mod:`._check` validates a
stream of similar snapshots piece by piece, exactly as the schema does.
"""

from ._check import VolatileCheck, light_ok, stable_ok
from ._snapshots import VOLATILE, IndexDamaged, IndexedSnapshot, SnapshotIndex

__all__ = [
    "VOLATILE",
    "IndexDamaged",
    "IndexedSnapshot",
    "SnapshotIndex",
    "VolatileCheck",
    "light_ok",
    "stable_ok",
]
