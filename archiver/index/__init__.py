"""Indexes that let browsing commands answer without re-reading the archive's history.

:class:`SnapshotIndex` keeps every snapshot the catalog has read and validated, as interned bundle
entries, in the local cache (see its module for the rules that keep it a cache, never a source).
"""

from ._snapshots import SnapshotIndex

__all__ = ["SnapshotIndex"]
