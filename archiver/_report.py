"""The report of one backup run: what was archived, skipped, quarantined, failed and warned about.

The pipeline fills it in as it goes; the CLI prints it (``--json``) and picks the exit code from
:attr:`BackupReport.outcome`. It never contains a presigned URL: entries are built from sanitized
metadata and from error messages that went through :func:`archiver._errors.redact`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

__all__ = ["BackupReport", "Outcome"]

Outcome = Literal["ok", "partial", "failed"]


def _stats() -> dict[str, int]:
    return {
        "workflows": 0,
        "versions": 0,
        "bundlesWritten": 0,
        "bytesWritten": 0,
        "definitionBytesDownloaded": 0,
        "confirmedByListing": 0,  # items confirmed unchanged by their listing, without a Get call
    }


@dataclass(kw_only=True)
class BackupReport:
    run_id: str
    started_at: datetime
    dry_run: bool = False
    finished_at: datetime | None = None
    partition: str = ""
    account: str = ""
    region: str = ""
    bundles: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    # Kept but worth a look: members the schemas do not know ({"reason": "unknown-member", "paths"}).
    warnings: list[dict[str, Any]] = field(default_factory=list)
    vanished: list[dict[str, Any]] = field(default_factory=list)
    everything_vanished: bool = False
    listed: dict[str, str] = field(default_factory=dict)  # private workflows listed: id -> name
    api: dict[str, int] = field(default_factory=dict)  # this process's API retries, by kind
    stats: dict[str, int] = field(default_factory=_stats)
    sweep: dict[str, Any] | None = None  # the run's sweep (``archiver.incremental.Sweep.as_dict``)
    snapshot_key: str | None = None
    # What discovery found so far, for progress (not part of the report's document): "workflows" (to back
    # up, set once listing is done), "versions" (listed so far), "versionLists" (workflows whose versions
    # are all listed).
    found: dict[str, int] = field(default_factory=dict)

    @property
    def outcome(self) -> Outcome:
        """``ok`` (skips and vanished workflows included), ``partial`` (some items failed, or every
        workflow of the previous complete snapshot vanished), ``failed`` (nothing archived)."""
        if self.failed:
            return "partial" if self.bundles else "failed"
        return "partial" if self.everything_vanished else "ok"

    def as_dict(self) -> dict[str, Any]:
        def ts(moment: datetime | None) -> str | None:
            return moment.isoformat() if moment else None

        return {
            "runId": self.run_id,
            "outcome": self.outcome,
            "dryRun": self.dry_run,
            "startedAt": ts(self.started_at),
            "finishedAt": ts(self.finished_at),
            "partition": self.partition,
            "account": self.account,
            "region": self.region,
            "snapshot": self.snapshot_key,
            "stats": dict(self.stats),
            "bundles": sorted(self.bundles, key=lambda b: str(b["key"])),
            "skipped": self.skipped,
            "failed": self.failed,
            "quarantined": self.quarantined,
            "warnings": self.warnings,
            "vanished": self.vanished,
            "api": dict(self.api),
        }
