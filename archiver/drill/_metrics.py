"""A drill's metrics for node_exporter's textfile collector (see archiver._metrics).

``omics_archiver_drill_last_success_timestamp_seconds`` is carried over from the previous file
when this drill failed, so that an alert can fire on "no successful drill for 8 days".
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from .._metrics import PREFIX, Metric, _write_atomic, render  # the shared atomic writer and format

__all__ = ["write_drill_metrics"]

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
