"""Throttling slows a backup down and never fails an item (issue 10, point 3).

The soak: 200 workflows x 2 versions under 20 % injected throttles, 5 % server errors, 5 % truncated
and 5 % early-expiring downloads must all be archived byte-exact, exit 0. The emulator's quotas and
our rates are raised (not lifted) so that it takes seconds rather than minutes; the faults are the
point, not the pace.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from archiver._bundle import read_manifest, verify_bundle
from archiver.cli import main
from archiver.testing import Emulator, EmulatorConfig, Faults
from archiver.testing._config import DEFAULT_QUOTAS
from bench.seed import write_corpus

from .test_vanished import _fail_get_workflow

WORKFLOWS, VERSIONS = 200, 2


@pytest.mark.slow
def test_soak_under_throttles_errors_and_bad_downloads_archives_everything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = tmp_path / "seed"
    write_corpus(seed, workflows=WORKFLOWS, versions=VERSIONS)
    faults = Faults(
        throttle_rate={"*": 0.20}, error_rate={"*": 0.05}, truncate_rate=0.05, expire_early_rate=0.05
    )
    quotas = {op: rate * 3 for op, rate in DEFAULT_QUOTAS.items()}  # paced at the quota, as by default
    store = tmp_path / "archive"
    rates = [
        f"--rate={op}=30"
        for op in ("ListWorkflows", "GetWorkflow", "ListWorkflowVersions", "GetWorkflowVersion")
    ]
    with Emulator(EmulatorConfig(quotas=quotas, faults=faults, random_seed=10), seed_dir=seed) as emu:
        started = time.monotonic()
        code = main(
            [
                "backup",
                "--store",
                str(store),
                "--endpoint-url",
                emu.url,
                "--processes",
                "1",
                *rates,
                "--json",
                "--log-format",
                "json",
            ]
        )
        wall = time.monotonic() - started
        out, err = capsys.readouterr()
        stats = emu.stats()
    report = json.loads(out)
    throttled, errors = sum(stats.throttled.values()), sum(stats.errors.values())
    print(f"soak: {wall:.1f} s, {sum(stats.calls.values())} calls, {throttled} throttled, {errors} errors")
    assert code == 0, report["failed"][:5]
    assert report["failed"] == []
    assert len(report["bundles"]) == WORKFLOWS * (1 + VERSIONS)
    assert throttled > 100 and errors > 20, "the faults really happened"
    assert '"event": "export-retry"' in err  # downloads were cut short or refused, then redone
    assert '"event": "retry"' in err and '"attempt": 2' in err
    assert report["api"]["throttled"] == throttled
    for entry in report["bundles"]:
        path = store / entry["key"]
        assert verify_bundle(path) == [], entry["key"]
        manifest = read_manifest(path)
        definition = next(m for m in manifest["members"] if m["name"] == "definition.zip")
        assert manifest["source"]["digest"] == f"sha256:{definition['sha256']}"  # byte-exact


def test_versions_of_a_workflow_that_could_not_be_read_are_counted_as_failed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = tmp_path / "seed"
    write_corpus(seed, workflows=3, versions=2)
    with Emulator(EmulatorConfig(quotas=None), seed_dir=seed) as emu:
        _fail_get_workflow(emu, {"2000001"})
        code = main(["backup", "--store", str(tmp_path / "a"), "--endpoint-url", emu.url, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 3
    assert sorted((f["workflowId"], f["versionName"] or "") for f in report["failed"]) == [
        ("2000001", ""),
        ("2000001", "1.0.0"),
        ("2000001", "1.1.0"),
    ]
    assert len(report["bundles"]) == 6
