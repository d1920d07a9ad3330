"""The archive at a glance: a static HTML page (and its data as JSON) for auditors and people on call.

``omics-archiver report`` builds it from what the store holds: per target (account and region), the
last complete backup and its age; the nightly counts over time as small charts; what failed or
vanished in the latest snapshots; each workflow's states over time; per target the last verify
(``verifications/``) and restore drill (``drills/``) results and image readiness (from the newest
complete snapshot's manifests and, after ``backup --images copy``, the store's ``images/``). The
page is one file with inline CSS and SVG, no script, and loads nothing; the same data is printed
as JSON, or as a few lines of text per target. Only the store is read: no AWS call.
"""

from __future__ import annotations

from ._html import render_html
from ._model import CELL_STATES, STALE_AFTER, Limits, build_overview
from ._sources import RECORD_PREFIXES, find_records, read_images
from ._text import render_text, verify_depth

__all__ = [
    "CELL_STATES",
    "RECORD_PREFIXES",
    "STALE_AFTER",
    "Limits",
    "build_overview",
    "find_records",
    "read_images",
    "render_html",
    "render_text",
    "verify_depth",
]
