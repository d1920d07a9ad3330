"""The Grafana dashboard in examples/grafana queries only metrics that omics-archiver really writes.

The metric names come from the files a real backup and a real verify write with ``--metrics-file``
(not from a list kept here), so a renamed or removed metric breaks this test, not the dashboard.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from archiver.testing import Emulator, EmulatorConfig

from .test_catalog_support import SEED, run_cli

DASHBOARD = Path(__file__).resolve().parent.parent / "examples" / "grafana" / "omics-archiver.json"
_METRIC = re.compile(r"\bomics_archiver_[a-z0-9_]+\b")


def _written_names(*files: Path) -> set[str]:
    names = set()
    for path in files:
        for line in path.read_text().splitlines():
            if line and not line.startswith("#"):
                names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names


def _queries(node: Any) -> list[str]:
    """Every PromQL text in the dashboard: panel target expressions and template variable queries."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                found.append(value)
            elif key == "query" and isinstance(value, str | dict):
                found += [value] if isinstance(value, str) else _queries(value)
            else:
                found += _queries(value)
    elif isinstance(node, list):
        for item in node:
            found += _queries(item)
    return found


def test_dashboard_uses_only_metrics_the_code_writes(tmp_path: Path) -> None:
    backup_prom, verify_prom = tmp_path / "backup.prom", tmp_path / "verify.prom"
    store = str(tmp_path / "archive")
    with Emulator(EmulatorConfig(quotas=None), seed_dir=SEED) as emu:
        code, out = run_cli(
            [
                "backup",
                "--store",
                store,
                "--endpoint-url",
                emu.url,
                "--metrics-file",
                str(backup_prom),
                "--json",
            ]
        )
    assert code == 0, out
    code, out = run_cli(["verify", "--store", store, "--read-data", "--metrics-file", str(verify_prom)])
    assert code == 0, out
    written = _written_names(backup_prom, verify_prom)
    assert "omics_archiver_last_success_timestamp_seconds" in written and len(written) >= 10

    dashboard = json.loads(DASHBOARD.read_text())
    queries = _queries(dashboard)
    used = {name for q in queries for name in _METRIC.findall(q)}
    assert used, "the dashboard queries no omics_archiver metric"
    assert used <= written, f"the dashboard queries metrics nothing writes: {sorted(used - written)}"
    # every panel queries something, and every panel's query names a written metric
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert panels and all(
        p["targets"] and all(_METRIC.search(t["expr"]) for t in p["targets"]) for p in panels
    )
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
