"""Prometheus metrics for the nightly jobs, as files for node_exporter's textfile collector.

Why: the people on call watch dashboards and alerts, not logs. A job that writes
``--metrics-file /var/lib/node_exporter/textfile_collector/omics-archiver-backup.prom`` after every
run lets an alert fire on "no successful backup for 26 hours" or "verify found problems".

Each file is written atomically (a temporary file in the same directory, fsync, rename, mode 0644 so
node_exporter can read it), since the collector may read it at any moment. A file holds the series of
one job (label ``archiver_job``; not ``job``, which Prometheus reserves for the scrape job). The
"last success" timestamp must survive a failed run, so it is carried over from the previous file
when this run did not succeed. Metric names, help texts and types are shared between backup and
verify files so that node_exporter can merge them.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ._report import BackupReport
from ._verify import VerifyReport

__all__ = ["Metric", "TargetRun", "render", "write_metrics", "write_targets_metrics", "write_verify_metrics"]

PREFIX = "omics_archiver"
_LAST_SUCCESS = f"{PREFIX}_last_success_timestamp_seconds"
_NUMBER = r"[-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|Inf|NaN)"

_HELP: Mapping[str, tuple[str, str]] = {
    f"{PREFIX}_last_run_timestamp_seconds": ("gauge", "When the job last finished, successfully or not."),
    _LAST_SUCCESS: ("gauge", "When the job last finished successfully (carried over across failed runs)."),
    f"{PREFIX}_last_run_success": ("gauge", "1 if the job's last run succeeded, else 0."),
    f"{PREFIX}_last_run_duration_seconds": ("gauge", "How long the job's last run took."),
    f"{PREFIX}_backup_workflows_archived": (
        "gauge",
        "Workflows and versions listed in the last backup's snapshot (new and unchanged).",
    ),
    f"{PREFIX}_backup_workflows_skipped": ("gauge", "Workflows and versions the last backup skipped."),
    f"{PREFIX}_backup_workflows_failed": (
        "gauge",
        "Workflows and versions the last backup failed to archive.",
    ),
    f"{PREFIX}_backup_workflows_quarantined": (
        "gauge",
        "Workflows and versions the last backup quarantined (invalid metadata).",
    ),
    f"{PREFIX}_backup_workflows_vanished": (
        "gauge",
        "Workflows archived before that the last backup no longer found in the account.",
    ),
    f"{PREFIX}_backup_bundles_written": ("gauge", "New bundles the last backup wrote."),
    f"{PREFIX}_backup_bytes_written": ("gauge", "Bytes of new bundles the last backup wrote."),
    f"{PREFIX}_verify_problems": ("gauge", "Problems the last verify found (0: the archive is sound)."),
    f"{PREFIX}_verify_snapshots": ("gauge", "Snapshots the last verify checked."),
    f"{PREFIX}_verify_bundles": ("gauge", "Bundles in the store at the last verify."),
    f"{PREFIX}_verify_bundles_read": ("gauge", "Bundles the last verify read and checked in full."),
    f"{PREFIX}_verify_bytes_read": ("gauge", "Bytes of bundles the last verify read."),
}


@dataclass(frozen=True)
class Metric:
    name: str
    value: float
    labels: Mapping[str, str]


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def render(metrics: list[Metric]) -> str:
    """The Prometheus text exposition format (version 0.0.4) of ``metrics``, grouped by name."""
    lines: list[str] = []
    done: set[str] = set()
    for metric in metrics:
        if metric.name in done:
            continue
        done.add(metric.name)
        kind, text = _HELP.get(metric.name, ("gauge", metric.name))
        lines.append(f"# HELP {metric.name} {text.replace(chr(92), chr(92) * 2)}")
        lines.append(f"# TYPE {metric.name} {kind}")
        for same in (m for m in metrics if m.name == metric.name):
            labels = ",".join(f'{k}="{_escape_label(v)}"' for k, v in sorted(same.labels.items()))
            lines.append(f"{same.name}{{{labels}}} {_format_value(same.value)}")
    return "\n".join(lines) + "\n"


def _previous_success(path: Path) -> float | None:
    """The last-success timestamp in an earlier file, if there is one to carry over."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    m = re.search(rf"^{_LAST_SUCCESS}(?:\{{[^}}]*\}})?\s+({_NUMBER})\s*$", text, re.MULTILINE)
    return float(m.group(1)) if m else None


def _write_atomic(path: Path, text: str) -> None:
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _common(
    path: Path, labels: Mapping[str, str], *, success: bool, duration: float | None, now: datetime
) -> list[Metric]:
    stamp = now.timestamp()
    last_success = stamp if success else _previous_success(path)
    out = [
        Metric(f"{PREFIX}_last_run_timestamp_seconds", stamp, labels),
        Metric(f"{PREFIX}_last_run_success", 1 if success else 0, labels),
    ]
    if last_success is not None:
        out.append(Metric(_LAST_SUCCESS, last_success, labels))
    if duration is not None:
        out.append(Metric(f"{PREFIX}_last_run_duration_seconds", duration, labels))
    return out


