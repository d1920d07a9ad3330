"""`make demo` twice gives the same archive: the seed fixes every uuid and creation time.

The demo starts a fresh emulator from ``examples/seed`` each time. Without fixed uuids and creation
times each start made new workflows (new uuids, new states), so a second demo doubled ``list``.
This runs what the demo runs (emulator from the seed, backup into one archive), twice.
"""

from __future__ import annotations

import json
from pathlib import Path

from archiver.testing import Emulator, EmulatorConfig

from .test_catalog_support import SEED, run_cli


def _backup_fresh_emulator(store: str) -> dict[str, object]:
    with Emulator(EmulatorConfig(quotas=None), seed_dir=SEED) as emu:
        code, out = run_cli(
            ["backup", "--store", store, "--endpoint-url", emu.url, "--json", "--log-level", "ERROR"]
        )
    assert code == 0, out
    report: dict[str, object] = json.loads(out)
    return report


def test_two_demos_leave_one_copy_of_each_workflow(tmp_path: Path) -> None:
    store = str(tmp_path / "archive")
    first = _backup_fresh_emulator(store)
    second = _backup_fresh_emulator(store)
    assert first["stats"]["bundlesWritten"] == 12  # type: ignore[index]
    assert second["stats"]["bundlesWritten"] == 0  # type: ignore[index]
    assert second["stats"]["definitionBytesDownloaded"] == 0  # type: ignore[index]
    code, out = run_cli(["list", "--store", store, "--no-cache", "--json"])
    assert code == 0
    rows = json.loads(out)["workflows"]
    assert sorted(r["name"] for r in rows) == ["bwa-align", "deepvariant-gpu", "fastq-qc", "rnaseq-quant"]
    assert all(r["current"] and r["bundles"] == 1 + len(r["versions"]) for r in rows)
