"""``omics-archiver drill``: the restore test that is scheduled, not hoped for.

A backup is only as good as the last restore that worked. A drill restores a snapshot (all its
workflows, or a random ``--sample N``) into a sandbox account and/or region, waits for ACTIVE,
checks what the service now holds against what was restored (definition bytes through an export
and SHA-256, parameter template, README, images present in the sandbox's ECR), deletes what it
created (unless ``--keep``), and records the result in the store (``drills/...``, docs/format.md)
where ``snapshots`` shows it, and as metrics for alerting.

    run_drill (_run: restore ─► _checks ─► cleanup) ─► record (_record) ─► metrics (_metrics)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_names
from ._metrics import DrillRun, write_drill_metrics, write_drills_metrics
from ._record import DRILL_LIMIT, drill_key, list_drills, write_drill

if TYPE_CHECKING:
    from ._run import DrillConfig, DrillReport, run_drill

# the drill restores, so it imports the AWS SDK, which reading the drills' records does not need
__getattr__ = lazy_names(__name__, dict.fromkeys(("DrillConfig", "DrillReport", "run_drill"), "_run"))


__all__ = [
    "DRILL_LIMIT",
    "DrillConfig",
    "DrillReport",
    "DrillRun",
    "drill_key",
    "list_drills",
    "run_drill",
    "write_drill",
    "write_drill_metrics",
    "write_drills_metrics",
]
