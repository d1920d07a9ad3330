"""Verify results kept in the store: ``verifications/<verify-id>.json``, one per ``verify`` run.

Why: an archive is trusted because it is checked, and whoever must show that (an auditor, on call)
should not have to dig through cron logs for the last ``verify``. Each run records when it ran,
how deep it looked, what it checked per target (account and region) and the problems it found;
``omics-archiver report`` shows the newest result per target next to the drill results. Records
are written once (``if-absent``), never changed, and read back as hostile: bounded in size,
validated against ``schemas/verify-record.schema.json``, an unreadable one counted, never raised.

    verify (archiver._verify) ─► build_record ─► write_record        read_latest ─► report
"""

from __future__ import annotations

from ._record import (
    PREFIX,
    RECORD_LIMIT,
    build_record,
    read_latest,
    record_key,
    write_record,
)

__all__ = ["PREFIX", "RECORD_LIMIT", "build_record", "read_latest", "record_key", "write_record"]