def write_metrics(
    path: Path,
    *,
    job: str,
    report: BackupReport | None,
    duration: float | None = None,
    now: datetime | None = None,
) -> None:
    """Write a backup run's metrics to ``path`` atomically.

    ``report`` is ``None`` when the run failed before it could report (the metrics then say "failed"
    and keep the previous success time). A run succeeded when its outcome is ``ok`` (skips included);
    ``partial`` is not a success. ``duration`` defaults to the report's finish minus start time.
    """
    now = now or datetime.now(UTC)
    labels: dict[str, str] = {"archiver_job": job}
    if report is not None and report.account:
        labels.update(account=report.account, region=report.region)
    if duration is None and report is not None and report.finished_at is not None:
        duration = (report.finished_at - report.started_at).total_seconds()
    success = report is not None and report.outcome == "ok" and not report.dry_run
    metrics = _common(path, labels, success=success, duration=duration, now=now)
    if report is not None:
        counts = {
            "workflows_archived": len(report.bundles),
            "workflows_skipped": len(report.skipped),
            "workflows_failed": len(report.failed),
            "workflows_quarantined": len(report.quarantined),
            "workflows_vanished": len(report.vanished),
            "bundles_written": report.stats.get("bundlesWritten", 0),
            "bytes_written": report.stats.get("bytesWritten", 0),
        }
        metrics += [Metric(f"{PREFIX}_backup_{name}", value, labels) for name, value in counts.items()]
    _write_atomic(path, render(metrics))


@dataclass(frozen=True)
class TargetRun:
    """One target of an org-wide backup for :func:`write_targets_metrics` (``report`` None: failed)."""

    account: str
    region: str
    report: BackupReport | None
    duration: float


def _previous_successes(path: Path) -> dict[str, float]:
    """Every last-success timestamp of an earlier file, by its label text (``k="v",...``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    found = re.finditer(rf"^{_LAST_SUCCESS}\{{([^}}]*)\}}\s+({_NUMBER})\s*$", text, re.MULTILINE)
    return {m.group(1): float(m.group(2)) for m in found}


def _backup_counts(report: BackupReport) -> dict[str, int]:
    return {
        "workflows_archived": len(report.bundles),
        "workflows_skipped": len(report.skipped),
        "workflows_failed": len(report.failed),
        "workflows_quarantined": len(report.quarantined),
        "workflows_vanished": len(report.vanished),
        "bundles_written": report.stats.get("bundlesWritten", 0),
        "bytes_written": report.stats.get("bytesWritten", 0),
    }


def write_targets_metrics(
    path: Path, *, job: str, runs: list[TargetRun], dry_run: bool = False, now: datetime | None = None
) -> None:
    """Write an org-wide backup's metrics: every series once per target, labelled ``account`` and
    ``region``. A target that failed keeps its previous last-success time; a target this run did
    not cover (another shard's) is not in the file: give each shard its own file."""
    now = now or datetime.now(UTC)
    before = _previous_successes(path)
    metrics: list[Metric] = []
    for run in runs:
        labels = {"archiver_job": job, "account": run.account, "region": run.region}
        key = ",".join(f'{k}="{_escape_label(v)}"' for k, v in sorted(labels.items()))
        success = run.report is not None and run.report.outcome == "ok" and not dry_run
        stamp = now.timestamp()
        metrics += [
            Metric(f"{PREFIX}_last_run_timestamp_seconds", stamp, labels),
            Metric(f"{PREFIX}_last_run_success", 1 if success else 0, labels),
            Metric(f"{PREFIX}_last_run_duration_seconds", run.duration, labels),
        ]
        last = stamp if success else before.get(key)
        if last is not None:
            metrics.append(Metric(_LAST_SUCCESS, last, labels))
        if run.report is not None:
            counts = _backup_counts(run.report)
            metrics += [Metric(f"{PREFIX}_backup_{name}", value, labels) for name, value in counts.items()]
    _write_atomic(path, render(metrics))


def write_verify_metrics(
    path: Path, *, job: str, report: VerifyReport | None, now: datetime | None = None
) -> None:
    """Write a verify run's metrics to ``path`` atomically; success means no problem was found."""
    now = now or datetime.now(UTC)
    labels = {"archiver_job": job}
    success = report is not None and report.ok
    duration = report.duration if report is not None else None
    metrics = _common(path, labels, success=success, duration=duration, now=now)
    if report is not None:
        counts = {
            "problems": len(report.problems),
            "snapshots": report.snapshots,
            "bundles": report.bundles,
            "bundles_read": report.bundles_read,
            "bytes_read": report.bytes_read,
        }
        metrics += [Metric(f"{PREFIX}_verify_{name}", value, labels) for name, value in counts.items()]
    _write_atomic(path, render(metrics))
