"""Repairing damaged bundles from the live service (``verify --read-data --repair``).

Bundles are immutable and named by the *state* they hold, not by their bytes, and backups trust a
bundle that exists (as restic does, they never re-read it). So a bundle whose bytes rot stays
damaged until someone repairs it: :func:`repair_bundle` exports the same state again from
HealthOmics and writes it anew, and :mod:`._notes` records the new bytes so the snapshots that
list the bundle accept them (see "Repairing a damaged bundle" in ``docs/format.md``).
"""

from __future__ import annotations

from ._notes import REPAIRS_PREFIX, RepairNote, accepted, load_notes, note_key, notes_prefix, write_note
from ._rebuild import RepairOutcome, repair_bundle

__all__ = [
    "REPAIRS_PREFIX",
    "RepairNote",
    "RepairOutcome",
    "accepted",
    "load_notes",
    "note_key",
    "notes_prefix",
    "repair_bundle",
    "write_note",
]
