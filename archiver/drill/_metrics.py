"""A drill's metrics for node_exporter's textfile collector (see archiver._metrics).

``omics_archiver_drill_last_success_timestamp_seconds`` is carried over from the previous file
when this drill failed, so that an alert can fire on "no successful drill for 8 days".
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .._metrics import PREFIX, Metric, _write_atomic, render  # the shared atomic writer and format

__all__ = ["DrillRun", "write_drill_metrics", "write_drills_metrics"]

LAST_SUCCESS = f"{PREFIX}_drill_last_success_timestamp_seconds"


def _previous(path: Path) -> float | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    m = re.search(rf"^{LAST_SUCCESS}(?:\{{[^}}]*\}})?\s+([0-9.eE+-]+)\s*$", text, re.MULTILINE)
    try:
        return float(m.group(1)) if m else None
    except ValueError:
        return None


def write_drill_metrics(
    path: Path, *, ok: bool, checks: int, failed: int, duration: float, account: str, region: str
) -> None:
    now = datetime.now(UTC).timestamp()
    labels = {"archiver_job": "drill", "account": account, "region": region}
    success = now if ok else _previous(path)
    metrics = [
        Metric(f"{PREFIX}_drill_last_run_timestamp_seconds", now, labels),
        Metric(f"{PREFIX}_drill_last_run_success", 1 if ok else 0, labels),
        Metric(f"{PREFIX}_drill_last_run_duration_seconds", duration, labels),
        Metric(f"{PREFIX}_drill_checks", checks, labels),
        Metric(f"{PREFIX}_drill_failures", failed, labels),
    ]
    if success is not None:
        metrics.append(Metric(LAST_SUCCESS, success, labels))
    _write_atomic(path, render(metrics))


@dataclass(frozen=True, kw_only=True)
class DrillRun:
    """One drill of ``drill --targets``, for :func:`write_drills_metrics`."""

    account: str
    region: str
    ok: bool
    checks: int
    failed: int
    duration: float


def _previous_by_source(path: Path) -> dict[tuple[str, str], float]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    found: dict[tuple[str, str], float] = {}
    for m in re.finditer(rf"^{LAST_SUCCESS}\{{([^}}]*)\}}\s+([0-9.eE+-]+)\s*$", text, re.MULTILINE):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        with contextlib.suppress(ValueError):
            found[(labels.get("account", ""), labels.get("region", ""))] = float(m.group(2))
    return found


def write_drills_metrics(path: Path, runs: Sequence[DrillRun]) -> None:
    """Every series once per drilled account and region (``drill --targets``); each source's last
    success is carried over from the previous file when its drill failed."""
    now = datetime.now(UTC).timestamp()
    previous = _previous_by_source(path)
    metrics: list[Metric] = []
    for run in runs:
        labels = {"archiver_job": "drill", "account": run.account, "region": run.region}
        metrics += [
            Metric(f"{PREFIX}_drill_last_run_timestamp_seconds", now, labels),
            Metric(f"{PREFIX}_drill_last_run_success", 1 if run.ok else 0, labels),
            Metric(f"{PREFIX}_drill_last_run_duration_seconds", run.duration, labels),
            Metric(f"{PREFIX}_drill_checks", run.checks, labels),
            Metric(f"{PREFIX}_drill_failures", run.failed, labels),
        ]
        success = now if run.ok else previous.get((run.account, run.region))
        if success is not None:
            metrics.append(Metric(LAST_SUCCESS, success, labels))
    _write_atomic(path, render(metrics))
