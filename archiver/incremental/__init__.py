"""Incremental backups by listing: which items a nightly run may confirm without a Get call.

ListWorkflows and ListWorkflowVersions already return each item's digest, status and creation time
(and a version's description, a workflow's name). An item whose listing matches what the archive
last recorded of it is most likely unchanged, and a Get call (the quota-bound cost of a run) would
only confirm it. What a listing cannot show (the README, tags, storage, the registry map, a
workflow's description) is caught by a rotating sweep: every run still reads a share of the
unchanged items in full, so that each is read at least once every ``full_every`` runs.
"""

from ._confirm import Sweep, confirmed_entry, listing_matches, seen_fields

__all__ = ["Sweep", "confirmed_entry", "listing_matches", "seen_fields"]
